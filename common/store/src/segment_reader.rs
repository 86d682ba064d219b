//! One sealed segment, read-only; any number of processes may read it at once.

use std::{
    ops::ControlFlow,
    path::{Path, PathBuf},
};

use redb::{ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::de::DeserializeOwned;

use super::{FORMAT_VERSION, StoreError, schema::*, segment::SegmentFile};
use ctrail_model::{BootInfo, Container, Event, Gap, ProcKey};

pub struct SegmentReader {
    tx: ReadTransaction,
    path: PathBuf,
    /// Whether the file has the by_proc and by_container index tables (segments sealed by a
    /// ctrail before format 2, events keyed (time, seq)). The active segment of format 2
    /// keeps events by time alone, in one table keyed by one integer, so that ingest writes
    /// nothing else; its queries scan it.
    indexed: bool,
    /// The store format the file was written in.
    format: u32,
}

impl SegmentReader {
    /// Opens one segment, checking that it is a ctrail segment of a format this build reads.
    pub fn open(file: &SegmentFile) -> Result<Self, StoreError> {
        Self::open_path(&file.path)
    }

    pub fn open_path(path: &Path) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        let file = super::trust::open_regular(&path, false, false)?;
        let backend = redb::backends::FileBackend::new(file).map_err(StoreError::db)?;
        // Single-writer mode, as the recorder writes: the active segment reads beside it.
        let db = redb::Builder::new()
            .set_concurrency_mode(redb::ConcurrencyMode::SingleWriter)
            .open_read_only_with_backend(backend)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked { path: path.clone(), holder: None },
                redb::DatabaseError::RepairAborted => StoreError::NeedsRecovery { path: path.clone() },
                // redb reports a wrong magic number as an InvalidData I/O error.
                redb::DatabaseError::Storage(redb::StorageError::Io(source))
                    if source.kind() != std::io::ErrorKind::InvalidData =>
                {
                    StoreError::Io { path: path.clone(), source }
                }
                other => StoreError::Foreign { path: path.clone(), detail: other.to_string() },
            })?;
        let tx = db.begin_read().map_err(StoreError::db)?;
        let foreign = |detail: &str| StoreError::Foreign { path: path.clone(), detail: detail.to_string() };
        let meta = tx.open_table(META).map_err(|_| foreign("no ctrail meta table"))?;
        let magic = meta.get("magic").map_err(StoreError::db)?.map(|v| v.value().to_vec());
        if magic.as_deref() != Some(MAGIC) {
            return Err(foreign("wrong magic in the meta table"));
        }
        let v = meta.get("format").map_err(StoreError::db)?.map(|v| v.value().to_vec());
        let found = v.and_then(|b| b.try_into().ok()).map(u32::from_le_bytes).unwrap_or(0);
        if found > FORMAT_VERSION {
            return Err(StoreError::TooNew { path, found });
        }
        drop(meta);
        // Format 1 has the index tables and (time, seq) keys; format 2 neither.
        let indexed = found < 2;
        Ok(SegmentReader { tx, path, indexed, format: found })
    }

    /// The store format the file was written in.
    pub fn format(&self) -> u32 {
        self.format
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every row of a table keyed by a container or boot index, decoded.
    fn indexed<T: DeserializeOwned>(
        &self,
        table: TableDefinition<u32, &[u8]>,
        what: &'static str,
    ) -> Result<Vec<(u32, T)>, StoreError> {
        let t = self.tx.open_table(table).map_err(StoreError::db)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(StoreError::db)? {
            let (k, v) = row.map_err(StoreError::db)?;
            out.push((k.value(), decode(what, v.value())?));
        }
        Ok(out)
    }

    /// Every value of a table, decoded, in key order.
    fn values<K: redb::Key + 'static, T: DeserializeOwned>(
        &self,
        table: TableDefinition<K, &[u8]>,
        what: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        let t = self.tx.open_table(table).map_err(StoreError::db)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(StoreError::db)? {
            let (_, v) = row.map_err(StoreError::db)?;
            out.push(decode(what, v.value())?);
        }
        Ok(out)
    }

    pub fn boots(&self) -> Result<Vec<(u32, BootInfo)>, StoreError> {
        if self.format < crate::MACHINE_ID_SINCE {
            let old: Vec<(u32, BootInfoV4)> = self.indexed(BOOTS, "boot")?;
            return Ok(old.upgrade());
        }
        self.indexed(BOOTS, "boot")
    }

    pub fn containers(&self) -> Result<Vec<(u32, Container)>, StoreError> {
        if self.format < crate::METADATA_SINCE {
            let old: Vec<(u32, ContainerV2)> = self.indexed(CONTAINERS, "container")?;
            return Ok(old.into_iter().map(|(i, c)| (i, c.into())).collect());
        }
        let mut v: Vec<(u32, Container)> = self.indexed(CONTAINERS, "container")?;
        if self.format >= crate::EXE_FILE_SINCE {
            // Each commit's counters, without rewriting the records (see CONTAINER_COUNTS).
            let t = self.tx.open_table(CONTAINER_COUNTS).map_err(StoreError::db)?;
            for (idx, c) in &mut v {
                if let Some(row) = t.get(*idx).map_err(StoreError::db)? {
                    (c.events, c.processes, c.first_seen, c.last_seen) = row.value();
                }
            }
        }
        Ok(v)
    }

    pub fn gaps(&self) -> Result<Vec<Gap>, StoreError> {
        self.values(GAPS, "gap")
    }

    fn meta_u64(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let meta = self.tx.open_table(META).map_err(StoreError::db)?;
        let v = meta.get(key).map_err(StoreError::db)?.map(|v| v.value().to_vec());
        Ok(v.and_then(|b| b.try_into().ok()).map(u64::from_le_bytes))
    }

    /// When the segment was created (wall ns).
    pub fn created(&self) -> Result<u64, StoreError> {
        Ok(self.meta_u64("created")?.unwrap_or(0))
    }

    /// The processes alive when this segment began.
    pub fn checkpoint(&self) -> Result<Vec<Event>, StoreError> {
        let t = self.tx.open_table(CHECKPOINT).map_err(StoreError::db)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(StoreError::db)? {
            let (_, v) = row.map_err(StoreError::db)?;
            out.push(decode_events::<EventV3>(self.format, "checkpoint", v.value())?);
        }
        Ok(out)
    }

    /// The local index of a container in this segment.
    pub fn container_index(&self, id: &str) -> Result<Option<u32>, StoreError> {
        let t = self.tx.open_table(CONTAINER_IDS).map_err(StoreError::db)?;
        Ok(t.get(id).map_err(StoreError::db)?.map(|v| v.value()))
    }

    pub fn container_ids_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let t = self.tx.open_table(CONTAINER_IDS).map_err(StoreError::db)?;
        let mut out = Vec::new();
        for row in t.range(prefix..).map_err(StoreError::db)? {
            let (k, _) = row.map_err(StoreError::db)?;
            let id = k.value();
            if !id.starts_with(prefix) {
                break;
            }
            out.push(id.to_string());
        }
        Ok(out)
    }

    pub fn event_count(&self) -> Result<u64, StoreError> {
        if self.indexed {
            self.tx.open_table(EVENTS).map_err(StoreError::db)?.len().map_err(StoreError::db)
        } else {
            self.tx.open_table(EVENTS_BY_TIME).map_err(StoreError::db)?.len().map_err(StoreError::db)
        }
    }

    /// Events with `since <= time < until`, in time order.
    pub fn for_each_event(
        &self,
        since: u64,
        until: u64,
        mut f: impl FnMut(Event) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.for_each_keyed(since, until, |_, e| f(e))
    }

    /// The same, with each event's seq (its order among events of the same time).
    pub fn for_each_keyed(
        &self,
        since: u64,
        until: u64,
        mut f: impl FnMut(u64, Event) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        if !self.indexed {
            // Keys lie at or above their event's time, by at most `late` (see EVENTS_BY_TIME).
            let late = self.meta_u64("late")?.unwrap_or(0);
            let t = self.tx.open_table(EVENTS_BY_TIME).map_err(StoreError::db)?;
            for row in t.range(since..until.saturating_add(late)).map_err(StoreError::db)? {
                let (k, v) = row.map_err(StoreError::db)?;
                let e: Event = decode_events::<EventV3>(self.format, "event", v.value())?;
                if e.time < since || e.time >= until {
                    continue;
                }
                if f(k.value(), e).is_break() {
                    break;
                }
            }
            return Ok(());
        }
        let t = self.tx.open_table(EVENTS).map_err(StoreError::db)?;
        for row in t.range((since, 0)..(until, 0)).map_err(StoreError::db)? {
            let (k, v) = row.map_err(StoreError::db)?;
            if f(k.value().1, decode_events::<EventV3>(self.format, "event", v.value())?).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn event_at(
        &self,
        events: &redb::ReadOnlyTable<(u64, u64), &[u8]>,
        time: u64,
        seq: u64,
    ) -> Result<Event, StoreError> {
        let v = events
            .get((time, seq))
            .map_err(StoreError::db)?
            .ok_or_else(|| StoreError::Decode { what: "index", detail: format!("event ({time}, {seq}) missing") })?;
        decode_events::<EventV3>(self.format, "event", v.value())
    }

    /// One container's events with `since <= time < until`, in time order.
    pub fn for_each_container_event(
        &self,
        container: u32,
        since: u64,
        until: u64,
        mut f: impl FnMut(Event) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        if !self.indexed {
            return self.for_each_event(since, until, |e| {
                if e.container == Some(container) { f(e) } else { ControlFlow::Continue(()) }
            });
        }
        let events = self.tx.open_table(EVENTS).map_err(StoreError::db)?;
        let idx = self.tx.open_table(BY_CONTAINER).map_err(StoreError::db)?;
        for row in idx.range((container, since, 0)..(container, until, 0)).map_err(StoreError::db)? {
            let (k, _) = row.map_err(StoreError::db)?;
            let (_, time, seq) = k.value();
            if f(self.event_at(&events, time, seq)?).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Every event of one process, in time order.
    pub fn events_of(&self, p: ProcKey) -> Result<Vec<Event>, StoreError> {
        if !self.indexed {
            let mut out = Vec::new();
            self.for_each_event(0, u64::MAX, |e| {
                if e.proc == p {
                    out.push(e);
                }
                ControlFlow::Continue(())
            })?;
            return Ok(out);
        }
        let events = self.tx.open_table(EVENTS).map_err(StoreError::db)?;
        let idx = self.tx.open_table(BY_PROC).map_err(StoreError::db)?;
        let mut out = Vec::new();
        let lo = (p.boot, p.tgid, p.start, 0u64, 0u64);
        let hi = (p.boot, p.tgid, p.start, u64::MAX, u64::MAX);
        for row in idx.range(lo..=hi).map_err(StoreError::db)? {
            let (k, _) = row.map_err(StoreError::db)?;
            let (_, _, _, time, seq) = k.value();
            out.push(self.event_at(&events, time, seq)?);
        }
        Ok(out)
    }

    /// Every process key recorded for one tgid (PIDs are reused: there may be several).
    pub fn procs_with_tgid(&self, tgid: u32) -> Result<Vec<ProcKey>, StoreError> {
        if !self.indexed {
            let mut out: Vec<ProcKey> = Vec::new();
            self.for_each_event(0, u64::MAX, |e| {
                if e.proc.tgid == tgid && !out.contains(&e.proc) {
                    out.push(e.proc);
                }
                ControlFlow::Continue(())
            })?;
            out.sort();
            return Ok(out);
        }
        let idx = self.tx.open_table(BY_PROC).map_err(StoreError::db)?;
        let mut out: Vec<ProcKey> = Vec::new();
        for row in idx.iter().map_err(StoreError::db)? {
            let (k, _) = row.map_err(StoreError::db)?;
            let (boot, t, start, _, _) = k.value();
            if t == tgid && out.last().is_none_or(|l| (l.boot, l.start) != (boot, start)) {
                out.push(ProcKey { boot, tgid, start });
            }
        }
        Ok(out)
    }
}
