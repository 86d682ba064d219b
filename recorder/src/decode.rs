//! Ring-buffer bytes to owned records. The only code that reads the wire layout.

use ctrail_model::{
    Action, Activity, Caps, CgroupMove, Cgroups, Connection, Creds, EventKind, ExeFile, Exec, Exit, Fork, Namespaces,
    Source,
};
use ctrail_wire::{
    self as wire, RawActivity, RawCgroupDir, RawCgroupMove, RawCreds, RawExec, RawExit, RawFork, RawHdr, RawSockaddrs,
    c_bytes, exe_flags, flags, read_plain,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {0} bytes is shorter than its fixed part")]
    Short(usize),
    #[error("record kind {0} is unknown (kernel object and recorder out of step?)")]
    Kind(u32),
    #[error("activity op {0} is unknown (kernel object and recorder out of step?)")]
    Op(u32),
    #[error("activity op {op} is in the table as {kind}, which is not an activity kind")]
    Table { op: u32, kind: EventKind },
    #[error("{kind} record: tail lengths exceed the {len}-byte record")]
    Tail { kind: &'static str, len: usize },
}

/// A decoded kernel record, still with its header for attribution.
#[derive(Debug, Clone)]
pub enum Decoded {
    Exec(RawHdr, Box<Exec>),
    Fork(RawHdr, Fork),
    Exit(RawHdr, Exit, String),
    CgroupMove(RawHdr, CgroupMove),
    Activity(RawHdr, Box<Activity>),
    /// A cgroup was created (`created`) or removed, in v2 (`v2`) or the recorded v1 hierarchy.
    CgroupDir {
        h: RawHdr,
        created: bool,
        v2: bool,
        path: String,
    },
}

impl Decoded {
    /// The header every record starts with.
    pub fn hdr(&self) -> RawHdr {
        match self {
            Decoded::Exec(h, _)
            | Decoded::Fork(h, _)
            | Decoded::Exit(h, _, _)
            | Decoded::CgroupMove(h, _)
            | Decoded::Activity(h, _)
            | Decoded::CgroupDir { h, .. } => *h,
        }
    }
}

fn creds(c: &RawCreds) -> Creds {
    Creds {
        uid: c.uid,
        euid: c.euid,
        suid: c.suid,
        fsuid: c.fsuid,
        gid: c.gid,
        egid: c.egid,
        sgid: c.sgid,
        fsgid: c.fsgid,
        cap_effective: c.cap_eff,
        cap_permitted: c.cap_prm,
        cap_inheritable: c.cap_inh,
    }
}

fn action(a: &RawActivity, strs: [String; 3]) -> Result<Action, DecodeError> {
    let [s0, s1, s2] = strs;
    let def = wire::op_def(a.op).ok_or(DecodeError::Op(a.op))?;
    Ok(match def.kind {
        EventKind::Mount => Action::Mount { source: s0, target: s1, fstype: s2, flags: a.args[3] },
        EventKind::Umount => Action::Umount { target: s0, flags: a.args[1] },
        EventKind::Setns => Action::Setns { fd: a.args[0] as i32, nstype: a.args[1] },
        EventKind::Unshare => Action::Unshare { flags: a.args[0] },
        EventKind::Chroot => Action::Chroot { path: s0 },
        EventKind::PivotRoot => Action::PivotRoot { new_root: s0, put_old: s1 },
        EventKind::Ptrace => {
            Action::Ptrace { request: a.args[0] as i64, target_pid: a.args[1] as u32, target_container: None }
        }
        // The ids as the call took them (int), sign-extended: -1 means "unchanged".
        EventKind::CredChange => Action::CredChange {
            call: def.call.into(),
            args: a.args[..def.int_args].iter().map(|&v| i64::from(v as u32 as i32)).collect(),
        },
        EventKind::ModuleLoad => Action::ModuleLoad { call: def.call.into(), name: s0, file: s1, params: s2 },
        EventKind::BpfLoad => Action::BpfLoad {
            prog_type: a.args[1] as u32,
            name: s0,
            attach_type: a.args[2] as u32,
            insns: a.args[3] as u32,
        },
        EventKind::Connect => Action::Connect(connection(&a.net)),
        EventKind::Accept => Action::Accept(connection(&a.net)),
        other => return Err(DecodeError::Table { op: a.op, kind: other }),
    })
}

const AF_INET6: u16 = 10;

fn connection(n: &RawSockaddrs) -> Connection {
    let addr = |bytes: &[u8; 16], port: u16| -> SocketAddr {
        if n.family == AF_INET6 {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::from(*bytes)), port)
        } else {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])), port)
        }
    };
    Connection { local: addr(&n.laddr, n.lport), remote: addr(&n.raddr, n.rport) }
}

fn string(b: &[u8]) -> String {
    String::from_utf8_lossy(c_bytes(b)).into_owned()
}

/// Splits the NUL-separated argument area. A trailing NUL ends the last argument; an
/// empty argument is two NULs in a row and is kept.
pub fn split_argv(area: &[u8]) -> Vec<Vec<u8>> {
    if area.is_empty() {
        return Vec::new();
    }
    let body = area.strip_suffix(&[0]).unwrap_or(area);
    body.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
}

pub fn decode(bytes: &[u8], v1_hierarchy: Option<&str>) -> Result<Decoded, DecodeError> {
    let h: RawHdr = read_plain(bytes).ok_or(DecodeError::Short(bytes.len()))?;
    match h.kind {
        wire::kind::EXEC => exec(h, bytes, v1_hierarchy),
        wire::kind::FORK => fork(h, bytes),
        wire::kind::EXIT => {
            let x: RawExit = read_plain(bytes).ok_or(DecodeError::Short(bytes.len()))?;
            Ok(Decoded::Exit(h, Exit { status: x.exit_code }, string(&x.comm)))
        }
        wire::kind::CGROUP_MOVE => cgroup_move(h, bytes, v1_hierarchy),
        wire::kind::CGROUP_DIR => cgroup_dir(h, bytes),
        wire::kind::ACTIVITY => activity(h, bytes),
        other => Err(DecodeError::Kind(other)),
    }
}

/// The byte strings after a record's fixed part, in order, each as long as its length
/// field says; an error when they run past the record.
struct Tail<'a> {
    bytes: &'a [u8],
    at: usize,
    kind: &'static str,
}

impl<'a> Tail<'a> {
    fn after<T>(bytes: &'a [u8], kind: &'static str) -> Self {
        Tail { bytes, at: size_of::<T>(), kind }
    }

    fn take(&mut self, n: u32) -> Result<&'a [u8], DecodeError> {
        let end = self.at + n as usize;
        let s = self.bytes.get(self.at..end).ok_or(DecodeError::Tail { kind: self.kind, len: self.bytes.len() })?;
        self.at = end;
        Ok(s)
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn exec(h: RawHdr, bytes: &[u8], v1_hierarchy: Option<&str>) -> Result<Decoded, DecodeError> {
    let e: RawExec = read_plain(bytes).ok_or(DecodeError::Short(bytes.len()))?;
    let mut tail = Tail::after::<RawExec>(bytes, "exec");
    let filename = tail.take(e.exe_len)?.to_vec();
    let argv = split_argv(tail.take(e.argv_len)?);
    let cg2 = lossy(tail.take(e.cg2_len)?);
    let cg1 = lossy(tail.take(e.cg1_len)?);
    let path = tail.take(e.path_len)?;
    let cwd = tail.take(e.cwd_len)?;
    let x = e.exe_flags;
    let file = ExeFile {
        // The kernel's dev_t: 12 bits of major above 20 of minor.
        dev_major: e.exe_dev >> 20,
        dev_minor: e.exe_dev & 0xF_FFFF,
        inode: e.exe_ino,
        size: e.exe_size,
        mode: e.exe_mode,
        uid: e.exe_uid,
        gid: e.exe_gid,
        nlink: e.exe_nlink,
        mtime_ns: e.exe_mtime_ns,
        ctime_ns: e.exe_ctime_ns,
        overlay: x & exe_flags::OVERLAY != 0,
        upper_layer: x & exe_flags::UPPER != 0,
        memfd: x & exe_flags::MEMFD != 0,
        deleted: x & exe_flags::DELETED != 0,
        path_truncated: x & exe_flags::PATH_TRUNC != 0,
        cwd_truncated: x & exe_flags::CWD_TRUNC != 0,
    };
    // No path: the walk did not run (a kernel without bpf_loop, `--resolve-exe off`); the
    // exe is then what was passed, and the file's own fields may still be there.
    let exe = if path.is_empty() { filename.clone() } else { path.to_vec() };
    let file = (x & exe_flags::FILE != 0).then_some(file);
    let has_v1 = e.cg1_len > 0 && e.flags & flags::CG1_MISSING == 0;
    let exec = Exec {
        source: Source::Kernel,
        ns_pid: e.ns_pid,
        old_tid: e.old_tid,
        comm: string(&e.comm),
        comm_before: (e.flags & flags::OLD_COMM != 0).then(|| string(&e.comm_old)),
        exe,
        argv,
        argv_truncated: e.flags & flags::ARGV_TRUNC != 0,
        argv_bytes: e.argv_full_len,
        uid: e.uid,
        gid: e.gid,
        euid: e.euid,
        egid: e.egid,
        loginuid: e.loginuid,
        caps: Caps {
            effective: e.caps[0],
            permitted: e.caps[1],
            inheritable: e.caps[2],
            bounding: e.caps[3],
            ambient: e.caps[4],
        },
        ns: Namespaces::from_array(e.ns),
        cgroups: Cgroups {
            v2_path: cg2,
            v2_id: h.cgroup_id,
            v1_path: has_v1.then_some(cg1),
            v1_id: h.cg1_id,
            v1_hierarchy: has_v1.then(|| v1_hierarchy.unwrap_or_default().to_string()),
            truncated: e.flags & (flags::CG1_TRUNC | flags::CG2_TRUNC) != 0,
        },
        filename,
        cwd: (!cwd.is_empty()).then(|| cwd.to_vec()),
        file,
    };
    Ok(Decoded::Exec(h, Box::new(exec)))
}

fn fork(h: RawHdr, bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let f: RawFork = read_plain(bytes).ok_or(DecodeError::Short(bytes.len()))?;
    let fork =
        Fork { ns_pid: f.ns_pid, comm: string(&f.comm), ns: Namespaces::from_array(f.ns), cgroup_v2_id: h.cgroup_id };
    Ok(Decoded::Fork(h, fork))
}

fn cgroup_move(h: RawHdr, bytes: &[u8], v1_hierarchy: Option<&str>) -> Result<Decoded, DecodeError> {
    let m: RawCgroupMove = read_plain(bytes).ok_or(DecodeError::Short(bytes.len()))?;
    let path = lossy(Tail::after::<RawCgroupMove>(bytes, "cgroup_move").take(m.path_len)?);
    Ok(Decoded::CgroupMove(
        h,
        CgroupMove {
            hierarchy: (m.hier != 0).then(|| v1_hierarchy.unwrap_or_default().to_string()),
            path,
            cgroup_id: m.dst_id,
        },
    ))
}

fn cgroup_dir(h: RawHdr, bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let d: RawCgroupDir = read_plain(bytes).ok_or(DecodeError::Short(bytes.len()))?;
    let path = lossy(Tail::after::<RawCgroupDir>(bytes, "cgroup_dir").take(d.path_len)?);
    Ok(Decoded::CgroupDir { h, created: d.op == wire::cgroup_dir::CREATED, v2: d.hier == 0, path })
}

fn activity(h: RawHdr, bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let a: RawActivity = read_plain(bytes).ok_or(DecodeError::Short(bytes.len()))?;
    let mut tail = Tail::after::<RawActivity>(bytes, "activity");
    let mut strs: [String; 3] = Default::default();
    for (s, len) in strs.iter_mut().zip(a.str_len) {
        *s = lossy(tail.take(len)?);
    }
    Ok(Decoded::Activity(
        h,
        Box::new(Activity {
            action: action(&a, strs)?,
            result: i64::from(a.ret),
            before: creds(&a.before),
            after: creds(&a.after),
            ns: Namespaces::from_array(a.ns),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_keeps_empty_arguments_and_bytes() {
        assert_eq!(split_argv(b"a\0\0b c\0\xff\0"), vec![b"a".to_vec(), vec![], b"b c".to_vec(), vec![0xff]]);
        assert!(split_argv(b"").is_empty());
        // a truncated area has no final NUL: the last piece is kept as it is
        assert_eq!(split_argv(b"ab\0cd"), vec![b"ab".to_vec(), b"cd".to_vec()]);
    }

    #[test]
    fn short_and_unknown_records_are_errors() {
        assert_eq!(decode(&[0u8; 8], None).unwrap_err(), DecodeError::Short(8));
        let mut b = [0u8; 64];
        b[0] = 99;
        assert_eq!(decode(&b, None).unwrap_err(), DecodeError::Kind(99));
    }

    #[test]
    fn exec_tail_is_split_by_lengths() {
        let mut e = RawExec::default();
        e.h.kind = wire::kind::EXEC;
        e.exe_len = 9;
        e.argv_len = 9;
        e.cg2_len = 4;
        e.cg1_len = 0;
        e.flags = flags::OLD_COMM;
        e.comm_old[..4].copy_from_slice(b"runc");
        // SAFETY: RawExec is Plain (repr(C) integers, no padding holes).
        let head = unsafe { std::slice::from_raw_parts((&e as *const RawExec).cast::<u8>(), size_of::<RawExec>()) };
        let mut bytes = head.to_vec();
        bytes.extend_from_slice(b"/bin/true/bin/x\0a\0/abc");
        let Decoded::Exec(_, x) = decode(&bytes, None).unwrap() else { panic!("not exec") };
        // No resolved path: the exe is what was passed, and no file is claimed.
        assert_eq!(x.exe, b"/bin/true");
        assert_eq!(x.filename, b"/bin/true");
        assert_eq!((x.cwd.as_ref(), x.file), (None, None));
        assert_eq!(x.argv, vec![b"/bin/x".to_vec(), b"a".to_vec()]);
        assert_eq!(x.cgroups.v2_path, "/abc");
        assert_eq!(x.comm_before.as_deref(), Some("runc"));
        bytes.truncate(bytes.len() - 2);
        assert!(matches!(decode(&bytes, None), Err(DecodeError::Tail { .. })));
    }

    #[test]
    fn the_resolved_path_cwd_and_file_follow_the_cgroup_paths() {
        let mut e = RawExec::default();
        e.h.kind = wire::kind::EXEC;
        e.exe_len = 3;
        e.cg2_len = 1;
        e.path_len = 6;
        e.cwd_len = 4;
        e.exe_dev = (8 << 20) | 3;
        e.exe_ino = 42;
        e.exe_mode = 0o104755;
        e.exe_mtime_ns = 1_700_000_000_123;
        e.exe_flags = exe_flags::FILE | exe_flags::OVERLAY | exe_flags::UPPER | exe_flags::CWD_TRUNC;
        // SAFETY: RawExec is Plain (repr(C) integers, no padding holes).
        let head = unsafe { std::slice::from_raw_parts((&e as *const RawExec).cast::<u8>(), size_of::<RawExec>()) };
        let mut bytes = head.to_vec();
        bytes.extend_from_slice(b"./x//tmp/x/tmp");
        let Decoded::Exec(_, x) = decode(&bytes, None).unwrap() else { panic!("not exec") };
        assert_eq!(x.filename, b"./x");
        assert_eq!(x.exe, b"/tmp/x");
        assert_eq!(x.cwd.as_deref(), Some(&b"/tmp"[..]));
        let f = x.file.expect("a file");
        assert_eq!((f.dev_major, f.dev_minor, f.inode, f.mtime_ns), (8, 3, 42, 1_700_000_000_123));
        assert!(f.setuid() && !f.setgid());
        assert_eq!(f.upper_layer(), Some(true));
        assert!(f.cwd_truncated && !f.path_truncated && !f.memfd && !f.deleted);
    }
}
