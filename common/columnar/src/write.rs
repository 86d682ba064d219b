//! One Parquet file written so that no reader ever sees part of it under its final name:
//! a temporary name beside it, synced, renamed, the directory synced.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::{
    arrow::ArrowWriter,
    basic::{Compression, ZstdLevel},
    file::properties::{EnabledStatistics, WriterProperties},
    schema::types::ColumnPath,
};

use crate::ColumnarError;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ColumnarError + '_ {
    move |source| ColumnarError::Io { path: path.to_path_buf(), source }
}

fn properties() -> WriterProperties {
    let mut p = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("a valid level")))
        .set_statistics_enabled(EnabledStatistics::Page);
    // Bloom filters where a query names one value of many: a container, a pod.
    for col in ["container_id", "pod_uid"] {
        p = p.set_column_bloom_filter_enabled(ColumnPath::from(col), true);
    }
    // Nearly every value differs (times, process keys, inodes): a dictionary would only
    // cost the hashing of every value and be abandoned at its size limit.
    for col in ["time", "time_ns", "pid", "tid", "ppid", "process_start", "exe_inode"] {
        p = p.set_column_dictionary_enabled(ColumnPath::from(col), false);
    }
    p.build()
}

/// The crash tests' `kill -9` between a file written and its rename: the store's lever
/// (`CTRAIL_STORE_CRASH_AT`, only in the process's own environment), one more step.
fn crash_point(step: &str) {
    static AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if AT.get_or_init(|| std::env::var("CTRAIL_STORE_CRASH_AT").ok()).as_deref() == Some(step) {
        std::process::abort();
    }
}

/// A Parquet file being written under a temporary name beside its final one (its parent
/// made first, 0700: it holds command lines), renamed by [`Self::finish`]. Files are 0600.
pub struct AtomicFile {
    writer: ArrowWriter<fs::File>,
    tmp: PathBuf,
    path: PathBuf,
}

impl AtomicFile {
    pub fn create(path: &Path, schema: SchemaRef) -> Result<Self, ColumnarError> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let dir = path.parent().expect("a file under a directory");
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io(dir))?;
        let name = path.file_name().expect("a file name").to_string_lossy();
        let tmp = dir.join(format!(".{name}.tmp"));
        let _ = fs::remove_file(&tmp);
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            // The temporary name is never a link someone planted.
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .map_err(io(&tmp))?;
        let writer = ArrowWriter::try_new(file, schema, Some(properties()))?;
        Ok(AtomicFile { writer, tmp, path: path.to_path_buf() })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ColumnarError> {
        Ok(self.writer.write(batch)?)
    }

    /// Closes, syncs and renames the file to its final name, and syncs the directory.
    pub fn finish(self) -> Result<(), ColumnarError> {
        let mut file = self.writer.into_inner()?;
        file.flush().map_err(io(&self.tmp))?;
        file.sync_all().map_err(io(&self.tmp))?;
        crash_point("parquet:written");
        fs::rename(&self.tmp, &self.path).map_err(io(&self.path))?;
        let dir = self.path.parent().expect("a file under a directory");
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
        Ok(())
    }
}

/// Writes `batch` to `path` as one [`AtomicFile`].
pub fn write_atomically(path: &Path, batch: &RecordBatch) -> Result<(), ColumnarError> {
    let mut f = AtomicFile::create(path, batch.schema())?;
    f.write(batch)?;
    f.finish()
}
