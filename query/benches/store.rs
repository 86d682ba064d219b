//! Query speed on a large store: one container's events in a one-hour window, `ps --at`,
//! and CSV export, each next to a baseline measured in the same run (a full scan of the
//! same store), because these machines are noisy. Run with `cargo xtask bench`.
//!
//! `CTRAIL_BENCH_EVENTS` (default 10,000,000) events over 200 containers and 24 hours are
//! written once into `target/bench-store-<N>-format-<F>` through the real store writer, with
//! the recorder's default 10-minute segments, and reused by later runs.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use ctrail_store::{Batch, StoreReader};
use ctrail_synthetic::{CONTAINERS, SEC, SPAN, T0, bench_writer, container_id, dir_bytes, process};

fn build(dir: &Path, n: u64) {
    let t = Instant::now();
    let (mut w, boot, idx) = bench_writer(dir, "bench");
    // Each process: fork, exec, exit (three events), 1.5 s apart in store time.
    let procs = n / 3;
    let step = SPAN / procs.max(1);
    let mut batch = Batch::default();
    for p in 0..procs {
        batch.events.extend(process(p, p * step, [0, step / 3, step / 3 * 2 + SEC], boot, &idx));
        if batch.events.len() >= 30_000 {
            w.commit(&batch, T0 + p * step).unwrap();
            batch.events.clear();
        }
    }
    w.commit(&batch, T0 + SPAN).unwrap();
    w.close(T0 + SPAN).unwrap();
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "built {} events in {secs:.1}s ({:.0} events/s through StoreWriter)",
        procs * 3,
        (procs * 3) as f64 / secs
    );
}

fn ctrail(args: &[&str]) -> Duration {
    let t = Instant::now();
    let st = Command::new(env!("CARGO_BIN_EXE_ctrail")).args(args).stdout(Stdio::null()).status().unwrap();
    assert!(st.code().is_some_and(|c| c <= 1), "{args:?}: {st}");
    t.elapsed()
}

fn median(mut f: impl FnMut() -> Duration) -> Duration {
    let mut v: Vec<Duration> = (0..5).map(|_| f()).collect();
    v.sort();
    v[2]
}

fn rfc(ns: u64) -> String {
    let o = Command::new("date")
        .args(["-u", "-d", &format!("@{}.{:09}", ns / SEC, ns % SEC), "+%Y-%m-%dT%H:%M:%S.%NZ"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn main() {
    let n: u64 = std::env::var("CTRAIL_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    // Per format: a store built by an older format is not what this one measures.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../target/bench-store-{n}-format-{}", ctrail_store::FORMAT_VERSION));
    if !dir.join(".complete").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        build(&dir, n);
        std::fs::write(dir.join(".complete"), b"").unwrap();
    }
    let d = dir.to_str().unwrap();
    let size = dir_bytes(&dir);
    let r = StoreReader::open(&dir).unwrap();
    let total = r.event_count();
    println!(
        "### Query: a store of {total} events, {CONTAINERS} containers over 24 hours ({} segments, {:.1} bytes/event)\n",
        r.segment_count(),
        size as f64 / total as f64
    );
    println!("Medians of 5 runs. The baseline is a full scan of the same store in the same run.\n");
    println!("| query | time | vs full scan | target |");
    println!("| --- | --- | --- | --- |");

    // Baseline: a full scan of every event.
    let t = Instant::now();
    let all = r.events(0, u64::MAX, |_| true).len();
    let scan = t.elapsed();
    println!("| full scan, every event (library): {all} events | {scan:.1?} | 1x | |");
    let vs = |d: Duration| format!("{:.0}x faster", scan.as_secs_f64() / d.as_secs_f64());

    let id = container_id(7);
    let hour_from = T0 + 12 * 3600 * SEC;
    let (since, until) = (rfc(hour_from), rfc(hour_from + 3600 * SEC));
    let mut got = 0;
    let lib = median(|| {
        let t = Instant::now();
        got = r.container_events(&id, hour_from, hour_from + 3600 * SEC, |_| true).len();
        t.elapsed()
    });
    let cli = median(|| {
        ctrail(&[
            "events",
            "--data-dir",
            d,
            "--container",
            &id[..12],
            "--since",
            &since,
            "--until",
            &until,
            "--format",
            "json",
        ])
    });
    println!("| one container, one hour (library): {got} events | {lib:.1?} | {} | |", vs(lib));
    println!(
        "| the same, `ctrail events --container ID --since --until` | {cli:.1?} | {} | < 50 ms: {} |",
        vs(cli),
        verdict(cli, 50)
    );

    // A moment just after one of container 7's processes exec'd (see `build`), so the answer
    // is not empty: processes of one container start every few seconds and live about one.
    let step = SPAN / (n / 3).max(1);
    let p = (hour_from + 1800 * SEC - T0) / step / u64::from(CONTAINERS) * u64::from(CONTAINERS) + 7;
    let moment = T0 + p * step + step / 3 + step / 10;
    let at = rfc(moment);
    let mut alive = 0;
    let lib = median(|| {
        let t = Instant::now();
        alive = r.alive_at(moment, Some(&id)).len();
        t.elapsed()
    });
    assert!(alive > 0, "the ps moment should find container 7's process alive");
    let cli = median(|| ctrail(&["ps", "--data-dir", d, "--container", &id[..12], "--at", &at, "--format", "json"]));
    println!("| processes alive at a moment, one container (library): {alive} | {lib:.1?} | {} | |", vs(lib));
    println!(
        "| the same, `ctrail ps --container ID --at` | {cli:.1?} | {} | < 100 ms: {} |",
        vs(cli),
        verdict(cli, 100)
    );

    let out = std::env::temp_dir().join(format!("ctrail-bench-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let (since, until) = (rfc(hour_from), rfc(hour_from + 4 * 3600 * SEC));
    let took =
        ctrail(&["export", "--data-dir", d, "--since", &since, "--until", &until, "--out", out.to_str().unwrap()]);
    let rows = std::fs::read_to_string(out.join("events.csv")).unwrap().lines().count() as f64 - 1.0;
    let _ = std::fs::remove_dir_all(&out);
    let rate = rows / took.as_secs_f64();
    println!(
        "| `ctrail export`, four hours, every container: {rows} rows | {took:.1?} ({rate:.0} rows/s) | | >= 500,000 rows/s: {} |",
        if rate >= 500_000.0 { "met" } else { "NOT met" }
    );
    // The same window as Parquet (the fleet tree), next to the CSV export just measured.
    let took = ctrail(&[
        "export",
        "--format",
        "parquet",
        "--data-dir",
        d,
        "--since",
        &since,
        "--until",
        &until,
        "--out",
        out.to_str().unwrap(),
    ]);
    let bytes = tree_bytes(&out);
    let _ = std::fs::remove_dir_all(&out);
    let prate = rows / took.as_secs_f64();
    println!(
        "| `ctrail export --format parquet`, the same window: {rows} rows, {:.1} bytes/event | {took:.1?} ({prate:.0} rows/s, {:.2}x CSV's rate) | | >= 1,000,000 rows/s: {}; <= 30 bytes/event: {} |",
        bytes as f64 / rows,
        prate / rate,
        if prate >= 1_000_000.0 { "met" } else { "NOT met" },
        if bytes as f64 / rows <= 30.0 { "met" } else { "NOT met" }
    );
}

/// Bytes of every file under `dir`, subdirectories included.
fn tree_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            match e.metadata() {
                Ok(m) if m.is_dir() => todo.push(p),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn verdict(d: Duration, ms: u64) -> &'static str {
    if d <= Duration::from_millis(ms) { "met" } else { "NOT met" }
}
