//! Format 2: a sealed segment as one immutable file of checksummed, compressed blocks.
//!
//! ```text
//! header    "CTRAILSG" | format u32 LE (2) | 0u32                                16 bytes
//! blocks    zstd(bincode(Vec<(seq, Event)>)), one container's events (or the host's) in
//!           time order; then the checkpoint, container, block index and process index
//!           blocks
//! directory zstd(bincode(Directory)): the segment's metadata, boots, gaps, container IDs,
//!           and where the other tables are
//! footer    "CTRAILFT" | directory offset u64 LE | directory length u64 LE |
//!           directory SHA-256 (32 bytes)                                          56 bytes
//! ```
//!
//! The directory is small (a query opens every segment's): the container records, the
//! block index and the process index are blocks of their own, read when a query needs them.
//! Every read is verified: the directory against the footer's hash when the file is opened,
//! each block against the hash of its reference before it is decompressed. A block that
//! does not verify is reported (segment and block) and its events are never returned; the
//! rest of the segment still answers. The whole file's SHA-256 is what the store's chain
//! records ([`crate::chain`]), so `ctrail verify` notices any byte changed, even one no read
//! would reach. docs/design.md has the layout and what each part guarantees.

pub mod reader;
pub mod writer;

use ctrail_model::{BootInfo, Gap};
use serde::{Deserialize, Serialize};

/// The format `.seg` files are written in (the store's); read from [`FIRST_FORMAT`] on.
pub const FORMAT: u32 = crate::FORMAT_VERSION;
/// `.seg` files began with store format 2.
pub const FIRST_FORMAT: u32 = 2;
pub const HEADER_MAGIC: &[u8; 8] = b"CTRAILSG";
pub const FOOTER_MAGIC: &[u8; 8] = b"CTRAILFT";
pub const HEADER_LEN: u64 = 16;
pub const FOOTER_LEN: u64 = 56;
/// Events per block at most: a container-hour query decodes whole blocks.
pub const BLOCK_EVENTS: usize = 4096;
/// Encoded bytes waiting in open blocks at most, over all containers, while a segment is
/// written (the largest open block is written when it is reached): bounds the sealer's
/// memory whatever the number of containers.
pub const WAITING_BYTES: usize = 8 << 20;
/// zstd level: 3 is zstd's default, fast to write and to read (measured in docs/design.md).
pub const ZSTD_LEVEL: i32 = 3;
/// No block or directory decompresses to more than this (a damaged length cannot make a
/// reader allocate without bound).
pub const MAX_RAW: usize = 256 << 20;

pub type Sha256 = [u8; 32];

/// What a segment is, as it was sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegMeta {
    /// The data directory's identity (`store-id`): a segment of another store does not
    /// belong here.
    pub store_id: String,
    pub seq: u64,
    /// The last seq it holds (a merged segment holds several).
    pub last_seq: u64,
    /// When its first events were written (the active segment's creation), wall ns.
    pub created: u64,
    pub first: u64,
    pub last: u64,
    pub events: u64,
    pub ctrail_version: String,
    /// The files it was written from (the sealed redb segment, or the merged segments).
    pub written_from: Vec<String>,
}

/// One block of a segment file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRef {
    pub offset: u64,
    pub len: u32,
    pub raw_len: u32,
    /// Of the compressed bytes. As bytes (not a 32-tuple): decoded in one call.
    #[serde(with = "serde_bytes")]
    pub sha256: Sha256,
    /// The segment-local container index of its events (`None`: the host's).
    pub container: Option<u32>,
    pub first: u64,
    pub last: u64,
    pub events: u32,
}

/// The process index: every process with events in the segment, and its blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcEntry {
    pub boot: u32,
    pub tgid: u32,
    pub start: u64,
    pub blocks: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    pub format: u32,
    pub meta: SegMeta,
    pub boots: Vec<(u32, BootInfo)>,
    pub gaps: Vec<Gap>,
    /// (full ID, segment-local index) of every container, sorted by ID: a container is
    /// found, or an ID prefix resolved, without reading the container records.
    pub container_ids: Vec<(String, u32)>,
    /// `Vec<(u32, Container)>`: the container records.
    pub containers: BlockRef,
    /// `Vec<Event>`: the processes alive when the segment began, so it reads alone.
    pub checkpoint: BlockRef,
    /// `Vec<BlockRef>`: the event blocks.
    pub index: BlockRef,
    /// `Vec<ProcEntry>`, sorted by (boot, tgid, start).
    pub procs: BlockRef,
}

/// [`Directory`] of formats 2-4: boots before `machine_id`.
#[derive(Deserialize)]
pub struct DirectoryV4 {
    format: u32,
    meta: SegMeta,
    boots: Vec<(u32, crate::schema::BootInfoV4)>,
    gaps: Vec<Gap>,
    container_ids: Vec<(String, u32)>,
    containers: BlockRef,
    checkpoint: BlockRef,
    index: BlockRef,
    procs: BlockRef,
}

impl crate::schema::Legacy for DirectoryV4 {
    type Now = Directory;
    fn upgrade(self) -> Directory {
        let DirectoryV4 { format, meta, boots, gaps, container_ids, containers, checkpoint, index, procs } = self;
        let boots = crate::schema::Legacy::upgrade(boots);
        Directory { format, meta, boots, gaps, container_ids, containers, checkpoint, index, procs }
    }
}

pub fn sha256(bytes: &[u8]) -> Sha256 {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

pub fn hex(h: &Sha256) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}
