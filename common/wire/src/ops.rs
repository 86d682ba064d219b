//! The one table of what the kernel side records as activity: each op (`enum ct_op`),
//! the event kind it is stored as, and the syscalls whose tracepoints (or kernel functions)
//! record it. `--activity`, the tracepoints the loader attaches, the per-syscall programs
//! and the raw `sys_enter` dispatch of the kernel side all come from here.

use ctrail_model::EventKind;

use crate::consts::op;

/// One op: what it is stored as, and what `call` names it in a stored event.
#[derive(Debug, Clone, Copy)]
pub struct OpDef {
    pub op: u32,
    pub kind: EventKind,
    /// The call as users know it (`setresuid`, `finit_module`): stored with cred changes
    /// and module loads.
    pub call: &'static str,
    /// How many of its arguments are integers worth storing (a cred change's ids; capset's
    /// are pointers, so none).
    pub int_args: usize,
}

const fn d(op: u32, kind: EventKind, call: &'static str, int_args: usize) -> OpDef {
    OpDef { op, kind, call, int_args }
}

pub const OPS: [OpDef; 21] = [
    d(op::MOUNT, EventKind::Mount, "mount", 0),
    d(op::UMOUNT, EventKind::Umount, "umount", 0),
    d(op::SETNS, EventKind::Setns, "setns", 0),
    d(op::UNSHARE, EventKind::Unshare, "unshare", 0),
    d(op::CHROOT, EventKind::Chroot, "chroot", 0),
    d(op::PIVOT_ROOT, EventKind::PivotRoot, "pivot_root", 0),
    d(op::SETUID, EventKind::CredChange, "setuid", 1),
    d(op::SETGID, EventKind::CredChange, "setgid", 1),
    d(op::SETREUID, EventKind::CredChange, "setreuid", 2),
    d(op::SETREGID, EventKind::CredChange, "setregid", 2),
    d(op::SETRESUID, EventKind::CredChange, "setresuid", 3),
    d(op::SETRESGID, EventKind::CredChange, "setresgid", 3),
    d(op::SETFSUID, EventKind::CredChange, "setfsuid", 1),
    d(op::SETFSGID, EventKind::CredChange, "setfsgid", 1),
    d(op::CAPSET, EventKind::CredChange, "capset", 0),
    d(op::PTRACE, EventKind::Ptrace, "ptrace", 0),
    d(op::INIT_MODULE, EventKind::ModuleLoad, "init_module", 0),
    d(op::FINIT_MODULE, EventKind::ModuleLoad, "finit_module", 0),
    d(op::BPF_PROG_LOAD, EventKind::BpfLoad, "bpf", 0),
    d(op::CONNECT, EventKind::Connect, "connect", 0),
    d(op::ACCEPT, EventKind::Accept, "accept", 0),
];

/// The definition of `op`, if it is one.
pub fn op_def(op: u32) -> Option<&'static OpDef> {
    OPS.iter().find(|d| d.op == op)
}

/// The kernel's op bitmask (bit `1 << op`) for the ops stored as any of `kinds`.
pub fn op_bits(kinds: impl IntoIterator<Item = EventKind>) -> u32 {
    let kinds: Vec<EventKind> = kinds.into_iter().collect();
    OPS.iter().filter(|d| kinds.contains(&d.kind)).fold(0, |b, d| b | 1 << d.op)
}

/// One syscall recorded as activity: its tracepoints are `syscalls/sys_{enter,exit}_<name>`
/// and its programs `ct_enter_<name>` and `ct_exit_<name>`.
#[derive(Debug, Clone, Copy)]
pub struct SyscallDef {
    pub name: &'static str,
    pub op: u32,
    /// How many arguments its `sys_enter_<name>` record holds (reading past them makes the
    /// kernel refuse the program).
    pub nargs: u32,
    /// Its number on x86-64 and on arm64, for the raw `sys_enter` fallback.
    pub nr_x86_64: u32,
    pub nr_aarch64: u32,
}

const fn s(name: &'static str, op: u32, nargs: u32, nr_x86_64: u32, nr_aarch64: u32) -> SyscallDef {
    SyscallDef { name, op, nargs, nr_x86_64, nr_aarch64 }
}

pub const SYSCALLS: [SyscallDef; 22] = [
    s("mount", op::MOUNT, 5, 165, 40),
    s("umount", op::UMOUNT, 2, 166, 39),
    s("setns", op::SETNS, 2, 308, 268),
    s("unshare", op::UNSHARE, 1, 272, 97),
    s("chroot", op::CHROOT, 1, 161, 51),
    s("pivot_root", op::PIVOT_ROOT, 2, 155, 41),
    s("setuid", op::SETUID, 1, 105, 146),
    s("setgid", op::SETGID, 1, 106, 144),
    s("setreuid", op::SETREUID, 2, 113, 145),
    s("setregid", op::SETREGID, 2, 114, 143),
    s("setresuid", op::SETRESUID, 3, 117, 147),
    s("setresgid", op::SETRESGID, 3, 119, 149),
    s("setfsuid", op::SETFSUID, 1, 122, 151),
    s("setfsgid", op::SETFSGID, 1, 123, 152),
    s("capset", op::CAPSET, 2, 126, 91),
    s("ptrace", op::PTRACE, 4, 101, 117),
    s("init_module", op::INIT_MODULE, 3, 175, 105),
    s("finit_module", op::FINIT_MODULE, 3, 313, 273),
    s("bpf", op::BPF_PROG_LOAD, 3, 321, 280),
    s("connect", op::CONNECT, 3, 42, 203),
    s("accept", op::ACCEPT, 3, 43, 202),
    s("accept4", op::ACCEPT, 4, 288, 242),
];

#[cfg(test)]
mod tests {
    use super::*;
    use ctrail_model::kind::Class;

    #[test]
    fn every_activity_kind_has_ops_and_every_op_has_syscalls() {
        for k in EventKind::of(Class::Activity) {
            assert_ne!(op_bits([k]), 0, "{k} has no op");
        }
        for d in OPS {
            assert_eq!(d.kind.class(), Class::Activity, "op {} is stored as {}", d.op, d.kind);
            assert!(SYSCALLS.iter().any(|s| s.op == d.op), "op {} has no syscall", d.op);
            assert!(d.op > 0 && d.op < op::MAX);
        }
        let mut ops: Vec<u32> = OPS.iter().map(|d| d.op).collect();
        ops.dedup();
        assert_eq!(ops.len(), OPS.len(), "ops are unique and in order");
    }
}
