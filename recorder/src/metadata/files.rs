//! Reading the runtimes' files as root without being steered: a file is read only when it is
//! a regular file owned by root, not reached through a final symlink, under a size cap, and
//! every path component taken from recorded data (a container ID or name) is one plain
//! file-name component.

use std::{
    fs::File,
    io::Read,
    os::unix::fs::{MetadataExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

/// The most a single runtime file may hold: podman's containers.json lists every container
/// of its store, so it is the largest; a docker or OCI config is a few KiB.
pub const MAX_FILE: u64 = 16 << 20;

/// Whether `s` may become one path component: no separator, no `.`/`..`, no NUL, no
/// control characters, and not empty. Container IDs and names come from cgroup paths,
/// which whoever creates the cgroup names.
pub fn component(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && s.len() <= 255 && !s.chars().any(|c| c == '/' || c.is_control())
}

/// A directory the recorder may read from: root's, and writable by no one else.
pub fn trusted_dir(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir() && m.uid() == 0 && m.mode() & 0o022 == 0)
}

/// What reading a file found.
pub enum FileRead {
    Bytes(Vec<u8>),
    /// Not there (or not a file): the runtime has not written it, or removed it.
    Missing,
    /// There but refused: not root's, a symlink, too large. Never read, said in the log.
    Refused(String),
}

pub fn read(path: &Path, budget: &mut u64) -> FileRead {
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return FileRead::Refused(format!("{} is a symlink", path.display()));
        }
        Err(_) => return FileRead::Missing,
    };
    let Ok(m) = f.metadata() else { return FileRead::Missing };
    if !m.is_file() {
        return FileRead::Missing;
    }
    if m.uid() != 0 {
        return FileRead::Refused(format!("{} is owned by uid {}, not root", path.display(), m.uid()));
    }
    let cap = MAX_FILE.min(*budget);
    if m.len() > cap {
        return FileRead::Refused(format!("{} holds {} bytes, over the {cap}-byte limit", path.display(), m.len()));
    }
    let mut bytes = Vec::with_capacity(m.len() as usize);
    // The file may grow between fstat and read: never past the cap.
    match <File as Read>::take(f, cap + 1).read_to_end(&mut bytes) {
        Ok(n) if n as u64 <= cap => {
            *budget -= n as u64;
            FileRead::Bytes(bytes)
        }
        Ok(_) => FileRead::Refused(format!("{} grew over the {cap}-byte limit", path.display())),
        Err(_) => FileRead::Missing,
    }
}

/// A JSON file, parsed; containerd and cri-o write their specs with a plain create+write,
/// so a file that does not parse yet is read again a few times (a few ms apart).
pub fn json(path: &Path, budget: &mut u64, refused: &mut Vec<String>) -> Option<serde_json::Value> {
    for attempt in 0..4 {
        match read(path, budget) {
            FileRead::Bytes(b) => match serde_json::from_slice(&b) {
                Ok(v) => return Some(v),
                Err(_) if attempt < 3 => std::thread::sleep(std::time::Duration::from_millis(5)),
                Err(e) => {
                    refused.push(format!("{} does not parse: {e}", path.display()));
                    return None;
                }
            },
            FileRead::Missing => return None,
            FileRead::Refused(why) => {
                refused.push(why);
                return None;
            }
        }
    }
    None
}

/// `root/<parts...>` when every part is a plain component.
pub fn under(root: &Path, parts: &[&str]) -> Option<PathBuf> {
    parts.iter().all(|p| component(p)).then(|| parts.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_from_recorded_names() {
        for bad in ["", ".", "..", "a/b", "x\0", "\n", "../../etc"] {
            assert!(!component(bad), "{bad:?}");
        }
        assert!(component("ctrail-ctr"));
        assert!(under(Path::new("/r"), &["ns", "../x"]).is_none());
    }

    #[test]
    fn symlinks_and_foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        std::fs::write(&real, b"{}").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let mut budget = 1 << 20;
        assert!(matches!(read(&link, &mut budget), FileRead::Refused(_)));
        assert!(matches!(read(&dir.path().join("none"), &mut budget), FileRead::Missing));
        // Owned by whoever runs the test: root in CI, where it reads; anyone else is refused.
        let owner_is_root = std::fs::metadata(&real).unwrap().uid() == 0;
        assert_eq!(matches!(read(&real, &mut budget), FileRead::Bytes(_)), owner_is_root);
        let mut small = 1;
        if owner_is_root {
            assert!(matches!(read(&real, &mut small), FileRead::Refused(_)), "over the budget");
        }
    }
}
