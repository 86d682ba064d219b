//! What a process did: the syscalls recorded as activity, with their results.

use serde::{Deserialize, Serialize};

use crate::{Creds, Namespaces};

/// What a process did, read at the syscall's entry (arguments) and exit (result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Mount {
        source: String,
        target: String,
        fstype: String,
        flags: u64,
    },
    Umount {
        target: String,
        flags: u64,
    },
    /// `nstype` is a CLONE_NEW* flag, or 0 for "whatever `fd` is".
    Setns {
        fd: i32,
        nstype: u64,
    },
    Unshare {
        flags: u64,
    },
    Chroot {
        path: String,
    },
    PivotRoot {
        new_root: String,
        put_old: String,
    },
    /// setuid, setresuid, ..., capset: `call` names it, `args` are its integer arguments.
    CredChange {
        call: String,
        args: Vec<i64>,
    },
    /// `request` is PTRACE_*; the target's container is resolved when recorded.
    Ptrace {
        request: i64,
        target_pid: u32,
        target_container: Option<String>,
    },
    // New variants go last: stored events name variants by position.
    /// init_module or finit_module (`call`). `name` comes from the kernel's module_load
    /// tracepoint, so only loads that got that far have it; `file` is finit_module's file.
    ModuleLoad {
        call: String,
        name: String,
        file: String,
        params: String,
    },
    /// bpf(BPF_PROG_LOAD): the result is the new program's descriptor.
    BpfLoad {
        prog_type: u32,
        name: String,
        attach_type: u32,
        insns: u32,
    },
    /// A TCP connect: `remote` is what was asked for, `local` the end the kernel bound.
    Connect(Connection),
    /// A TCP accept: on failure only `local` (the listening end) is known.
    Accept(Connection),
}

/// The two ends of a TCP connection. An unbound end reads as `0.0.0.0:0` or `[::]:0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub local: std::net::SocketAddr,
    pub remote: std::net::SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub action: Action,
    /// The syscall's return: 0 (or a new id) on success, -errno on failure. A denied
    /// mount is evidence too.
    pub result: i64,
    pub before: Creds,
    pub after: Creds,
    /// Namespaces after the call (setns and unshare change them).
    pub ns: Namespaces,
}
