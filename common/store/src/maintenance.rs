//! What the store does to sealed segments, off the ingest thread: writing each as format 2,
//! retention, compaction, all recorded in the chain, one at a time on one thread (so none
//! of them deletes what another reads). At start it finishes what a crash interrupted.
//!
//! Every change goes in the same order, so that a crash between any two steps loses
//! nothing and doubles nothing: the new file is written under a temporary name, synced and
//! renamed into place; the chain gets its line; only then are the files it replaces removed.
//! Readers never read a seq twice ([`segment::effective`]).

use std::{
    path::{Path, PathBuf},
    sync::mpsc,
    thread::JoinHandle,
};

use crate::{
    StoreError,
    chain::{Chain, Named, Op},
    convert,
    seg::{hex, reader::SegReader},
    segment::{self, FileFormat, SegmentFile, State},
};

/// What retention keeps (from [`crate::Options`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep {
    pub retain_ns: Option<u64>,
    pub max_bytes: Option<u64>,
    /// Format-2 segments smaller than this are merged with their neighbours in the same
    /// hour (`--segment-size` / 16).
    pub small_bytes: u64,
}

/// The crash tests' `kill -9` at an exact step: `CTRAIL_STORE_CRASH_AT=<step>` aborts the
/// process there (steps: `seal:written`, `seal:placed`, `seal:chained`, `merge:written`,
/// `merge:placed`, `merge:chained`, `retain:chained`). Only the process's own environment
/// reaches it: no lever for anyone who could not already kill the recorder.
pub fn crash_point(step: &str) {
    static AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if AT.get_or_init(|| std::env::var("CTRAIL_STORE_CRASH_AT").ok()).as_deref() == Some(step) {
        std::process::abort();
    }
}

/// A segment the writer found that no longer opens: set aside, and said so in the chain.
#[derive(Debug, Clone)]
pub struct Damaged {
    pub file: SegmentFile,
    pub detail: String,
    /// The span it covered (from its name; for an active segment, from the segment before
    /// it to now).
    pub first: u64,
    pub last: u64,
}

/// Moves `path` into `corrupt/` (0700), under `name` (its own name when `None`); returns
/// where it is now (where it was, when it could not be moved).
pub(crate) fn set_aside(dir: &Path, path: &Path, name: Option<String>) -> PathBuf {
    let corrupt = dir.join("corrupt");
    if crate::trust::private_subdir(&corrupt).is_err() {
        return path.to_path_buf();
    }
    let name = name.unwrap_or_else(|| path.file_name().unwrap_or_default().to_string_lossy().into_owned());
    let to = corrupt.join(name);
    match std::fs::rename(path, &to) {
        Ok(()) => to,
        Err(_) => path.to_path_buf(),
    }
}

/// Told, on the maintenance thread, of sealed segments that nothing will rewrite any
/// more (the recorder's Parquet tree): format 2, and no merge can take them, because they
/// are not small, or span a window, or the segment after them is already format 2 and
/// compaction left them apart. At stop, every format-2 segment is handed over, and
/// compaction never merges below [`Finalized::next`]: what was handed over stays as it was.
pub trait Finalized: Send {
    /// The first segment seq not handed over yet.
    fn next(&self) -> u64;
    /// `files`, oldest first, each at or above `next()`. An error is reported and the same
    /// segments are offered again after the next seal.
    fn finalized(&mut self, dir: &Path, files: &[SegmentFile]) -> Result<(), String>;
}

enum Job {
    /// A sealed redb segment to write as format 2.
    Seal(SegmentFile),
    Retain(u64),
    /// Reply once everything before it is done.
    Settle(mpsc::Sender<()>),
}

/// The handle the writer keeps: jobs go to the maintenance thread.
pub struct Maintenance {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<Vec<String>>>,
    reports: mpsc::Receiver<String>,
}

/// The thread's own state.
struct Worker {
    dir: PathBuf,
    store_id: String,
    chain: Chain,
    keep: Keep,
    now: fn() -> u64,
    reports: mpsc::Sender<String>,
    hook: Option<Box<dyn Finalized>>,
}

impl Maintenance {
    /// Sets `damaged` aside, finishes what a crash interrupted, then starts the thread.
    /// Returns where each damaged file went and why. `now` gives wall ns (the tests give
    /// their own clock).
    pub fn start(
        dir: &Path,
        store_id: String,
        keep: Keep,
        now: fn() -> u64,
        damaged: Vec<Damaged>,
        hook: Option<Box<dyn Finalized>>,
    ) -> Result<(Self, Vec<(PathBuf, String)>), StoreError> {
        let (chain, trouble) = Chain::open(dir, &store_id, now())?;
        let (reports_tx, reports) = mpsc::channel();
        if let Some(t) = trouble {
            let _ = reports_tx.send(format!("the chain did not verify ({t}): it was set aside and a new one started"));
        }
        let mut w = Worker { dir: dir.to_path_buf(), store_id, chain, keep, now, reports: reports_tx, hook };
        let mut moved = Vec::new();
        for d in damaged {
            moved.push((w.set_aside(&d)?, d.detail));
        }
        let pending = w.recover()?;
        let (tx, rx) = mpsc::channel::<Job>();
        for f in pending {
            let _ = tx.send(Job::Seal(f));
        }
        let thread = std::thread::Builder::new()
            .name("ctrail-maintenance".into())
            .spawn(move || w.run(rx))
            .map_err(|source| StoreError::Io { path: dir.to_path_buf(), source })?;
        Ok((Maintenance { tx: Some(tx), thread: Some(thread), reports }, moved))
    }

    pub fn seal(&self, file: SegmentFile) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Job::Seal(file));
        }
    }

    pub fn retain(&self, now: u64) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Job::Retain(now));
        }
    }

    /// Waits until every job sent so far is done.
    pub fn settle(&self) {
        let (done, wait) = mpsc::channel();
        if let Some(tx) = &self.tx
            && tx.send(Job::Settle(done)).is_ok()
        {
            let _ = wait.recv();
        }
    }

    /// What the thread did that the recorder's log should say (a failure, a set-aside chain).
    pub fn take_reports(&self) -> Vec<String> {
        self.reports.try_iter().collect()
    }

    /// Finishes the jobs sent so far and stops the thread.
    pub fn stop(mut self) -> Vec<String> {
        drop(self.tx.take());
        let mut out = self.take_reports();
        if let Some(t) = self.thread.take() {
            out.extend(t.join().unwrap_or_else(|_| vec!["the maintenance thread panicked".into()]));
        }
        out
    }
}

impl Drop for Maintenance {
    /// Dropped without [`Self::stop`] (a writer dropped on an error path): the jobs sent
    /// are still finished before anyone else may take the directory.
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Worker {
    /// Takes the jobs waiting, all of them, then compacts once: a storm of seals is written
    /// as format 2 one by one and merged once, not merged again at every seal. A settle is
    /// answered after that compaction.
    fn run(mut self, rx: mpsc::Receiver<Job>) -> Vec<String> {
        // What an earlier run sealed but did not hand over (it was killed) goes first.
        self.hand_over(false);
        while let Ok(first) = rx.recv() {
            let mut settled = Vec::new();
            let mut sealed = false;
            for job in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
                let r = match job {
                    Job::Seal(f) => {
                        sealed = true;
                        self.seal(&f)
                    }
                    Job::Retain(now) => self.retain(now),
                    Job::Settle(done) => {
                        settled.push(done);
                        Ok(())
                    }
                };
                self.failed(r);
            }
            if sealed {
                let r = self.compact();
                self.failed(r);
                self.hand_over(false);
            }
            for done in settled {
                let _ = done.send(());
            }
        }
        self.hand_over(true);
        Vec::new()
    }

    /// Offers the hook the segments no merge will take (`all`: at stop, every format-2
    /// one: compaction will not merge below what the hook took).
    fn hand_over(&mut self, all: bool) {
        let Some(floor) = self.hook.as_ref().map(|h| h.next()) else { return };
        let segments = match self.segments() {
            Ok(s) => segment::effective(s).0,
            Err(e) => return self.failed(Err(e)),
        };
        let mut ready = Vec::new();
        for (i, f) in segments.iter().enumerate() {
            if f.seq < floor {
                continue;
            }
            // In order: the first one not final (not format 2 yet, or the active) ends it.
            if f.format != FileFormat::Seg {
                break;
            }
            let next_apart =
                segments.get(i + 1).is_some_and(|g| g.format == FileFormat::Seg && g.seq == f.last_seq + 1);
            if !all && self.mergeable(f) && !next_apart {
                break;
            }
            ready.push(f.clone());
        }
        if ready.is_empty() {
            return;
        }
        let Some(hook) = self.hook.as_mut() else { return };
        if let Err(e) = hook.finalized(&self.dir, &ready) {
            self.report(e);
        }
    }

    /// The window compaction merges within: a clock hour, or an eighth of `--retain` when
    /// that is shorter (retention deletes whole segments, so a merged one must not outlive
    /// its oldest events by much).
    fn window(&self) -> u64 {
        self.keep.retain_ns.map_or(3600 * 1_000_000_000, |r| (r / 8).clamp(1, 3600 * 1_000_000_000))
    }

    fn window_of(&self, f: &SegmentFile) -> Option<u64> {
        let window = self.window();
        match f.state {
            State::Sealed { first: 0, last: 0 } => None,
            State::Sealed { first, last } if first / window == last / window => Some(first / window),
            _ => None,
        }
    }

    /// Whether compaction may still merge `f` with a neighbour: small, format 2, within one
    /// window, and not handed over to the hook.
    fn mergeable(&self, f: &SegmentFile) -> bool {
        let floor = self.hook.as_ref().map_or(0, |h| h.next());
        f.seq >= floor
            && f.format == FileFormat::Seg
            && self.window_of(f).is_some()
            && std::fs::metadata(&f.path).is_ok_and(|m| m.len() < self.keep.small_bytes)
    }

    fn failed(&self, r: Result<(), StoreError>) {
        if let Err(e) = r {
            let _ = self.reports.send(format!("segment upkeep: {e}"));
        }
    }

    /// The chain line first, then the move: a crash between them leaves the file where it
    /// was, found damaged again at the next start (a second line, nothing unrecorded).
    fn set_aside(&mut self, d: &Damaged) -> Result<PathBuf, StoreError> {
        let name = d.file.name();
        let segment = match self.chain.view().live.get(&name) {
            Some(n) => n.clone(),
            None => Named {
                name: name.clone(),
                sha256: crate::chain::file_sha256(&d.file.path).map(|h| hex(&h)).unwrap_or_default(),
                events: 0,
                first: d.first,
                last: d.last,
            },
        };
        let to = self.dir.join("corrupt").join(&name);
        let op = Op::SetAside { segment, to: to.display().to_string(), reason: d.detail.clone() };
        self.chain.append(op, (self.now)())?;
        let at = set_aside(&self.dir, &d.file.path, None);
        convert::sync_dir(&self.dir)?;
        Ok(at)
    }

    fn report(&self, msg: String) {
        let _ = self.reports.send(msg);
    }

    fn segments(&self) -> Result<Vec<SegmentFile>, StoreError> {
        segment::list(&self.dir).map(|l| l.segments).map_err(|source| StoreError::Io { path: self.dir.clone(), source })
    }

    /// After a crash: temporary files go; a `.redb` already written as `.seg` goes (after
    /// its `.seg` is in the chain); a merged `.seg` the chain does not know goes (its inputs
    /// are all still there); inputs of a merge the chain has go. Returns the sealed `.redb`
    /// segments still to write as format 2, oldest first.
    fn recover(&mut self) -> Result<Vec<SegmentFile>, StoreError> {
        for e in std::fs::read_dir(&self.dir).map_err(|source| StoreError::Io { path: self.dir.clone(), source })? {
            let p = e.map_err(|source| StoreError::Io { path: self.dir.clone(), source })?.path();
            if p.to_string_lossy().ends_with(".seg.tmp") {
                let _ = std::fs::remove_file(&p);
            }
        }
        let mut pending = Vec::new();
        let all = self.segments()?;
        for f in all.iter().filter(|f| f.format == FileFormat::Seg) {
            let known = self.chain.view().live.contains_key(&f.name());
            let merged = f.last_seq > f.seq;
            if known {
                continue;
            }
            if merged {
                // Written, not yet in the chain: the inputs it would replace are still there.
                remove(&f.path);
                continue;
            }
            // Written and renamed, the chain line not yet appended (its redb is still there):
            // append it now. Anything else is not ours to vouch for: `ctrail verify` names it.
            let from_here = all.iter().any(|r| r.format == FileFormat::Redb && r.seq == f.seq)
                && SegReader::open(&f.path).is_ok_and(|r| r.directory().meta.store_id == self.store_id);
            if !from_here {
                self.report(format!("{} is not in the store's chain: left as it is, not vouched for", f.name()));
                continue;
            }
            if let Ok(named) = named_of(f) {
                self.chain.append(Op::Sealed(named), (self.now)())?;
            }
        }
        let (keep, superseded) = segment::effective(self.segments()?);
        for s in superseded {
            remove(&s.path);
        }
        // Deleted by retention in the chain, the crash came before the file went.
        let view = self.chain.view();
        let (keep, deleted): (Vec<SegmentFile>, Vec<SegmentFile>) = keep
            .into_iter()
            .partition(|f| view.live.contains_key(&f.name()) || !view.deleted.iter().any(|(n, _)| n.name == f.name()));
        for f in deleted {
            remove(&f.path);
        }
        // What the chain vouches for and no file holds was removed behind our back: said
        // once, in the chain (queries show it as a gap; `ctrail verify` keeps failing).
        let gone: Vec<Named> = self
            .chain
            .view()
            .live
            .values()
            .filter(|n| {
                segment::parse(Path::new(&n.name))
                    .is_none_or(|f| !(f.seq..=f.last_seq).all(|seq| keep.iter().any(|k| k.covers(seq))))
            })
            .cloned()
            .collect();
        for segment in gone {
            self.report(format!(
                "segment {} ({} events) is in the store's chain but was removed: recorded as lost",
                segment.name, segment.events
            ));
            self.chain.append(Op::Lost { segment }, (self.now)())?;
        }
        for f in keep {
            if f.format == FileFormat::Redb && matches!(f.state, State::Sealed { .. }) {
                pending.push(f);
            }
        }
        convert::sync_dir(&self.dir)?;
        Ok(pending)
    }

    fn seal(&mut self, redb: &SegmentFile) -> Result<(), StoreError> {
        if !redb.path.exists() {
            return Ok(()); // retention took it first
        }
        let (_, named) = match convert::from_redb(&self.dir, redb, &self.store_id) {
            Ok(v) => v,
            Err(e) => {
                self.report(format!("could not write {} as format 2 ({e}); it stays as it is", redb.name()));
                return Ok(());
            }
        };
        crash_point("seal:placed");
        self.chain.append(Op::Sealed(named), (self.now)())?;
        crash_point("seal:chained");
        remove(&redb.path);
        convert::sync_dir(&self.dir)
    }

    /// Retention: whole sealed segments, oldest first, past `--retain` or beyond
    /// `--max-size`, never the active one; each deletion is a chain line.
    fn retain(&mut self, now: u64) -> Result<(), StoreError> {
        if self.keep.retain_ns.is_none() && self.keep.max_bytes.is_none() {
            return Ok(());
        }
        let (segments, _) = segment::effective(self.segments()?);
        let size = |f: &SegmentFile| std::fs::metadata(&f.path).map(|m| m.len()).unwrap_or(0);
        let mut total: u64 = segments.iter().map(size).sum();
        for f in segments.iter().filter(|f| matches!(f.state, State::Sealed { .. })) {
            let State::Sealed { first, last } = f.state else { continue };
            let expired = self.keep.retain_ns.is_some_and(|r| last.max(first) < now.saturating_sub(r));
            let too_big = self.keep.max_bytes.is_some_and(|m| total > m);
            if !expired && !too_big {
                break;
            }
            let segment = match self.chain.view().live.get(&f.name()) {
                Some(n) => n.clone(),
                // Not in the chain yet (a redb segment not yet written as format 2).
                None => named_of(f)?,
            };
            let bytes = size(f);
            let why = if expired { "age" } else { "size" }.to_string();
            self.chain.append(Op::Deleted { segment, why }, now)?;
            crash_point("retain:chained");
            remove(&f.path);
            total = total.saturating_sub(bytes);
        }
        convert::sync_dir(&self.dir)
    }

    /// Merges runs of small format-2 segments of the same window into one each
    /// ([`Self::mergeable`]).
    fn compact(&mut self) -> Result<(), StoreError> {
        let (segments, _) = segment::effective(self.segments()?);
        let mut run: Vec<SegmentFile> = Vec::new();
        let mut runs = Vec::new();
        for f in segments {
            let fits = self.mergeable(&f)
                && run
                    .last()
                    .is_none_or(|l: &SegmentFile| self.window_of(l) == self.window_of(&f) && l.last_seq + 1 == f.seq);
            if !fits {
                if run.len() > 1 {
                    runs.push(std::mem::take(&mut run));
                }
                run.clear();
                if self.mergeable(&f) {
                    run.push(f);
                }
                continue;
            }
            run.push(f);
        }
        if run.len() > 1 {
            runs.push(run);
        }
        for run in runs {
            self.merge(&run)?;
        }
        Ok(())
    }

    fn merge(&mut self, run: &[SegmentFile]) -> Result<(), StoreError> {
        let from: Vec<Named> = match run.iter().map(|f| self.chain.view().live.get(&f.name()).cloned()).collect() {
            Some(v) => v,
            // Only what the chain vouches for is merged.
            None => return Ok(()),
        };
        let (_, into) = match convert::merge(&self.dir, run, &self.store_id) {
            Ok(v) => v,
            Err(e) => {
                self.report(format!("could not merge {} segments from {} ({e})", run.len(), run[0].name()));
                return Ok(());
            }
        };
        crash_point("merge:placed");
        self.chain.append(Op::Merged { from, into }, (self.now)())?;
        crash_point("merge:chained");
        for f in run {
            remove(&f.path);
        }
        convert::sync_dir(&self.dir)
    }
}

/// A segment file as a chain entry: its name, hash, count and span.
fn named_of(f: &SegmentFile) -> Result<Named, StoreError> {
    let sha256 = hex(&crate::chain::file_sha256(&f.path)?);
    let (first, last) = match f.state {
        State::Sealed { first, last } => (first, last),
        State::Active => (0, 0),
    };
    let events = match f.format {
        FileFormat::Seg => SegReader::open(&f.path)?.event_count(),
        FileFormat::Redb => crate::guarded(&f.path, || crate::segment_reader::SegmentReader::open(f)?.event_count())?,
    };
    Ok(Named { name: f.name(), sha256, events, first, last })
}

fn remove(p: &Path) {
    let _ = std::fs::remove_file(p);
}
