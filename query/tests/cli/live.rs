//! As root: a real recorder records real workloads in a container cgroup, and each
//! command's answer is checked against what ran, while recording and for moments that
//! no longer exist, including a process gone before the query and a reused PID.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use ctrail_fixtures::cgroup::FakeCgroup;

use crate::helpers::*;

fn recorder_bin() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_BIN_EXE_ctrail")).with_file_name("ctrail-recorder");
    assert!(p.exists(), "{} is not built: run the workspace's tests (cargo test --workspace)", p.display());
    p
}

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "live tests must run as root in CI");
    eprintln!("skipping: a live recorder needs root");
    false
}

struct Rec(Child);
impl Drop for Rec {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

fn start(data: &std::path::Path) -> Rec {
    let mut child = Command::new(recorder_bin())
        .args(["run", "--data-dir"])
        .arg(data)
        .stderr(Stdio::null())
        .spawn()
        .expect("start recorder");
    // Ready when it answers a flush: its loop runs, the probes are in.
    let deadline = Instant::now() + Duration::from_secs(60);
    let flush = || ctrail_store::control::request(data, ctrail_store::control::FLUSH, Duration::from_secs(10));
    while flush() != Ok(ctrail_store::control::Reached::Live) {
        assert!(child.try_wait().unwrap().is_none(), "the recorder exited before it was ready");
        assert!(Instant::now() < deadline, "the recorder did not become ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    Rec(child)
}

fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let o = Command::new("date")
        .args(["-u", "-d", &format!("@{}.{:09}", d.as_secs(), d.subsec_nanos())])
        .arg("+%Y-%m-%dT%H:%M:%S.%NZ")
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Spawns `cmd` with PID `pid`, by setting the last PID the kernel handed out just
/// below it (root only); retries, since another process may take it first.
fn spawn_with_pid(pid: u32, cmd: &mut Command) -> Option<Child> {
    for _ in 0..50 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).ok()?;
        let c = cmd.spawn().ok()?;
        if c.id() == pid {
            return Some(c);
        }
        let mut c = c;
        let _ = c.kill();
        let _ = c.wait();
    }
    None
}

#[test]
fn commands_answer_what_ran_live_and_for_past_moments() {
    if !root() {
        return;
    }
    let id = "f1e2d3c4b5a6978877665544332211000ffeeddccbbaa9988776655443322110";
    let cg = FakeCgroup::new(&format!("/docker/{id}"));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_s = data.to_str().unwrap().to_string();
    let _rec = start(&data);

    // Three long-lived processes in the container, then a moment T, then they die.
    let mut sleeps: Vec<Child> = (0..3)
        .map(|_| Command::new("sh").arg("-c").arg(format!("{}exec sleep 60", cg.enter())).spawn().unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let t = now_rfc3339();
    std::thread::sleep(Duration::from_millis(100));
    let sleep_pids: Vec<u64> = sleeps.iter().map(|c| u64::from(c.id())).collect();
    for c in &mut sleeps {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    // A short-lived process that is gone before any query.
    let st = Command::new("sh").arg("-c").arg(format!("{}exec sh -c 'exit 4'", cg.enter())).status().unwrap();
    assert_eq!(st.code(), Some(4));
    // The PID of the first sleep, reused by a host process.
    let reused =
        spawn_with_pid(sleep_pids[0] as u32, Command::new("sleep").arg("0.2")).map(|mut c| c.wait().unwrap()).is_some();
    std::thread::sleep(Duration::from_millis(200));

    let started = Instant::now();
    let ps_then = ctrail(&["ps", "--data-dir", &data_s, "--container", &id[..16], "--at", &t, "--format", "json"]);
    eprintln!("live ps --at took {:?}", started.elapsed());
    assert_eq!(ps_then.status.code(), Some(0), "{}", stderr(&ps_then));
    let mut got: Vec<u64> = json_lines(&ps_then).iter().map(|r| r["pid"].as_u64().unwrap()).collect();
    got.sort();
    let mut want = sleep_pids.clone();
    want.sort();
    assert_eq!(got, want, "the moment T, which no longer exists");
    let ps_now = ctrail(&["ps", "--data-dir", &data_s, "--container", id, "--format", "json"]);
    assert_eq!(ps_now.status.code(), Some(1), "nothing alive there now: {}", stdout(&ps_now));

    let tree = ctrail(&["tree", "--data-dir", &data_s, "--container", id, "--at", &t, "--format", "json"]);
    let rows = json_lines(&tree);
    let me = u64::from(std::process::id());
    assert!(rows.iter().any(|r| r["pid"] == me && r["container_id"].is_null()), "the host parent joins the tree");
    assert_eq!(rows.iter().filter(|r| r["container_id"] == id).count(), 3);

    let exits = ctrail(&["events", "--data-dir", &data_s, "--container", id, "--type", "exit", "--format", "json"]);
    let exits = json_lines(&exits);
    assert_eq!(exits.iter().filter(|e| e["signal"] == 9).count(), 3, "{exits:?}");
    let gone = exits.iter().find(|e| e["exit_code"] == 4).expect("the short-lived process's exit");
    // --at its exit: the PID may have been handed out again since (see below).
    let at = gone["time"].as_str().unwrap();
    let show = ctrail(&["show", &gone["pid"].to_string(), "--data-dir", &data_s, "--at", at, "--format", "json"]);
    let v = &json_lines(&show)[0];
    assert_eq!(v["process"]["container_id"], id);
    assert_eq!(v["process"]["argv"], serde_json::json!(["sh", "-c", "exit 4"]));

    if reused {
        let pid = sleep_pids[0].to_string();
        let newest = &json_lines(&ctrail(&["show", &pid, "--data-dir", &data_s, "--format", "json"]))[0];
        assert!(newest["process"]["container_id"].is_null(), "the newest process with the PID is the host sleep");
        assert!(newest["other_processes_with_this_pid"].as_u64().unwrap() >= 1);
        let then = &json_lines(&ctrail(&["show", &pid, "--data-dir", &data_s, "--at", &t, "--format", "json"]))[0];
        assert_eq!(then["process"]["container_id"], id, "--at picks the container's process");
    } else {
        eprintln!("could not force PID reuse on this machine; the hermetic test covers it");
    }

    let out = dir.path().join("case");
    let e = ctrail(&["export", "--data-dir", &data_s, "--container", id, "--out", out.to_str().unwrap()]);
    assert_eq!(e.status.code(), Some(0), "{}", stderr(&e));
    let events = std::fs::read_to_string(out.join("events.csv")).unwrap();
    assert!(events.lines().filter(|l| l.contains(",exit,")).count() >= 4, "{events}");
    drop(cg);
}
