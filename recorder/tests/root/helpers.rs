//! Shared helpers of the root tests: a recorder under test, its store, fake cgroups.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use ctrail_model::{Body, Event};
use ctrail_store::{StoreReader, control};

/// One recorder at a time: they all see every process, and the storm and loss tests
/// must not disturb each other's counts.
pub static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether to run a root test; panics in CI without root.
pub fn need_root() -> bool {
    if is_root() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "kernel tests must run as root in CI");
    eprintln!("skipping: kernel tests need root");
    false
}

pub fn marker(tag: &str) -> String {
    format!("ctrail-test-{tag}-{}-{}", std::process::id(), Instant::now().elapsed().as_nanos())
}

pub struct Recorder {
    child: Child,
    dir: tempfile::TempDir,
    data: PathBuf,
    pub log: Arc<Mutex<String>>,
}

impl Recorder {
    /// A recorder on a new data directory.
    pub fn start(extra: &[&str]) -> Recorder {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, extra)
    }

    /// A recorder on `DIR/data` of an existing temporary directory (a restart).
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Recorder {
        let data = dir.path().join("data");
        Self::spawn(dir, data, extra)
    }

    /// A recorder on a data directory somewhere else (a small tmpfs, say).
    pub fn start_at(data: &Path, extra: &[&str]) -> Recorder {
        Self::spawn(tempfile::tempdir().expect("temp dir"), data.to_path_buf(), extra)
    }

    /// [`Self::start_in`] with more environment (a crash point).
    pub fn start_in_env(dir: tempfile::TempDir, extra: &[&str], env: &[(&str, &str)]) -> Recorder {
        let data = dir.path().join("data");
        Self::spawn_env(dir, data, extra, env)
    }

    fn spawn(dir: tempfile::TempDir, data: PathBuf, extra: &[&str]) -> Recorder {
        Self::spawn_env(dir, data, extra, &[])
    }

    fn spawn_env(dir: tempfile::TempDir, data: PathBuf, extra: &[&str], env: &[(&str, &str)]) -> Recorder {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ctrail-recorder"))
            .args(["run", "--data-dir"])
            .arg(&data)
            .args(extra)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start ctrail-recorder");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        // Ready when the recorder answers a flush on its control socket: that happens only
        // once its loop runs, after the probes are attached and the snapshot is taken.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!("recorder exited ({status}) before it was ready:\n{}", log.lock().unwrap());
            }
            if control::request(&data, control::FLUSH, Duration::from_secs(10)) == Ok(control::Reached::Live) {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("recorder did not become ready:\n{}", log.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let rec = Recorder { child, dir, data, log };
        rec.wait_for_log("recording to");
        rec
    }

    /// Waits (up to 10 s) until the recorder's log has a line containing `needle`, and
    /// returns that line.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(l) = self.log.lock().unwrap().lines().find(|l| l.contains(needle)) {
                return l.to_string();
            }
            assert!(Instant::now() < deadline, "no log line with {needle:?}:\n{}", self.log.lock().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Which hook each part got (`exec` → `tp_btf/sched_process_exec`, `activity` → ...),
    /// from the start line.
    pub fn hooks(&self) -> std::collections::BTreeMap<String, String> {
        let line = self.wait_for_log("recording to");
        let hooks = line.split("hooks: ").nth(1).unwrap_or_default();
        hooks
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    pub fn data(&self) -> PathBuf {
        self.data.clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// After the recorder was killed: reap it and keep its directory for a restart.
    pub fn abandon(mut self) -> tempfile::TempDir {
        let _ = self.child.wait();
        self.dir
    }

    fn terminate(&mut self) -> String {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "recorder did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(50));
        let log = self.log.lock().unwrap().clone();
        assert!(status.success(), "recorder exited with {status}:\n{log}");
        log
    }

    /// SIGTERM, wait for a clean exit, and return the log.
    pub fn kill_and_log(mut self) -> String {
        self.terminate()
    }

    /// SIGTERM, wait, and return the store and the recorder's log.
    pub fn stop(mut self) -> (Stored, String) {
        let log = self.terminate();
        let reader = StoreReader::open(&self.data).expect("open store");
        let stored = Stored::load(reader, self.dir);
        assert!(stored.problems.is_empty(), "{:?}", stored.problems);
        (stored, log)
    }
}

/// Everything in a store, loaded for assertions.
pub struct Stored {
    pub events: Vec<Event>,
    /// The container of `events[i]`, merged across segments.
    pub containers: Vec<Option<ctrail_model::Container>>,
    pub gaps: Vec<ctrail_model::Gap>,
    pub problems: Vec<String>,
    pub dir: tempfile::TempDir,
}

impl Stored {
    pub fn load(r: StoreReader, dir: tempfile::TempDir) -> Stored {
        let merged: std::collections::HashMap<String, ctrail_model::Container> =
            r.containers().into_iter().map(|c| (c.id.clone(), c)).collect();
        let found = r.events(0, u64::MAX, |_| true);
        let containers = found.iter().map(|f| f.container.as_ref().map(|c| merged[&c.id].clone())).collect();
        let events = found.into_iter().map(|f| f.event).collect();
        Stored { events, containers, gaps: r.gaps(), problems: r.problems(), dir }
    }

    pub fn execs_with(&self, marker: &str) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|e| matches!(&e.body, Body::Exec(x) if x.argv.iter().any(|a| a == marker.as_bytes())))
            .collect()
    }

    pub fn one_exec(&self, marker: &str) -> &Event {
        let v = self.execs_with(marker);
        assert_eq!(v.len(), 1, "expected one exec with {marker}, found {}", v.len());
        v[0]
    }

    pub fn exit_of(&self, e: &Event) -> Option<&Event> {
        self.events.iter().find(|x| x.proc == e.proc && matches!(x.body, Body::Exit(_)))
    }

    pub fn container_of(&self, e: &Event) -> Option<&ctrail_model::Container> {
        let i = self.events.iter().position(|x| std::ptr::eq(x, e))?;
        self.containers[i].as_ref()
    }
}

pub fn exec_of(e: &Event) -> &ctrail_model::Exec {
    match &e.body {
        Body::Exec(x) => x,
        other => panic!("not an exec: {other:?}"),
    }
}

pub use ctrail_fixtures::cgroup::FakeCgroup;

pub fn run(cmd: &mut Command) -> std::process::ExitStatus {
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().expect("spawn workload")
}

/// `fixtures/containers/ctl.sh`, the real-container harness.
pub fn ctl() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/containers/ctl.sh")
}

/// Stops every container of the harness when the test ends, pass or fail.
pub struct Down;
impl Drop for Down {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(ctl()).arg("down").status();
    }
}

/// The `ctrail` binary, built beside the recorder by the workspace's tests.
pub fn ctrail_bin() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_BIN_EXE_ctrail-recorder")).with_file_name("ctrail");
    assert!(p.exists(), "{} is not built: run the workspace's tests (cargo test --workspace)", p.display());
    p
}

/// `ctrail ARGS --data-dir DATA --format json`: exit code and the JSON lines.
pub fn ctrail(data: &Path, args: &[&str]) -> (i32, Vec<serde_json::Value>) {
    let o =
        Command::new(ctrail_bin()).args(args).arg("--data-dir").arg(data).args(["--format", "json"]).output().unwrap();
    let rows = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (o.status.code().unwrap_or(-1), rows)
}

/// `ctl.sh docker ARGS`: the docker CLI against the harness's dockerd.
pub fn docker(args: &[&str]) -> std::process::Output {
    Command::new("bash").arg(ctl()).arg("docker").args(args).stdin(Stdio::null()).output().expect("run ctl.sh docker")
}

/// [`docker`], which must succeed: its stdout, trimmed.
pub fn docker_ok(args: &[&str]) -> String {
    let o = docker(args);
    assert!(
        o.status.success(),
        "docker {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// `fixtures/triggers/NAME.c` built static (it then runs in a busybox container); the binary.
pub fn static_c(name: &str) -> PathBuf {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../fixtures/triggers/{name}.c"));
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ctrail-{name}"));
    let o = Command::new("cc").args(["-static", "-O2", "-Wall", "-o"]).arg(&out).arg(&src).output().expect("run cc");
    assert!(o.status.success(), "building {}: {}", src.display(), String::from_utf8_lossy(&o.stderr));
    out
}
