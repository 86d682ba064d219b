//! The recorder's side of the store: one active segment at a time, rotated by age and
//! size, sealed on demand, recovered after a crash, trimmed by retention.

use std::{
    collections::HashMap,
    fs,
    path::{Path, PathBuf},
};

use rustc_hash::{FxHashMap, FxHashSet};

use super::{
    StoreError, chain,
    dir_lock::DirLock,
    encode_ahead::{self, Chunk},
    maintenance::{Damaged, Keep, Maintenance, set_aside},
    seg::reader::SegReader,
    segment::{self, FileFormat, State},
    segment_writer::{Containers, SegmentWriter},
    trust,
};

/// Wall ns now: when the maintenance thread writes its chain lines.
fn wall_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}
use ctrail_model::{Body, BootInfo, Container, Event, Gap, GapReason, Metadata, ProcKey, Runtime, boot_index};

/// When to start a new segment, and what to keep.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// A segment older than this (wall ns) is sealed at the next commit.
    pub segment_age_ns: u64,
    /// A segment larger than this is sealed at the next commit.
    pub segment_bytes: u64,
    /// Delete sealed segments whose newest event is older than this.
    pub retain_ns: Option<u64>,
    /// Delete the oldest sealed segments while the data directory is larger than this.
    pub max_bytes: Option<u64>,
    /// Refuse a data directory that someone other than root (or us) could control (see
    /// [`trust`]). Off only when the user says so (`--allow-untrusted-data-dir`).
    pub check_trust: bool,
    /// Merge sealed segments smaller than this of the same clock hour into one
    /// (`--compact-below`; 0: never). `None`: a sixteenth of `segment_bytes`.
    pub compact_below: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_age_ns: 600 * 1_000_000_000,
            segment_bytes: 256 << 20,
            retain_ns: None,
            max_bytes: None,
            check_trust: true,
            compact_below: None,
        }
    }
}

/// Something in the data directory changed under the running recorder, found by
/// [`StoreWriter::tick`]; it is stored as a gap too.
#[derive(Debug, Clone)]
pub struct Tamper {
    pub what: String,
}

/// What a batch writes.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<Event>,
    pub gaps: Vec<Gap>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.gaps.is_empty()
    }
}

/// What opening the store found and did, for the recorder's log.
#[derive(Debug, Default)]
pub struct OpenReport {
    /// Active segments of a recorder that did not stop, recovered and sealed.
    pub recovered: Vec<PathBuf>,
    /// Segments that could not be opened, moved to `corrupt/`, with the reason.
    pub set_aside: Vec<(PathBuf, String)>,
    /// The time the recorder was not running, stored as a gap.
    pub downtime: Option<Gap>,
    /// The data directory's mode, when it let group or others read it and was tightened to 0700.
    pub tightened: Option<u32>,
}

pub struct StoreWriter {
    dir: PathBuf,
    /// Format-2 writing, retention and compaction, on their own thread. Declared before
    /// the lock, as fields drop in order: a writer dropped without `close` waits for the
    /// thread before it lets go of the directory (a second writer's recovery running
    /// beside it removed a merge the first had not chained yet: every event gone).
    maintenance: Maintenance,
    lock: DirLock,
    opts: Options,
    active: SegmentWriter,
    /// Gaps written to the active segment (a segment with gaps is worth sealing).
    active_gaps: u64,
    boots: Vec<(u32, BootInfo)>,
    index: HashMap<String, u32>,
    /// Container records with this segment's counters.
    containers: Vec<Container>,
    /// Containers whose counters changed since the last commit (indexes, and a flag each).
    dirty: Dirty,
    /// Containers whose record (runtime, name, metadata) changed since the last commit.
    described: Dirty,
    live_in_container: FxHashSet<(ProcKey, u32)>,
    /// Each live process's latest exec (or fork), encoded: the checkpoint of the next
    /// segment. Kept as the bytes the commit wrote (a clone of the event costs more than
    /// the insert itself).
    live: FxHashMap<ProcKey, Live>,
    pending_gaps: Vec<Gap>,
    broken: bool,
    tampers: Vec<Tamper>,
}

/// A live process as the next segment's checkpoint holds it.
pub(crate) struct Live {
    pub container: Option<u32>,
    /// The encoded event.
    pub bytes: Vec<u8>,
}

/// A set of container indexes, dense from 0: a flag per index and the list of those set.
#[derive(Default)]
struct Dirty {
    flags: Vec<bool>,
    list: Vec<u32>,
}

impl Dirty {
    fn insert(&mut self, i: u32) {
        let at = i as usize;
        if self.flags.len() <= at {
            self.flags.resize(at + 1, false);
        }
        if !self.flags[at] {
            self.flags[at] = true;
            self.list.push(i);
        }
    }

    fn clear(&mut self) {
        for &i in &self.list {
            self.flags[i as usize] = false;
        }
        self.list.clear();
    }
}

/// Checks, creates and tightens the data directory, and refuses anything in it that is
/// neither a regular file nor a directory (the control socket excepted), before any of
/// it is opened.
fn prepare(dir: &Path, check_trust: bool) -> Result<Option<u32>, StoreError> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if check_trust {
        if trust::check_dir(dir)?.is_some() {
            trust::create_dir(dir)?;
            // Made now, by us: checked again, in case someone raced us to a name in a sticky
            // directory such as /tmp.
            trust::check_dir(dir)?;
        }
    } else {
        trust::create_dir(dir)?;
    }
    let io = |source| StoreError::Io { path: dir.to_path_buf(), source };
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let t = entry.file_type().map_err(io)?;
        let expected_socket = t.is_socket() && entry.file_name() == super::control::SOCKET;
        if !(t.is_file() || t.is_dir() || expected_socket) {
            return Err(StoreError::NotRegular { path: entry.path(), kind: trust::kind_name(t) });
        }
    }
    let mode = fs::symlink_metadata(dir).map_err(io)?.permissions().mode() & 0o7777;
    let tightened = if mode & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io)?;
        Some(mode)
    } else {
        None
    };
    Ok(tightened)
}

impl StoreWriter {
    /// Opens the data directory for recording: takes its lock, recovers what a crashed
    /// recorder left, records the downtime, and starts a new active segment.
    pub fn open(dir: &Path, opts: Options, now: u64) -> Result<(Self, OpenReport), StoreError> {
        Self::open_with(dir, opts, now, None)
    }

    /// [`Self::open`], with `hook` told of each segment once nothing will rewrite it.
    pub fn open_with(
        dir: &Path,
        opts: Options,
        now: u64,
        hook: Option<Box<dyn crate::maintenance::Finalized>>,
    ) -> Result<(Self, OpenReport), StoreError> {
        let tightened = prepare(dir, opts.check_trust)?;
        let lock = DirLock::take(dir)?;
        let io = |source| StoreError::Io { path: dir.to_path_buf(), source };
        let segments = segment::list(dir).map_err(io)?.segments;
        let mut report = OpenReport { tightened, ..Default::default() };
        let mut last_seen: Option<u64> = None;
        let mut next_seq = 0;
        // Segments that no longer open (cut off, overwritten) go to corrupt/, so readers stop
        // tripping over them; the chain records each, and queries show it as a gap. A format-2
        // segment with a damaged block still opens: it answers what verifies.
        let mut damaged = Vec::new();
        for file in &segments {
            next_seq = next_seq.max(file.last_seq + 1);
            match file.state {
                State::Sealed { first, last } => {
                    let check = super::guarded(&file.path, || match file.format {
                        FileFormat::Seg => SegReader::open(&file.path).map(|r| r.event_count()),
                        FileFormat::Redb => super::segment_reader::SegmentReader::open(file)?.event_count(),
                    });
                    match check {
                        Ok(_) => last_seen = Some(last_seen.unwrap_or(0).max(last)),
                        // Not ours to judge: a newer recorder wrote it.
                        Err(e @ StoreError::TooNew { .. }) => return Err(e),
                        Err(e) => damaged.push(Damaged { file: file.clone(), detail: e.to_string(), first, last }),
                    }
                }
                State::Active => match SegmentWriter::recover(file) {
                    Ok((w, last_commit)) => {
                        let t = last_commit.unwrap_or(w.last).max(w.last);
                        if t > 0 {
                            last_seen = Some(last_seen.unwrap_or(0).max(t));
                        }
                        report.recovered.push(w.seal()?);
                    }
                    Err(e @ StoreError::TooNew { .. }) => return Err(e),
                    Err(e) => damaged.push(Damaged {
                        file: file.clone(),
                        detail: e.to_string(),
                        first: last_seen.unwrap_or(0),
                        last: now,
                    }),
                },
            }
        }
        let crashed = !report.recovered.is_empty() || !damaged.is_empty();
        // Sealed redb segments (the ones just recovered among them) are written as format 2
        // by the maintenance thread, which first finishes what a crash interrupted.
        let small_bytes = opts.compact_below.unwrap_or(opts.segment_bytes / 16);
        let keep = Keep { retain_ns: opts.retain_ns, max_bytes: opts.max_bytes, small_bytes };
        let (maintenance, set_aside) = Maintenance::start(dir, chain::store_id(dir)?, keep, wall_now, damaged, hook)?;
        report.set_aside = set_aside;
        let mut active = SegmentWriter::create(dir, next_seq, now)?;
        active.activate()?;
        let mut w = StoreWriter {
            dir: dir.to_path_buf(),
            lock,
            maintenance,
            opts,
            active,
            active_gaps: 0,
            boots: Vec::new(),
            index: HashMap::new(),
            containers: Vec::new(),
            dirty: Dirty::default(),
            described: Dirty::default(),
            live_in_container: FxHashSet::default(),
            live: FxHashMap::default(),
            pending_gaps: Vec::new(),
            broken: false,
            tampers: Vec::new(),
        };
        if let Some(start) = last_seen.filter(|&t| t > 0 && t < now) {
            let gap = Gap {
                start,
                end: now,
                lost_exec: 0,
                lost_fork: 0,
                lost_exit: 0,
                lost_other: 0,
                reason: GapReason::RecorderDown { crashed },
            };
            report.downtime = Some(gap.clone());
            w.commit(&Batch { events: Vec::new(), gaps: vec![gap] }, now)?;
        }
        Ok((w, report))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn active_path(&self) -> &Path {
        &self.active.path
    }

    /// Registers the boot this recorder runs on; its index is stable across runs.
    pub fn add_boot(&mut self, info: &BootInfo) -> Result<u32, StoreError> {
        let idx = boot_index(&info.boot_id);
        self.boots.retain(|(i, _)| *i != idx);
        self.boots.push((idx, info.clone()));
        self.active.write_boot(idx, info)?;
        Ok(idx)
    }

    /// The full ID of a container by its index.
    pub fn container_id(&self, idx: u32) -> Option<&str> {
        self.containers.get(idx as usize).map(|c| c.id.as_str())
    }

    /// The index of a container, adding it on first sight. A later verdict with more
    /// detail (a runtime where there was none) fills in the stored one.
    pub fn container(&mut self, c: Container) -> u32 {
        if let Some(&idx) = self.index.get(&c.id) {
            let have = &mut self.containers[idx as usize];
            if have.runtime.is_none() && c.runtime.is_some() {
                have.runtime = c.runtime;
                have.reason = c.reason;
                self.described.insert(idx);
            }
            return idx;
        }
        let idx = self.containers.len() as u32;
        self.index.insert(c.id.clone(), idx);
        self.containers.push(c);
        self.described.insert(idx);
        idx
    }

    /// What the container's runtime files said, stored with it at the next commit. A name or
    /// pod UID the cgroup path gave stays (the kernel's evidence); the files fill the rest,
    /// the runtime too when the path did not say (a cgroupfs kubepods path does not).
    pub fn describe(
        &mut self,
        id: &str,
        name: Option<String>,
        pod_uid: Option<String>,
        runtime: Option<Runtime>,
        meta: Metadata,
    ) {
        let Some(&idx) = self.index.get(id) else { return };
        let c = &mut self.containers[idx as usize];
        let mut meta = meta;
        if c.runtime.is_some() {
            meta.sources.remove("runtime");
        } else if let Some(r) = runtime {
            c.runtime = Some(r);
            c.reason = format!("{}; runtime from its files", c.reason);
            self.described.insert(idx);
        }
        if c.name.is_some() {
            meta.sources.insert("name".into(), "cgroup path".into());
        } else {
            c.name = name;
        }
        if c.pod_uid.is_some() {
            meta.sources.insert("pod_uid".into(), "cgroup path".into());
        } else {
            c.pod_uid = pod_uid;
        }
        if c.meta != meta {
            c.meta = meta;
            self.described.insert(idx);
        }
    }

    /// Keeps the checkpoint of the next segment up to date with one committed event.
    fn track_live(&mut self, e: &Event, bytes: &[u8]) {
        match &e.body {
            Body::Exit(_) => {
                self.live.remove(&e.proc);
            }
            Body::Exec(_) => {
                self.live.insert(e.proc, Live { container: e.container, bytes: bytes.to_vec() });
            }
            Body::Fork(_) => {
                self.live.entry(e.proc).or_insert_with(|| Live { container: e.container, bytes: bytes.to_vec() });
            }
            // The checkpoint keeps describing the process by its exec; its container is the
            // one its next event carries.
            Body::CgroupMove(_) | Body::Activity(_) | Body::Container(_) => {}
        }
    }

    /// The container counters of one event (written in the same commit).
    fn count(&mut self, e: &Event) {
        let Some(idx) = e.container else { return };
        let new_proc = match e.body {
            Body::Exit(_) => {
                self.live_in_container.remove(&(e.proc, idx));
                false
            }
            _ => self.live_in_container.insert((e.proc, idx)),
        };
        if let Some(c) = self.containers.get_mut(idx as usize) {
            c.events += 1;
            c.processes += u64::from(new_proc);
            c.first_seen = c.first_seen.min(e.time);
            c.last_seen = c.last_seen.max(e.time);
            self.dirty.insert(idx);
        }
    }

    /// Writes one batch in one transaction (durable when this returns), then seals the
    /// active segment if it is old or large enough.
    pub fn commit(&mut self, batch: &Batch, now: u64) -> Result<(), StoreError> {
        if self.broken {
            self.active.reopen()?;
            self.broken = false;
        }
        for e in &batch.events {
            self.count(e);
        }
        let mut gaps = std::mem::take(&mut self.pending_gaps);
        gaps.extend(batch.gaps.iter().cloned());
        let rows = |d: &Dirty| d.list.iter().map(|&i| (i, &self.containers[i as usize])).collect();
        let dirty = Containers { described: rows(&self.described), counted: rows(&self.dirty) };
        let active = &mut self.active;
        let written =
            encode_ahead::with_chunks(&batch.events, |chunks| active.commit(&batch.events, chunks, &gaps, &dirty, now));
        let chunks = match written {
            Ok(chunks) => chunks,
            Err(e) => {
                self.broken = true;
                // Gaps not written yet are kept for the next commit.
                self.pending_gaps = gaps.into_iter().filter(|g| !batch.gaps.contains(g)).collect();
                return Err(e);
            }
        };
        self.active_gaps += gaps.len() as u64;
        self.dirty.clear();
        self.described.clear();
        for (e, bytes) in batch.events.iter().zip(chunks.iter().flat_map(Chunk::iter)) {
            self.track_live(e, bytes);
        }
        let old = now.saturating_sub(self.active.created) >= self.opts.segment_age_ns;
        if (old || self.active.size() >= self.opts.segment_bytes) && self.has_data() {
            self.rotate(now)?;
        }
        Ok(())
    }

    /// Periodic upkeep without new events: notice a data directory changed under us, seal
    /// an old segment, apply retention. Returns what was found changed (also stored as gaps).
    pub fn tick(&mut self, now: u64) -> Result<(), StoreError> {
        self.check_intact(now)?;
        if now.saturating_sub(self.active.created) >= self.opts.segment_age_ns && self.has_data() {
            self.rotate(now)?;
        } else {
            self.apply_retention(now);
        }
        Ok(())
    }

    /// What [`Self::tick`], commits and seals found changed in the data directory since the
    /// last call (each is stored as a gap as well), for the recorder's log.
    pub fn take_tampers(&mut self) -> Vec<Tamper> {
        std::mem::take(&mut self.tampers)
    }

    /// The lock file and the active segment must still be the files this writer holds. A
    /// removed or replaced active segment takes its events with it: that is recorded as a
    /// gap, and recording goes on in a new segment (a replacement is moved to `corrupt/`).
    fn check_intact(&mut self, now: u64) -> Result<(), StoreError> {
        let dir = self.dir.clone();
        if let Some(what) = self.lock.check(|p| set_aside(&dir, p, Some("lock.replaced".into()))) {
            self.pending_gaps.push(Gap {
                start: now,
                end: now,
                lost_exec: 0,
                lost_fork: 0,
                lost_exit: 0,
                lost_other: 0,
                reason: GapReason::Tampered { detail: what.clone() },
            });
            self.tampers.push(Tamper { what });
        }
        if self.active.intact() {
            return Ok(());
        }
        let name = self.active.path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let moved = fs::symlink_metadata(&self.active.path)
            .is_ok()
            .then(|| set_aside(&self.dir, &self.active.path, Some(format!("{name}.replaced"))));
        let mut next = SegmentWriter::create(&self.dir, self.active.seq + 1, now)?;
        self.start_segment(&mut next, now)?;
        let lost = std::mem::replace(&mut self.active, next);
        self.active.activate()?;
        self.active_gaps = 0;
        let [exec, fork, exit, other] = lost.kinds;
        let what = format!(
            "the active segment {name} was {} under the running recorder: the {} events it held are lost;              recording goes on in {}",
            match &moved {
                Some(to) => format!("replaced (the replacement is now {})", to.display()),
                None => "removed".into(),
            },
            lost.events,
            self.active.path.display()
        );
        self.pending_gaps.push(Gap {
            start: if lost.first > 0 { lost.first } else { lost.created },
            end: now,
            lost_exec: exec,
            lost_fork: fork,
            lost_exit: exit,
            lost_other: other,
            reason: GapReason::SegmentLost { segment: name, events: lost.events },
        });
        self.tampers.push(Tamper { what });
        Ok(())
    }

    fn has_data(&self) -> bool {
        self.active.events > 0 || self.active_gaps > 0
    }

    /// Seals the active segment now, if it holds anything, so that readers see it.
    pub fn seal_now(&mut self, now: u64) -> Result<Option<PathBuf>, StoreError> {
        if !self.has_data() {
            return Ok(None);
        }
        self.rotate(now)
    }

    /// What a new segment starts with (boots, the live processes and their containers), and
    /// the per-segment container counters started again.
    fn start_segment(&mut self, next: &mut SegmentWriter, now: u64) -> Result<(), StoreError> {
        for c in &mut self.containers {
            c.events = 0;
            c.processes = 0;
            c.first_seen = now;
            c.last_seen = now;
        }
        let needed: FxHashSet<u32> = self.live.values().filter_map(|e| e.container).collect();
        let containers = Containers {
            described: needed.iter().map(|&i| (i, &self.containers[i as usize])).collect(),
            counted: Vec::new(),
        };
        next.write_start(&self.boots, &containers, &mut self.live.iter())?;
        self.dirty.clear();
        self.described.clear();
        Ok(())
    }

    fn rotate(&mut self, now: u64) -> Result<Option<PathBuf>, StoreError> {
        // A segment someone removed cannot be sealed: it is recorded as lost instead, and
        // its replacement is the new active segment already.
        self.check_intact(now)?;
        if !self.has_data() {
            return Ok(None);
        }
        // The new segment first: if it cannot be created (a full disk), keep the old one.
        let mut next = SegmentWriter::create(&self.dir, self.active.seq + 1, now)?;
        self.start_segment(&mut next, now)?;
        // Seal first, then activate: on disk there is never more than one active segment.
        let old = std::mem::replace(&mut self.active, next);
        self.active_gaps = 0;
        let sealed = old.seal();
        // Even when sealing failed: the events that follow must go to a file that a restart
        // recovers (an unsealed old segment is recovered too, as after a crash).
        self.active.activate()?;
        let sealed = sealed?;
        if let Some(f) = segment::parse(&sealed) {
            self.maintenance.seal(f);
        }
        self.apply_retention(now);
        Ok(Some(sealed))
    }

    /// Waits until the segments sealed so far are written as format 2 (and retention and
    /// compaction have run on them).
    pub fn settle(&self) {
        self.maintenance.settle();
    }

    /// What the maintenance thread wants in the recorder's log.
    pub fn take_reports(&self) -> Vec<String> {
        self.maintenance.take_reports()
    }

    /// Deletes whole sealed segments past `--retain` or beyond `--max-size`, oldest first,
    /// never the active one; each deletion is a line of the chain (which queries show as a
    /// gap). Done by the maintenance thread, after what it was given before.
    pub fn apply_retention(&mut self, now: u64) {
        if self.opts.retain_ns.is_some() || self.opts.max_bytes.is_some() {
            self.maintenance.retain(now);
        }
    }

    /// Stops recording: seals the active segment (or removes it when it holds nothing), and
    /// waits until it is written as format 2. The directory stays locked until then.
    pub fn close(self, now: u64) -> Result<Closed, StoreError> {
        let mut me = self;
        // A loss found now is stored in the segment sealed below.
        me.check_intact(now)?;
        if !me.pending_gaps.is_empty() {
            me.commit(&Batch::default(), now)?;
        }
        let has_data = me.has_data();
        let StoreWriter { active, maintenance, lock, .. } = me;
        let sealed = if has_data {
            let sealed = active.seal()?;
            if let Some(f) = segment::parse(&sealed) {
                maintenance.seal(f);
            }
            Some(sealed)
        } else {
            let path = active.path.clone();
            drop(active);
            let _ = fs::remove_file(&path);
            None
        };
        let reports = maintenance.stop();
        drop(lock);
        Ok(Closed { sealed, reports })
    }
}

/// What closing the store did.
#[derive(Debug)]
pub struct Closed {
    /// The last segment, sealed (it holds events or gaps).
    pub sealed: Option<PathBuf>,
    /// What the maintenance thread wants in the log.
    pub reports: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctrail_model::{Exit, ProcKey};

    fn exit_at(time: u64) -> Event {
        let proc = ProcKey::new(1, 42, 1_000_000_000);
        Event {
            time,
            boot_ns: time,
            proc,
            tid: 42,
            ppid: 1,
            parent_start: 0,
            container: None,
            body: Body::Exit(Exit { status: 0 }),
        }
    }

    #[test]
    fn counters_are_rewritten_at_every_commit_and_the_record_only_when_described() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let (mut w, _) = StoreWriter::open(&dir, Options::default(), 10).unwrap();
        let idx = w.container(Container {
            id: "c1".into(),
            runtime: None,
            name: None,
            pod_uid: None,
            outer_id: None,
            cgroup: Some("/c1".into()),
            reason: "test".into(),
            first_seen: u64::MAX,
            last_seen: 0,
            processes: 0,
            events: 0,
            meta: Metadata::default(),
        });
        let meta = Metadata { image: Some("shop/api:1.4.2".into()), ..Default::default() };
        let in_c = |t: u64, tgid: u32| Event {
            container: Some(idx),
            proc: ProcKey::new(1, tgid, 5_000_000_000),
            ..exit_at(t)
        };
        w.commit(&Batch { events: vec![in_c(100, 7)], gaps: vec![] }, 100).unwrap();
        w.describe("c1", Some("api".into()), None, None, meta);
        w.commit(&Batch { events: vec![in_c(200, 8), in_c(300, 9)], gaps: vec![] }, 300).unwrap();
        // A third commit: counters only (the record is not described again).
        w.commit(&Batch { events: vec![in_c(400, 10)], gaps: vec![] }, 400).unwrap();
        let active = segment::list(&dir).unwrap().segments.into_iter().find(|f| f.state == State::Active).unwrap();
        let r = crate::SegmentReader::open(&active).unwrap();
        let c = r.containers().unwrap().into_iter().find(|(i, _)| *i == idx).unwrap().1;
        assert_eq!((c.events, c.first_seen, c.last_seen), (4, 100, 400));
        assert_eq!((c.name.as_deref(), c.meta.image.as_deref()), (Some("api"), Some("shop/api:1.4.2")));
        drop(r);
        w.close(500).unwrap();
        let r = crate::StoreReader::open(&dir).unwrap();
        let c = r.containers().into_iter().find(|c| c.id == "c1").unwrap();
        assert_eq!(c.events, 4);
    }

    fn actives(dir: &Path) -> Vec<u64> {
        let files = segment::list(dir).unwrap().segments;
        files.iter().filter(|f| f.state == State::Active).map(|f| f.seq).collect()
    }

    fn preparing(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".preparing"))
            .collect()
    }

    #[test]
    fn a_removed_active_segment_or_lock_is_recorded_and_a_second_writer_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let (mut w, _) = StoreWriter::open(&dir, Options::default(), 10).unwrap();
        let three: Vec<Event> = [100, 101, 102].map(exit_at).into();
        w.commit(&Batch { events: three, gaps: vec![] }, 103).unwrap();
        assert!(matches!(StoreWriter::open(&dir, Options::default(), 104), Err(StoreError::Locked { .. })));
        // The directory itself is locked: removing the lock file frees nothing.
        fs::remove_file(dir.join(crate::LOCK_FILE)).unwrap();
        assert!(matches!(StoreWriter::open(&dir, Options::default(), 105), Err(StoreError::Locked { .. })));
        fs::remove_file(w.active_path()).unwrap();
        w.tick(200).unwrap();
        let found = w.take_tampers();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(dir.join(crate::LOCK_FILE).exists(), "the lock file is made again");
        w.commit(&Batch { events: vec![exit_at(300)], gaps: vec![] }, 300).unwrap();
        w.close(400).unwrap();
        let r = crate::StoreReader::open(&dir).unwrap();
        assert_eq!(r.events(0, u64::MAX, |_| true).len(), 1, "only what came after the loss");
        let gaps = r.gaps();
        assert!(gaps.iter().any(|g| matches!(&g.reason, GapReason::SegmentLost { events: 3, .. }) && g.lost_exit == 3));
        assert!(gaps.iter().any(|g| matches!(g.reason, GapReason::Tampered { .. })));
        assert!(r.problems().is_empty(), "{:?}", r.problems());
    }

    #[test]
    fn a_replaced_active_segment_is_set_aside_not_sealed_as_ours() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let (mut w, _) = StoreWriter::open(&dir, Options::default(), 10).unwrap();
        w.commit(&Batch { events: vec![exit_at(100)], gaps: vec![] }, 100).unwrap();
        let active = w.active_path().to_path_buf();
        fs::remove_file(&active).unwrap();
        fs::write(&active, b"not ours").unwrap();
        w.seal_now(200).unwrap();
        assert!(!w.take_tampers().is_empty());
        w.close(300).unwrap();
        let name = active.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(fs::read(dir.join("corrupt").join(format!("{name}.replaced"))).unwrap(), b"not ours");
        let r = crate::StoreReader::open(&dir).unwrap();
        assert!(r.gaps().iter().any(|g| matches!(g.reason, GapReason::SegmentLost { events: 1, .. })));
        assert!(r.problems().is_empty(), "{:?}", r.problems());
    }

    #[test]
    fn rotation_keeps_one_active_segment_and_a_crashed_preparation_is_discarded() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        // Every commit is old enough to rotate.
        let opts = Options { segment_age_ns: 1, ..Options::default() };
        let (mut w, _) = StoreWriter::open(&dir, opts, 10).unwrap();
        for t in [100, 200, 300] {
            w.commit(&Batch { events: vec![exit_at(t)], gaps: vec![] }, t).unwrap();
            assert_eq!(actives(&dir).len(), 1, "after the commit at {t}");
            assert!(preparing(&dir).is_empty());
        }
        let next = w.active.seq;
        drop(w);
        // A crash between preparing the next segment and activating it leaves this behind:
        // it must neither count as a segment nor come back as the new active one.
        fs::write(dir.join(segment::preparing_name(next + 1)), b"half-written").unwrap();
        assert_eq!(actives(&dir), vec![next]);
        let (w, _) = StoreWriter::open(&dir, opts, 400).unwrap();
        assert_eq!(actives(&dir), vec![w.active.seq]);
        assert!(preparing(&dir).is_empty());
        drop(w);
        let r = crate::StoreReader::open(&dir).unwrap();
        assert_eq!(r.events(0, u64::MAX, |_| true).len(), 3, "every committed event is still there");
        assert!(r.problems().is_empty(), "{:?}", r.problems());
    }
}
