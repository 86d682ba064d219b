//! Real containers of every runtime on this machine, recorded and read back.
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

use ctrail_common::record::{Body, Event};

use crate::helpers::*;

fn ctl() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/containers/ctl.sh")
}

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

/// Stops every container when the test ends, pass or fail.
struct Down;
impl Drop for Down {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(ctl()).arg("down").status();
    }
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

fn check(s: &Stored, e: &Event, want_id: Option<&str>, want_rt: Option<&str>, what: &str, row: &mut Row) {
    let c = s.container_of(e);
    let got_id = c.map(|c| c.id.as_str());
    let got_rt = c.and_then(|c| c.runtime).map(|r| r.as_str());
    if got_id == want_id && got_rt == want_rt {
        row.found += 1;
    } else {
        row.problems.push(format!("{what}: want {want_id:?}/{want_rt:?}, got {got_id:?}/{got_rt:?}"));
    }
}

#[test]
fn every_runtime_is_recorded_and_attributed() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let _ = Command::new("bash").arg(ctl()).arg("down").status();
    ctl_run(&["install"]);
    let _down = Down;
    let rec = Recorder::start(&[]);
    let up = ctl_run(&["up"]);
    let started: Vec<(String, u32, String)> = up
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
    std::thread::sleep(Duration::from_millis(300));
    let (s, log) = rec.stop();

    let mut rows = Vec::new();
    for ((rt, pid, id), once_id) in started.iter().zip(&once_ids) {
        let want_rt = expected_runtime(rt);
        let want_id = |id: &str| (want_rt.is_some()).then(|| id.to_string());
        let mut row = Row { runtime: rt.clone(), id: id.clone(), expected: 0, found: 0, problems: Vec::new() };
        // 1. the long-lived container's entrypoint exec
        row.expected += 1;
        match s.events.iter().find(|e| e.proc.tgid == *pid && matches!(e.body, Body::Exec(_))) {
            Some(e) => check(&s, e, want_id(id).as_deref(), want_rt, "entrypoint", &mut row),
            None => row.problems.push(format!("no exec for the entrypoint pid {pid}")),
        }
        // 2. a command run inside it afterwards, the runtime's way; every runtime but
        //    nsenter (nspawn, unshare) moves that process into the container's cgroup first,
        //    or has it born there (lxc-attach: clone3 with CLONE_INTO_CGROUP, which is a fork
        //    into the cgroup rather than a move).
        row.expected += 1;
        let exec_m = format!("ctrail-e2e-exec-{rt}");
        let moves_in = !matches!(rt.as_str(), "nspawn" | "unshare");
        match s.execs_with(&exec_m).into_iter().find(|e| exec_of(e).exe == b"/bin/true") {
            Some(e) => {
                check(&s, e, want_id(id).as_deref(), want_rt, "exec", &mut row);
                if moves_in {
                    row.expected += 1;
                    let before = |m: &&Event, fork: bool| {
                        m.proc == e.proc
                            && m.time <= e.time
                            && if fork {
                                matches!(m.body, Body::Fork(_))
                            } else {
                                matches!(m.body, Body::CgroupMove(_))
                            }
                    };
                    let moved = s.events.iter().rev().find(|m| before(m, false));
                    let born_in = s
                        .events
                        .iter()
                        .find(|m| before(m, true))
                        .filter(|f| s.container_of(f).map(|c| c.id.as_str()) == want_id(id).as_deref());
                    match moved.or(born_in) {
                        Some(m) => check(&s, m, want_id(id).as_deref(), want_rt, "cgroup move", &mut row),
                        None => row.problems.push("no cgroup move into the container before the exec".into()),
                    }
                }
            }
            None => row.problems.push("no exec of the command run inside".into()),
        }
        // 3. a container whose entrypoint exits at once, with its exit code
        row.expected += 2;
        let once_m = format!("ctrail-e2e-once-{rt}");
        let inside: Vec<&Event> = s
            .execs_with(&once_m)
            .into_iter()
            .filter(|e| {
                let x = exec_of(e);
                x.argv.first().is_some_and(|a| a.ends_with(b"sh"))
                    && x.argv.get(1).is_some_and(|a| a == b"-c" || a == b"/exit3.sh")
            })
            .collect();
        match inside.last() {
            Some(e) => {
                check(&s, e, want_id(once_id).as_deref(), want_rt, "short-lived entrypoint", &mut row);
                match s.exit_of(e).map(|x| &x.body) {
                    Some(Body::Exit(x)) if x.code() == Some(3) => row.found += 1,
                    other => row.problems.push(format!("short-lived entrypoint exit: want code 3, got {other:?}")),
                }
            }
            None => row.problems.push("no exec of the short-lived entrypoint".into()),
        }
        rows.push(row);
    }

    let mut table = format!("{:<12} {:<66} {:>8} {:>6}\n", "RUNTIME", "CONTAINER ID", "EXPECTED", "FOUND");
    for r in &rows {
        let _ = writeln!(table, "{:<12} {:<66} {:>8} {:>6}", r.runtime, r.id, r.expected, r.found);
        for p in &r.problems {
            let _ = writeln!(table, "    {p}");
        }
    }
    eprintln!("{table}");
    // The suite prints this table after the tests (cargo captures a passing test's output).
    let _ = std::fs::write(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("runtimes-table.txt"), &table);
    assert!(s.gaps.is_empty(), "events were lost: {:?}", s.gaps);
    assert!(rows.iter().all(|r| r.problems.is_empty()), "\n{table}\nrecorder log:\n{log}");
}
