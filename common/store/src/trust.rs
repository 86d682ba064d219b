//! A data directory that only its owner (root) controls, and files opened in it without
//! following anything another user planted.
//!
//! The recorder runs as root and writes command lines: if another user could replace the
//! data directory, or plant a symlink or a FIFO under a segment's name, root would write
//! (or block on) whatever that user chose. So before anything in the directory is opened,
//! the path to it is walked from `/`: every directory on the way must be owned by root (or
//! by us) and must not be writable by group or others unless it is sticky (`/tmp`), every
//! symlink on the way must be owned by root (or us), and the directory itself must be ours
//! and writable by nobody else. Files inside are opened with `O_NOFOLLOW | O_NONBLOCK` and
//! checked with `fstat`, so a symlink or a FIFO is refused by name instead of followed or
//! waited on.

use std::{
    collections::VecDeque,
    ffi::OsString,
    fs,
    os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt},
    path::{Component, Path, PathBuf},
};

use super::StoreError;

const GROUP_OR_OTHER_WRITE: u32 = 0o022;
const STICKY: u32 = 0o1000;
/// Links followed on the way to the data directory before giving up (Linux's own limit).
const MAX_LINKS: usize = 40;

/// The effective user id: who "us" is in the ownership checks.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn untrusted(path: &Path, why: String) -> StoreError {
    StoreError::Untrusted { path: path.to_path_buf(), why }
}

fn owner_ok(m: &fs::Metadata, me: u32) -> bool {
    m.uid() == 0 || m.uid() == me
}

/// What kind of file system object `t` is, for messages.
pub fn kind_name(t: fs::FileType) -> &'static str {
    if t.is_symlink() {
        "a symlink"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// Checks that `dir` (which may not exist yet) can be controlled by no one but root or us.
/// Returns the first path on the way to it that does not exist, if any (what must be created).
pub fn check_dir(dir: &Path) -> Result<Option<PathBuf>, StoreError> {
    let me = euid();
    let abs = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir().map_err(|source| StoreError::Io { path: dir.to_path_buf(), source })?.join(dir)
    };
    let mut todo: VecDeque<OsString> = VecDeque::new();
    for c in abs.components() {
        match c {
            Component::Normal(s) => todo.push_back(s.to_os_string()),
            Component::ParentDir => todo.push_back("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    let root = fs::symlink_metadata("/").map_err(|source| StoreError::Io { path: "/".into(), source })?;
    check_ancestor(Path::new("/"), &root, me)?;
    let mut at = PathBuf::from("/");
    let mut links = 0;
    // The last component as given is the data directory itself; anything resolved through
    // symlinks before it is an ancestor.
    while let Some(name) = todo.pop_front() {
        if name == ".." {
            at.pop();
            continue;
        }
        let last = todo.is_empty();
        let next = at.join(&name);
        let m = match fs::symlink_metadata(&next) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(next)),
            Err(source) => return Err(StoreError::Io { path: next, source }),
        };
        let t = m.file_type();
        if t.is_symlink() {
            if last {
                return Err(untrusted(
                    &next,
                    "the data directory is a symlink; give its real path, or remove the link".into(),
                ));
            }
            if !owner_ok(&m, me) {
                return Err(untrusted(
                    &next,
                    format!(
                        "a symlink on the way to the data directory is owned by uid {}: that user can redirect it",
                        m.uid()
                    ),
                ));
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(untrusted(&next, "too many symlinks on the way to the data directory".into()));
            }
            let target = fs::read_link(&next).map_err(|source| StoreError::Io { path: next.clone(), source })?;
            let mut parts: Vec<OsString> = Vec::new();
            if target.is_absolute() {
                at = PathBuf::from("/");
            }
            for c in target.components() {
                match c {
                    Component::Normal(s) => parts.push(s.to_os_string()),
                    Component::ParentDir => parts.push("..".into()),
                    _ => {}
                }
            }
            for p in parts.into_iter().rev() {
                todo.push_front(p);
            }
            continue;
        }
        if !t.is_dir() {
            return Err(untrusted(&next, format!("is {}, not a directory", kind_name(t))));
        }
        if last {
            check_data_dir(&next, &m, me)?;
        } else {
            check_ancestor(&next, &m, me)?;
        }
        at = next;
    }
    Ok(None)
}

fn check_ancestor(path: &Path, m: &fs::Metadata, me: u32) -> Result<(), StoreError> {
    if !owner_ok(m, me) {
        return Err(untrusted(
            path,
            format!(
                "a directory above the data directory is owned by uid {}: that user can replace what is below it",
                m.uid()
            ),
        ));
    }
    let mode = m.permissions().mode();
    if mode & GROUP_OR_OTHER_WRITE != 0 && mode & STICKY == 0 {
        return Err(untrusted(
            path,
            format!(
                "a directory above the data directory is writable by group or others (mode {:04o}, not sticky): \
                 they can replace what is below it",
                mode & 0o7777
            ),
        ));
    }
    Ok(())
}

fn check_data_dir(path: &Path, m: &fs::Metadata, me: u32) -> Result<(), StoreError> {
    if m.uid() != me {
        return Err(untrusted(
            path,
            format!(
                "is owned by uid {}, not by uid {me} (who records): chown it, or choose another --data-dir",
                m.uid()
            ),
        ));
    }
    let mode = m.permissions().mode();
    if mode & GROUP_OR_OTHER_WRITE != 0 {
        return Err(untrusted(
            path,
            format!(
                "is writable by group or others (mode {:04o}): chmod 0700 it, or choose another --data-dir",
                mode & 0o7777
            ),
        ));
    }
    Ok(())
}

/// Opens a file in the data directory without following a symlink and without blocking on
/// a FIFO, and refuses anything that is not a regular file.
pub fn open_regular(path: &Path, write: bool, create_new: bool) -> Result<fs::File, StoreError> {
    let io = |source| StoreError::Io { path: path.to_path_buf(), source };
    let mut o = fs::OpenOptions::new();
    o.read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
    if write {
        o.write(true);
    }
    if create_new {
        o.create_new(true).mode(0o600);
    }
    let f = o.open(path).map_err(|e| {
        // O_NOFOLLOW on a symlink fails with ELOOP: say what it is.
        if e.raw_os_error() == Some(libc::ELOOP) {
            StoreError::NotRegular { path: path.to_path_buf(), kind: "a symlink" }
        } else {
            io(e)
        }
    })?;
    let m = f.metadata().map_err(io)?;
    if !m.file_type().is_file() {
        return Err(StoreError::NotRegular { path: path.to_path_buf(), kind: kind_name(m.file_type()) });
    }
    // Regular files never block; drop O_NONBLOCK so reads and writes behave as usual.
    // SAFETY: fcntl on a descriptor we own; F_SETFL with flags read from F_GETFL.
    unsafe {
        use std::os::fd::AsRawFd;
        let fd = f.as_raw_fd();
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok(f)
}

/// Creates `dir` 0700 (and any missing directories above it, 0700 too).
pub fn create_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StoreError::Io { path: dir.to_path_buf(), source })
}

/// A subdirectory the store makes itself (`corrupt/`): 0700, and a real directory.
pub fn private_subdir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let m = fs::symlink_metadata(dir).map_err(|source| StoreError::Io { path: dir.to_path_buf(), source })?;
            if !m.file_type().is_dir() {
                return Err(StoreError::NotRegular { path: dir.to_path_buf(), kind: kind_name(m.file_type()) });
            }
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|source| StoreError::Io { path: dir.to_path_buf(), source })
        }
        Err(source) => Err(StoreError::Io { path: dir.to_path_buf(), source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_dir_under_tmp_is_trusted_and_a_loose_one_is_not() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("data");
        assert_eq!(check_dir(&d).unwrap(), Some(d.clone()), "missing: to be created");
        create_dir(&d).unwrap();
        assert_eq!(check_dir(&d).unwrap(), None);
        fs::set_permissions(&d, fs::Permissions::from_mode(0o770)).unwrap();
        assert!(matches!(check_dir(&d), Err(StoreError::Untrusted { .. })));
        fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).unwrap();
        // A group-writable, non-sticky parent lets others swap the directory.
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(check_dir(&d), Err(StoreError::Untrusted { .. })));
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(check_dir(&d).unwrap(), None, "sticky is fine");
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o700)).unwrap();
    }

    #[test]
    fn the_data_dir_as_a_symlink_is_refused_and_files_are_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        create_dir(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(matches!(check_dir(&link), Err(StoreError::Untrusted { .. })));
        // Through a link owned by us, a directory below it is fine.
        assert_eq!(check_dir(&link.join("below")).unwrap(), Some(real.join("below")));
        let target = tmp.path().join("target");
        fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, real.join("lock")).unwrap();
        let e = open_regular(&real.join("lock"), true, false).unwrap_err();
        assert!(matches!(e, StoreError::NotRegular { kind: "a symlink", .. }), "{e}");
        assert_eq!(fs::read(&target).unwrap(), b"keep");
    }

    #[test]
    fn a_fifo_is_refused_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("0000000001-1-2.redb");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let t = std::time::Instant::now();
        let e = open_regular(&fifo, false, false).unwrap_err();
        assert!(matches!(e, StoreError::NotRegular { kind: "a FIFO", .. }), "{e}");
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
    }
}
