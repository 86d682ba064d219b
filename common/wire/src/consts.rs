//! Every number the kernel side and userspace share, each defined once, here. The C side
//! gets them from the generated `ct_consts.h` ([`crate::header`]).

/// A group of constants, each a Rust `const` and, in the generated header, either a C enum
/// (`enum $c { $prefix$NAME = value }`) or `#define`s.
#[derive(Debug, Clone, Copy)]
pub struct CGroup {
    /// `Some("ct_kind")` for an enum, `None` for `#define`s.
    pub c_enum: Option<&'static str>,
    pub prefix: &'static str,
    pub items: &'static [(&'static str, u64)],
}

macro_rules! shared {
    ($(#[$doc:meta])* pub mod $m:ident as $c:expr, $prefix:literal { $($(#[$idoc:meta])* $name:ident = $v:expr),* $(,)? }) => {
        $(#[$doc])*
        pub mod $m {
            $($(#[$idoc])* pub const $name: u32 = $v;)*
            /// These constants, for the generated C header.
            pub const C: super::CGroup =
                super::CGroup { c_enum: $c, prefix: $prefix, items: &[$((stringify!($name), $v as u64)),*] };
        }
    };
}

/// The ring-buffer layout's version: bump it with any change to a record.
pub const ABI_VERSION: u32 = 4;

shared! {
    /// Sizes and limits of the records and of what the kernel copies into them.
    pub mod limit as None, "CT_" {
        COMM_LEN = 16,
        /// exe as passed to exec, at most
        EXE_MAX = 4096,
        /// argv: the hard cap; the runtime limit is `--argv-max`
        ARGV_MAX = 32768,
        ARGV_DEFAULT = 16384,
        CGPATH_MAX = 4096,
        /// cgroup levels walked before a path is flagged truncated
        CG_DEPTH = 16,
        CG_NAME_MAX = 256,
        /// strings of activity records (mount paths, ...)
        STR_MAX = 1024,
        /// names copied in the kernel: module, BPF program, file
        KSTR_MAX = 64,
        /// the resolved exe path and the cwd, each at most (a power of two)
        PATH_MAX = 4096,
        /// one path component, at most (a power of two less one: it is a mask too)
        NAME_MAX = 255,
        /// dentries and mount crossings walked before a path is flagged truncated
        PATH_DEPTH = 64,
    }
}

shared! {
    /// `ct_hdr.kind`: what a ring-buffer record is.
    pub mod kind as Some("ct_kind"), "CT_" {
        EXEC = 1,
        FORK = 2,
        EXIT = 3,
        CGROUP_MOVE = 4,
        ACTIVITY = 5,
        CGROUP_DIR = 6,
    }
}

shared! {
    /// What userspace decided about a cgroup pair, written back into `CT_VERDICTS`.
    pub mod verdict as Some("ct_verdict"), "CT_V_" {
        UNKNOWN = 0,
        HOST = 1,
        CONTAINER = 2,
    }
}

shared! {
    /// The `--scope` filter, applied in the kernel against the cached verdict.
    pub mod scope as Some("ct_scope"), "CT_SCOPE_" {
        ALL = 0,
        CONTAINERS = 1,
        HOST = 2,
    }
}

shared! {
    /// Indexes of the per-CPU counter array `CT_COUNTERS`; `LOST_*` are failed ring-buffer
    /// reservations.
    pub mod counter as Some("ct_counter"), "CT_C_" {
        EXEC = 0,
        FORK = 1,
        EXIT = 2,
        LOST_EXEC = 3,
        LOST_FORK = 4,
        LOST_EXIT = 5,
        FILTERED = 6,
        THREADS = 7,
        MOVE = 8,
        LOST_MOVE = 9,
        ACTIVITY = 10,
        LOST_ACTIVITY = 11,
        MAX = 12,
    }
}

/// How many counters there are.
pub const COUNTERS: usize = counter::MAX as usize;

shared! {
    /// `ct_exec.flags`.
    pub mod flags as None, "CT_F_" {
        ARGV_TRUNC = 1 << 0,
        EXE_TRUNC = 1 << 1,
        CG2_TRUNC = 1 << 2,
        CG1_TRUNC = 1 << 3,
        /// the chosen v1 hierarchy was not found for this task
        CG1_MISSING = 1 << 4,
        /// comm_old is the comm before exec (else unknown)
        OLD_COMM = 1 << 5,
    }
}

shared! {
    /// `ct_exec.exe_flags`: where the executed file lives, and what was cut.
    pub mod exe_flags as None, "CT_X_" {
        /// the file is on overlayfs (a container's root, usually)
        OVERLAY = 1 << 0,
        /// ... and has an upper-layer copy: written after the container started
        UPPER = 1 << 1,
        /// a memfd (`memfd_create` then `fexecve`): never on any disk
        MEMFD = 1 << 2,
        /// no name links the file any more (deleted, or a memfd)
        DELETED = 1 << 3,
        PATH_TRUNC = 1 << 4,
        CWD_TRUNC = 1 << 5,
        /// the file's fields were read (the exec had a file, as every exec does)
        FILE = 1 << 6,
    }
}

shared! {
    /// Namespace inode numbers, in this order in every record.
    pub mod ns as Some("ct_ns"), "CT_NS_" {
        PID = 0,
        MNT = 1,
        NET = 2,
        UTS = 3,
        IPC = 4,
        USER = 5,
        CGROUP = 6,
        MAX = 7,
    }
}

pub const NS_COUNT: usize = ns::MAX as usize;

shared! {
    /// `ct_cgroup_dir.op`.
    pub mod cgroup_dir as None, "CT_CGDIR_" {
        CREATED = 1,
        REMOVED = 2,
    }
}

shared! {
    /// `enum ct_op`: one per recorded syscall family; the table in [`crate::OPS`] says what
    /// each is.
    pub mod op as Some("ct_op"), "CT_OP_" {
        MOUNT = 1,
        UMOUNT = 2,
        SETNS = 3,
        UNSHARE = 4,
        CHROOT = 5,
        PIVOT_ROOT = 6,
        SETUID = 7,
        SETGID = 8,
        SETREUID = 9,
        SETREGID = 10,
        SETRESUID = 11,
        SETRESGID = 12,
        SETFSUID = 13,
        SETFSGID = 14,
        CAPSET = 15,
        PTRACE = 16,
        /// the module's name comes from the module:module_load tracepoint
        INIT_MODULE = 17,
        FINIT_MODULE = 18,
        /// bpf(BPF_PROG_LOAD, ...) only; other bpf() commands are skipped in the kernel
        BPF_PROG_LOAD = 19,
        /// TCP sockets only (v4, v6)
        CONNECT = 20,
        /// accept and accept4, TCP only; EAGAIN results are skipped
        ACCEPT = 21,
        MAX = 22,
    }
}

shared! {
    /// Slots of `CT_HOOK_OPS`: the ops (bit `1 << op`) that a hook shared by every syscall
    /// records, written by the loader once it knows which rung each activity kind got, so
    /// that no syscall is recorded by two rungs.
    pub mod hook_set as None, "CT_HOOKS_" {
        /// raw sys_enter/sys_exit
        RAW = 0,
        /// the end of __secure_computing (the refusals that function rungs cannot see)
        SECCOMP = 1,
        MAX = 2,
    }
}

/// Every group, for the generated header.
pub const GROUPS: [CGroup; 11] = [
    limit::C,
    kind::C,
    verdict::C,
    scope::C,
    counter::C,
    flags::C,
    exe_flags::C,
    ns::C,
    cgroup_dir::C,
    op::C,
    hook_set::C,
];

pub const COMM_LEN: usize = limit::COMM_LEN as usize;
pub use limit::{ARGV_DEFAULT, ARGV_MAX};
