//! Exec storms under four tracers, side by side in one run: none, ctrail-recorder (scope
//! all, default settings), auditd recording execve to its log, and a bpftrace script writing
//! every exec to a file. Rounds are interleaved (A B C D, A B C D, ...) because these machines
//! are noisy; the report gives medians with min–max, the ratio of each to no tracer, and the
//! execs each tracer kept against the storm's count. Then the highest exec rate reached and
//! ctrail's loss there, and the recorder's CPU and peak memory at 1,000 execs/s and at that
//! maximum. Prints markdown (`cargo xtask bench` puts it into BENCHMARKS.md). Needs root,
//! auditd and bpftrace (`cargo xtask bench` installs them).
//!
//! `CTRAIL_BENCH_STORM` execs per storm (default 20,000), `CTRAIL_BENCH_ROUNDS` (default 3).

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use ctrail_model::Body;
use ctrail_store::StoreReader;

const WORKERS: usize = 2;

/// Runs `n` fork+exec+wait of `exe` from WORKERS threads at full speed, or paced to `rate`
/// execs per second in total; returns the wall time.
fn storm(exe: &Path, n: usize, rate: Option<f64>) -> Duration {
    let t = Instant::now();
    std::thread::scope(|s| {
        for w in 0..WORKERS {
            s.spawn(move || {
                let mine = n / WORKERS + usize::from(w < n % WORKERS);
                for i in 0..mine {
                    if let Some(r) = rate {
                        let due = Duration::from_secs_f64((i * WORKERS + w) as f64 / r);
                        if let Some(wait) = due.checked_sub(t.elapsed()) {
                            std::thread::sleep(wait);
                        }
                    }
                    let st = Command::new(exe).stdin(Stdio::null()).stdout(Stdio::null()).status();
                    assert!(st.is_ok_and(|s| s.success()), "storm exec failed");
                }
            });
        }
    });
    t.elapsed()
}

/// A tracer running for the length of one storm.
trait Tracer {
    fn name(&self) -> &'static str;
    /// Starts and returns once it is tracing.
    fn start(&mut self);
    /// Stops and counts the storm's execs it kept.
    fn stop_and_count(&mut self, exe: &Path) -> u64;
    /// A process to watch for CPU and memory, when there is one.
    fn pid(&self) -> Option<u32> {
        None
    }
    /// Bytes its last run left on disk (store, log, output file), and how many records
    /// (events, log lines) they hold.
    fn on_disk(&self) -> Option<(u64, u64)> {
        None
    }
    /// Events the tracer itself says it lost in the last run, when it says.
    fn lost(&self) -> Option<u64> {
        None
    }
}

struct NoTracer;
impl Tracer for NoTracer {
    fn name(&self) -> &'static str {
        "no tracer"
    }
    fn start(&mut self) {}
    fn stop_and_count(&mut self, _: &Path) -> u64 {
        0
    }
}

fn wait_for_line(child: &mut Child, what: &str) {
    let err = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel();
    let what = what.to_string();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            if l.contains(&what) {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60)).expect("tracer ready");
}

fn terminate(child: &mut Child) {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

#[derive(Default)]
struct Ctrail {
    /// Extra recorder arguments, and the row's name.
    extra: &'static [&'static str],
    label: &'static str,
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
    /// Events the recorder stored as lost (gap records) in the last run.
    lost: u64,
    /// The data directory's bytes after the last run (its segments sealed as format 2),
    /// and the events in it.
    on_disk: Option<(u64, u64)>,
}
impl Tracer for Ctrail {
    fn name(&self) -> &'static str {
        self.label
    }
    fn start(&mut self) {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_ctrail-recorder"))
            .args(["run", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(self.extra)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_line(&mut c, "recording to");
        self.child = Some(c);
        self.dir = Some(dir);
    }
    fn stop_and_count(&mut self, exe: &Path) -> u64 {
        terminate(self.child.as_mut().unwrap());
        self.child = None;
        let dir = self.dir.take().unwrap();
        let data = dir.path().join("data");
        let r = StoreReader::open(&data).expect("open the bench store");
        self.lost = r.gaps().iter().map(|g| g.lost()).sum();
        let bytes: u64 = std::fs::read_dir(&data)
            .unwrap()
            .filter_map(|e| e.ok()?.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum();
        self.on_disk = Some((bytes, r.event_count()));
        let exe = exe.as_os_str().as_encoded_bytes();
        r.events(0, u64::MAX, |_| true)
            .iter()
            .filter(|f| matches!(&f.event.body, Body::Exec(x) if x.exe == exe))
            .count() as u64
    }
    fn on_disk(&self) -> Option<(u64, u64)> {
        self.on_disk
    }
    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
    fn lost(&self) -> Option<u64> {
        Some(self.lost)
    }
}

struct Auditd {
    log: PathBuf,
    pid: Option<u32>,
    on_disk: Option<(u64, u64)>,
}

impl Auditd {
    /// The log and its rotated generations (`audit.log.1`, ...).
    fn logs(&self) -> Vec<PathBuf> {
        let (Some(dir), Some(name)) = (self.log.parent(), self.log.file_name()) else { return Vec::new() };
        let name = name.to_string_lossy().to_string();
        std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&name)))
                    .collect()
            })
            .unwrap_or_default()
    }
}
impl Tracer for Auditd {
    fn name(&self) -> &'static str {
        "auditd (execve rule)"
    }
    fn start(&mut self) {
        for f in self.logs() {
            let _ = std::fs::remove_file(f);
        }
        // Debian's default rules raise the backlog to 8192; without it the kernel drops at 64.
        let st = Command::new("auditd").args(["-c", "/etc/audit"]).status().expect("start auditd");
        assert!(st.success(), "auditd did not start");
        for _ in 0..100 {
            if let Ok(p) = std::fs::read_to_string("/run/auditd.pid") {
                self.pid = p.trim().parse().ok();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for args in
            [&["-b", "8192"][..], &["-a", "always,exit", "-F", "arch=b64", "-S", "execve", "-k", "ctrail-bench"]]
        {
            let st = Command::new("auditctl").args(args).stdout(Stdio::null()).status().unwrap();
            assert!(st.success(), "auditctl {args:?}");
        }
        let _ = Command::new("auditctl").args(["-e", "1"]).stdout(Stdio::null()).status();
    }
    fn stop_and_count(&mut self, exe: &Path) -> u64 {
        // Let auditd drain its queue into the log before it stops.
        std::thread::sleep(Duration::from_secs(2));
        let _ = Command::new("auditctl").arg("-D").stdout(Stdio::null()).status();
        let _ = Command::new("auditctl").args(["-e", "0"]).stdout(Stdio::null()).status();
        if let Some(p) = self.pid.take() {
            // SAFETY: kill(2) on the daemon we started.
            unsafe { libc::kill(p as i32, libc::SIGTERM) };
            for _ in 0..100 {
                if !Path::new(&format!("/proc/{p}")).exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // auditd rotates its log at max_log_file (8 MB by default): count every file.
        let needle = format!("exe=\"{}\"", exe.display());
        let logs: Vec<String> = self.logs().iter().map(|f| std::fs::read_to_string(f).unwrap_or_default()).collect();
        self.on_disk =
            Some((logs.iter().map(|l| l.len() as u64).sum(), logs.iter().map(|l| l.lines().count() as u64).sum()));
        logs.iter()
            .map(|l| l.lines().filter(|l| l.starts_with("type=SYSCALL") && l.contains(&needle)).count() as u64)
            .sum()
    }
    fn on_disk(&self) -> Option<(u64, u64)> {
        self.on_disk
    }
    fn pid(&self) -> Option<u32> {
        self.pid
    }
}

#[derive(Default)]
struct Bpftrace {
    child: Option<Child>,
    out: PathBuf,
    on_disk: Option<(u64, u64)>,
}
impl Tracer for Bpftrace {
    fn name(&self) -> &'static str {
        "bpftrace (exec script)"
    }
    fn start(&mut self) {
        let _ = std::fs::remove_file(&self.out);
        let script = r#"tracepoint:sched:sched_process_exec { printf("%d %s\n", pid, str(args->filename)); }"#;
        let c = Command::new("bpftrace")
            .args(["-e", script, "-o"])
            .arg(&self.out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bpftrace");
        for _ in 0..600 {
            if std::fs::read_to_string(&self.out).is_ok_and(|s| s.contains("Attaching")) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        self.child = Some(c);
    }
    fn stop_and_count(&mut self, exe: &Path) -> u64 {
        std::thread::sleep(Duration::from_millis(500));
        terminate(self.child.as_mut().unwrap());
        self.child = None;
        let needle = format!(" {}", exe.display());
        let out = std::fs::read_to_string(&self.out).unwrap_or_default();
        self.on_disk = Some((out.len() as u64, out.lines().count() as u64));
        out.lines().filter(|l| l.ends_with(&needle)).count() as u64
    }
    fn on_disk(&self) -> Option<(u64, u64)> {
        self.on_disk
    }
    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

/// Peak resident memory (VmHWM) in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn min_max(v: &[f64]) -> (f64, f64) {
    (v.iter().copied().fold(f64::MAX, f64::min), v.iter().copied().fold(f64::MIN, f64::max))
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("exec storm bench: needs root (tracers load BPF programs and audit rules); skipped");
        return;
    }
    for tool in ["auditd", "auditctl", "bpftrace"] {
        if Command::new("sh").args(["-c", &format!("command -v {tool}")]).stdout(Stdio::null()).status().is_err() {
            println!("exec storm bench: {tool} is missing (cargo xtask bench installs it); skipped");
            return;
        }
    }
    let n = env_or("CTRAIL_BENCH_STORM", 20_000);
    let rounds = env_or("CTRAIL_BENCH_ROUNDS", 3);
    // A private copy of /bin/true, so each tracer's count is this storm's execs and nothing else.
    let tmp = tempfile::tempdir().unwrap();
    let exe = tmp.path().join("ctrail-storm-true");
    std::fs::copy("/bin/true", &exe).unwrap();
    let audit_conf = Path::new("/etc/audit/auditd.conf");
    let log = std::fs::read_to_string(audit_conf)
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.trim().strip_prefix("log_file").map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
            })
        })
        .unwrap_or_else(|| "/var/log/audit/audit.log".into());

    let mut tracers: Vec<Box<dyn Tracer>> = vec![
        Box::new(NoTracer),
        Box::new(Ctrail { label: "ctrail-recorder", ..Default::default() }),
        // Exec, fork and exit only: no syscall tracepoint, so the split of the cost shows.
        Box::new(Ctrail {
            label: "ctrail-recorder --activity none",
            extra: &["--activity", "none"],
            ..Default::default()
        }),
        Box::new(Auditd { log: PathBuf::from(log), pid: None, on_disk: None }),
        Box::new(Bpftrace { out: tmp.path().join("bpftrace.out"), ..Default::default() }),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); tracers.len()];
    let mut kept: Vec<Vec<f64>> = vec![Vec::new(); tracers.len()];
    let mut ctrail_lost = Vec::new();
    let mut ctrail_cpu = Vec::new();
    let mut ctrail_rss = Vec::new();
    let mut disk: Vec<Vec<(u64, u64, u64)>> = vec![Vec::new(); tracers.len()];
    eprintln!("exec storm: {n} execs x {rounds} rounds x {} tracers", tracers.len());
    for round in 0..rounds {
        for (i, t) in tracers.iter_mut().enumerate() {
            t.start();
            let pid = t.pid();
            let cpu0 = pid.map(cpu_ticks).unwrap_or(0);
            let took = storm(&exe, n, None).as_secs_f64();
            if i == 1 {
                let p = pid.unwrap();
                ctrail_cpu.push((cpu_ticks(p) - cpu0) as f64 / ticks_per_sec() / took * 100.0);
                ctrail_rss.push(peak_rss_kib(p) as f64 / 1024.0);
            }
            let k = t.stop_and_count(&exe);
            if let Some((bytes, records)) = t.on_disk() {
                disk[i].push((bytes, records, k));
            }
            times[i].push(took);
            kept[i].push(k as f64);
            if i == 1 {
                ctrail_lost.extend(t.lost());
            }
            eprintln!("  round {round}: {:<24} {took:.2} s, kept {k}", t.name());
        }
    }

    let base = median(&times[0]);
    println!("### Exec storm: {n} fork+exec of `/bin/true` (a copy), {WORKERS} threads, {rounds} interleaved rounds\n");
    println!("| tracer | wall time, median (min–max) | execs/s | ratio to no tracer | storm execs kept |");
    println!("| --- | --- | --- | --- | --- |");
    for (i, t) in tracers.iter().enumerate() {
        let (lo, hi) = min_max(&times[i]);
        let m = median(&times[i]);
        let kept = if i == 0 {
            "–".to_string()
        } else {
            let (klo, khi) = min_max(&kept[i]);
            format!(
                "{:.0} of {n} ({:.1}%; min {klo:.0}, max {khi:.0})",
                median(&kept[i]),
                median(&kept[i]) / n as f64 * 100.0
            )
        };
        println!("| {} | {m:.2} s ({lo:.2}–{hi:.2}) | {:.0} | {:.3} | {kept} |", t.name(), n as f64 / m, m / base,);
    }

    println!("\n### On disk after one storm\n");
    println!("What each tracer's last round left on disk, per storm exec it kept and per record it wrote.\n");
    println!("| tracer | bytes | records | bytes per storm exec kept | bytes per record |");
    println!("| --- | --- | --- | --- | --- |");
    for (i, t) in tracers.iter().enumerate() {
        let Some(&(bytes, records, k)) = disk[i].last() else { continue };
        println!(
            "| {} | {bytes} | {records} | {:.0} | {:.0} |",
            t.name(),
            bytes as f64 / k.max(1) as f64,
            bytes as f64 / records.max(1) as f64
        );
    }

    // Loss at the highest rate: the storms above ran at full speed; ctrail ran with defaults.
    let max_rate = n as f64 / min_max(&times[0]).0;
    let ctrail_min_kept = min_max(&kept[1]).0;
    println!(
        "\n### Loss at the highest exec rate\n\nHighest rate reached without a tracer: **{max_rate:.0} execs/s** ({WORKERS} threads). \
         ctrail with default settings kept at least **{ctrail_min_kept:.0} of {n}** storm execs in every round \
         (loss {:.3}%); the events it stored as lost (gap records) over all rounds: {}.",
        (n as f64 - ctrail_min_kept) / n as f64 * 100.0,
        ctrail_lost.iter().sum::<u64>()
    );

    // Recorder CPU and memory at 1,000 execs/s for 10 s, then at the maximum (from the rounds above).
    let mut c = Ctrail { label: "ctrail-recorder", ..Default::default() };
    c.start();
    let pid = c.pid().unwrap();
    let cpu0 = cpu_ticks(pid);
    let paced = storm(&exe, 10_000, Some(1000.0)).as_secs_f64();
    let cpu_1k = (cpu_ticks(pid) - cpu0) as f64 / ticks_per_sec() / paced * 100.0;
    let rss_1k = peak_rss_kib(pid) as f64 / 1024.0;
    let kept_1k = c.stop_and_count(&exe);
    let (clo, chi) = min_max(&ctrail_cpu);
    let (rlo, rhi) = min_max(&ctrail_rss);
    println!("\n### ctrail-recorder CPU and peak memory\n");
    println!("| load | CPU (% of one core) | peak RSS (VmHWM) | execs kept |");
    println!("| --- | --- | --- | --- |");
    println!("| 1,000 execs/s for {paced:.1} s | {cpu_1k:.1}% | {rss_1k:.1} MiB | {kept_1k} of 10000 |");
    println!(
        "| maximum rate (storms above) | {:.1}% ({clo:.1}–{chi:.1}) | {:.1} MiB ({rlo:.1}–{rhi:.1}) | see above |",
        median(&ctrail_cpu),
        median(&ctrail_rss)
    );
}
