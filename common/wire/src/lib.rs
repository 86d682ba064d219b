//! The kernel side's record layout and constants: the only Rust that knows them.
//!
//! Every struct here is `#[repr(C)]` with explicit padding, mirrored by a C struct in
//! `recorder-ebpf/include/events.h`. The constants (record kinds, ops, counters, flags,
//! limits, sizes) and the table of recorded syscalls live here only: the kernel side's
//! `ct_consts.h` is generated from them ([`header`]) by `recorder-ebpf/build.rs`, together
//! with a static assertion of every struct's size and every field's offset, so a C struct
//! that disagrees with its Rust twin does not compile. Decoding ring-buffer records into
//! `ctrail_model` types happens in the recorder (`decode.rs`).

mod consts;
pub mod header;
mod layout;
mod ops;

pub use consts::*;
pub use layout::{Layout, layouts};
pub use ops::{OPS, OpDef, SYSCALLS, SyscallDef, op_bits, op_def};

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
    pub exe_ino: u64,
    pub exe_size: u64,
    pub exe_mtime_ns: i64,
    pub exe_ctime_ns: i64,
    pub exe_dev: u32,
    pub exe_mode: u32,
    pub exe_uid: u32,
    pub exe_gid: u32,
    pub exe_nlink: u32,
    pub exe_flags: u32,
    pub path_len: u32,
    pub cwd_len: u32,
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
