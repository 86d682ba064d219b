//! One store segment as files of the Parquet tree: one per table, UTC day and boot.
//! `ctrail export --format parquet` and the recorder's `--parquet-dir` both come here
//! (each reads the segments its own way), so the recorder's tree and an offline export
//! of the same data directory are the same files, byte for byte.
//!
//! Each file holds what its segment recorded, containers included (their metadata as the
//! segment had it, not merged with later segments): a file never changes once written.

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
};

use ctrail_model::{BootInfo, Container, Event, Gap};

use crate::{ColumnarError, FileKey, Row, batch, containers_batch, gaps_batch, write_atomically};

const DAY_NS: u64 = 86_400 * 1_000_000_000;

/// One event of a segment with the container record that segment holds for it.
pub struct SegmentEvent<'a> {
    pub event: &'a Event,
    pub container: Option<&'a Container>,
}

/// What was written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    pub files: usize,
    pub events: usize,
    pub containers: usize,
    pub gaps: usize,
}

impl std::ops::AddAssign for Exported {
    fn add_assign(&mut self, o: Exported) {
        self.files += o.files;
        self.events += o.events;
        self.containers += o.containers;
        self.gaps += o.gaps;
    }
}

/// `YYYY-MM-DD` of a UTC day number (Howard Hinnant's civil-from-days).
fn day_name(day: u64) -> String {
    let z = day as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn unknown_boot() -> BootInfo {
    BootInfo {
        boot_id: "unknown".into(),
        hostname: "unknown".into(),
        kernel: String::new(),
        ctrail_version: String::new(),
        wall_offset_ns: 0,
        machine_id: None,
    }
}

/// Writes one segment (`seq`) under `root`: its events (in time order), the containers
/// they ran in and its gaps, a file per table, UTC day and boot. `boots` names the boots
/// by index, as the store does.
pub fn write_segment(
    root: &Path,
    seq: u64,
    events: &[SegmentEvent],
    gaps: &[Gap],
    boots: &HashMap<u32, BootInfo>,
) -> Result<Exported, ColumnarError> {
    let mut done = Exported::default();
    let unknown = unknown_boot();
    let boot = |i: u32| boots.get(&i).unwrap_or(&unknown);
    let key = |day: u64, b: &BootInfo| FileKey {
        day: day_name(day),
        host: b.hostname.clone(),
        boot_id: b.boot_id.clone(),
        seq,
    };
    // Grouped by UTC day number and boot index (a boot has one id and one host name): the
    // day is formatted and the boot looked up once per file, not once per event.
    let mut groups: BTreeMap<(u64, u32), Vec<&SegmentEvent>> = BTreeMap::new();
    let mut per_boot: HashMap<u32, usize> = HashMap::new();
    for f in events {
        groups.entry((f.event.time / DAY_NS, f.event.proc.boot)).or_default().push(f);
        *per_boot.entry(f.event.proc.boot).or_default() += 1;
    }
    for ((day, b), list) in &groups {
        let b = boot(*b);
        let k = key(*day, b);
        let mut rows: Vec<Row> = list
            .iter()
            .map(|f| Row {
                event: f.event,
                container: f.container,
                host: &b.hostname,
                boot_id: &b.boot_id,
                machine_id: b.machine_id.as_deref(),
            })
            .collect();
        write_atomically(&root.join(k.path("events")), &batch(&mut rows)?)?;
        done.events += rows.len();
        let mut seen: BTreeMap<&str, &Container> = BTreeMap::new();
        for f in list {
            if let Some(c) = f.container {
                seen.entry(c.id.as_str()).or_insert(c);
            }
        }
        let mut files = 1;
        if !seen.is_empty() {
            let list: Vec<&Container> = seen.into_values().collect();
            write_atomically(&root.join(k.path("containers")), &containers_batch(&list, b)?)?;
            done.containers += list.len();
            files += 1;
        }
        done.files += files;
    }
    if !gaps.is_empty() {
        // A gap has no boot of its own: it is the segment's (the one most of its events
        // have; a segment of nothing but gaps is its recorder's only boot there).
        let main = per_boot.iter().max_by_key(|(i, n)| (**n, **i)).map(|(i, _)| *i);
        let b = main.map_or(&unknown, boot);
        let b = if main.is_none() && boots.len() == 1 { boots.values().next().unwrap_or(b) } else { b };
        let mut by_day: BTreeMap<u64, Vec<&Gap>> = BTreeMap::new();
        for g in gaps {
            by_day.entry(g.start / DAY_NS).or_default().push(g);
        }
        for (day, list) in by_day {
            write_atomically(&root.join(key(day, b).path("gaps")), &gaps_batch(&list, b)?)?;
            done.gaps += list.len();
            done.files += 1;
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::day_name;

    #[test]
    fn day_numbers_name_utc_days() {
        assert_eq!(day_name(0), "1970-01-01");
        assert_eq!(day_name(20_424), "2025-12-02");
        assert_eq!(day_name(11_016), "2000-02-29");
        assert_eq!(day_name(20_789), "2026-12-02");
    }
}
