//! The embedded store: time-partitioned redb segments in a data directory.
//!
//! Only this module knows redb. The recorder writes through [`StoreWriter`] (one active
//! segment, batched fsync'd commits, rotation, retention, crash recovery); the query tool
//! reads sealed segments through [`StoreReader`], any number of processes at once, and asks
//! a running recorder to seal its active segment over the [`control`] socket first.

mod any_segment;
pub mod chain;
pub mod control;
mod convert;
mod dir_lock;
mod encode_ahead;
mod maintenance;
mod reader;
mod schema;
pub mod seg;
pub mod segment;
mod segment_reader;
mod segment_writer;
pub mod trust;
pub mod verify;
mod writer;

pub use maintenance::{Finalized, crash_point};
pub use reader::{Found, Group, StoreReader};
pub use segment_reader::SegmentReader;
pub use writer::{Batch, Closed, OpenReport, Options, StoreWriter, Tamper};

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Version of the on-disk format. Readers refuse newer versions and foreign files. 2: sealed
/// segments are `.seg` files (checksummed blocks, a chain); redb segments keep events by
/// time alone. 3: container records carry the runtime's metadata
/// ([`ctrail_model::Metadata`]). 4: exec events carry the executed file, the path passed
/// to exec and the cwd ([`ctrail_model::ExeFile`]); redb segments keep the containers'
/// counters in their own table. 5: boots carry the machine ID. Older segments read as
/// before.
pub const FORMAT_VERSION: u32 = 5;
/// The first format whose container records carry [`ctrail_model::Metadata`].
pub const METADATA_SINCE: u32 = 3;
/// The first format whose exec events carry `filename`, `cwd` and `file`.
pub const EXE_FILE_SINCE: u32 = 4;
/// The first format whose boots carry `machine_id`.
pub const MACHINE_ID_SINCE: u32 = 5;
/// Held (flock) by the one recorder writing a data directory.
pub const LOCK_FILE: &str = "lock";
/// Where the recorder keeps its store unless told otherwise.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/ctrail";

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("no ctrail store in {0} (no segments; is this the recorder's --data-dir?)")]
    Missing(PathBuf),
    #[error("{path} is not a ctrail store: {detail}")]
    Foreign { path: PathBuf, detail: String },
    #[error("{path} has store format {found}; this ctrail reads up to {FORMAT_VERSION}: upgrade ctrail")]
    TooNew { path: PathBuf, found: u32 },
    #[error("{path} is in use by another process (another recorder holds it{})", holder.map(|p| format!(", pid {p}")).unwrap_or_default())]
    Locked { path: PathBuf, holder: Option<u32> },
    #[error("refusing data directory {path}: {why} (--allow-untrusted-data-dir overrides this check)")]
    Untrusted { path: PathBuf, why: String },
    #[error("{path} needs recovery (its recorder did not stop cleanly); the next recorder start recovers it")]
    NeedsRecovery { path: PathBuf },
    #[error("{path} is {kind}, not a regular file: refusing to open it")]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is closed after an I/O error; it is reopened at the next commit")]
    Closed { path: PathBuf },
    #[error("store: {source}")]
    Redb {
        #[source]
        source: redb::Error,
    },
    #[error("{path} is damaged: {detail}")]
    Damaged { path: PathBuf, detail: String },
    #[error("cannot encode a record: {0}")]
    Encode(String),
    #[error("corrupt {what} record: {detail}")]
    Decode { what: &'static str, detail: String },
}

impl StoreError {
    fn db(e: impl Into<redb::Error>) -> Self {
        StoreError::Redb { source: e.into() }
    }

    /// True when the failure is the disk being full (the recorder keeps running then).
    pub fn is_disk_full(&self) -> bool {
        let io = match self {
            StoreError::Io { source, .. } => Some(source),
            StoreError::Redb { source: redb::Error::Io(e) } => Some(e),
            _ => None,
        };
        io.is_some_and(|e| e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(libc::ENOSPC))
    }
}

thread_local! {
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` on one segment, turning a panic inside redb into an error. redb can panic on
/// some damaged files (an `unreachable!` in its B-tree code) instead of returning an
/// error; one damaged segment must not take a query down with it.
pub(crate) fn guarded<T>(what: &Path, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    GUARDED.with(|g| g.set(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(false));
    r.unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(StoreError::Damaged { path: what.to_path_buf(), detail: msg })
    })
}

/// Keeps the default panic message quiet for panics caught by [`guarded`] (they are
/// reported as damaged segments instead); every other panic prints as before.
pub fn quiet_guarded_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !GUARDED.with(|g| g.get()) {
            previous(info);
        }
    }));
}
