//! The embedded store: one redb file in the data directory.
//!
//! Only this module knows redb. The recorder writes through [`StoreWriter`] (batched,
//! fsync'd commits); the query tool reads through [`StoreReader`].

mod reader;
mod schema;
mod writer;

pub use reader::StoreReader;
pub use writer::{Batch, StoreWriter};

use std::{
    fs,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};
use thiserror::Error;

/// Version of the on-disk format. Readers refuse newer versions and foreign files.
pub const FORMAT_VERSION: u32 = 1;
/// The store file inside a data directory.
pub const FILE_NAME: &str = "ctrail.redb";
/// Where the recorder keeps its store unless told otherwise.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/ctrail";

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("no ctrail store in {0} (expected {FILE_NAME}; is this the recorder's --data-dir?)")]
    Missing(PathBuf),
    #[error("{path} is not a ctrail store: {detail}")]
    Foreign { path: PathBuf, detail: String },
    #[error("{path} has store format {found}; this ctrail reads up to {FORMAT_VERSION}: upgrade ctrail")]
    TooNew { path: PathBuf, found: u32 },
    #[error("{path} is in use by another process (a running recorder holds it)")]
    Locked { path: PathBuf },
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Db(String),
    #[error("cannot encode a record: {0}")]
    Encode(String),
    #[error("corrupt {what} record: {detail}")]
    Decode { what: &'static str, detail: String },
}

impl StoreError {
    fn db(e: impl std::fmt::Display) -> Self {
        StoreError::Db(e.to_string())
    }

    /// True when the failure is the disk being full (the recorder keeps running then).
    pub fn is_disk_full(&self) -> bool {
        let text = self.to_string();
        text.contains("No space left") || text.contains("os error 28")
    }
}

/// Creates the data directory (0700) if needed and tightens an existing one: the store
/// holds command lines, and argv leaks secrets.
pub fn prepare_dir(dir: &Path) -> Result<PathBuf, StoreError> {
    let io = |source| StoreError::Io { path: dir.to_path_buf(), source };
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io)?;
    let file = dir.join(FILE_NAME);
    // Create the file ourselves so it is 0600 from its first byte; redb then initializes it.
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&file)
        .map_err(|source| StoreError::Io { path: file.clone(), source })?;
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600))
        .map_err(|source| StoreError::Io { path: file.clone(), source })?;
    Ok(file)
}
