//! The query side of the store: every readable segment of a data directory, read-only.
//!
//! A segment that cannot be read (truncated, bytes flipped, not ctrail's) is reported by
//! name in [`StoreReader::problems`] and skipped; the others still answer.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, OnceLock},
};

use super::{
    StoreError,
    any_segment::AnySegment,
    chain::{self, ChainView, Named},
    guarded,
    segment::{self, SegmentFile, State},
};
use ctrail_model::{BootInfo, Container, Event, Gap, GapReason, ProcKey};

/// The problem line for a segment that could not be read: its path once, then why.
fn skipping(path: &Path, e: &StoreError) -> String {
    let why = e.to_string();
    let shown = path.display().to_string();
    match why.strip_prefix(&shown) {
        Some(rest) if rest.starts_with(" is ") || rest.starts_with(" needs ") => {
            format!("skipping segment {shown}, which{rest}")
        }
        Some(rest) => format!("skipping segment {shown}{rest}"),
        None => format!("skipping segment {shown}: {why}"),
    }
}

/// The chain of `dir`, if any; one that does not verify is a problem (the answer may come
/// from a rewritten store).
fn read_chain(dir: &Path, problems: &mut Vec<String>) -> Option<ChainView> {
    match chain::read(dir) {
        Ok(Some(c)) => {
            if let Some(b) = &c.broken {
                problems.push(format!(
                    "the store's chain ({}) does not verify: {b}",
                    dir.join(chain::CHAIN_FILE).display()
                ));
            }
            Some(c)
        }
        Ok(None) => None,
        Err(e) => {
            problems.push(format!("the store's chain cannot be read: {e}"));
            None
        }
    }
}

/// What the chain vouches for against what is in the directory: a sealed segment the chain
/// has that is not there (removed behind the recorder's back), a format-2 segment it does
/// not have (put there), or one of another store. Empty when they agree.
///
/// The chain is read after the listing, so it may be newer: a segment it has whose seqs the
/// listing covers with other files (the `.redb` it was written from, the segments it was
/// merged from) is there, as of the listing.
/// `listed` is every segment file listed (those that did not open are reported already).
fn unvouched(listed: &[SegmentFile], segments: &[Open], chain: &ChainView) -> Vec<String> {
    let mut out = Vec::new();
    let names: std::collections::HashSet<String> = listed.iter().map(SegmentFile::name).collect();
    for n in chain.live.values() {
        if names.contains(&n.name) {
            continue;
        }
        let present = segment::parse(Path::new(&n.name))
            .is_some_and(|f| (f.seq..=f.last_seq).all(|seq| listed.iter().any(|s| s.covers(seq))));
        if !present {
            out.push(format!(
                "segment {} ({} events) is in the store's chain but not in its directory: removed, so its \
                 events are not in this answer",
                n.name, n.events
            ));
        }
    }
    for s in segments {
        if s.file.format != segment::FileFormat::Seg {
            continue;
        }
        if !chain.live.contains_key(&s.file.name()) {
            out.push(format!(
                "segment {} is not in the store's chain: not sealed by this store's recorder, its events are \
                 in this answer unvouched for",
                s.file.name()
            ));
        } else if chain.store_id.is_some() && s.reader.store_id() != chain.store_id.as_deref() {
            out.push(format!(
                "segment {} says it belongs to store {:?}, not this one ({:?})",
                s.file.name(),
                s.reader.store_id().unwrap_or_default(),
                chain.store_id.as_deref().unwrap_or_default()
            ));
        }
    }
    out
}

/// Retention's deletions as gaps: one per run of segments deleted together, oldest first.
fn retention_gaps(deleted: &[(Named, String)]) -> Vec<Gap> {
    let mut out: Vec<(Gap, u64, String)> = Vec::new();
    for (n, _) in deleted {
        match out.last_mut() {
            // Deleted one after another: the next holds the events that followed.
            Some((g, count, last)) if n.first == 0 || n.first >= g.end => {
                g.end = g.end.max(n.last);
                *count += 1;
                *last = n.name.clone();
                if let GapReason::Retention { segment, events } = &mut g.reason {
                    *events += n.events;
                    *segment = format!("{count} segments, the last {last}");
                }
            }
            _ => out.push((
                Gap {
                    start: n.first,
                    end: n.last,
                    lost_exec: 0,
                    lost_fork: 0,
                    lost_exit: 0,
                    lost_other: 0,
                    reason: GapReason::Retention { segment: n.name.clone(), events: n.events },
                },
                1,
                n.name.clone(),
            )),
        }
    }
    out.into_iter().map(|(g, _, _)| g).collect()
}

/// A whole segment's span as a gap of `reason` (the chain has its span and count).
fn segment_gap(n: &Named, reason: GapReason) -> Gap {
    Gap { start: n.first, end: n.last.max(n.first), lost_exec: 0, lost_fork: 0, lost_exit: 0, lost_other: 0, reason }
}

/// Segments set aside as damaged, as gaps.
fn damaged_gaps(set_aside: &[(Named, String)]) -> Vec<Gap> {
    set_aside
        .iter()
        .map(|(n, why)| {
            segment_gap(n, GapReason::Damaged { segment: n.name.clone(), events: n.events, detail: why.clone() })
        })
        .collect()
}

/// Segments the recorder found removed behind its back, as gaps.
fn lost_gaps(lost: &[Named]) -> Vec<Gap> {
    lost.iter().map(|n| segment_gap(n, GapReason::SegmentLost { segment: n.name.clone(), events: n.events })).collect()
}

/// An event with the container record of the segment it came from.
#[derive(Debug, Clone)]
pub struct Found {
    pub event: Event,
    pub container: Option<Arc<Container>>,
}

/// One container's events of one segment (or the host's: `container` is `None`), in
/// time order; see [`StoreReader::for_each_segment`].
#[derive(Debug, Clone)]
pub struct Group {
    pub container: Option<Arc<Container>>,
    pub events: Vec<Event>,
}

/// A segment's [`Group`]s, each read when asked for.
struct Groups<'a> {
    reader: &'a StoreReader,
    s: &'a Open,
    since: u64,
    until: u64,
    keep: &'a (dyn Fn(&Event) -> bool + Sync),
    /// Groups still to read from the segment.
    planned: std::collections::VecDeque<Option<u32>>,
    /// Groups already read (a segment that can only be read whole).
    ready: std::collections::VecDeque<Group>,
}

impl<'a> Groups<'a> {
    fn new(
        reader: &'a StoreReader,
        s: &'a Open,
        since: u64,
        until: u64,
        keep: &'a (dyn Fn(&Event) -> bool + Sync),
    ) -> Self {
        let mut g = Groups { reader, s, since, until, keep, planned: Default::default(), ready: Default::default() };
        match s.reader.groups() {
            Some(plan) => g.planned = plan.into(),
            None => g.ready = g.read_whole().into(),
        }
        g
    }

    /// Every event at once, grouped here: by container ID, the host's (and those whose
    /// container record is missing) first, each group in time order.
    fn read_whole(&self) -> Vec<Group> {
        let (reader, s) = (self.reader, self.s);
        let mut found = Vec::new();
        let r = guarded(&s.file.path, || s.reader.events(None, self.since, self.until, self.keep));
        reader.collect(s, r, &mut found);
        // A redb segment is keyed by the time of its commit, not of each event.
        found.sort_by_key(|f| f.event.time);
        let mut by_id: std::collections::BTreeMap<Option<String>, Group> = Default::default();
        for f in found {
            let g = by_id
                .entry(f.container.as_ref().map(|c| c.id.clone()))
                .or_insert_with(|| Group { container: f.container.clone(), events: Vec::new() });
            g.events.push(f.event);
        }
        by_id.into_values().collect()
    }
}

impl Iterator for Groups<'_> {
    type Item = Group;

    fn next(&mut self) -> Option<Group> {
        if let Some(g) = self.ready.pop_front() {
            return Some(g);
        }
        let (reader, s) = (self.reader, self.s);
        while let Some(i) = self.planned.pop_front() {
            let read = guarded(&s.file.path, || {
                let events = s.reader.group_events(i, self.since, self.until, self.keep)?;
                let container = match i {
                    Some(i) if !events.is_empty() => reader.containers_of(s)?.get(&i).cloned(),
                    _ => None,
                };
                Ok(Group { container, events })
            });
            match read {
                Ok(g) if g.events.is_empty() => continue,
                Ok(g) => return Some(g),
                Err(e) => {
                    // As a whole-segment read: one that fails is skipped, and said.
                    reader.problem(skipping(&s.file.path, &e));
                    self.planned.clear();
                }
            }
        }
        None
    }
}

struct Open {
    file: SegmentFile,
    reader: AnySegment,
    containers: OnceLock<HashMap<u32, Arc<Container>>>,
}

pub struct StoreReader {
    dir: PathBuf,
    segments: Vec<Open>,
    problems: Mutex<Vec<String>>,
    /// The store's chain (format 2), if it has one: retention's records are there.
    chain: Option<ChainView>,
}

impl StoreReader {
    /// Opens every segment of the data directory `dir`, the active one of a running recorder
    /// included (it is read beside the recorder, as of its last commit).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_where(dir, |_| true)
    }

    /// Opens only the segments `pick` accepts (a follower's latest ones, one segment to
    /// export), checking the directory against the chain as [`Self::open`] does.
    pub fn open_where(dir: &Path, pick: impl Fn(&SegmentFile) -> bool) -> Result<Self, StoreError> {
        if !dir.is_dir() {
            return Err(StoreError::Missing(dir.to_path_buf()));
        }
        let io = |source| StoreError::Io { path: dir.to_path_buf(), source };
        let mut listing = segment::list(dir).map_err(io)?;
        // Each seq once: a segment rewritten (as format 2, or merged) is read as rewritten.
        listing.segments = segment::effective(std::mem::take(&mut listing.segments)).0;
        let mut problems: Vec<String> = listing
            .refused
            .iter()
            .map(|(p, kind)| format!("skipping {}: {kind}, not a segment file", p.display()))
            .collect();
        if listing.segments.is_empty() {
            // A recorder's data dir whose segments all went (retention) is an empty store.
            if listing.strangers.is_empty() && dir.join(super::LOCK_FILE).exists() {
                let chain = read_chain(dir, &mut problems);
                return Ok(StoreReader {
                    dir: dir.to_path_buf(),
                    segments: Vec::new(),
                    problems: Mutex::new(problems),
                    chain,
                });
            }
            return Err(match listing.strangers.first() {
                Some(p) => StoreError::Foreign { path: p.clone(), detail: "not a ctrail segment name".into() },
                None => StoreError::Missing(dir.to_path_buf()),
            });
        }
        let mut segments = Vec::new();
        let mut first_error = None;
        let mut renamed = None;
        let listed = listing.segments.clone();
        for file in listing.segments.into_iter().filter(|f| pick(f)) {
            match guarded(&file.path, || AnySegment::open(&file)) {
                Ok(reader) => segments.push(Open { file, reader, containers: OnceLock::new() }),
                // A newer format is refused outright: half an answer would mislead.
                Err(e @ StoreError::TooNew { .. }) => return Err(e),
                // Sealed (renamed) between the listing and the open: read again below.
                Err(StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && file.state == State::Active =>
                {
                    renamed.get_or_insert(file.seq);
                }
                Err(e) => {
                    problems.push(match (&e, file.state) {
                        (StoreError::Locked { .. }, State::Active) => format!(
                            "skipping the active segment {}: a recorder holds it exclusively (a version before \
                             single-writer segments?), so its latest events are not in this answer",
                            file.path.display()
                        ),
                        _ => skipping(&file.path, &e),
                    });
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(seq) = renamed
            && let Ok(again) = segment::list(dir)
        {
            for file in segment::effective(again.segments).0.into_iter().filter(|f| f.seq >= seq && pick(f)) {
                if segments.iter().any(|s| s.file.seq == file.seq) {
                    continue;
                }
                match guarded(&file.path, || AnySegment::open(&file)) {
                    Ok(reader) => segments.push(Open { file, reader, containers: OnceLock::new() }),
                    Err(e) => problems.push(skipping(&file.path, &e)),
                }
            }
            segments.sort_by_key(|s| s.file.seq);
        }
        if segments.is_empty()
            && let Some(e) = first_error
        {
            return Err(e);
        }
        let mut chain = read_chain(dir, &mut problems);
        // A segment sealed or merged just now is in the chain a moment after its file is in
        // place: ask the chain again before calling it unvouched for.
        for attempt in 0.. {
            let Some(c) = chain.as_ref().filter(|c| c.broken.is_none()) else { break };
            let trouble = unvouched(&listed, &segments, c);
            if trouble.is_empty() {
                break;
            }
            if attempt == 4 {
                problems.extend(trouble);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            chain = read_chain(dir, &mut Vec::new());
        }
        Ok(StoreReader { dir: dir.to_path_buf(), segments, problems: Mutex::new(problems), chain })
    }

    /// The store's chain, as read when the store was opened.
    pub fn chain(&self) -> Option<&ChainView> {
        self.chain.as_ref()
    }

    /// The segments this reader reads, oldest first.
    pub fn segment_files(&self) -> Vec<SegmentFile> {
        self.segments.iter().map(|s| s.file.clone()).collect()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Segments that were skipped, by name and why.
    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Runs `f` on each segment, turning a failing segment into a reported problem.
    fn each<T>(&self, mut f: impl FnMut(&Open) -> Result<T, StoreError>) -> Vec<T> {
        let mut out = Vec::new();
        for s in &self.segments {
            match guarded(&s.file.path, || f(s)) {
                Ok(v) => out.push(v),
                Err(e) => self.problem(skipping(&s.file.path, &e)),
            }
            self.block_problems(s);
        }
        out
    }

    fn problem(&self, msg: String) {
        let mut p = self.problems.lock().unwrap_or_else(|p| p.into_inner());
        if !p.contains(&msg) {
            p.push(msg);
        }
    }

    /// What a segment left out (blocks that did not verify), named with the segment.
    fn block_problems(&self, s: &Open) {
        for b in s.reader.take_problems() {
            self.problem(format!("in segment {}: {b}", s.file.path.display()));
        }
    }

    fn containers_of<'a>(&self, s: &'a Open) -> Result<&'a HashMap<u32, Arc<Container>>, StoreError> {
        if let Some(c) = s.containers.get() {
            return Ok(c);
        }
        let map = s.reader.containers()?.into_iter().map(|(i, c)| (i, Arc::new(c))).collect();
        Ok(s.containers.get_or_init(|| map))
    }

    fn found(&self, s: &Open, event: Event) -> Result<Found, StoreError> {
        let container = match event.container {
            Some(i) => self.containers_of(s)?.get(&i).cloned(),
            None => None,
        };
        Ok(Found { event, container })
    }

    pub fn boots(&self) -> Vec<(u32, BootInfo)> {
        let mut all: HashMap<u32, BootInfo> = HashMap::new();
        for list in self.each(|s| s.reader.boots()) {
            all.extend(list);
        }
        let mut v: Vec<_> = all.into_iter().collect();
        v.sort_by_key(|(i, _)| *i);
        v
    }

    /// Every container, merged across segments by ID: first and last seen over all of
    /// them, counts summed, the runtime and metadata from the first record that has them.
    pub fn containers(&self) -> Vec<Container> {
        let mut merged: HashMap<String, Container> = HashMap::new();
        for list in self.each(|s| s.reader.containers()) {
            for (_, c) in list {
                match merged.get_mut(&c.id) {
                    Some(m) => m.absorb(&c),
                    None => {
                        merged.insert(c.id.clone(), c);
                    }
                }
            }
        }
        let mut v: Vec<Container> = merged.into_values().collect();
        v.sort_by(|a, b| (a.first_seen, &a.id).cmp(&(b.first_seen, &b.id)));
        v
    }

    pub fn gaps(&self) -> Vec<Gap> {
        let mut v: Vec<Gap> = self.each(|s| s.reader.gaps()).into_iter().flatten().collect();
        if let Some(c) = &self.chain {
            v.extend(retention_gaps(&c.deleted));
            v.extend(damaged_gaps(&c.set_aside));
            v.extend(lost_gaps(&c.lost));
        }
        v.sort_by_key(|g| (g.start, g.end));
        v
    }

    pub fn event_count(&self) -> u64 {
        self.each(|s| s.reader.event_count()).into_iter().sum()
    }

    /// Events with `since <= time < until` that `keep` accepts, in time order.
    ///
    /// Segments are decoded on all cores (decoding dominates wide queries and exports).
    pub fn events(&self, since: u64, until: u64, keep: impl Fn(&Event) -> bool + Sync) -> Vec<Found> {
        let wanted: Vec<&Open> = self.segments.iter().filter(|s| s.file.overlaps(since, until)).collect();
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(wanted.len()).max(1);
        let per_segment: Vec<(usize, Result<Vec<Event>, StoreError>)> = std::thread::scope(|scope| {
            let keep = &keep;
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let mine: Vec<(usize, &Open)> =
                        wanted.iter().copied().enumerate().filter(|(i, _)| i % threads == t).collect();
                    scope.spawn(move || {
                        mine.into_iter()
                            .map(|(i, s)| (i, guarded(&s.file.path, || s.reader.events(None, since, until, keep))))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
        });
        let mut sorted = per_segment;
        sorted.sort_by_key(|(i, _)| *i);
        let mut out = Vec::new();
        for (i, r) in sorted {
            self.collect(wanted[i], r, &mut out);
        }
        out.sort_by_key(|f| f.event.time);
        out
    }

    /// Each segment overlapping `[since, until)`, with its events in that window that
    /// `keep` accepts, a container at a time ([`Group`]: the host's events first, then each
    /// container's by ID, each in time order): what an export of one file per segment,
    /// sorted by container and time, writes. Reading a segment a container at a time holds
    /// one container's events, not the segment's (a wide export touched a gigabyte, and
    /// on these machines fresh memory is the dearest part). The segments are shared out
    /// over all cores; `f` runs on those threads. The first error is returned (the other
    /// threads finish the segment they are on and stop).
    pub fn for_each_segment<E: Send>(
        &self,
        since: u64,
        until: u64,
        keep: impl Fn(&Event) -> bool + Sync,
        f: impl Fn(&SegmentFile, &mut dyn Iterator<Item = Group>) -> Result<(), E> + Sync,
    ) -> Result<(), E> {
        let wanted: Vec<&Open> = self.segments.iter().filter(|s| s.file.overlaps(since, until)).collect();
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(wanted.len()).max(1);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let failed = std::sync::atomic::AtomicBool::new(false);
        let results: Vec<Result<(), E>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        use std::sync::atomic::Ordering::Relaxed;
                        while !failed.load(Relaxed) {
                            let Some(s) = wanted.get(next.fetch_add(1, Relaxed)) else { break };
                            let mut groups = Groups::new(self, s, since, until, &keep);
                            let r = f(&s.file, &mut groups);
                            self.block_problems(s);
                            if let Err(e) = r {
                                failed.store(true, Relaxed);
                                return Err(e);
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a segment thread panicked")).collect()
        });
        results.into_iter().collect()
    }

    /// What one segment of [`Self::for_each_segment`] holds beside its events: its boots
    /// and its gaps (a damaged one's are a reported problem, and none).
    pub fn boots_and_gaps_of(&self, file: &SegmentFile) -> (Vec<(u32, BootInfo)>, Vec<Gap>) {
        let Some(s) = self.segments.iter().find(|s| s.file.path == file.path) else { return Default::default() };
        let r = guarded(&s.file.path, || Ok((s.reader.boots()?, s.reader.gaps()?)));
        self.block_problems(s);
        r.unwrap_or_else(|e| {
            self.problem(skipping(&s.file.path, &e));
            Default::default()
        })
    }

    /// One container's events (by full ID) with `since <= time < until`, in time order.
    pub fn container_events(&self, id: &str, since: u64, until: u64, keep: impl Fn(&Event) -> bool) -> Vec<Found> {
        let mut out = Vec::new();
        for s in self.segments.iter().filter(|s| s.file.overlaps(since, until)) {
            let r = guarded(&s.file.path, || match s.reader.container_index(id)? {
                Some(idx) => s.reader.events(Some(idx), since, until, &keep),
                None => Ok(Vec::new()),
            });
            self.collect(s, r, &mut out);
        }
        out.sort_by_key(|f| f.event.time);
        out
    }

    /// Every event of one process, in time order.
    pub fn events_of(&self, p: ProcKey) -> Vec<Found> {
        let mut out = Vec::new();
        for s in &self.segments {
            let r = guarded(&s.file.path, || s.reader.events_of(p));
            self.collect(s, r, &mut out);
        }
        out.sort_by_key(|f| f.event.time);
        out
    }

    /// Full IDs of the containers whose ID starts with `prefix`, from the ID indexes only.
    pub fn container_ids_with_prefix(&self, prefix: &str) -> Vec<String> {
        let mut ids: Vec<String> =
            self.each(|s| s.reader.container_ids_with_prefix(prefix)).into_iter().flatten().collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Every process key recorded with this PID, oldest first (PIDs are reused).
    pub fn procs_with_tgid(&self, tgid: u32) -> Vec<ProcKey> {
        let mut keys: Vec<ProcKey> = self.each(|s| s.reader.procs_with_tgid(tgid)).into_iter().flatten().collect();
        keys.sort_by_key(|k| (k.start, k.boot));
        keys.dedup();
        keys
    }

    /// The processes alive at `at`, each as its latest exec (or its fork, if it never
    /// exec'd), optionally only those of one container (full ID).
    ///
    /// One segment answers: the newest one created at or before `at` holds a checkpoint of
    /// the processes alive at its start; replaying its events up to `at` gives the state
    /// then. Later segments add only `/proc` snapshot records that started by `at` (a
    /// recorder restarted after `at` still saw them running, so they were alive at `at`).
    pub fn alive_at(&self, at: u64, container: Option<&str>) -> Vec<Found> {
        use ctrail_model::{Body, Source};
        let created: Vec<u64> = self.segments.iter().map(|s| s.reader.created().unwrap_or(0)).collect();
        let k = created.iter().rposition(|&c| c <= at).unwrap_or(0);
        let mut alive: HashMap<ProcKey, Found> = HashMap::new();
        for (n, s) in self.segments.iter().enumerate().skip(k) {
            let r = guarded(&s.file.path, || {
                let until = at.saturating_add(1);
                let mut evs = Vec::new();
                let local = container.map(|id| s.reader.container_index(id)).transpose()?;
                match (n == k, local) {
                    // One container: its index in this segment reads only its own events.
                    (true, Some(Some(idx))) => {
                        evs.extend(s.reader.checkpoint()?.into_iter().filter(|e| e.container == Some(idx)));
                        evs.extend(s.reader.events(Some(idx), 0, until, &|_| true)?);
                    }
                    (true, Some(None)) => {}
                    (true, None) => {
                        evs = s.reader.checkpoint()?;
                        evs.extend(s.reader.events(None, 0, until, &|_| true)?);
                    }
                    (false, _) => evs.extend(s.reader.events(
                        None,
                        0,
                        until,
                        &|e| matches!(&e.body, Body::Exec(x) if x.source == Source::Procfs),
                    )?),
                }
                evs.into_iter().map(|e| self.found(s, e)).collect::<Result<Vec<_>, _>>()
            });
            self.block_problems(s);
            let list = match r {
                Ok(l) => l,
                Err(e) => {
                    self.problem(skipping(&s.file.path, &e));
                    continue;
                }
            };
            for f in list {
                match f.event.body {
                    Body::Exit(_) => {
                        alive.remove(&f.event.proc);
                    }
                    Body::Exec(_) if n == k => {
                        alive.insert(f.event.proc, f);
                    }
                    // A move changes the container of a process, not what describes it.
                    Body::CgroupMove(_) => match alive.get_mut(&f.event.proc) {
                        Some(a) => a.container = f.container,
                        None => {
                            alive.insert(f.event.proc, f);
                        }
                    },
                    // What a process did does not describe it.
                    Body::Activity(_) | Body::Container(_) => {}
                    _ => {
                        alive.entry(f.event.proc).or_insert(f);
                    }
                }
            }
        }
        let wanted = |f: &Found| container.is_none_or(|id| f.container.as_ref().is_some_and(|c| c.id == id));
        let mut v: Vec<Found> = alive.into_values().filter(wanted).collect();
        v.sort_by_key(|f| (f.event.proc.start, f.event.proc.tgid));
        v
    }

    fn collect(&self, s: &Open, events: Result<Vec<Event>, StoreError>, out: &mut Vec<Found>) {
        let resolved = events.and_then(|v| {
            guarded(&s.file.path, || v.into_iter().map(|e| self.found(s, e)).collect::<Result<Vec<_>, _>>())
        });
        self.block_problems(s);
        match resolved {
            Ok(v) => out.extend(v),
            Err(e) => self.problem(skipping(&s.file.path, &e)),
        }
    }
}
