//! Containers under the recorder: what reading a new container's runtime files costs (per
//! container, p50 and p99 over `docker run --rm` containers, next to what starting each took
//! in the same run), and an exec storm inside one container with and without the recorder,
//! rounds interleaved. The recorder reads a container's files once, on a thread of its own;
//! these numbers show what that costs. Prints markdown (`cargo xtask bench` puts it into
//! BENCHMARKS.md). Needs root; starts dockerd through `fixtures/containers/ctl.sh`.
//!
//! `CTRAIL_BENCH_CONTAINERS` containers (default 40), `CTRAIL_BENCH_CONTAINER_STORM` execs in
//! the storm (default 3,000), `CTRAIL_BENCH_ROUNDS` (default 3).

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use ctrail_model::Body;
use ctrail_store::StoreReader;

const IMAGE: &str = "ctrail-e2e/busybox:latest";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn ctl() -> Command {
    let mut c = Command::new("bash");
    c.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/containers/ctl.sh"));
    c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    c
}

/// `docker ARGS` through the harness's dockerd; its wall time.
fn docker(args: &[&str]) -> Duration {
    let t = Instant::now();
    let st = ctl().arg("docker").args(args).status().expect("ctl.sh docker");
    assert!(st.success(), "docker {args:?} failed");
    t.elapsed()
}

/// A recorder with the metadata lookups' debug lines collected.
struct Recorder {
    child: Child,
    dir: tempfile::TempDir,
    lines: mpsc::Receiver<String>,
}

impl Recorder {
    fn start() -> Recorder {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ctrail-recorder"))
            .args(["run", "--data-dir"])
            .arg(dir.path().join("data"))
            .env("RUST_LOG", "info,ctrail_recorder::worker=debug")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = child.stderr.take().expect("stderr piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let l = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("recorder ready");
            if l.contains("recording to") {
                break;
            }
        }
        Recorder { child, dir, lines }
    }

    /// Stops it; its data directory and every log line after start.
    fn stop(mut self) -> (tempfile::TempDir, Vec<String>) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        let lines = self.lines.try_iter().collect();
        (self.dir, lines)
    }
}

/// `225.3µs`, `2.45ms`, `1.2s` (a Duration's Debug form) in ms.
fn debug_ms(s: &str) -> Option<f64> {
    let (n, unit) = s.find(|c: char| c.is_alphabetic() || c == 'µ').map(|i| s.split_at(i))?;
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "ns" => n / 1e6,
        "µs" => n / 1e3,
        "ms" => n,
        "s" => n * 1e3,
        _ => return None,
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    assert!(
        std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0),
        "the containers bench needs root"
    );
    let n = env_or("CTRAIL_BENCH_CONTAINERS", 40);
    let execs = env_or("CTRAIL_BENCH_CONTAINER_STORM", 3000);
    let rounds = env_or("CTRAIL_BENCH_ROUNDS", 3);
    // dockerd up and the image imported before anything is timed.
    docker(&["run", "--rm", "--network", "none", IMAGE, "true"]);

    let rec = Recorder::start();
    let mut starts: Vec<f64> =
        (0..n).map(|_| docker(&["run", "--rm", "--network", "none", IMAGE, "true"]).as_secs_f64() * 1e3).collect();
    let (dir, log) = rec.stop();
    let mut reads: Vec<f64> = log
        .iter()
        .filter_map(|l| l.split("metadata read in ").nth(1))
        .filter_map(|d| debug_ms(d.split_whitespace().next()?))
        .collect();
    reads.sort_by(f64::total_cmp);
    starts.sort_by(f64::total_cmp);
    let r = StoreReader::open(&dir.path().join("data")).expect("open the bench store");
    let containers = r.containers();
    let with_image = containers.iter().filter(|c| c.meta.image.as_deref() == Some(IMAGE)).count();
    assert!(!reads.is_empty(), "the recorder logged no metadata lookups");
    println!("### Runtime metadata: {n} `docker run --rm` containers, one after another\n");
    println!("| what | p50 | p99 | max |\n| --- | --- | --- | --- |");
    let row = |what: &str, v: &[f64]| {
        println!("| {what} | {:.2} ms | {:.2} ms | {:.2} ms |", percentile(v, 0.5), percentile(v, 0.99), v[v.len() - 1])
    };
    row("reading one container's files (the recorder's lookup thread)", &reads);
    row("`docker run --rm ... true`, start to exit (the baseline)", &starts);
    println!(
        "\nLookups: {} for {n} containers ({} containers recorded, {with_image} with their image). \
         The lookup at p50 is {:.2}% of a container's start.\n",
        reads.len(),
        containers.len(),
        100.0 * percentile(&reads, 0.5) / percentile(&starts, 0.5)
    );

    let script = format!("i=0; while [ $i -lt {execs} ]; do /bin/true; i=$((i+1)); done");
    let storm = || docker(&["run", "--rm", "--network", "none", IMAGE, "sh", "-c", &script]).as_secs_f64();
    let (mut without, mut with) = (Vec::new(), Vec::new());
    let mut kept = Vec::new();
    for _ in 0..rounds {
        without.push(storm());
        let rec = Recorder::start();
        with.push(storm());
        let (dir, _) = rec.stop();
        let r = StoreReader::open(&dir.path().join("data")).expect("open the bench store");
        let inside = r
            // What was passed: in the busybox image /bin/true resolves to /bin/busybox.
            .events(0, u64::MAX, |e| matches!(&e.body, Body::Exec(x) if x.filename == b"/bin/true"))
            .iter()
            .filter(|f| f.container.as_ref().is_some_and(|c| c.meta.image.as_deref() == Some(IMAGE)))
            .count();
        kept.push(inside);
    }
    let (a, b) = (median(without.clone()), median(with.clone()));
    println!("### Exec storm inside one container: {execs} execs of `/bin/true`, {rounds} interleaved rounds\n");
    println!("| tracer | wall time, median | ratio to no tracer | execs stored with the container's image |");
    println!("| --- | --- | --- | --- |");
    println!("| no tracer | {a:.2} s | 1.000 | – |");
    println!(
        "| ctrail-recorder | {b:.2} s | {:.3} | {} of {execs} (min over rounds) |",
        b / a,
        kept.iter().min().copied().unwrap_or(0)
    );
}
