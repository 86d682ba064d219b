//! Ingest on one core: the store writer next to redb alone taking the same encoded events,
//! measured in the same run. Run with `cargo xtask bench`.

use std::time::Instant;

use ctrail_store::Batch;
use ctrail_synthetic::{SEC, T0, bench_writer, dir_bytes, synthetic};

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

fn main() {
    ingest();
}
