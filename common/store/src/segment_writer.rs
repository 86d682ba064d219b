//! One segment file, written by the recorder: batched, fsync'd commits.

use std::{
    fs,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::{
    FORMAT_VERSION, StoreError,
    encode_ahead::{self, Chunk},
    schema::*,
    segment, trust,
};
use ctrail_model::{BootInfo, Container, Event, EventKind, Gap, ProcKey};

pub(super) struct SegmentWriter {
    /// `None` only between a failed reopen and the next successful one.
    db: Option<Database>,
    /// A second descriptor of the file redb writes: its identity and link count say whether
    /// the path still names this file (see [`Self::intact`]).
    file: fs::File,
    pub path: PathBuf,
    pub seq: u64,
    /// The next key of the gaps table.
    next: u64,
    /// The last order key of the events table (see [`EVENTS_BY_TIME`]).
    last_key: u64,
    /// The most an order key lies above its event's time.
    late: u64,
    /// Container indexes whose ID is in the segment's ID table (by index).
    named: Vec<bool>,
    pub first: u64,
    pub last: u64,
    pub events: u64,
    /// exec, fork, exit, everything else: what is lost if this file is.
    pub kinds: [u64; 4],
    pub created: u64,
}

/// The container rows a commit writes.
#[derive(Default)]
pub(super) struct Containers<'a> {
    /// Whole records: new, or their runtime's metadata changed.
    pub described: Vec<(u32, &'a Container)>,
    /// Counters only (the record too when the segment has none yet).
    pub counted: Vec<(u32, &'a Container)>,
}

const WRITER_CACHE_BYTES: usize = 4 << 20;

fn db_err(e: impl Into<redb::Error>) -> StoreError {
    StoreError::db(e)
}

fn meta_u64(meta: &impl ReadableTable<&'static str, &'static [u8]>, key: &str) -> Result<Option<u64>, StoreError> {
    Ok(meta.get(key).map_err(db_err)?.and_then(|v| v.value().try_into().ok()).map(u64::from_le_bytes))
}

/// Opens a segment file read-write in redb's single-writer mode, so that queries can read
/// it beside the recorder; redb repairs a file left by a crash here, keeping every committed
/// transaction. Returns the database and a second descriptor of its file.
fn open_db(path: &Path, create_new: bool) -> Result<(Database, fs::File), StoreError> {
    let file = trust::open_regular(path, true, create_new)?;
    let io = |source| StoreError::Io { path: path.to_path_buf(), source };
    let twin = file.try_clone().map_err(io)?;
    let backend = redb::backends::FileBackend::new(file).map_err(StoreError::db)?;
    // redb caches pages up to its cache size (1 GiB by default) and a segment only grows:
    // the recorder's memory would grow with it. Commits are appends; a small cache suffices.
    let db = Database::builder()
        .set_cache_size(WRITER_CACHE_BYTES)
        .set_concurrency_mode(redb::ConcurrencyMode::SingleWriter)
        .create_with_backend(backend)
        .map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked { path: path.to_path_buf(), holder: None },
            redb::DatabaseError::Storage(redb::StorageError::Io(source))
                if source.kind() != std::io::ErrorKind::InvalidData =>
            {
                StoreError::Io { path: path.to_path_buf(), source }
            }
            other => StoreError::Foreign { path: path.to_path_buf(), detail: other.to_string() },
        })?;
    Ok((db, twin))
}

fn identity(m: &fs::Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
}

impl SegmentWriter {
    /// A new, empty segment, under its preparing name until [`Self::activate`].
    pub fn create(dir: &Path, seq: u64, now: u64) -> Result<Self, StoreError> {
        let path = dir.join(segment::preparing_name(seq));
        // A leftover of a crash between preparing and activating holds no events; redb
        // would open it as it is, checkpoint and all, so it goes first.
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(StoreError::Io { path, source }),
        }
        let (db, file) = open_db(&path, true)?;
        let tx = db.begin_write().map_err(db_err)?;
        {
            let mut meta = tx.open_table(META).map_err(db_err)?;
            meta.insert("magic", MAGIC).map_err(db_err)?;
            meta.insert("format", FORMAT_VERSION.to_le_bytes().as_slice()).map_err(db_err)?;
            meta.insert("seq", seq.to_le_bytes().as_slice()).map_err(db_err)?;
            meta.insert("created", now.to_le_bytes().as_slice()).map_err(db_err)?;
            // Every table exists from the start, so readers never meet a missing one.
            tx.open_table(CHECKPOINT).map_err(db_err)?;
            tx.open_table(BOOTS).map_err(db_err)?;
            tx.open_table(EVENTS_BY_TIME).map_err(db_err)?;
            tx.open_table(CONTAINERS).map_err(db_err)?;
            tx.open_table(CONTAINER_IDS).map_err(db_err)?;
            tx.open_table(CONTAINER_COUNTS).map_err(db_err)?;
            tx.open_table(GAPS).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        Ok(SegmentWriter {
            db: Some(db),
            file,
            path,
            seq,
            next: 0,
            last_key: 0,
            late: 0,
            named: Vec::new(),
            first: 0,
            last: 0,
            events: 0,
            kinds: [0; 4],
            created: now,
        })
    }

    /// Whether the path still names the file this writer writes: false once it was removed
    /// or replaced (by someone with root: the directory is root's alone).
    pub fn intact(&self) -> bool {
        let ours = self.file.metadata().ok();
        let named = fs::symlink_metadata(&self.path).ok();
        match (ours, named) {
            (Some(o), Some(n)) => o.nlink() > 0 && identity(&o) == identity(&n),
            _ => false,
        }
    }

    /// Gives a created segment its active name: the one the recorder writes from now on.
    pub fn activate(&mut self) -> Result<(), StoreError> {
        let active = self.path.with_file_name(segment::active_name(self.seq));
        fs::rename(&self.path, &active).map_err(|source| StoreError::Io { path: self.path.clone(), source })?;
        self.path = active;
        Ok(())
    }

    /// Reopens an active segment left behind by a recorder that did not stop (crash,
    /// `kill -9`), to seal it. Returns the writer and the time of its last commit.
    pub fn recover(file: &segment::SegmentFile) -> Result<(Self, Option<u64>), StoreError> {
        let (db, twin) = open_db(&file.path, false)?;
        let (first, last, events, created, last_commit, last_key, late) = {
            let tx = db.begin_read().map_err(db_err)?;
            let meta = tx.open_table(META).map_err(|e| StoreError::Foreign {
                path: file.path.clone(),
                detail: format!("no ctrail meta table ({e})"),
            })?;
            if meta.get("magic").map_err(db_err)?.map(|v| v.value() == MAGIC) != Some(true) {
                return Err(StoreError::Foreign { path: file.path.clone(), detail: "wrong magic".into() });
            }
            let created = meta_u64(&meta, "created")?.unwrap_or(0);
            let last_commit = meta_u64(&meta, "last_commit")?;
            let ev = tx.open_table(EVENTS_BY_TIME).map_err(db_err)?;
            let last_key = ev.last().map_err(db_err)?.map(|(k, _)| k.value()).unwrap_or(0);
            let first = meta_u64(&meta, "first")?.unwrap_or(0);
            let last = meta_u64(&meta, "last")?.unwrap_or(0);
            let late = meta_u64(&meta, "late")?.unwrap_or(0);
            (first, last, ev.len().map_err(db_err)?, created, last_commit, last_key, late)
        };
        let gaps = {
            let tx = db.begin_read().map_err(db_err)?;
            tx.open_table(GAPS).map_err(db_err)?.len().map_err(db_err)?
        };
        let next = gaps + 1_000_000_000; // past any gap key used before the crash
        Ok((
            SegmentWriter {
                db: Some(db),
                file: twin,
                path: file.path.clone(),
                seq: file.seq,
                next,
                last_key,
                late,
                named: Vec::new(),
                first,
                last,
                events,
                kinds: [0, 0, 0, events],
                created,
            },
            last_commit,
        ))
    }

    pub fn size(&self) -> u64 {
        self.file.metadata().map(|m| m.len()).unwrap_or(0)
    }

    /// Drops the handle and opens the file again: after an I/O error (a full disk) redb
    /// refuses further transactions on the old handle until it is reopened. Only the same
    /// file: one that replaced it under its name is not ours to write.
    pub fn reopen(&mut self) -> Result<(), StoreError> {
        self.db = None;
        if !self.intact() {
            return Err(StoreError::Damaged {
                path: self.path.clone(),
                detail: "the active segment was removed or replaced".into(),
            });
        }
        let (db, file) = open_db(&self.path, false)?;
        self.db = Some(db);
        self.file = file;
        Ok(())
    }

    fn db(&self) -> Result<&Database, StoreError> {
        self.db.as_ref().ok_or_else(|| StoreError::Closed { path: self.path.clone() })
    }

    /// Everything a new segment starts with: boots, the containers it refers to, and the
    /// processes alive at its start.
    pub fn write_start(
        &mut self,
        boots: &[(u32, BootInfo)],
        containers: &Containers,
        live: &mut dyn Iterator<Item = (&ProcKey, &crate::writer::Live)>,
    ) -> Result<(), StoreError> {
        let tx = self.db()?.begin_write().map_err(db_err)?;
        {
            let mut b = tx.open_table(BOOTS).map_err(db_err)?;
            for (i, info) in boots {
                b.insert(*i, encode(info)?.as_slice()).map_err(db_err)?;
            }
            let mut cp = tx.open_table(CHECKPOINT).map_err(db_err)?;
            for (p, l) in live {
                let ProcKey { boot, tgid, start } = *p;
                cp.insert((boot, tgid, start), l.bytes.as_slice()).map_err(db_err)?;
            }
        }
        self.write_containers(&tx, containers)?;
        tx.commit().map_err(db_err)
    }

    /// The records of the containers described (or new to this segment) and, for those
    /// new to it, their IDs (which never change); the counters of those counted.
    fn write_containers(&mut self, tx: &redb::WriteTransaction, containers: &Containers) -> Result<(), StoreError> {
        let mut t = tx.open_table(CONTAINERS).map_err(db_err)?;
        let mut ids = tx.open_table(CONTAINER_IDS).map_err(db_err)?;
        let mut counts = tx.open_table(CONTAINER_COUNTS).map_err(db_err)?;
        let mut buf = Vec::new();
        let mut record = |idx: u32, c: &Container, named: &mut Vec<bool>| -> Result<(), StoreError> {
            buf.clear();
            encode_into(&mut buf, c)?;
            t.insert(idx, buf.as_slice()).map_err(db_err)?;
            let at = idx as usize;
            if named.len() <= at {
                named.resize(at + 1, false);
            }
            if !named[at] {
                ids.insert(c.id.as_str(), idx).map_err(db_err)?;
                named[at] = true;
            }
            Ok(())
        };
        for &(idx, c) in &containers.described {
            record(idx, c, &mut self.named)?;
        }
        for &(idx, c) in &containers.counted {
            if !self.named.get(idx as usize).copied().unwrap_or(false) {
                record(idx, c, &mut self.named)?;
            }
            counts.insert(idx, (c.events, c.processes, c.first_seen, c.last_seen)).map_err(db_err)?;
        }
        Ok(())
    }

    pub fn write_boot(&mut self, idx: u32, info: &BootInfo) -> Result<(), StoreError> {
        let tx = self.db()?.begin_write().map_err(db_err)?;
        tx.open_table(BOOTS).map_err(db_err)?.insert(idx, encode(info)?.as_slice()).map_err(db_err)?;
        tx.commit().map_err(db_err)
    }

    /// One batch in one transaction, durable when this returns. `encoded` yields `events`
    /// encoded, in order, in chunks (while they are being encoded: see [`encode_ahead`]);
    /// the chunks are returned.
    pub fn commit(
        &mut self,
        events: &[Event],
        encoded: &mut dyn Iterator<Item = Result<Chunk, StoreError>>,
        gaps: &[Gap],
        containers: &Containers,
        now: u64,
    ) -> Result<Vec<Chunk>, StoreError> {
        let tx = self.db()?.begin_write().map_err(db_err)?;
        let mut seq = self.next;
        let (mut key, mut late) = (self.last_key, self.late);
        let (mut first, mut last) = (self.first, self.last);
        let mut chunks = Vec::with_capacity(events.len().div_ceil(encode_ahead::CHUNK_EVENTS));
        {
            // Keyed by time alone: the one table ingest writes; the indexes are the sealed
            // format's, built off the ingest thread.
            let mut ev = tx.open_table(EVENTS_BY_TIME).map_err(db_err)?;
            let mut rest = events;
            for chunk in encoded {
                let chunk = chunk?;
                let (these, after) = rest.split_at(chunk.len().min(rest.len()));
                for (e, bytes) in these.iter().zip(chunk.iter()) {
                    key = e.time.max(key + 1);
                    late = late.max(key - e.time);
                    first = if first == 0 { e.time } else { first.min(e.time) };
                    last = last.max(e.time);
                    ev.insert(key, bytes).map_err(db_err)?;
                }
                rest = after;
                chunks.push(chunk);
            }
            // A short stream would commit part of the batch as if it were all of it.
            if !rest.is_empty() {
                return Err(StoreError::Encode(format!("{} events of the batch were not encoded", rest.len())));
            }
            let mut g = tx.open_table(GAPS).map_err(db_err)?;
            for gap in gaps {
                g.insert((gap.start, seq), encode(gap)?.as_slice()).map_err(db_err)?;
                seq += 1;
            }
            let mut meta = tx.open_table(META).map_err(db_err)?;
            for (k, v) in [("last_commit", now), ("first", first), ("last", last), ("late", late)] {
                meta.insert(k, v.to_le_bytes().as_slice()).map_err(db_err)?;
            }
        }
        self.write_containers(&tx, containers)?;
        tx.commit().map_err(db_err)?;
        self.next = seq;
        (self.last_key, self.late, self.first, self.last) = (key, late, first, last);
        for e in events {
            let k = match e.body.kind() {
                EventKind::Exec => 0,
                EventKind::Fork => 1,
                EventKind::Exit => 2,
                _ => 3,
            };
            self.kinds[k] += 1;
        }
        self.events += events.len() as u64;
        Ok(chunks)
    }

    /// Closes the segment and renames it to its sealed name; it is immutable from here on.
    pub fn seal(self) -> Result<PathBuf, StoreError> {
        let intact = self.intact();
        let SegmentWriter { db, path, seq, first, last, .. } = self;
        drop(db);
        // Renaming whatever now has the name would seal someone else's file as ours.
        if !intact {
            return Err(StoreError::Damaged { path, detail: "the active segment was removed or replaced".into() });
        }
        let sealed = path.with_file_name(segment::sealed_name(seq, first, last));
        fs::rename(&path, &sealed).map_err(|source| StoreError::Io { path: path.clone(), source })?;
        Ok(sealed)
    }
}
