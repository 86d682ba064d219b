//! `ctrail export --format parquet`: the events as Parquet files in the fleet layout
//! (`OUT/events/dt=YYYY-MM-DD/host=HOST/<boot-id>-<seq>.parquet`, `ctrail-columnar`),
//! one file per segment, day and boot, written one segment at a time.

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    process::ExitCode,
    sync::atomic::{AtomicUsize, Ordering::Relaxed},
};

use anyhow::{Context, Result};
use ctrail_columnar::{FileKey, Row, batch, write_atomically};
use ctrail_model::{Body, BootInfo};
use ctrail_store::Found;

use crate::{events_cmd::Query, rows::event::EventRow, source::Source, time};

const DAY_NS: u64 = 86_400 * 1_000_000_000;

/// The day (UTC) of a wall-clock ns time, `YYYY-MM-DD`.
fn day(ns: u64) -> String {
    time::rfc3339(ns)[..10].to_string()
}

pub fn run(out: &Path, src: &Source, q: &Query) -> Result<ExitCode> {
    let boots: HashMap<u32, BootInfo> = src.reader.boots().into_iter().collect();
    let unknown = BootInfo {
        boot_id: "unknown".into(),
        hostname: "unknown".into(),
        kernel: String::new(),
        ctrail_version: String::new(),
        wall_offset_ns: 0,
    };
    let (files, rows_n) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let keep = |e: &ctrail_model::Event| q.matches(e);
    src.reader.for_each_segment(q.since, q.until, keep, |file, found| -> Result<()> {
        let found: Vec<Found> = found.into_iter().filter(|f| q.container_matches(f)).collect();
        // Grouped by UTC day number and boot index (a boot has one id and one host name):
        // the day is formatted and the boot looked up once per file, not once per event.
        let mut groups: BTreeMap<(u64, u32), Vec<&Found>> = BTreeMap::new();
        for f in &found {
            groups.entry((f.event.time / DAY_NS, f.event.proc.boot)).or_default().push(f);
        }
        for ((_, boot), list) in groups {
            let b = boots.get(&boot).unwrap_or(&unknown);
            let key = FileKey {
                day: day(list[0].event.time),
                host: b.hostname.clone(),
                boot_id: b.boot_id.clone(),
                seq: file.seq,
            };
            let mut rows: Vec<Row> = list
                .iter()
                .map(|f| {
                    let shown = EventRow::new(f, src);
                    let detail = match &f.event.body {
                        Body::Exec(_) => None,
                        _ => Some(String::from_utf8_lossy(&shown.detail()).into_owned()),
                    };
                    Row { event: &f.event, container: shown.container, host: &b.hostname, boot_id: &b.boot_id, detail }
                })
                .collect();
            rows_n.fetch_add(rows.len(), Relaxed);
            let path = out.join(key.path("events"));
            write_atomically(&path, &batch(&mut rows)?).with_context(|| format!("writing {}", path.display()))?;
            files.fetch_add(1, Relaxed);
        }
        Ok(())
    })?;
    src.sync_problems();
    let (files, rows_n) = (files.into_inner(), rows_n.into_inner());
    eprintln!("ctrail: exported {rows_n} events as {files} Parquet files under {}", out.join("events").display());
    Ok(src.report.exit_code(rows_n > 0))
}
