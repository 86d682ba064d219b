//! Writes a format-2 segment: blocks as they come, the tables and the directory and the
//! footer at the end, under a temporary name until it is complete and durable.

use std::{
    collections::BTreeMap,
    fs,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

use ctrail_model::{BootInfo, Container, Event, Gap, ProcKey};
use sha2::Digest;

use super::{
    BLOCK_EVENTS, BlockRef, Directory, FOOTER_MAGIC, FORMAT, HEADER_MAGIC, ProcEntry, SegMeta, Sha256, WAITING_BYTES,
    ZSTD_LEVEL, sha256,
};
use crate::{
    StoreError,
    schema::{encode, encode_into},
    trust,
};

pub struct SegWriter {
    out: BufWriter<fs::File>,
    path: PathBuf,
    offset: u64,
    /// Of every byte written: the file's SHA-256, which the chain records.
    file_hash: sha2::Sha256,
    blocks: Vec<BlockRef>,
    procs: BTreeMap<ProcKey, Vec<u32>>,
    checkpoint: Option<BlockRef>,
}

/// A finished segment: where it is, and its whole file's hash.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    pub sha256: Sha256,
    pub bytes: u64,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

impl SegWriter {
    /// A new file at `path` (which must not exist: a temporary name).
    pub fn create(path: &Path) -> Result<Self, StoreError> {
        let f = trust::open_regular(path, true, true)?;
        let mut w = SegWriter {
            out: BufWriter::with_capacity(1 << 16, f),
            path: path.to_path_buf(),
            offset: 0,
            file_hash: sha2::Sha256::new(),
            blocks: Vec::new(),
            procs: BTreeMap::new(),
            checkpoint: None,
        };
        let mut header = Vec::with_capacity(16);
        header.extend_from_slice(HEADER_MAGIC);
        header.extend_from_slice(&FORMAT.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        w.put(&header)?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.out.write_all(bytes).map_err(io(&self.path))?;
        self.file_hash.update(bytes);
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Compresses and writes `raw`; returns its reference (container, span and count for
    /// the caller to fill in).
    fn put_block(&mut self, raw: &[u8]) -> Result<BlockRef, StoreError> {
        let packed = zstd::bulk::compress(raw, ZSTD_LEVEL)
            .map_err(|e| StoreError::Encode(format!("compressing a block: {e}")))?;
        let at = self.offset;
        let hash = sha256(&packed);
        self.put(&packed)?;
        Ok(BlockRef {
            offset: at,
            len: packed.len() as u32,
            raw_len: raw.len() as u32,
            sha256: hash,
            container: None,
            first: 0,
            last: 0,
            events: 0,
        })
    }

    /// A table (the checkpoint, the container records, an index) as one block.
    fn table<T: serde::Serialize>(&mut self, v: &T, items: usize) -> Result<BlockRef, StoreError> {
        Ok(BlockRef { events: items as u32, ..self.put_block(&encode(v)?)? })
    }

    /// One event block from an [`Open`] one: its items are already encoded, so the block's
    /// bytes are the encoding of the `Vec<(seq, Event)>` they make (a length, then them).
    fn event_block(&mut self, container: Option<u32>, open: Open) -> Result<(), StoreError> {
        if open.count == 0 {
            return Ok(());
        }
        let mut raw = encode(&(open.count as u64))?;
        raw.extend_from_slice(&open.items);
        let b = self.put_block(&raw)?;
        let n = self.blocks.len() as u32;
        for p in open.procs {
            let list = self.procs.entry(p).or_default();
            if list.last() != Some(&n) {
                list.push(n);
            }
        }
        self.blocks.push(BlockRef { container, first: open.first, last: open.last, events: open.count, ..b });
        Ok(())
    }

    /// The processes alive when the segment began.
    pub fn checkpoint(&mut self, events: &[Event]) -> Result<(), StoreError> {
        self.checkpoint = Some(self.table(&events, events.len())?);
        Ok(())
    }

    /// The tables, the directory and the footer; the file is synced to disk.
    pub fn finish(
        mut self,
        mut meta: SegMeta,
        boots: Vec<(u32, BootInfo)>,
        containers: Vec<(u32, Container)>,
        gaps: Vec<Gap>,
    ) -> Result<Written, StoreError> {
        let procs: Vec<ProcEntry> = std::mem::take(&mut self.procs)
            .into_iter()
            .map(|(k, blocks)| ProcEntry { boot: k.boot, tgid: k.tgid, start: k.start, blocks })
            .collect();
        let procs = self.table(&procs, procs.len())?;
        let checkpoint = match self.checkpoint.take() {
            Some(c) => c,
            None => self.table(&Vec::<Event>::new(), 0)?,
        };
        meta.events = self.blocks.iter().map(|b| u64::from(b.events)).sum();
        meta.first = self.blocks.iter().map(|b| b.first).min().unwrap_or(0);
        meta.last = self.blocks.iter().map(|b| b.last).max().unwrap_or(0);
        let blocks = std::mem::take(&mut self.blocks);
        let index = self.table(&blocks, blocks.len())?;
        let mut container_ids: Vec<(String, u32)> = containers.iter().map(|(i, c)| (c.id.clone(), *i)).collect();
        container_ids.sort();
        let containers = self.table(&containers, containers.len())?;
        let dir = Directory { format: FORMAT, meta, boots, gaps, container_ids, containers, checkpoint, index, procs };
        let raw = encode(&dir)?;
        let packed = zstd::bulk::compress(&raw, ZSTD_LEVEL)
            .map_err(|e| StoreError::Encode(format!("compressing the directory: {e}")))?;
        let dir_offset = self.offset;
        self.put(&packed)?;
        let mut footer = Vec::with_capacity(56);
        footer.extend_from_slice(FOOTER_MAGIC);
        footer.extend_from_slice(&dir_offset.to_le_bytes());
        footer.extend_from_slice(&(packed.len() as u64).to_le_bytes());
        footer.extend_from_slice(&sha256(&packed));
        self.put(&footer)?;
        let f =
            self.out.into_inner().map_err(|e| StoreError::Io { path: self.path.clone(), source: e.into_error() })?;
        f.sync_all().map_err(io(&self.path))?;
        Ok(Written { path: self.path, sha256: self.file_hash.finalize().into(), bytes: self.offset })
    }
}

/// An event block being filled: its items encoded as they come.
#[derive(Default)]
struct Open {
    items: Vec<u8>,
    count: u32,
    first: u64,
    last: u64,
    /// The processes of its events, consecutive repeats left out.
    procs: Vec<ProcKey>,
}

/// Builds blocks from a stream of events in time order: one open block per container, each
/// written when it is full, and the largest written when too many bytes wait in all of them
/// (memory stays bounded whatever the number of containers; waiting as encoded bytes, a
/// third of what the events take decoded, the blocks stay large).
#[derive(Default)]
pub struct Blocks {
    open: BTreeMap<Option<u32>, Open>,
    waiting: usize,
}

impl Blocks {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, w: &mut SegWriter, seq: u64, e: &Event) -> Result<(), StoreError> {
        let c = e.container;
        let open = self.open.entry(c).or_default();
        let before = open.items.len();
        encode_into(&mut open.items, &(seq, e))?;
        self.waiting += open.items.len() - before;
        if open.count == 0 {
            open.first = e.time;
        }
        open.count += 1;
        open.first = open.first.min(e.time);
        open.last = open.last.max(e.time);
        if open.procs.last() != Some(&e.proc) {
            open.procs.push(e.proc);
        }
        if open.count as usize >= BLOCK_EVENTS {
            let full = self.open.remove(&c).unwrap_or_default();
            self.waiting -= full.items.len();
            w.event_block(c, full)?;
        } else if self.waiting > WAITING_BYTES {
            let (&c, _) = self.open.iter().max_by_key(|(_, o)| o.items.len()).expect("something waits");
            let full = self.open.remove(&c).unwrap_or_default();
            self.waiting -= full.items.len();
            w.event_block(c, full)?;
        }
        Ok(())
    }

    pub fn finish(self, w: &mut SegWriter) -> Result<(), StoreError> {
        for (c, open) in self.open {
            w.event_block(c, open)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ctrail_model::{Body, Exit};

    use super::*;

    #[test]
    fn a_block_of_encoded_items_is_the_encoding_of_their_vec() {
        for n in [0u64, 1, 250, 251, 4096, 70_000] {
            let events: Vec<(u64, Event)> = (0..n)
                .map(|i| {
                    (
                        i,
                        Event {
                            time: i,
                            boot_ns: i,
                            proc: ProcKey::new(1, 2, 3),
                            tid: 2,
                            ppid: 1,
                            parent_start: 0,
                            container: None,
                            body: Body::Exit(Exit { status: 0 }),
                        },
                    )
                })
                .collect();
            let mut raw = encode(&n).unwrap();
            for item in &events {
                encode_into(&mut raw, item).unwrap();
            }
            assert_eq!(raw, encode(&events).unwrap(), "{n} items");
        }
    }
}
