//! `--parquet-dir ROOT`: each sealed segment written into the fleet's Parquet tree once
//! nothing will rewrite it (the store's maintenance thread says when: off the ingest
//! thread, one segment in memory at a time), as `ctrail export --format parquet` would
//! write it. How far it got is `parquet.state` in the data directory (the next segment
//! seq, and the tree it is for), replaced atomically after each segment's files are all
//! in place: a crash repeats at most that segment, under the same names, and never skips
//! one. Files go in under a temporary name and are renamed.

use std::{
    collections::HashMap,
    io::Write,
    path::{Path, PathBuf},
};

use ctrail_columnar::SegmentExport;
use ctrail_store::{Finalized, StoreReader, segment::SegmentFile, trust};

const STATE: &str = "parquet.state";

pub struct ParquetTree {
    root: PathBuf,
    data_dir: PathBuf,
    next: u64,
}

impl ParquetTree {
    /// Checks `root` as the data directory is checked (only root may control it, unless
    /// `check_trust` is off), creates it 0700, clears what a crash left half-written, and
    /// reads how far an earlier run got for this tree.
    pub fn open(root: &Path, data_dir: &Path, check_trust: bool) -> anyhow::Result<Self> {
        if check_trust {
            trust::check_dir(root)?;
            // Its state is read before the store opens the data directory: checked first.
            trust::check_dir(data_dir)?;
        }
        trust::create_dir(root)?;
        let root = std::fs::canonicalize(root)?;
        sweep(&root);
        let next = read_state(data_dir).filter(|(r, _)| *r == root).map_or(0, |(_, n)| n);
        Ok(ParquetTree { root, data_dir: data_dir.to_path_buf(), next })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn write_one(&self, dir: &Path, f: &SegmentFile) -> Result<usize, String> {
        let reader = StoreReader::open_where(dir, |g| g.path == f.path).map_err(|e| e.to_string())?;
        let boots: HashMap<_, _> = reader.boots().into_iter().collect();
        let files = std::sync::atomic::AtomicUsize::new(0);
        reader
            .for_each_segment(
                0,
                u64::MAX,
                |_| true,
                |file, groups| -> Result<(), String> {
                    let mut seg = SegmentExport::new(&self.root, file.seq, &boots);
                    for g in groups {
                        seg.add(g.container.as_deref(), &g.events).map_err(|e| e.to_string())?;
                    }
                    let gaps = reader.boots_and_gaps_of(file).1;
                    let done = seg.finish(&gaps).map_err(|e| e.to_string())?;
                    files.fetch_add(done.files, std::sync::atomic::Ordering::Relaxed);
                    Ok(())
                },
            )
            .map_err(|e| format!("writing segment {} to the Parquet tree: {e}", f.name()))?;
        // Half a segment in the tree would pass for all of it: a problem retries it.
        if let Some(p) = reader.problems().first() {
            return Err(format!("segment {} not written to the Parquet tree: {p}", f.name()));
        }
        Ok(files.into_inner())
    }

    fn save(&self) -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = self.data_dir.join(format!("{STATE}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        writeln!(f, "next={}", self.next)?;
        f.write_all(b"root=")?;
        f.write_all(std::os::unix::ffi::OsStrExt::as_bytes(self.root.as_os_str()))?;
        f.sync_all()?;
        std::fs::rename(&tmp, self.data_dir.join(STATE))?;
        std::fs::File::open(&self.data_dir)?.sync_all()
    }
}

impl Finalized for ParquetTree {
    fn next(&self) -> u64 {
        self.next
    }

    fn finalized(&mut self, dir: &Path, files: &[SegmentFile]) -> Result<(), String> {
        for f in files {
            if f.seq > self.next {
                // Retention (or someone) removed them before they got here: said, not hidden.
                tracing::error!(
                    "segments {}..{} were deleted before they were written to the Parquet tree {}",
                    self.next,
                    f.seq - 1,
                    self.root.display()
                );
            }
            let written = self.write_one(dir, f)?;
            self.next = f.last_seq + 1;
            self.save().map_err(|e| format!("saving {STATE}: {e}"))?;
            tracing::debug!("segment {} is in the Parquet tree ({written} files)", f.name());
        }
        Ok(())
    }
}

/// `next=N` and `root=PATH`, as [`ParquetTree::save`] writes them; `None` when absent or
/// not ours (the next start then writes every segment again, under the same names).
fn read_state(data_dir: &Path) -> Option<(PathBuf, u64)> {
    use std::io::Read;
    let mut text = Vec::new();
    trust::open_regular(&data_dir.join(STATE), false, false).ok()?.take(1 << 16).read_to_end(&mut text).ok()?;
    let (first, rest) = text.split_at(text.iter().position(|&b| b == b'\n')?);
    let next = std::str::from_utf8(first).ok()?.strip_prefix("next=")?.parse().ok()?;
    let root = rest.strip_prefix(b"\nroot=")?;
    Some((PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(root)), next))
}

/// Removes the temporary files a crash left (`.NAME.parquet.tmp`, regular files only)
/// under `root`'s `TABLE/dt=*/host=*/` directories, never following a link.
fn sweep(root: &Path) {
    let dirs = |p: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect()
    };
    for table in dirs(root) {
        for day in dirs(&table) {
            for host in dirs(&day) {
                for e in std::fs::read_dir(&host).into_iter().flatten().flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.starts_with('.')
                        && name.ends_with(".parquet.tmp")
                        && e.file_type().is_ok_and(|t| t.is_file())
                    {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        }
    }
}
