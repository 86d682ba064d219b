//! `ctrail classify`: the fixture corpus through the CLI, its errors, and (as root)
//! real containers of every runtime.

use std::{path::PathBuf, process::Command};

use ctrail_fixtures::cgroup_cases;

use crate::helpers::*;

#[test]
fn json_contract_over_the_fixture_corpus() {
    let dir = tempfile::tempdir().unwrap();
    for c in cgroup_cases().into_iter().filter(|c| c.own_ns.is_none() && c.host_cgroup.is_none()) {
        let f = dir.path().join(format!("{}.cgroup", c.name));
        std::fs::write(&f, &c.text).unwrap();
        let o = ctrail(&["classify", "--cgroup-file", f.to_str().unwrap(), "--format", "json"]);
        assert_eq!(o.status.code(), Some(0), "{}: {}", c.name, stderr(&o));
        let v = &json_lines(&o)[0];
        for key in ["container", "runtime", "container_id", "pod_uid", "reason"] {
            assert!(v.get(key).is_some(), "{}: no key {key} in {v}", c.name);
        }
        assert_eq!(v["container"], c.expect.container, "{}: {v}", c.name);
        assert_eq!(v["container_id"].as_str(), c.expect.id.as_deref(), "{}", c.name);
        assert_eq!(v["runtime"].as_str(), c.expect.runtime.as_deref(), "{}", c.name);
        assert_eq!(v["pod_uid"].as_str(), c.expect.pod_uid.as_deref(), "{}", c.name);
    }
}

#[test]
fn stdin_and_the_readable_line() {
    let text = format!("0::/docker/{DOCKER_ID}\n");
    let o = ctrail_stdin(&["classify", "--cgroup-file", "-"], Some(text.as_bytes()));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let line = stdout(&o);
    assert_eq!(line.lines().count(), 1);
    assert!(line.starts_with(&format!("container {DOCKER_ID} (docker)")), "{line}");
    let o = ctrail_stdin(&["classify", "--cgroup-file", "-"], Some(b"0::/\n"));
    assert!(stdout(&o).starts_with("host"), "{}", stdout(&o));
}

#[test]
fn errors_name_the_problem_and_exit_2() {
    let o = ctrail_stdin(&["classify", "--cgroup-file", "-"], Some(b"this is not a cgroup file\n"));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not in /proc/PID/cgroup format") && stderr(&o).contains("line 1"), "{}", stderr(&o));
    let o = ctrail(&["classify", "--cgroup-file", "/nonexistent/cgroup"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/cgroup"), "{}", stderr(&o));
    let o = ctrail(&["classify", "--pid", "999999999"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no such process: 999999999"), "{}", stderr(&o));
    let o = ctrail(&["classify"]);
    assert_eq!(o.status.code(), Some(2), "neither --pid nor --cgroup-file");
}

#[test]
fn classify_own_process_is_host() {
    let me = std::process::id().to_string();
    let o = ctrail(&["classify", "--pid", &me, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json_lines(&o)[0]["container"], false, "{}", stdout(&o));
}

fn ctl() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/containers/ctl.sh")
}

struct Down;
impl Drop for Down {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(ctl()).arg("down").status();
    }
}

/// Real containers of every runtime, classified live by pid.
#[test]
fn classify_pid_of_real_containers() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(std::env::var_os("CI").is_none(), "real-container tests must run as root in CI");
        eprintln!("skipping: real containers need root");
        return;
    }
    let _ = Command::new("bash").arg(ctl()).arg("down").status();
    let _down = Down;
    let up = Command::new("bash").arg(ctl()).arg("up").output().unwrap();
    assert!(up.status.success(), "ctl.sh up failed:\n{}", String::from_utf8_lossy(&up.stderr));
    let mut problems = Vec::new();
    let mut table = String::new();
    for line in String::from_utf8_lossy(&up.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let (rt, pid, id) = (f[0], f[1], f[2]);
        let o = ctrail(&["classify", "--pid", pid, "--format", "json"]);
        let v = &json_lines(&o)[0];
        // runc and crun leave no trace of themselves once the container runs (its init is
        // reparented to PID 1): /proc cannot name them, the recorder does (comm before exec).
        let (want_container, want_rt) = match rt {
            "docker" => (true, Some("docker")),
            "podman" | "podman-crun" => (true, Some("podman")),
            "containerd" => (true, Some("containerd")),
            "lxc" => (true, Some("lxc")),
            "nspawn" => (true, Some("systemd-nspawn")),
            "runc" | "crun" => (true, None),
            _ => (false, None),
        };
        let want_id = want_container.then_some(id);
        table.push_str(&format!("{rt:<12} {pid:<8} {} {}\n", v["container_id"], v["runtime"]));
        if v["container"] != want_container || v["container_id"].as_str() != want_id || v["runtime"].as_str() != want_rt
        {
            problems.push(format!("{rt}: want {want_container} {want_id:?} {want_rt:?}, got {v}"));
        }
    }
    eprintln!("{table}");
    assert_eq!(table.lines().count(), 9, "eight containers and the unshare process");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
