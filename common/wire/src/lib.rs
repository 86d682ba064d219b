//! Rust mirrors of `recorder-ebpf/include/events.h`: the only place that knows the C layout.
//!
//! Every struct is `#[repr(C)]` with explicit padding fields and compile-time size and
//! offset asserts against the numbers in the header, so a change on one side that is not
//! made on the other fails the build. Decoding a ring-buffer record into these types and
//! from there into owned `ctrail_model` types happens in the recorder (`decode.rs`).

use std::mem::{offset_of, size_of};

pub const ABI_VERSION: u32 = 1;
pub const COMM_LEN: usize = 16;
pub const ARGV_MAX: u32 = 32768;
pub const ARGV_DEFAULT: u32 = 16384;
pub const NS_COUNT: usize = 7;

pub const KIND_EXEC: u32 = 1;
pub const KIND_FORK: u32 = 2;
pub const KIND_EXIT: u32 = 3;
pub const KIND_CGROUP_MOVE: u32 = 4;
pub const KIND_ACTIVITY: u32 = 5;
pub const KIND_CGROUP_DIR: u32 = 6;

pub const VERDICT_UNKNOWN: u32 = 0;
pub const VERDICT_HOST: u32 = 1;
pub const VERDICT_CONTAINER: u32 = 2;

pub const SCOPE_ALL: u32 = 0;
pub const SCOPE_CONTAINERS: u32 = 1;
pub const SCOPE_HOST: u32 = 2;

/// Indexes of the per-CPU counter array.
pub mod counter {
    pub const EXEC: u32 = 0;
    pub const FORK: u32 = 1;
    pub const EXIT: u32 = 2;
    pub const LOST_EXEC: u32 = 3;
    pub const LOST_FORK: u32 = 4;
    pub const LOST_EXIT: u32 = 5;
    pub const FILTERED: u32 = 6;
    pub const THREADS: u32 = 7;
    pub const MOVE: u32 = 8;
    pub const LOST_MOVE: u32 = 9;
    pub const ACTIVITY: u32 = 10;
    pub const LOST_ACTIVITY: u32 = 11;
    pub const COUNT: u32 = 12;
}

pub mod flags {
    pub const ARGV_TRUNC: u32 = 1 << 0;
    pub const EXE_TRUNC: u32 = 1 << 1;
    pub const CG2_TRUNC: u32 = 1 << 2;
    pub const CG1_TRUNC: u32 = 1 << 3;
    pub const CG1_MISSING: u32 = 1 << 4;
    pub const OLD_COMM: u32 = 1 << 5;
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawHdr {
    pub kind: u32,
    pub size: u32,
    pub ts_boot_ns: u64,
    pub start_boot_ns: u64,
    pub parent_start_boot_ns: u64,
    pub cgroup_id: u64,
    pub cg1_id: u64,
    pub tgid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub verdict: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawExec {
    pub h: RawHdr,
    pub caps: [u64; 5],
    pub ns: [u32; NS_COUNT],
    pub ns_pid: u32,
    pub old_tid: u32,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    pub loginuid: u32,
    pub flags: u32,
    pub exe_len: u32,
    pub argv_len: u32,
    pub argv_full_len: u32,
    pub cg2_len: u32,
    pub cg1_len: u32,
    pub comm: [u8; COMM_LEN],
    pub comm_old: [u8; COMM_LEN],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawFork {
    pub h: RawHdr,
    pub ns: [u32; NS_COUNT],
    pub ns_pid: u32,
    pub comm: [u8; COMM_LEN],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawExit {
    pub h: RawHdr,
    pub exit_code: u32,
    pub _pad: u32,
    pub comm: [u8; COMM_LEN],
}

/// A process joined another cgroup; the new path follows (`path_len` bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawCgroupMove {
    pub h: RawHdr,
    pub dst_id: u64,
    pub hier: u32,
    pub path_len: u32,
}

/// enum ct_op: the syscalls recorded as activity.
pub mod op {
    pub const MOUNT: u32 = 1;
    pub const UMOUNT: u32 = 2;
    pub const SETNS: u32 = 3;
    pub const UNSHARE: u32 = 4;
    pub const CHROOT: u32 = 5;
    pub const PIVOT_ROOT: u32 = 6;
    pub const SETUID: u32 = 7;
    pub const CAPSET: u32 = 15;
    pub const PTRACE: u32 = 16;
    pub const INIT_MODULE: u32 = 17;
    pub const FINIT_MODULE: u32 = 18;
    pub const BPF_PROG_LOAD: u32 = 19;
    pub const CONNECT: u32 = 20;
    pub const ACCEPT: u32 = 21;
}

/// Both ends of a TCP connection: addresses in network order (IPv4 in the first 4 bytes),
/// ports in host order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawSockaddrs {
    pub family: u16,
    pub lport: u16,
    pub rport: u16,
    pub _pad: u16,
    pub laddr: [u8; 16],
    pub raddr: [u8; 16],
}

/// A cgroup was created (`op` 1) or removed (`op` 2); its path follows.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawCgroupDir {
    pub h: RawHdr,
    pub id: u64,
    pub hier: u32,
    pub path_len: u32,
    pub op: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawCreds {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub fsuid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub fsgid: u32,
    pub cap_eff: u64,
    pub cap_prm: u64,
    pub cap_inh: u64,
}

/// One syscall with its result; strings follow (`str_len` bytes each).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawActivity {
    pub h: RawHdr,
    pub op: u32,
    pub ret: i32,
    pub args: [u64; 4],
    pub before: RawCreds,
    pub after: RawCreds,
    pub ns: [u32; NS_COUNT],
    pub str_len: [u32; 3],
    pub net: RawSockaddrs,
}

/// Key of the verdict map: the (v2 id, chosen v1 id) cgroup pair a verdict was made for.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CgKey {
    pub cg2_id: u64,
    pub cg1_id: u64,
}

// The numbers are CT_*_SIZE in events.h.
const _: () = assert!(size_of::<RawHdr>() == 64);
const _: () = assert!(size_of::<RawExec>() == 216);
const _: () = assert!(size_of::<RawFork>() == 112);
const _: () = assert!(size_of::<RawExit>() == 88);
const _: () = assert!(size_of::<CgKey>() == 16);
const _: () = assert!(size_of::<RawCgroupMove>() == 80);
const _: () = assert!(size_of::<RawCreds>() == 56);
const _: () = assert!(size_of::<RawCgroupDir>() == 88);
const _: () = assert!(size_of::<RawActivity>() == 296);
const _: () = assert!(size_of::<RawSockaddrs>() == 40);
const _: () = assert!(offset_of!(RawActivity, net) == 256);
const _: () = assert!(offset_of!(RawActivity, before) == 104);
const _: () = assert!(offset_of!(RawActivity, ns) == 216);
const _: () = assert!(offset_of!(RawCgroupMove, dst_id) == 64);
const _: () = assert!(offset_of!(RawCgroupMove, path_len) == 76);
const _: () = assert!(offset_of!(RawHdr, ts_boot_ns) == 8);
const _: () = assert!(offset_of!(RawHdr, tgid) == 48);
const _: () = assert!(offset_of!(RawHdr, verdict) == 60);
const _: () = assert!(offset_of!(RawExec, caps) == 64);
const _: () = assert!(offset_of!(RawExec, ns) == 104);
const _: () = assert!(offset_of!(RawExec, ns_pid) == 132);
const _: () = assert!(offset_of!(RawExec, flags) == 160);
const _: () = assert!(offset_of!(RawExec, cg1_len) == 180);
const _: () = assert!(offset_of!(RawExec, comm) == 184);
const _: () = assert!(offset_of!(RawExec, comm_old) == 200);
const _: () = assert!(offset_of!(RawFork, ns) == 64);
const _: () = assert!(offset_of!(RawFork, comm) == 96);
const _: () = assert!(offset_of!(RawExit, exit_code) == 64);
const _: () = assert!(offset_of!(RawExit, comm) == 72);

/// Marker for the types above: plain old data, any bit pattern valid, no padding holes.
///
/// # Safety
/// Implement only for `#[repr(C)]` types made of integers and integer arrays whose
/// layout has no implicit padding.
pub unsafe trait Plain: Copy {}
// SAFETY: repr(C) integers only, explicit padding, sizes asserted above.
unsafe impl Plain for RawHdr {}
// SAFETY: as above.
unsafe impl Plain for RawExec {}
// SAFETY: as above.
unsafe impl Plain for RawFork {}
// SAFETY: as above.
unsafe impl Plain for RawExit {}
// SAFETY: as above.
unsafe impl Plain for CgKey {}
// SAFETY: as above.
unsafe impl Plain for RawCgroupMove {}
// SAFETY: as above.
unsafe impl Plain for RawCreds {}
// SAFETY: as above.
unsafe impl Plain for RawCgroupDir {}
// SAFETY: as above.
unsafe impl Plain for RawSockaddrs {}
// SAFETY: as above.
unsafe impl Plain for RawActivity {}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: CgKey is Plain (see above), which is what aya::Pod requires.
    unsafe impl aya::Pod for super::CgKey {}
}

/// Reads a `T` from the front of `bytes`, or `None` when `bytes` is too short.
/// Ring-buffer records are only 8-byte aligned, so this never borrows in place.
pub fn read_plain<T: Plain>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < size_of::<T>() {
        return None;
    }
    // SAFETY: length checked; T is Plain so any bytes are a valid T; read_unaligned
    // because the ring buffer promises only 8-byte alignment.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// A C string in a fixed array: bytes up to the first NUL.
pub fn c_bytes(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    &b[..end]
}
