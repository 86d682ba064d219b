//! Reads a format-2 segment, verifying everything it reads: the directory when the file is
//! opened, each block before it is decompressed. A block that does not verify is reported
//! by segment and block and its events are left out; the other blocks still answer.

use std::{
    fs,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::{Mutex, OnceLock},
};

use ctrail_model::{BootInfo, Container, Event, Gap, ProcKey};
use serde::de::DeserializeOwned;

use super::{
    BlockRef, Directory, FIRST_FORMAT, FOOTER_LEN, FOOTER_MAGIC, FORMAT, HEADER_LEN, HEADER_MAGIC, MAX_RAW, ProcEntry,
    sha256,
};
use crate::{
    StoreError,
    schema::{ContainerV2, EventV3, Legacy, decode},
    trust,
};

pub struct SegReader {
    file: fs::File,
    path: PathBuf,
    dir: Directory,
    /// Where the blocks end (the directory starts).
    blocks_end: u64,
    /// The tables a query may not need, read on first use (a failure is kept: said again).
    index: OnceLock<Result<Vec<BlockRef>, String>>,
    containers: OnceLock<Result<Vec<(u32, Container)>, String>>,
    procs: OnceLock<Result<Vec<ProcEntry>, String>>,
    /// Blocks that did not verify, reported once each.
    problems: Mutex<Vec<String>>,
}

fn damaged(path: &Path, detail: impl Into<String>) -> StoreError {
    StoreError::Damaged { path: path.to_path_buf(), detail: detail.into() }
}

fn read_exact_at(file: &fs::File, path: &Path, offset: u64, len: u64) -> Result<Vec<u8>, StoreError> {
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, offset).map_err(|source| StoreError::Io { path: path.to_path_buf(), source })?;
    Ok(buf)
}

impl SegReader {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let file = trust::open_regular(path, false, false)?;
        let size = file.metadata().map_err(|source| StoreError::Io { path: path.to_path_buf(), source })?.len();
        let foreign = |d: &str| StoreError::Foreign { path: path.to_path_buf(), detail: d.into() };
        if size < HEADER_LEN + FOOTER_LEN {
            return Err(damaged(path, format!("{size} bytes: shorter than a header and a footer")));
        }
        let header = read_exact_at(&file, path, 0, HEADER_LEN)?;
        if &header[..8] != HEADER_MAGIC {
            return Err(foreign("no ctrail segment header"));
        }
        let format = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
        if format > FORMAT {
            return Err(StoreError::TooNew { path: path.to_path_buf(), found: format });
        }
        if format < FIRST_FORMAT || header[12..16] != [0; 4] {
            return Err(damaged(path, format!("header says format {format}")));
        }
        let footer = read_exact_at(&file, path, size - FOOTER_LEN, FOOTER_LEN)?;
        if &footer[..8] != FOOTER_MAGIC {
            return Err(damaged(path, "no footer (cut off, or overwritten at its end)"));
        }
        let at = u64::from_le_bytes(footer[8..16].try_into().expect("8 bytes"));
        let len = u64::from_le_bytes(footer[16..24].try_into().expect("8 bytes"));
        let want: [u8; 32] = footer[24..56].try_into().expect("32 bytes");
        if at < HEADER_LEN || at.checked_add(len).is_none_or(|end| end != size - FOOTER_LEN) {
            return Err(damaged(path, format!("the footer places the directory at {at}+{len} in {size} bytes")));
        }
        let packed = read_exact_at(&file, path, at, len)?;
        if sha256(&packed) != want {
            return Err(damaged(path, "the directory does not match its checksum"));
        }
        let dir: Directory = if format < crate::MACHINE_ID_SINCE {
            Legacy::upgrade(unpack::<super::DirectoryV4>(path, &packed, MAX_RAW, "directory")?)
        } else {
            unpack(path, &packed, MAX_RAW, "directory")?
        };
        if dir.format != format {
            return Err(damaged(path, format!("the directory says format {}", dir.format)));
        }
        // Tables lie between the header and the directory: a reference elsewhere is damage
        // that slipped past no checksum, so it is refused before any read.
        if ![&dir.checkpoint, &dir.containers, &dir.index, &dir.procs].into_iter().all(|b| inside(b, at)) {
            return Err(damaged(path, "a table lies outside the file's blocks"));
        }
        Ok(SegReader {
            file,
            path: path.to_path_buf(),
            dir,
            blocks_end: at,
            index: OnceLock::new(),
            containers: OnceLock::new(),
            procs: OnceLock::new(),
            problems: Mutex::new(Vec::new()),
        })
    }

    /// A table block, read once, verified.
    fn table<'a, T: DeserializeOwned>(
        &self,
        cell: &'a OnceLock<Result<T, String>>,
        b: &BlockRef,
        what: &str,
    ) -> Result<&'a T, StoreError> {
        cell.get_or_init(|| self.read(b, what).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| damaged(&self.path, e.clone()))
    }

    /// The event blocks (the block index, read on first use).
    pub fn blocks(&self) -> Result<&[BlockRef], StoreError> {
        let end = self.blocks_end;
        let v: &Vec<BlockRef> = self.table(&self.index, &self.dir.index, "the block index")?;
        // Checked once against the file: an entry outside the blocks is damage.
        if let Some(n) = v.iter().position(|b| !inside(b, end)) {
            return Err(damaged(&self.path, format!("block {n} of the block index lies outside the file's blocks")));
        }
        Ok(v)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn directory(&self) -> &Directory {
        &self.dir
    }

    /// A block's contents, verified.
    fn read<T: DeserializeOwned>(&self, b: &BlockRef, what: &str) -> Result<T, StoreError> {
        let packed = read_exact_at(&self.file, &self.path, b.offset, u64::from(b.len))?;
        if sha256(&packed) != b.sha256 {
            return Err(damaged(&self.path, format!("{what} at offset {} does not match its checksum", b.offset)));
        }
        unpack(&self.path, &packed, b.raw_len as usize, what)
    }

    /// A block of events (or a shape holding them), verified, as this file's format laid
    /// them out (`L`: the layout of older formats, see [`decode_events`]).
    fn read_events<L>(&self, b: &BlockRef, what: &str) -> Result<L::Now, StoreError>
    where
        L: Legacy + DeserializeOwned,
        L::Now: DeserializeOwned,
    {
        if self.dir.format < crate::EXE_FILE_SINCE {
            self.read::<L>(b, what).map(Legacy::upgrade)
        } else {
            self.read::<L::Now>(b, what)
        }
    }

    /// Block `n`'s events, or `None` (reported) when it does not verify.
    fn block(&self, n: usize) -> Option<Vec<(u64, Event)>> {
        let blocks = match self.blocks() {
            Ok(b) => b,
            Err(e) => {
                self.problem(format!("{e}; the segment's events are left out"));
                return None;
            }
        };
        let b = &blocks[n];
        match self.read_events::<Vec<(u64, EventV3)>>(b, &format!("block {n}")) {
            Ok(v) if v.len() == b.events as usize => Some(v),
            Ok(v) => {
                self.problem(format!("block {n} holds {} events where its entry says {}", v.len(), b.events));
                None
            }
            Err(e) => {
                self.problem(format!("{e}; its {} events are left out", b.events));
                None
            }
        }
    }

    fn problem(&self, p: String) {
        let mut v = self.problems.lock().unwrap_or_else(|p| p.into_inner());
        if !v.contains(&p) {
            v.push(p);
        }
    }

    /// What did not verify since the last call (whole blocks left out of the answers).
    pub fn take_problems(&self) -> Vec<String> {
        std::mem::take(&mut *self.problems.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn boots(&self) -> Vec<(u32, BootInfo)> {
        self.dir.boots.clone()
    }

    pub fn containers(&self) -> Result<Vec<(u32, Container)>, StoreError> {
        let what = "the container records";
        let v = self
            .containers
            .get_or_init(|| {
                if self.dir.format < crate::METADATA_SINCE {
                    self.read::<Vec<(u32, ContainerV2)>>(&self.dir.containers, what)
                        .map(|v| v.into_iter().map(|(i, c)| (i, c.into())).collect())
                } else {
                    self.read(&self.dir.containers, what)
                }
                .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| damaged(&self.path, e.clone()))?;
        if v.len() != self.dir.containers.events as usize {
            return Err(damaged(&self.path, "the container records do not match their count"));
        }
        Ok(v.clone())
    }

    pub fn gaps(&self) -> Vec<Gap> {
        self.dir.gaps.clone()
    }

    pub fn created(&self) -> u64 {
        self.dir.meta.created
    }

    pub fn checkpoint(&self) -> Result<Vec<Event>, StoreError> {
        let v: Vec<Event> = self.read_events::<Vec<EventV3>>(&self.dir.checkpoint, "the checkpoint")?;
        if v.len() != self.dir.checkpoint.events as usize {
            return Err(damaged(&self.path, "the checkpoint does not match its count"));
        }
        Ok(v)
    }

    pub fn container_index(&self, id: &str) -> Option<u32> {
        let ids = &self.dir.container_ids;
        ids.binary_search_by(|(i, _)| i.as_str().cmp(id)).ok().map(|n| ids[n].1)
    }

    pub fn container_ids_with_prefix(&self, prefix: &str) -> Vec<String> {
        let ids = &self.dir.container_ids;
        let from = ids.partition_point(|(i, _)| i.as_str() < prefix);
        ids[from..].iter().take_while(|(i, _)| i.starts_with(prefix)).map(|(i, _)| i.clone()).collect()
    }

    pub fn event_count(&self) -> u64 {
        self.dir.meta.events
    }

    /// The events of the blocks `pick` selects with `since <= time < until`, in time order.
    fn collect(
        &self,
        since: u64,
        until: u64,
        pick: impl Fn(&BlockRef) -> bool,
        keep: impl Fn(&Event) -> bool,
    ) -> Vec<(u64, Event)> {
        let mut out: Vec<(u64, Event)> = Vec::new();
        let blocks = match self.blocks() {
            Ok(b) => b,
            Err(e) => {
                self.problem(format!("{e}; the segment's events are left out"));
                return out;
            }
        };
        for (n, b) in blocks.iter().enumerate() {
            if !pick(b) || b.last < since || b.first >= until {
                continue;
            }
            if let Some(v) = self.block(n) {
                out.extend(v.into_iter().filter(|(_, e)| e.time >= since && e.time < until && keep(e)));
            }
        }
        out.sort_by_key(|(seq, e)| (e.time, *seq));
        out
    }

    pub fn events(&self, since: u64, until: u64) -> Vec<(u64, Event)> {
        self.collect(since, until, |_| true, |_| true)
    }

    /// The events of one group of [`Self::groups`] (`None`: the host's), in time order.
    pub fn group_events(&self, group: Option<u32>, since: u64, until: u64) -> Vec<(u64, Event)> {
        self.collect(since, until, |b| b.container == group, |_| true)
    }

    /// Every group of blocks, one per container: the host's first, then the containers
    /// by ID, then any index the directory does not name (damage, kept rather than lost).
    pub fn groups(&self) -> Vec<Option<u32>> {
        // An unreadable index is reported by the one group's read.
        let Ok(blocks) = self.blocks() else { return vec![None] };
        let mut present: std::collections::BTreeSet<Option<u32>> = blocks.iter().map(|b| b.container).collect();
        let mut out = Vec::with_capacity(present.len());
        if present.remove(&None) {
            out.push(None);
        }
        for (_, i) in &self.dir.container_ids {
            if present.remove(&Some(*i)) {
                out.push(Some(*i));
            }
        }
        out.extend(present);
        out
    }

    fn procs(&self) -> Result<&[ProcEntry], StoreError> {
        let v: &Vec<ProcEntry> = self.table(&self.procs, &self.dir.procs, "the process index")?;
        let blocks = self.blocks()?.len();
        if v.len() != self.dir.procs.events as usize || v.iter().flat_map(|p| &p.blocks).any(|&b| b as usize >= blocks)
        {
            return Err(damaged(&self.path, "the process index does not match the blocks"));
        }
        Ok(v)
    }

    /// Every event of one process, in time order.
    pub fn events_of(&self, p: ProcKey) -> Result<Vec<Event>, StoreError> {
        let procs = self.procs()?;
        let Ok(i) = procs.binary_search_by_key(&(p.boot, p.tgid, p.start), |e| (e.boot, e.tgid, e.start)) else {
            return Ok(Vec::new());
        };
        let mut out: Vec<(u64, Event)> = Vec::new();
        for &n in &procs[i].blocks {
            if let Some(v) = self.block(n as usize) {
                out.extend(v.into_iter().filter(|(_, e)| e.proc == p));
            }
        }
        out.sort_by_key(|(seq, e)| (e.time, *seq));
        Ok(out.into_iter().map(|(_, e)| e).collect())
    }

    /// Every process key of one tgid (PIDs are reused: there may be several).
    pub fn procs_with_tgid(&self, tgid: u32) -> Result<Vec<ProcKey>, StoreError> {
        Ok(self
            .procs()?
            .iter()
            .filter(|e| e.tgid == tgid)
            .map(|e| ProcKey { boot: e.boot, tgid: e.tgid, start: e.start })
            .collect())
    }

    /// Reads and checks every block (what `ctrail verify` does besides the file's hash).
    pub fn verify_blocks(&self) -> Vec<String> {
        match self.blocks() {
            Ok(b) => {
                for n in 0..b.len() {
                    self.block(n);
                }
            }
            Err(e) => self.problem(e.to_string()),
        }
        for r in [self.checkpoint().map(drop), self.containers().map(drop), self.procs().map(drop)] {
            if let Err(e) = r {
                self.problem(e.to_string());
            }
        }
        self.take_problems()
    }
}

/// Whether `b` lies between the header and `end` (where the blocks end).
fn inside(b: &BlockRef, end: u64) -> bool {
    b.offset >= HEADER_LEN && b.offset.checked_add(u64::from(b.len)).is_some_and(|e| e <= end)
}

thread_local! {
    /// One decompression context per thread: making one per block cost more than many
    /// small blocks' decompression.
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// Decompresses (to at most `max` bytes) and decodes.
fn unpack<T: DeserializeOwned>(path: &Path, packed: &[u8], max: usize, what: &str) -> Result<T, StoreError> {
    let raw = DECOMPRESSOR
        .with(|d| {
            let mut d = d.borrow_mut();
            if d.is_none() {
                *d = Some(zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?);
            }
            // The frame says its size (zstd writes it): no larger buffer than that.
            let size = zstd::zstd_safe::get_frame_content_size(packed).ok().flatten();
            let cap = size.map_or(max, |s| (s as usize).min(max)).min(MAX_RAW);
            d.as_mut().expect("made above").decompress(packed, cap).map_err(|e| e.to_string())
        })
        .map_err(|e| damaged(path, format!("{what} does not decompress: {e}")))?;
    decode("segment block", &raw).map_err(|e| damaged(path, format!("{what} does not decode: {e}")))
}
