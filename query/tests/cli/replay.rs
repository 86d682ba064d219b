//! `ctrail ps`, `tree`, `show` and `export` over a store built here: moments that no
//! longer exist, reused PIDs, and the case folder's contract.

use std::process::Command;

use crate::helpers::*;

fn store() -> (tempfile::TempDir, String) {
    let d = tempfile::tempdir().unwrap();
    sample_store(&d.path().join("data"));
    let data = d.path().join("data").to_string_lossy().into_owned();
    (d, data)
}

fn pids(o: &std::process::Output) -> Vec<u64> {
    let mut v: Vec<u64> = json_lines(o).iter().map(|r| r["pid"].as_u64().unwrap()).collect();
    v.sort();
    v
}

#[test]
fn ps_at_reproduces_past_moments() {
    let (_d, data) = store();
    let ps = |extra: &[&str]| {
        let mut a = vec!["ps", "--data-dir", &data, "--format", "json"];
        a.extend_from_slice(extra);
        ctrail(&a)
    };
    // 14:00:02.5: the shell, and the sleep of the second container (exec at :02, killed at :03).
    assert_eq!(pids(&ps(&["--at", "2026-11-29T14:00:02.5Z"])), vec![100, 300]);
    assert_eq!(pids(&ps(&["--at", "2026-11-29T14:00:02.5Z", "--container", DOCKER_ID2])), vec![300]);
    // 14:00:01.000000001: the `sh -c 'exit 7'` of the first container is running.
    let o = ps(&["--at", "2026-11-29T14:00:01.000000001Z", "--container", &DOCKER_ID[..50]]);
    let rows = json_lines(&o);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["argv"], serde_json::json!(["/bin/sh", "-c", "exit 7", "it's quoted"]));
    assert_eq!(rows[0]["container_id"], DOCKER_ID);
    // 14:00:06: PID 200 again, a different process.
    let o = ps(&["--at", "2026-11-29T14:00:06Z"]);
    let rows = json_lines(&o);
    assert_eq!(pids(&o), vec![100, 200]);
    assert!(rows.iter().any(|r| r["argv"][0] == "/usr/bin/top"));
    // Nobody in the first container at 14:00:04; nothing at all before the shell.
    assert_eq!(ps(&["--at", "2026-11-29T14:00:04Z", "--container", DOCKER_ID]).status.code(), Some(1));
    assert_eq!(ps(&["--at", "2026-11-29T13:00:00Z"]).status.code(), Some(1));
    let o = ps(&["--at", "teatime"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--at"), "{}", stderr(&o));
}

#[test]
fn tree_joins_container_processes_to_their_host_parent() {
    let (_d, data) = store();
    let o = ctrail(&[
        "tree",
        "--data-dir",
        &data,
        "--format",
        "json",
        "--at",
        "2026-11-29T14:00:02.5Z",
        "--container",
        DOCKER_ID2,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows = json_lines(&o);
    let shape: Vec<(u64, u64, bool)> = rows
        .iter()
        .map(|r| (r["depth"].as_u64().unwrap(), r["pid"].as_u64().unwrap(), r["container_id"].is_null()))
        .collect();
    assert_eq!(shape, vec![(0, 100, true), (1, 300, false)], "the host shell, then the container's process under it");
    let o = ctrail(&["tree", "--data-dir", &data, "--format", "table", "--at", "2026-11-29T14:00:02.5Z"]);
    let text = stdout(&o);
    assert!(text.contains("100 /bin/bash") && text.contains("└─ 300 /usr/bin/sleep 100"), "{text}");
}

#[test]
fn show_picks_among_reused_pids() {
    let (_d, data) = store();
    let o = ctrail(&["show", "200", "--data-dir", &data, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = &json_lines(&o)[0];
    assert_eq!(v["process"]["argv"][0], "/usr/bin/top", "the newest process with the PID");
    assert_eq!(v["other_processes_with_this_pid"], 1);
    let o = ctrail(&["show", "200", "--data-dir", &data, "--format", "json", "--at", "2026-11-29T14:00:01.000000001Z"]);
    let v = &json_lines(&o)[0];
    assert_eq!(v["process"]["argv"][2], "exit 7");
    assert_eq!(v["process"]["container_id"], DOCKER_ID);
    assert_eq!(v["ancestry"][0]["pid"], 100, "its parent is the shell");
    let kinds: Vec<&str> = v["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["fork", "cgroup_move", "exec", "exit"]);
    assert_eq!(v["events"][3]["exit_code"], 7);
    let o = ctrail(&["show", "4242", "--data-dir", &data]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no process with PID 4242"), "{}", stderr(&o));
}

#[test]
fn export_writes_a_checkable_case_folder() {
    let (_d, data) = store();
    let out = tempfile::tempdir().unwrap();
    let case = out.path().join("case");
    let o = ctrail(&["export", "--data-dir", &data, "--container", DOCKER_ID, "--out", case.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let read = |n: &str| std::fs::read_to_string(case.join(n)).unwrap();
    let events = read("events.csv");
    let header = events.lines().next().unwrap();
    for col in ["time", "type", "pid", "ppid", "container_id", "exe", "argv"] {
        assert!(header.split(',').any(|c| c == col), "events.csv lacks {col}: {header}");
    }
    assert_eq!(events.lines().count(), 1 + 4);
    // Shell-quoted as 'it'"'"'s quoted', then CSV-quoted (each " doubled).
    assert!(events.contains("'it'\"\"'\"\"'s quoted'"), "argv is one shell-quoted field: {events}");
    let procs = read("processes.csv");
    assert_eq!(procs.lines().count(), 2);
    assert!(procs.lines().nth(1).unwrap().contains(",7,"), "exit code 7: {procs}");
    assert_eq!(read("containers.csv").lines().count(), 2);
    assert_eq!(read("gaps.csv").lines().count(), 2);
    let manifest: serde_json::Value = serde_json::from_str(&read("manifest.json")).unwrap();
    assert_eq!(manifest["query"]["container"], DOCKER_ID);
    assert_eq!(manifest["files"]["events.csv"]["rows"], 4);
    for f in ["events.csv", "processes.csv", "containers.csv", "gaps.csv"] {
        let sum = Command::new("sha256sum").arg(case.join(f)).output().unwrap();
        let sum = String::from_utf8_lossy(&sum.stdout).split_whitespace().next().unwrap().to_string();
        assert_eq!(manifest["files"][f]["sha256"], sum, "{f}");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(case.join("events.csv")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "exports hold command lines");
    // A second export into the same folder would mix two cases: refused.
    let o = ctrail(&["export", "--data-dir", &data, "--out", case.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already holds an export"), "{}", stderr(&o));
}
