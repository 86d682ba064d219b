//! The recorder's cost on system calls: unrelated ones (reads of /dev/zero) and recorded
//! ones (`unshare(0)`, an activity event each), each as a ratio against no recorder,
//! interleaved A B A B in one run because these machines are noisy. Needs root.
//! `cargo bench -p ctrail-recorder --bench syscalls` (or `cargo xtask bench`).

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

fn read_loop(n: u64) -> Duration {
    let f = std::fs::File::open("/dev/zero").unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
    let mut b = [0u8; 1];
    let t = Instant::now();
    for _ in 0..n {
        // SAFETY: reading one byte into a buffer we own from an open fd.
        unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) };
    }
    t.elapsed()
}

fn unshare_loop(n: u64) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        // SAFETY: unshare(0) changes nothing; it is a recorded syscall that always succeeds.
        unsafe { libc::unshare(0) };
    }
    t.elapsed()
}

/// The recorder, and its data directory (removed when the recorder is gone).
struct Rec(Child, #[allow(dead_code)] tempfile::TempDir);

fn start(extra: &[&str]) -> Rec {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_ctrail-recorder"))
        .args(["run", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = c.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            if l.contains("recording to") {
                let _ = tx.send(l);
            }
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(30)).expect("recorder ready");
    eprintln!("{}", line.split("hooks: ").nth(1).unwrap_or_default());
    Rec(c, dir)
}

impl Drop for Rec {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("syscalls bench: needs root (it loads the recorder's BPF programs); skipped");
        return;
    }
    let (n_read, n_unshare) = (2_000_000u64, 200_000u64);
    let mut base = (Vec::new(), Vec::new());
    let mut with = (Vec::new(), Vec::new());
    let mut lean = Vec::new();
    for _ in 0..3 {
        base.0.push(read_loop(n_read).as_nanos() as f64 / n_read as f64);
        base.1.push(unshare_loop(n_unshare).as_nanos() as f64 / n_unshare as f64);
        let rec = start(&[]);
        with.0.push(read_loop(n_read).as_nanos() as f64 / n_read as f64);
        with.1.push(unshare_loop(n_unshare).as_nanos() as f64 / n_unshare as f64);
        drop(rec);
        // Without the activity kinds no syscall tracepoint is on: what exec/fork/exit cost alone.
        let rec = start(&["--activity", "none"]);
        lean.push(read_loop(n_read).as_nanos() as f64 / n_read as f64);
        drop(rec);
    }
    let (b0, b1, w0, w1) = (median(base.0), median(base.1), median(with.0), median(with.1));
    let l0 = median(lean);
    println!(
        "unrelated  read(/dev/zero, 1)  : {b0:7.1} ns without, {w0:7.1} ns with the recorder: ratio {:.3}",
        w0 / b0
    );
    println!(
        "unrelated  read, --activity none: {b0:7.1} ns without, {l0:7.1} ns with the recorder: ratio {:.3}",
        l0 / b0
    );
    println!(
        "recorded   unshare(0)          : {b1:7.1} ns without, {w1:7.1} ns with the recorder: ratio {:.3}",
        w1 / b1
    );
}
