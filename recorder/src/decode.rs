//! Ring-buffer bytes to owned records. The only code that reads the wire layout.

use ctrail_model::{
    Action, Activity, Caps, CgroupMove, Cgroups, Connection, Creds, Exec, Exit, Fork, Namespaces, Source,
};
use ctrail_wire::{
    self as wire, RawActivity, RawCgroupDir, RawCgroupMove, RawCreds, RawExec, RawExit, RawFork, RawHdr, RawSockaddrs,
    c_bytes, flags, op, read_plain,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {0} bytes is shorter than its header")]
    Short(usize),
    #[error("record kind {0} is unknown (kernel object and recorder out of step?)")]
    Kind(u32),
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

const CRED_CALLS: [&str; 9] =
    ["setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid", "capset"];

fn action(a: &RawActivity, strs: [String; 3]) -> Result<Action, DecodeError> {
    let [s0, s1, s2] = strs;
    Ok(match a.op {
        op::MOUNT => Action::Mount { source: s0, target: s1, fstype: s2, flags: a.args[3] },
        op::UMOUNT => Action::Umount { target: s0, flags: a.args[1] },
        op::SETNS => Action::Setns { fd: a.args[0] as i32, nstype: a.args[1] },
        op::UNSHARE => Action::Unshare { flags: a.args[0] },
        op::CHROOT => Action::Chroot { path: s0 },
        op::PIVOT_ROOT => Action::PivotRoot { new_root: s0, put_old: s1 },
        op::PTRACE => {
            Action::Ptrace { request: a.args[0] as i64, target_pid: a.args[1] as u32, target_container: None }
        }
        n @ op::SETUID..=op::CAPSET => {
            let call = CRED_CALLS[(n - op::SETUID) as usize].to_string();
            // capset's arguments are pointers: the sets before and after say what changed.
            let arity = match n - op::SETUID {
                0 | 1 | 6 | 7 => 1, // setuid, setgid, setfsuid, setfsgid
                2 | 3 => 2,         // setreuid, setregid
                4 | 5 => 3,         // setresuid, setresgid
                _ => 0,             // capset
            };
            let args = a.args[..arity].iter().map(|&v| i64::from(v as u32 as i32)).collect();
            Action::CredChange { call, args }
        }
        op::INIT_MODULE | op::FINIT_MODULE => Action::ModuleLoad {
            call: if a.op == op::INIT_MODULE { "init_module" } else { "finit_module" }.into(),
            name: s0,
            file: s1,
            params: s2,
        },
        op::BPF_PROG_LOAD => Action::BpfLoad {
            prog_type: a.args[1] as u32,
            name: s0,
            attach_type: a.args[2] as u32,
            insns: a.args[3] as u32,
        },
        op::CONNECT => Action::Connect(connection(&a.net)),
        op::ACCEPT => Action::Accept(connection(&a.net)),
        other => return Err(DecodeError::Kind(other)),
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
        wire::KIND_EXEC => {
            let e: RawExec = read_plain(bytes).ok_or(DecodeError::Short(bytes.len()))?;
            let mut at = size_of::<RawExec>();
            let mut take = |n: u32| -> Result<&[u8], DecodeError> {
                let end = at + n as usize;
                let s = bytes.get(at..end).ok_or(DecodeError::Tail { kind: "exec", len: bytes.len() })?;
                at = end;
                Ok(s)
            };
            let exe = take(e.exe_len)?.to_vec();
            let argv = split_argv(take(e.argv_len)?);
            let cg2 = String::from_utf8_lossy(take(e.cg2_len)?).into_owned();
            let cg1 = String::from_utf8_lossy(take(e.cg1_len)?).into_owned();
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
            };
            Ok(Decoded::Exec(h, Box::new(exec)))
        }
        wire::KIND_FORK => {
            let f: RawFork = read_plain(bytes).ok_or(DecodeError::Short(bytes.len()))?;
            Ok(Decoded::Fork(
                h,
                Fork {
                    ns_pid: f.ns_pid,
                    comm: string(&f.comm),
                    ns: Namespaces::from_array(f.ns),
                    cgroup_v2_id: h.cgroup_id,
                },
            ))
        }
        wire::KIND_EXIT => {
            let x: RawExit = read_plain(bytes).ok_or(DecodeError::Short(bytes.len()))?;
            Ok(Decoded::Exit(h, Exit { status: x.exit_code }, string(&x.comm)))
        }
        wire::KIND_CGROUP_MOVE => {
            let m: RawCgroupMove = read_plain(bytes).ok_or(DecodeError::Short(bytes.len()))?;
            let at = size_of::<RawCgroupMove>();
            let path = bytes
                .get(at..at + m.path_len as usize)
                .ok_or(DecodeError::Tail { kind: "cgroup_move", len: bytes.len() })?;
            Ok(Decoded::CgroupMove(
                h,
                CgroupMove {
                    hierarchy: (m.hier != 0).then(|| v1_hierarchy.unwrap_or_default().to_string()),
                    path: String::from_utf8_lossy(path).into_owned(),
                    cgroup_id: m.dst_id,
                },
            ))
        }
        wire::KIND_CGROUP_DIR => {
            let d: RawCgroupDir = read_plain(bytes).ok_or(DecodeError::Short(bytes.len()))?;
            let at = size_of::<RawCgroupDir>();
            let path = bytes
                .get(at..at + d.path_len as usize)
                .ok_or(DecodeError::Tail { kind: "cgroup_dir", len: bytes.len() })?;
            Ok(Decoded::CgroupDir {
                h,
                created: d.op == 1,
                v2: d.hier == 0,
                path: String::from_utf8_lossy(path).into_owned(),
            })
        }
        wire::KIND_ACTIVITY => {
            let a: RawActivity = read_plain(bytes).ok_or(DecodeError::Short(bytes.len()))?;
            let mut at = size_of::<RawActivity>();
            let mut strs: [String; 3] = Default::default();
            for (i, len) in a.str_len.iter().enumerate() {
                let end = at + *len as usize;
                let s = bytes.get(at..end).ok_or(DecodeError::Tail { kind: "activity", len: bytes.len() })?;
                strs[i] = String::from_utf8_lossy(s).into_owned();
                at = end;
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
        other => Err(DecodeError::Kind(other)),
    }
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
        e.h.kind = wire::KIND_EXEC;
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
        assert_eq!(x.exe, b"/bin/true");
        assert_eq!(x.argv, vec![b"/bin/x".to_vec(), b"a".to_vec()]);
        assert_eq!(x.cgroups.v2_path, "/abc");
        assert_eq!(x.comm_before.as_deref(), Some("runc"));
        bytes.truncate(bytes.len() - 2);
        assert!(matches!(decode(&bytes, None), Err(DecodeError::Tail { .. })));
    }
}
