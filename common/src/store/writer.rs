//! The recorder's side of the store: batched, fsync'd commits.

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::{FORMAT_VERSION, StoreError, prepare_dir, schema::*};
use crate::record::{Body, BootInfo, Container, Event, Gap, ProcKey};

/// What one commit writes. Events must come in the order they happened per process.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<Event>,
    pub gaps: Vec<Gap>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.gaps.is_empty()
    }

    pub fn len(&self) -> usize {
        self.events.len() + self.gaps.len()
    }
}

pub struct StoreWriter {
    db: Database,
    path: PathBuf,
    next_seq: u64,
    container_index: HashMap<String, u32>,
    containers: Vec<Container>,
    dirty: HashSet<u32>,
    /// Processes alive in some container, to count each process once.
    live_in_container: HashSet<(ProcKey, u32)>,
}

impl StoreWriter {
    /// Opens or creates the store in `dir` (0700 dir, 0600 file).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = prepare_dir(dir)?;
        let db = Database::create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked { path: path.clone() },
            other => StoreError::Foreign { path: path.clone(), detail: other.to_string() },
        })?;
        let mut w = StoreWriter {
            db,
            path,
            next_seq: 0,
            container_index: HashMap::new(),
            containers: Vec::new(),
            dirty: HashSet::new(),
            live_in_container: HashSet::new(),
        };
        w.init()?;
        Ok(w)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init(&mut self) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(StoreError::db)?;
        {
            let mut meta = tx.open_table(META).map_err(StoreError::db)?;
            let magic = meta.get("magic").map_err(StoreError::db)?.map(|v| v.value().to_vec());
            match magic {
                None if meta.len().map_err(StoreError::db)? == 0 => {
                    meta.insert("magic", MAGIC).map_err(StoreError::db)?;
                    meta.insert("format", FORMAT_VERSION.to_le_bytes().as_slice()).map_err(StoreError::db)?;
                }
                Some(m) if m == MAGIC => {
                    let v = meta.get("format").map_err(StoreError::db)?.map(|v| v.value().to_vec());
                    let found = v.and_then(|b| b.try_into().ok()).map(u32::from_le_bytes).unwrap_or(0);
                    if found > FORMAT_VERSION {
                        return Err(StoreError::TooNew { path: self.path.clone(), found });
                    }
                }
                _ => {
                    return Err(StoreError::Foreign {
                        path: self.path.clone(),
                        detail: "a redb file without ctrail's meta table".into(),
                    });
                }
            }
            // Create every table so that readers never meet a missing one.
            tx.open_table(BOOTS).map_err(StoreError::db)?;
            tx.open_table(BY_PROC).map_err(StoreError::db)?;
            tx.open_table(BY_CONTAINER).map_err(StoreError::db)?;
            tx.open_table(GAPS).map_err(StoreError::db)?;
            let events = tx.open_table(EVENTS).map_err(StoreError::db)?;
            let last_seq = events
                .iter()
                .map_err(StoreError::db)?
                .map(|r| r.map(|(k, _)| k.value().1))
                .try_fold(0u64, |m, s| -> Result<u64, redb::StorageError> { Ok(m.max(s? + 1)) });
            self.next_seq = last_seq.map_err(StoreError::db)?;
            let containers = tx.open_table(CONTAINERS).map_err(StoreError::db)?;
            for row in containers.iter().map_err(StoreError::db)? {
                let (k, v) = row.map_err(StoreError::db)?;
                let c: Container = decode("container", v.value())?;
                let idx = k.value();
                if idx as usize != self.containers.len() {
                    return Err(StoreError::Decode { what: "container", detail: format!("index {idx} out of order") });
                }
                self.container_index.insert(c.id.clone(), idx);
                self.containers.push(c);
            }
            tx.open_table(CONTAINER_IDS).map_err(StoreError::db)?;
        }
        tx.commit().map_err(StoreError::db)
    }

    /// Registers the boot this recorder runs on; a second run on the same boot reuses its index.
    pub fn add_boot(&mut self, info: &BootInfo) -> Result<u32, StoreError> {
        let tx = self.db.begin_write().map_err(StoreError::db)?;
        let idx = {
            let mut boots = tx.open_table(BOOTS).map_err(StoreError::db)?;
            let mut found = None;
            let mut next = 0;
            for row in boots.iter().map_err(StoreError::db)? {
                let (k, v) = row.map_err(StoreError::db)?;
                let b: BootInfo = decode("boot", v.value())?;
                if b.boot_id == info.boot_id {
                    found = Some(k.value());
                }
                next = next.max(k.value() + 1);
            }
            let idx = found.unwrap_or(next);
            boots.insert(idx, encode(info)?.as_slice()).map_err(StoreError::db)?;
            idx
        };
        tx.commit().map_err(StoreError::db)?;
        Ok(idx)
    }

    /// The index of a container, adding it on first sight. A later verdict with more
    /// detail (a runtime where there was none) fills in the stored one.
    pub fn container(&mut self, c: Container) -> u32 {
        if let Some(&idx) = self.container_index.get(&c.id) {
            let have = &mut self.containers[idx as usize];
            if have.runtime.is_none() && c.runtime.is_some() {
                have.runtime = c.runtime;
                have.reason = c.reason;
                self.dirty.insert(idx);
            }
            return idx;
        }
        let idx = self.containers.len() as u32;
        self.container_index.insert(c.id.clone(), idx);
        self.containers.push(c);
        self.dirty.insert(idx);
        idx
    }

    pub fn container_record(&self, idx: u32) -> Option<&Container> {
        self.containers.get(idx as usize)
    }

    /// Wall time of the newest stored event, if any.
    pub fn last_event_time(&self) -> Result<Option<u64>, StoreError> {
        let tx = self.db.begin_read().map_err(StoreError::db)?;
        let t = tx.open_table(EVENTS).map_err(StoreError::db)?;
        Ok(t.last().map_err(StoreError::db)?.map(|(k, _)| k.value().0))
    }

    /// Writes one batch in one transaction, durable when this returns.
    pub fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        for e in &batch.events {
            if let Some(idx) = e.container {
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
        }
        let tx = self.db.begin_write().map_err(StoreError::db)?;
        let mut seq = self.next_seq;
        {
            let mut events = tx.open_table(EVENTS).map_err(StoreError::db)?;
            let mut by_proc = tx.open_table(BY_PROC).map_err(StoreError::db)?;
            let mut by_container = tx.open_table(BY_CONTAINER).map_err(StoreError::db)?;
            for e in &batch.events {
                events.insert((e.time, seq), encode(e)?.as_slice()).map_err(StoreError::db)?;
                let p = e.proc;
                by_proc.insert((p.boot, p.tgid, p.start, e.time, seq), ()).map_err(StoreError::db)?;
                if let Some(c) = e.container {
                    by_container.insert((c, e.time, seq), ()).map_err(StoreError::db)?;
                }
                seq += 1;
            }
            let mut gaps = tx.open_table(GAPS).map_err(StoreError::db)?;
            for g in &batch.gaps {
                gaps.insert((g.start, seq), encode(g)?.as_slice()).map_err(StoreError::db)?;
                seq += 1;
            }
            let mut containers = tx.open_table(CONTAINERS).map_err(StoreError::db)?;
            let mut ids = tx.open_table(CONTAINER_IDS).map_err(StoreError::db)?;
            for &idx in &self.dirty {
                let c = &self.containers[idx as usize];
                containers.insert(idx, encode(c)?.as_slice()).map_err(StoreError::db)?;
                ids.insert(c.id.as_str(), idx).map_err(StoreError::db)?;
            }
        }
        tx.commit().map_err(StoreError::db)?;
        self.dirty.clear();
        self.next_seq = seq;
        Ok(())
    }
}
