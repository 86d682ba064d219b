//! Query speed on a large store: one container's events in a one-hour window, `ps --at`,
//! and CSV export, each next to a baseline measured in the same run (a full scan of the
//! same store), because these machines are noisy. Run with `cargo xtask bench`.
//!
//! `CTRAIL_BENCH_EVENTS` (default 10,000,000) events over 200 containers and 24 hours are
//! written once into `target/bench-store-<N>` through the real store writer, with
//! the recorder's default 10-minute segments, and reused by later runs.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use ctrail_common::{
    classify::Runtime,
    record::{Body, BootInfo, Caps, Cgroups, Container, Event, Exec, Exit, Fork, Namespaces, ProcKey, Source},
    store::{Batch, Options, StoreReader, StoreWriter},
};

const SEC: u64 = 1_000_000_000;
/// 2026-11-01T00:00:00Z
const T0: u64 = 1_793_491_200 * SEC;
const SPAN: u64 = 24 * 3600 * SEC;
const CONTAINERS: u32 = 200;

fn container_id(i: u32) -> String {
    // Spread over the whole ID like real ones, so a short prefix is unique.
    let h = (u64::from(i) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!("{h:016x}{:048x}", i)
}

fn exec(pid: u32, i: u32) -> Body {
    Body::Exec(Box::new(Exec {
        source: Source::Kernel,
        ns_pid: pid % 1000,
        old_tid: 0,
        comm: "worker".into(),
        comm_before: Some("sh".into()),
        exe: b"/usr/bin/worker".to_vec(),
        argv: vec![b"/usr/bin/worker".to_vec(), b"--job".to_vec(), i.to_string().into_bytes()],
        argv_truncated: false,
        argv_bytes: 30,
        uid: 1000,
        gid: 1000,
        euid: 1000,
        egid: 1000,
        loginuid: u32::MAX,
        caps: Caps::default(),
        ns: Namespaces { pid: 4026532000 + i % 200, mnt: 4026533000 + i % 200, ..Default::default() },
        cgroups: Cgroups { v2_path: format!("/docker/{}", container_id(i % CONTAINERS)), ..Default::default() },
    }))
}

/// A new store with one boot (`boot_id`) and the CONTAINERS docker containers registered:
/// the writer, the boot index and the containers' store indexes.
fn bench_writer(dir: &Path, boot_id: &str) -> (StoreWriter, u32, Vec<u32>) {
    let (mut w, _) = StoreWriter::open(dir, Options::default(), T0).expect("create bench store");
    let boot = w
        .add_boot(&BootInfo {
            boot_id: boot_id.into(),
            hostname: "bench".into(),
            kernel: "bench".into(),
            ctrail_version: "bench".into(),
            wall_offset_ns: T0 as i64,
        })
        .unwrap();
    let idx = (0..CONTAINERS)
        .map(|i| {
            w.container(Container {
                id: container_id(i),
                runtime: Some(Runtime::Docker),
                name: None,
                pod_uid: None,
                outer_id: None,
                cgroup: None,
                reason: "bench".into(),
                first_seen: T0,
                last_seen: T0,
                processes: 0,
                events: 0,
            })
        })
        .collect();
    (w, boot, idx)
}

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

/// Process `p` of a generated store: its fork, exec and exit, `at` ns after `start` each.
/// Nine in ten run in one of the containers (`containers`, by store index), round robin.
fn process(p: u64, start: u64, at: [u64; 3], boot: u32, containers: &[u32]) -> [Event; 3] {
    let i = p as u32;
    let key = ProcKey::new(boot, 1000 + (i % 30_000), start + SEC);
    let c = (!i.is_multiple_of(10)).then(|| containers[(i % CONTAINERS) as usize]);
    let ev = |dt: u64, body: Body| Event {
        time: T0 + start + dt,
        boot_ns: start + dt,
        proc: key,
        tid: key.tgid,
        ppid: 1,
        parent_start: 0,
        container: c,
        body,
    };
    [
        ev(at[0], Body::Fork(Fork { ns_pid: 1, comm: "sh".into(), ns: Namespaces::default(), cgroup_v2_id: 0 })),
        ev(at[1], exec(key.tgid, i)),
        ev(at[2], Body::Exit(Exit { status: 0 })),
    ]
}

/// `n` events of the same shape as the big store's, 1 µs per process, for the ingest measurement.
fn synthetic(n: u64, boot: u32, containers: &[u32]) -> Vec<Event> {
    (0..n / 3).flat_map(|p| process(p, p * 1000, [0, 300, 600], boot, containers)).collect()
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()
}

/// Ingest on one core: the store writer fed synthetic events in fsync'd batches of the
/// recorder's default size, next to redb inserting the same encoded bytes into one table
/// with the same batches (no indexes: the limit the store could reach).
fn ingest() {
    let n: u64 = std::env::var("CTRAIL_BENCH_INGEST").ok().and_then(|v| v.parse().ok()).unwrap_or(1_500_000);
    // The recorder's default batch (`--batch-events`); CTRAIL_BENCH_BATCH to try others.
    let per_batch: usize = std::env::var("CTRAIL_BENCH_BATCH").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let (mut w, boot, idx) = bench_writer(&dir, "ingest");
    let events = synthetic(n, boot, &idx);
    let t = Instant::now();
    let mut batch = Batch::default();
    for chunk in events.chunks(per_batch) {
        batch.events.clear();
        batch.events.extend_from_slice(chunk);
        w.commit(&batch, chunk[0].time).unwrap();
    }
    let store_secs = t.elapsed().as_secs_f64();
    w.close(T0 + SEC).unwrap();
    let store_bytes = dir_bytes(&dir);

    // The same bytes, straight into redb.
    let cfg = bincode::config::standard();
    let encoded: Vec<Vec<u8>> = events.iter().map(|e| bincode::serde::encode_to_vec(e, cfg).unwrap()).collect();
    let raw_len: usize = encoded.iter().map(Vec::len).sum();
    let table: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("raw");
    let raw_path = tmp.path().join("raw.redb");
    let db = redb::Database::create(&raw_path).unwrap();
    let t = Instant::now();
    for (b, chunk) in encoded.chunks(per_batch).enumerate() {
        let tx = db.begin_write().unwrap();
        {
            let mut tb = tx.open_table(table).unwrap();
            for (i, v) in chunk.iter().enumerate() {
                tb.insert((b * per_batch + i) as u64, v.as_slice()).unwrap();
            }
        }
        tx.commit().unwrap();
    }
    let raw_secs = t.elapsed().as_secs_f64();
    drop(db);
    let raw_bytes = std::fs::metadata(&raw_path).unwrap().len();

    // The store's own table layout, written straight: what the two indexes cost.
    let events_t: redb::TableDefinition<(u64, u64), &[u8]> = redb::TableDefinition::new("events");
    let by_proc: redb::TableDefinition<(u32, u32, u64, u64, u64), ()> = redb::TableDefinition::new("by_proc");
    let by_container: redb::TableDefinition<(u32, u64, u64), ()> = redb::TableDefinition::new("by_container");
    let idx_path = tmp.path().join("indexed.redb");
    let db = redb::Database::create(&idx_path).unwrap();
    let t = Instant::now();
    for (b, chunk) in encoded.chunks(per_batch).enumerate() {
        let tx = db.begin_write().unwrap();
        {
            let mut ev = tx.open_table(events_t).unwrap();
            let mut bp = tx.open_table(by_proc).unwrap();
            let mut bc = tx.open_table(by_container).unwrap();
            for (i, v) in chunk.iter().enumerate() {
                let seq = (b * per_batch + i) as u64;
                let e = &events[seq as usize];
                ev.insert((e.time, seq), v.as_slice()).unwrap();
                bp.insert((e.proc.boot, e.proc.tgid, e.proc.start, e.time, seq), ()).unwrap();
                if let Some(c) = e.container {
                    bc.insert((c, e.time, seq), ()).unwrap();
                }
            }
        }
        tx.commit().unwrap();
    }
    let idx_secs = t.elapsed().as_secs_f64();
    drop(db);
    let idx_bytes = std::fs::metadata(&idx_path).unwrap().len();
    let n = events.len() as f64;
    println!(
        "### Ingest: {n} synthetic events (fork, exec, exit), fsync'd batches of {per_batch}, one core
"
    );
    println!("| writer | events/s | bytes/event on disk | relative |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| redb, one table, the same encoded events (the limit) | {:.0} | {:.1} | 1.00 |",
        n / raw_secs,
        raw_bytes as f64 / n
    );
    println!(
        "| redb, the store's three tables (events, by_proc, by_container) written straight | {:.0} | {:.1} | {:.2} |",
        n / idx_secs,
        idx_bytes as f64 / n,
        raw_secs / idx_secs
    );
    println!(
        "| ctrail StoreWriter (the same three tables, through the store) | {:.0} | {:.1} | {:.2} |",
        n / store_secs,
        store_bytes as f64 / n,
        raw_secs / store_secs
    );
    println!(
        "\nEncoded event size (bincode, before redb): {:.1} bytes on average. Targets: >= 300,000 events/s: {}; \
         < 100 bytes/event: {}.\n",
        raw_len as f64 / n,
        if n / store_secs >= 300_000.0 { "met" } else { "NOT met" },
        if (store_bytes as f64 / n) < 100.0 { "met" } else { "NOT met" }
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
    ingest();
    let n: u64 = std::env::var("CTRAIL_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../target/bench-store-{n}"));
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
}

fn verdict(d: Duration, ms: u64) -> &'static str {
    if d <= Duration::from_millis(ms) { "met" } else { "NOT met" }
}
