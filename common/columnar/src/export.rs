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

use crate::{
    AtomicFile, ColumnarError, EventColumns, FileBoot, FileKey, containers_batch, events_schema, gaps_batch,
    write_atomically,
};

const DAY_NS: u64 = 86_400 * 1_000_000_000;

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

fn file_key(day: u64, b: &BootInfo, seq: u64) -> FileKey {
    FileKey { day: day_name(day), host: b.hostname.clone(), boot_id: b.boot_id.clone(), seq }
}

/// The events file of one UTC day and boot of a segment, being written, with the
/// containers its events ran in (their file is written beside it at the end).
struct EventsFile {
    out: AtomicFile,
    columns: EventColumns,
    boot: BootInfo,
    key: FileKey,
    containers: BTreeMap<String, Container>,
    events: usize,
}

/// One store segment (`seq`) being written under `root`: its events, the containers they
/// ran in and its gaps, a file per table, UTC day and boot. Events come a container at a
/// time ([`Self::add`]: the host's first, then by container ID, each in time order, as
/// the store reads a segment), so a file's rows are sorted by container and time without
/// a sort, and only a chunk of columns is held at once. `boots` names the boots by index,
/// as the store does.
pub struct SegmentExport<'a> {
    root: &'a Path,
    seq: u64,
    boots: &'a HashMap<u32, BootInfo>,
    /// By UTC day number and boot index (a boot has one id and one host name).
    files: BTreeMap<(u64, u32), EventsFile>,
}

impl<'a> SegmentExport<'a> {
    pub fn new(root: &'a Path, seq: u64, boots: &'a HashMap<u32, BootInfo>) -> Self {
        SegmentExport { root, seq, boots, files: BTreeMap::new() }
    }

    /// One container's events (`None`: the host's), in time order.
    pub fn add<'e>(
        &mut self,
        container: Option<&Container>,
        events: impl IntoIterator<Item = &'e Event>,
    ) -> Result<(), ColumnarError> {
        for e in events {
            let at = (e.time / DAY_NS, e.proc.boot);
            let f = match self.files.entry(at) {
                std::collections::btree_map::Entry::Occupied(f) => f.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    let boot = self.boots.get(&at.1).cloned().unwrap_or_else(unknown_boot);
                    let key = file_key(at.0, &boot, self.seq);
                    let out = AtomicFile::create(&self.root.join(key.path("events")), events_schema())?;
                    v.insert(EventsFile {
                        out,
                        columns: EventColumns::new(),
                        boot,
                        key,
                        containers: BTreeMap::new(),
                        events: 0,
                    })
                }
            };
            let b = &f.boot;
            let file = FileBoot { host: &b.hostname, boot_id: &b.boot_id, machine_id: b.machine_id.as_deref() };
            f.columns.push(e, container, file);
            f.events += 1;
            if let Some(c) = container
                && !f.containers.contains_key(&c.id)
            {
                f.containers.insert(c.id.clone(), c.clone());
            }
            if f.columns.len() == EventColumns::CHUNK {
                f.out.write(&f.columns.take_batch()?)?;
            }
        }
        Ok(())
    }

    /// Finishes the events files, writes the containers and `gaps` beside them.
    pub fn finish(mut self, gaps: &[Gap]) -> Result<Exported, ColumnarError> {
        let mut done = Exported::default();
        let mut per_boot: HashMap<u32, usize> = HashMap::new();
        for ((_, boot), mut f) in std::mem::take(&mut self.files) {
            if !f.columns.is_empty() {
                f.out.write(&f.columns.take_batch()?)?;
            }
            f.out.finish()?;
            done.events += f.events;
            done.files += 1;
            *per_boot.entry(boot).or_default() += f.events;
            if !f.containers.is_empty() {
                let list: Vec<&Container> = f.containers.values().collect();
                write_atomically(&self.root.join(f.key.path("containers")), &containers_batch(&list, &f.boot)?)?;
                done.containers += list.len();
                done.files += 1;
            }
        }
        if !gaps.is_empty() {
            // A gap has no boot of its own: it is the segment's (the one most of its events
            // have; a segment of nothing but gaps is its recorder's only boot there).
            let unknown = unknown_boot();
            let boot = |i: u32| self.boots.get(&i).unwrap_or(&unknown);
            let main = per_boot.iter().max_by_key(|(i, n)| (**n, **i)).map(|(i, _)| *i);
            let b = main.map_or(&unknown, boot);
            let b = if main.is_none() && self.boots.len() == 1 { self.boots.values().next().unwrap_or(b) } else { b };
            let mut by_day: BTreeMap<u64, Vec<&Gap>> = BTreeMap::new();
            for g in gaps {
                by_day.entry(g.start / DAY_NS).or_default().push(g);
            }
            for (day, list) in by_day {
                write_atomically(&self.root.join(file_key(day, b, self.seq).path("gaps")), &gaps_batch(&list, b)?)?;
                done.gaps += list.len();
                done.files += 1;
            }
        }
        Ok(done)
    }
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
