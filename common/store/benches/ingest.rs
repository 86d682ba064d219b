//! Ingest on one thread: the store writer next to redb alone taking the same encoded events,
//! measured in the same run, five times each, interleaved (these machines are noisy: the
//! best of each is compared). Then sealing: the active segment written as format 2, and
//! what a zstd dictionary would change. Run with `cargo xtask bench`.

use std::{path::Path, time::Instant};

use ctrail_model::Event;
use ctrail_store::Batch;
use ctrail_synthetic::{SEC, T0, bench_writer, dir_bytes, synthetic};

/// Interleaved rounds of each writer, the best of each compared (`CTRAIL_BENCH_ROUNDS`).
const ROUNDS: usize = 5;

/// redb inserting the same encoded bytes into one table, with the same batches: no indexes,
/// no encoding, nothing else: the limit the store could reach.
fn raw(dir: &Path, encoded: &[Vec<u8>], per_batch: usize) -> (f64, u64) {
    let table: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("raw");
    let path = dir.join("raw.redb");
    let _ = std::fs::remove_file(&path);
    let db = redb::Database::create(&path).unwrap();
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
    let secs = t.elapsed().as_secs_f64();
    drop(db);
    (secs, std::fs::metadata(&path).unwrap().len())
}

struct Store {
    ingest_secs: f64,
    active_bytes: u64,
    seal_secs: f64,
    sealed_bytes: u64,
}

/// The store writer, fed the events in fsync'd batches; then closed, which seals the active
/// segment and waits for it to be written as format 2.
fn store(dir: &Path, n: u64, per_batch: usize) -> Store {
    let _ = std::fs::remove_dir_all(dir);
    let (mut w, boot, idx) = bench_writer(dir, "ingest");
    // Batches made before the clock starts, as the recorder's worker hands them over.
    let batches: Vec<Batch> =
        synthetic(n, boot, &idx).chunks(per_batch).map(|c| Batch { events: c.to_vec(), gaps: Vec::new() }).collect();
    let t = Instant::now();
    for batch in &batches {
        w.commit(batch, batch.events[0].time).unwrap();
    }
    let ingest_secs = t.elapsed().as_secs_f64();
    let active_bytes = dir_bytes(dir);
    let t = Instant::now();
    w.close(T0 + SEC).unwrap();
    Store { ingest_secs, active_bytes, seal_secs: t.elapsed().as_secs_f64(), sealed_bytes: dir_bytes(dir) }
}

/// Format 1's three tables (events by time, by process, by container), written straight:
/// what the indexes cost at ingest before format 2.
fn format_1(dir: &Path, events: &[Event], encoded: &[Vec<u8>], per_batch: usize) -> (f64, u64) {
    let events_t: redb::TableDefinition<(u64, u64), &[u8]> = redb::TableDefinition::new("events");
    let by_proc: redb::TableDefinition<(u32, u32, u64, u64, u64), ()> = redb::TableDefinition::new("by_proc");
    let by_container: redb::TableDefinition<(u32, u64, u64), ()> = redb::TableDefinition::new("by_container");
    let path = dir.join("indexed.redb");
    let db = redb::Database::create(&path).unwrap();
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
    let secs = t.elapsed().as_secs_f64();
    drop(db);
    (secs, std::fs::metadata(&path).unwrap().len())
}

/// Bytes per event of the sealed blocks, compressed as the store does (zstd level 3, each
/// block alone) and with a dictionary trained on the first blocks.
fn dictionary(events: &[Event]) -> (f64, f64, usize) {
    use ctrail_store::seg::{BLOCK_EVENTS, ZSTD_LEVEL};
    let cfg = bincode::config::standard();
    // One block per container, as the sealer makes them.
    let mut by_container: std::collections::BTreeMap<Option<u32>, Vec<(u64, &Event)>> = Default::default();
    for (seq, e) in events.iter().enumerate() {
        by_container.entry(e.container).or_default().push((seq as u64, e));
    }
    let blocks: Vec<Vec<u8>> = by_container
        .values()
        .flat_map(|v| {
            v.chunks(BLOCK_EVENTS).map(|c| bincode::serde::encode_to_vec(c, cfg).unwrap()).collect::<Vec<_>>()
        })
        .collect();
    let plain: usize = blocks.iter().map(|b| zstd::bulk::compress(b, ZSTD_LEVEL).unwrap().len()).sum();
    let samples: Vec<&[u8]> = blocks.iter().take(64).map(|b| &b[..b.len().min(16 << 10)]).collect();
    let dict = zstd::dict::from_samples(&samples, 64 << 10).unwrap();
    let mut c = zstd::bulk::Compressor::with_dictionary(ZSTD_LEVEL, &dict).unwrap();
    let with: usize = blocks.iter().map(|b| c.compress(b).unwrap().len()).sum::<usize>() + dict.len();
    let n = events.len() as f64;
    (plain as f64 / n, with as f64 / n, dict.len())
}

fn main() {
    let n: u64 = std::env::var("CTRAIL_BENCH_INGEST").ok().and_then(|v| v.parse().ok()).unwrap_or(1_500_000);
    // The recorder's default batch (`--batch-events`); CTRAIL_BENCH_BATCH to try others.
    let per_batch: usize = std::env::var("CTRAIL_BENCH_BATCH").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let tmp = tempfile::tempdir().unwrap();
    let events = {
        let (w, boot, idx) = bench_writer(&tmp.path().join("scratch"), "ingest");
        drop(w);
        synthetic(n, boot, &idx)
    };
    let cfg = bincode::config::standard();
    let encoded: Vec<Vec<u8>> = events.iter().map(|e| bincode::serde::encode_to_vec(e, cfg).unwrap()).collect();
    let raw_len: usize = encoded.iter().map(Vec::len).sum();
    let (mut best_raw, mut raw_bytes) = (f64::MAX, 0);
    let mut best: Option<Store> = None;
    let rounds: usize = std::env::var("CTRAIL_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(ROUNDS);
    for _ in 0..rounds {
        let (secs, bytes) = raw(tmp.path(), &encoded, per_batch);
        if secs < best_raw {
            (best_raw, raw_bytes) = (secs, bytes);
        }
        let s = store(&tmp.path().join("store"), n, per_batch);
        if best.as_ref().is_none_or(|b| s.ingest_secs < b.ingest_secs) {
            best = Some(s);
        }
    }
    let s = best.expect("one round");
    let (f1_secs, f1_bytes) = format_1(tmp.path(), &events, &encoded, per_batch);
    let (plain, with_dict, dict_len) = dictionary(&events);
    let n = events.len() as f64;
    println!(
        "### Ingest: {n} synthetic events (fork, exec, exit), fsync'd batches of {per_batch}, one ingest thread \
         (the store encodes a batch on a helper thread while it inserts), best of {rounds} interleaved runs\n"
    );
    println!("| writer | events/s | bytes/event on disk | relative |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| redb, one table, the same encoded events (the limit) | {:.0} | {:.1} | 1.00 |",
        n / best_raw,
        raw_bytes as f64 / n
    );
    println!(
        "| ctrail StoreWriter: the active segment (events by time, one table; encoding included) | {:.0} | {:.1} | {:.2} |",
        n / s.ingest_secs,
        s.active_bytes as f64 / n,
        best_raw / s.ingest_secs
    );
    println!(
        "| format 1's three tables (events, by_proc, by_container) written straight, one run | {:.0} | {:.1} | {:.2} |",
        n / f1_secs,
        f1_bytes as f64 / n,
        best_raw / f1_secs
    );
    println!(
        "| sealing the active segment as format 2 (maintenance thread, off the ingest path) | {:.0} | {:.1} | - |",
        n / s.seal_secs,
        s.sealed_bytes as f64 / n,
    );
    println!(
        "\nEncoded event size (bincode, before redb): {:.1} bytes on average. Targets: ingest >= 0.8x redb's one \
         table: {}; sealed <= 60 bytes/event: {}.\n",
        raw_len as f64 / n,
        if best_raw / s.ingest_secs >= 0.8 { "met" } else { "NOT met" },
        if (s.sealed_bytes as f64 / n) <= 60.0 { "met" } else { "NOT met" }
    );
    println!(
        "zstd dictionary: blocks compressed alone {plain:.1} bytes/event; with a {dict_len}-byte dictionary trained \
         on the first 64 blocks (counted once) {with_dict:.1}.\n"
    );
}
