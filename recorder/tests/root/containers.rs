//! Real containers of every runtime on this machine, recorded, stopped, and replayed
//! through the `ctrail` CLI as a user would.
//!
//! `fixtures/containers/ctl.sh` starts them (docker, podman with runc and crun,
//! containerd, runc, crun, lxc, systemd-nspawn) plus an `unshare -p -f --mount-proc`
//! process that is not a container. A runtime that cannot start fails the test.

use std::{
    fmt::Write as _,
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;

use crate::helpers::*;

fn ctl_run(args: &[&str]) -> String {
    let out = Command::new("bash").arg(ctl()).args(args).stdin(Stdio::null()).output().expect("run ctl.sh");
    assert!(
        out.status.success(),
        "ctl.sh {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The runtime ctrail must name for each harness runtime (`None`: the host).
fn expected_runtime(rt: &str) -> Option<&'static str> {
    match rt {
        "docker" => Some("docker"),
        "podman" | "podman-crun" => Some("podman"),
        "containerd" => Some("containerd"),
        "runc" => Some("runc"),
        "crun" => Some("crun"),
        "lxc" => Some("lxc"),
        "nspawn" => Some("systemd-nspawn"),
        _ => None,
    }
}

struct Row {
    runtime: String,
    id: String,
    expected: usize,
    found: usize,
    problems: Vec<String>,
}

impl Row {
    fn expect(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.expected += 1;
        if ok {
            self.found += 1;
        } else {
            self.problems.push(what());
        }
    }
}

/// The image `ctl.sh` imports into every runtime.
const IMAGE: &str = "ctrail-e2e/busybox:latest";

fn argv_has(e: &Value, m: &str) -> bool {
    e["argv"].as_array().is_some_and(|a| a.iter().any(|x| x == m))
}

#[test]
fn every_runtime_is_recorded_and_replayed() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let _ = Command::new("bash").arg(ctl()).arg("down").status();
    ctl_run(&["install"]);
    let down = Down;
    let rec = Recorder::start(&[]);
    let data = rec.data();
    let up = ctl_run(&["up"]);
    let started: Vec<(String, u64, String)> = up
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].parse().expect("pid"), f[2].to_string())
        })
        .collect();
    assert_eq!(started.len(), 9, "all eight containers and the unshare process started:\n{up}");
    let mut once_ids = Vec::new();
    for (rt, _, _) in &started {
        ctl_run(&["exec", rt, "/bin/true", &format!("ctrail-e2e-exec-{rt}")]);
        let id = ctl_run(&["once", rt, &format!("ctrail-e2e-once-{rt}")]);
        once_ids.push(id.trim().to_string());
    }
    // Stop every container while recording: their entrypoints' exits are part of the record.
    drop(down);
    std::thread::sleep(Duration::from_millis(500));
    // Keep the stored data (and its temporary directory) alive while the CLI reads it.
    let (_stored, log) = rec.stop();

    let (_, containers) = ctrail(&data, &["containers"]);
    let runtime_of = |id: &str| {
        containers.iter().find(|c| c["container_id"] == id).map(|c| c["runtime"].as_str().map(str::to_string))
    };
    let mut rows = Vec::new();
    for ((rt, pid, id), once_id) in started.iter().zip(&once_ids) {
        let want_rt = expected_runtime(rt);
        let mut row = Row { runtime: rt.clone(), id: id.clone(), expected: 0, found: 0, problems: Vec::new() };
        if want_rt.is_none() {
            // The non-container: every event of its process is the host's.
            let (_, evs) = ctrail(&data, &["events", "--pid", &pid.to_string()]);
            row.expect(!evs.is_empty() && evs.iter().all(|e| e["container_id"].is_null()), || {
                format!("unshare process must be host: {evs:?}")
            });
            let (_, exec) = ctrail(&data, &["events", "--type", "exec", "--host"]);
            row.expect(exec.iter().any(|e| argv_has(e, &format!("ctrail-e2e-exec-{rt}"))), || {
                "the command run in its namespaces is host".into()
            });
            let (_, once) = ctrail(&data, &["events", "--type", "exit", "--host"]);
            row.expect(once.iter().any(|e| e["exit_code"] == 3), || "its short-lived sibling's exit 3".into());
            rows.push(row);
            continue;
        }
        // 1. the container, with its full ID and runtime
        let rt_seen = runtime_of(id);
        row.expect(rt_seen == Some(want_rt.map(str::to_string)), || format!("`ctrail containers`: {rt_seen:?}"));
        let (_, evs) = ctrail(&data, &["events", "--container", id]);
        // 2. the long-lived entrypoint's exec, and its exit when the container was stopped
        let mine = |kind: &str| evs.iter().filter(|e| e["pid"] == *pid && e["type"] == kind).count();
        row.expect(mine("exec") >= 1, || format!("no exec of the entrypoint (pid {pid})"));
        row.expect(mine("exit") == 1, || format!("no exit of the entrypoint (pid {pid}) at stop"));
        // 3. a command run inside it afterwards, the runtime's way
        let exec_m = format!("ctrail-e2e-exec-{rt}");
        let cmd = evs.iter().find(|e| e["type"] == "exec" && e["filename"] == "/bin/true" && argv_has(e, &exec_m));
        row.expect(cmd.is_some(), || "the command run inside is not in the container".into());
        // ...which every runtime but nsenter (nspawn) moves into the container's cgroup first,
        // or has born there (lxc-attach: clone3 CLONE_INTO_CGROUP, a fork into the cgroup).
        if let Some(c) = cmd.filter(|_| rt != "nspawn") {
            let entered =
                evs.iter().any(|e| e["pid"] == c["pid"] && (e["type"] == "cgroup_move" || e["type"] == "fork"));
            row.expect(entered, || "no record of the command entering the container's cgroup".into());
        }
        // 4. a container whose entrypoint exits at once, with its exit code
        let (_, once) = ctrail(&data, &["events", "--container", once_id]);
        let once_m = format!("ctrail-e2e-once-{rt}");
        let entry = once.iter().find(|e| e["type"] == "exec" && argv_has(e, &once_m));
        row.expect(entry.is_some_and(|e| e["runtime"] == want_rt.unwrap_or_default()), || {
            format!("no exec of the short-lived entrypoint in {once_id}")
        });
        let exit3 = entry
            .is_some_and(|x| once.iter().any(|e| e["type"] == "exit" && e["pid"] == x["pid"] && e["exit_code"] == 3));
        row.expect(exit3, || "the short-lived entrypoint's exit code 3".into());
        // 5. what the runtime's files said, read when the container was first seen and
        // queried now that it is gone (every container was removed above)
        let record = |id: &str| containers.iter().find(|c| c["container_id"] == id).cloned().unwrap_or_default();
        let (c, once_c) = (record(id), record(once_id));
        let mut has = |c: &Value, key: &str, want: &str| {
            row.expect(c[key] == want, || format!("{key} of {}: {} (expected {want})", c["container_id"], c[key]))
        };
        match rt.as_str() {
            "docker" => {
                has(&c, "name", "ctrail-docker");
                has(&c, "image", IMAGE);
                has(&c["labels"], "ctrail.test", "docker");
                // The short-lived one too: its files were read before `docker rm`.
                has(&once_c, "image", IMAGE);
                for k in ["image_id", "metadata_source"] {
                    let ok = c[k].as_str().is_some_and(|s| s.starts_with("sha256:")) || c[k].is_object();
                    row.expect(ok, || format!("{k}: {}", c[k]));
                }
            }
            "podman" | "podman-crun" => {
                has(&c, "name", &format!("ctrail-{rt}"));
                has(&c, "image", &format!("localhost/{IMAGE}"));
                has(&once_c, "image", &format!("localhost/{IMAGE}"));
            }
            "containerd" => has(&c["labels"], "ctrail.test", "containerd"),
            "lxc" | "nspawn" => has(&c, "name", &format!("ctrail-{rt}")),
            _ => {}
        }
        // ...and a query in those terms finds the container's events
        if rt == "docker" {
            let (_, by_label) = ctrail(&data, &["events", "--label", "ctrail.test=docker", "--type", "exec"]);
            row.expect(!by_label.is_empty() && by_label.iter().all(|e| e["container_id"] == id.as_str()), || {
                format!("--label ctrail.test=docker: {by_label:?}")
            });
            let (_, by_name) = ctrail(&data, &["containers", "--name", "ctrail-docker"]);
            row.expect(by_name.len() == 1, || format!("containers --name: {by_name:?}"));
        }
        rows.push(row);
    }
    let (gap_code, gaps) = ctrail(&data, &["events", "--type", "gap"]);

    let mut table = format!("{:<12} {:<66} {:>8} {:>6}\n", "RUNTIME", "CONTAINER ID", "EXPECTED", "FOUND");
    for r in &rows {
        let _ = writeln!(table, "{:<12} {:<66} {:>8} {:>6}", r.runtime, r.id, r.expected, r.found);
        for p in &r.problems {
            let _ = writeln!(table, "    {p}");
        }
    }
    let _ = writeln!(table, "lost events: {}", if gap_code == 1 { "none".to_string() } else { format!("{gaps:?}") });
    eprintln!("{table}");
    // The suite prints this table after the tests (cargo captures a passing test's output).
    let _ = std::fs::write(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("runtimes-table.txt"), &table);
    assert_eq!(gap_code, 1, "events were lost: {gaps:?}");
    assert!(rows.iter().all(|r| r.problems.is_empty()), "\n{table}\nrecorder log:\n{log}");
}
