//! The one recorder of a data directory: the directory itself is flock'd (so removing the
//! `lock` file does not free it), and the `lock` file, which holds the recorder's pid, is
//! flock'd too (what recorders before this one checked).

use std::{
    fs,
    io::{Read, Seek, Write},
    os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use super::{LOCK_FILE, StoreError, trust};

pub(super) struct DirLock {
    /// Held flock'd: what keeps a second recorder out, whatever happens to `lock`.
    _dir: fs::File,
    file: fs::File,
    path: PathBuf,
    id: (u64, u64),
}

fn identity(m: &fs::Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
}

/// The pid a `lock` file names, if it names one.
fn holder(path: &Path) -> Option<u32> {
    let mut s = String::new();
    trust::open_regular(path, false, false).ok()?.take(32).read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}

impl DirLock {
    /// Takes the directory (already checked and created) for this process.
    pub fn take(dir: &Path) -> Result<Self, StoreError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        let d = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(dir)
            .map_err(io(dir))?;
        let path = dir.join(LOCK_FILE);
        if d.try_lock().is_err() {
            return Err(StoreError::Locked { path: dir.to_path_buf(), holder: holder(&path) });
        }
        let file = Self::lock_file(&path)?;
        let id = identity(&file.metadata().map_err(io(&path))?);
        Ok(DirLock { _dir: d, file, path, id })
    }

    fn lock_file(path: &Path) -> Result<fs::File, StoreError> {
        let io = |source| StoreError::Io { path: path.to_path_buf(), source };
        let mut file = match trust::open_regular(path, true, true) {
            Ok(f) => f,
            Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
                trust::open_regular(path, true, false)?
            }
            Err(e) => return Err(e),
        };
        if file.try_lock().is_err() {
            return Err(StoreError::Locked { path: path.to_path_buf(), holder: holder(path) });
        }
        file.set_permissions(fs::Permissions::from_mode(0o600)).map_err(io)?;
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(file)
    }

    /// Whether `lock` is still our file; if it was removed or replaced, it is made again
    /// (a replacement is moved to `aside`) and the change is returned for the record.
    pub fn check(&mut self, aside: impl FnOnce(&Path) -> PathBuf) -> Option<String> {
        let now = fs::symlink_metadata(&self.path).ok().map(|m| identity(&m));
        if now == Some(self.id) {
            return None;
        }
        let what = match now {
            None => "the lock file was removed under the running recorder".to_string(),
            Some(_) => {
                let to = aside(&self.path);
                format!(
                    "the lock file was replaced under the running recorder (the replacement is now {})",
                    to.display()
                )
            }
        };
        match Self::lock_file(&self.path) {
            Ok(f) => {
                if let Ok(m) = f.metadata() {
                    self.id = identity(&m);
                }
                self.file = f;
                Some(format!("{what}; made it again"))
            }
            Err(e) => Some(format!("{what}; could not make it again: {e}")),
        }
    }
}
