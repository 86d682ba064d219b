//! The executable and cwd of a process that predates the recorder, from /proc: the same
//! fields the kernel fills at exec (`bpf/file.h`), as close as /proc allows.

use std::{
    ffi::{CString, OsString},
    fs,
    os::unix::{
        ffi::{OsStrExt, OsStringExt},
        fs::MetadataExt,
    },
    path::Path,
};

use ctrail_model::ExeFile;

const OVERLAYFS_MAGIC: i64 = 0x794c_7630;

/// What /proc says about a process's executable.
pub struct FromProc {
    /// The file's path as the process sees it (empty when /proc/PID/exe did not read).
    pub exe: Vec<u8>,
    pub cwd: Option<Vec<u8>>,
    pub file: Option<ExeFile>,
}

/// `readlink` of a /proc link: paths are relative to our root, which for a chroot'ed
/// process is not its own, so its root (also a link) is cut off the front. A process in
/// another mount namespace reads from its own namespace's root already.
fn link(dir: &Path, name: &str, root: &[u8]) -> Option<Vec<u8>> {
    let p = fs::read_link(dir.join(name)).ok()?.into_os_string().into_vec();
    if root.len() > 1 && p.starts_with(root) && p.get(root.len()) == Some(&b'/') {
        return Some(p[root.len()..].to_vec());
    }
    Some(p)
}

fn fs_magic(path: &Path) -> Option<i64> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statfs is plain integers; all zeroes is a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a statfs the call fills.
    (unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0).then_some(st.f_type as i64)
}

/// The overlay upper directory of the process's root mount, from its mountinfo.
fn upperdir(dir: &Path) -> Option<Vec<u8>> {
    let info = fs::read(dir.join("mountinfo")).ok()?;
    info.split(|&b| b == b'\n').find_map(|line| {
        let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        // id parent dev root mountpoint opts ... - fstype source superopts
        let sep = fields.iter().position(|f| *f == b"-")?;
        if fields.get(4) != Some(&&b"/"[..]) || fields.get(sep + 1) != Some(&&b"overlay"[..]) {
            return None;
        }
        let opts = fields.get(sep + 3)?;
        opts.split(|&b| b == b',').find_map(|o| o.strip_prefix(b"upperdir=")).map(unescape)
    })
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 3 < s.len() && s[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b)) {
            out.push((s[i + 1] - b'0') * 64 + (s[i + 2] - b'0') * 8 + (s[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

pub fn from_proc(dir: &Path) -> FromProc {
    let root = fs::read_link(dir.join("root")).map(|p| p.into_os_string().into_vec()).unwrap_or_else(|_| b"/".to_vec());
    let cwd = link(dir, "cwd", &root);
    let Some(mut exe) = link(dir, "exe", &root) else { return FromProc { exe: Vec::new(), cwd, file: None } };
    let deleted = exe.ends_with(b" (deleted)");
    if deleted {
        exe.truncate(exe.len() - b" (deleted)".len());
    }
    // /proc/PID/exe opens the file itself, wherever it is (deleted, a memfd, another root).
    let target = dir.join("exe");
    let Ok(m) = fs::metadata(&target) else { return FromProc { exe, cwd, file: None } };
    let overlay = fs_magic(&target) == Some(OVERLAYFS_MAGIC);
    // Upper layer: the file exists in the root overlay's upper directory, seen through
    // the process's own root (the upper directory is a host path).
    let upper_layer = overlay
        && upperdir(dir).is_some_and(|up| {
            let mut p = up;
            p.extend_from_slice(&exe);
            fs::symlink_metadata(Path::new(&OsString::from_vec(p))).is_ok()
        });
    let file = ExeFile {
        dev_major: libc::major(m.dev()),
        dev_minor: libc::minor(m.dev()),
        inode: m.ino(),
        size: m.size(),
        mode: m.mode(),
        uid: m.uid(),
        gid: m.gid(),
        nlink: m.nlink() as u32,
        mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
        overlay,
        upper_layer,
        memfd: exe.starts_with(b"/memfd:"),
        deleted: deleted || m.nlink() == 0,
        path_truncated: false,
        cwd_truncated: false,
    };
    FromProc { exe, cwd, file: Some(file) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_exe_and_cwd_read_as_stat_gives_them() {
        let me = from_proc(Path::new("/proc/self"));
        let exe = std::env::current_exe().unwrap();
        assert_eq!(me.exe, exe.as_os_str().as_bytes());
        assert_eq!(me.cwd.unwrap(), std::env::current_dir().unwrap().as_os_str().as_bytes());
        let f = me.file.unwrap();
        let m = fs::metadata(&exe).unwrap();
        assert_eq!((f.inode, f.size, f.mode), (m.ino(), m.size(), m.mode()));
        assert!(!f.deleted && !f.memfd);
    }

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape(br"/a\040b\134c"), b"/a b\\c");
        assert_eq!(unescape(br"/x\04"), br"/x\04");
    }
}
