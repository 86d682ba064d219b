//! Owned domain records: what the store keeps and the query tool reads.
//!
//! These are decoupled from the kernel layout ([`crate::wire`]) so that the BPF side can
//! change without touching stored data, and they are encoded with bincode 2 (serde),
//! behind the store's format version ([`crate::store::FORMAT_VERSION`]).

use serde::{Deserialize, Serialize};

use crate::classify::Runtime;

/// Clock ticks per second of `/proc/PID/stat` start times (USER_HZ on every Linux ABI).
pub const USER_HZ: u64 = 100;
const NS_PER_TICK: u64 = 1_000_000_000 / USER_HZ;

/// A process, for good: PIDs are reused, (boot, tgid, start time) is not.
///
/// `start` is the start time in boot-clock nanoseconds rounded down to a clock tick,
/// because that is all `/proc/PID/stat` gives for processes that predate the
/// recorder, and the two sources must agree on the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProcKey {
    /// Index into the store's boots table.
    pub boot: u32,
    pub tgid: u32,
    pub start: u64,
}

impl ProcKey {
    pub fn new(boot: u32, tgid: u32, start_boot_ns: u64) -> Self {
        ProcKey { boot, tgid, start: start_boot_ns - start_boot_ns % NS_PER_TICK }
    }

    pub fn from_ticks(boot: u32, tgid: u32, ticks: u64) -> Self {
        ProcKey { boot, tgid, start: ticks * NS_PER_TICK }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Caps {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub bounding: u64,
    pub ambient: u64,
}

/// Namespace inode numbers (0: unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Namespaces {
    pub pid: u32,
    pub mnt: u32,
    pub net: u32,
    pub uts: u32,
    pub ipc: u32,
    pub user: u32,
    pub cgroup: u32,
}

impl Namespaces {
    /// From the kernel record's order: pid, mnt, net, uts, ipc, user, cgroup.
    pub fn from_array(a: [u32; 7]) -> Self {
        Namespaces { pid: a[0], mnt: a[1], net: a[2], uts: a[3], ipc: a[4], user: a[5], cgroup: a[6] }
    }

    pub fn to_array(self) -> [u32; 7] {
        [self.pid, self.mnt, self.net, self.uts, self.ipc, self.user, self.cgroup]
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cgroups {
    pub v2_path: String,
    pub v2_id: u64,
    /// Path in the v1 hierarchy chosen at start (`name=systemd`, `pids`, ...), if any.
    pub v1_path: Option<String>,
    pub v1_id: u64,
    pub v1_hierarchy: Option<String>,
    /// The kernel walked only part of a path (too deep or too long).
    pub truncated: bool,
}

/// Where an exec snapshot came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// Read in the kernel at `sched_process_exec`.
    Kernel,
    /// Read from `/proc` at recorder start: the process predates the recorder.
    Procfs,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exec {
    pub source: Source,
    pub ns_pid: u32,
    /// The thread that called exec, when it was not the leader.
    pub old_tid: u32,
    pub comm: String,
    /// comm just before exec (`runc:[2:INIT]` names runc), when the kernel gave it.
    pub comm_before: Option<String>,
    pub exe: Vec<u8>,
    /// Raw bytes: argv may be any bytes, and must come back exactly.
    pub argv: Vec<Vec<u8>>,
    pub argv_truncated: bool,
    /// Length in bytes of the whole argument area, even when truncated.
    pub argv_bytes: u32,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    pub loginuid: u32,
    pub caps: Caps,
    pub ns: Namespaces,
    pub cgroups: Cgroups,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fork {
    pub ns_pid: u32,
    pub comm: String,
    pub ns: Namespaces,
    pub cgroup_v2_id: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    /// The wait status as the kernel keeps it (`exit 7` is 1792, SIGKILL is 9).
    pub status: u32,
}

impl Exit {
    /// The exit code when the process exited normally.
    pub fn code(&self) -> Option<u32> {
        (self.status & 0x7f == 0).then_some((self.status >> 8) & 0xff)
    }

    /// The terminating signal when a signal killed the process.
    pub fn signal(&self) -> Option<u32> {
        let sig = self.status & 0x7f;
        (sig != 0 && sig != 0x7f).then_some(sig)
    }

    pub fn core_dumped(&self) -> bool {
        self.status & 0x80 != 0
    }
}

/// A process joined another cgroup: how a runtime puts `docker exec`'s process into the
/// container, and how a process leaves one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupMove {
    /// `None` for the cgroup v2 tree, else the recorded v1 hierarchy (`name=systemd`, ...).
    pub hierarchy: Option<String>,
    pub path: String,
    pub cgroup_id: u64,
}

/// User and group ids with the capability sets that go with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Creds {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub fsuid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub fsgid: u32,
    pub cap_effective: u64,
    pub cap_permitted: u64,
    pub cap_inheritable: u64,
}

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

/// A container's cgroup appeared (`started`) or went away: when a runtime started or ended it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerLife {
    pub started: bool,
    pub cgroup: String,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    Exec(Box<Exec>),
    Fork(Fork),
    Exit(Exit),
    CgroupMove(CgroupMove),
    Activity(Box<Activity>),
    Container(ContainerLife),
}

impl Body {
    pub fn kind(&self) -> EventKind {
        match self {
            Body::Exec(_) => EventKind::Exec,
            Body::Fork(_) => EventKind::Fork,
            Body::Exit(_) => EventKind::Exit,
            Body::CgroupMove(_) => EventKind::CgroupMove,
            Body::Activity(a) => match a.action {
                Action::Mount { .. } => EventKind::Mount,
                Action::Umount { .. } => EventKind::Umount,
                Action::Setns { .. } => EventKind::Setns,
                Action::Unshare { .. } => EventKind::Unshare,
                Action::Chroot { .. } => EventKind::Chroot,
                Action::PivotRoot { .. } => EventKind::PivotRoot,
                Action::CredChange { .. } => EventKind::CredChange,
                Action::Ptrace { .. } => EventKind::Ptrace,
                Action::ModuleLoad { .. } => EventKind::ModuleLoad,
                Action::BpfLoad { .. } => EventKind::BpfLoad,
                Action::Connect(_) => EventKind::Connect,
                Action::Accept(_) => EventKind::Accept,
            },
            Body::Container(c) if c.started => EventKind::ContainerStart,
            Body::Container(_) => EventKind::ContainerEnd,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventKind {
    Exec,
    Fork,
    Exit,
    CgroupMove,
    Mount,
    Umount,
    Setns,
    Unshare,
    Chroot,
    PivotRoot,
    CredChange,
    Ptrace,
    ContainerStart,
    ContainerEnd,
    ModuleLoad,
    BpfLoad,
    Connect,
    Accept,
}

impl EventKind {
    pub const ALL: [EventKind; 18] = [
        EventKind::Exec,
        EventKind::Fork,
        EventKind::Exit,
        EventKind::CgroupMove,
        EventKind::Mount,
        EventKind::Umount,
        EventKind::Setns,
        EventKind::Unshare,
        EventKind::Chroot,
        EventKind::PivotRoot,
        EventKind::CredChange,
        EventKind::Ptrace,
        EventKind::ModuleLoad,
        EventKind::BpfLoad,
        EventKind::Connect,
        EventKind::Accept,
        EventKind::ContainerStart,
        EventKind::ContainerEnd,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Exec => "exec",
            EventKind::Fork => "fork",
            EventKind::Exit => "exit",
            EventKind::CgroupMove => "cgroup_move",
            EventKind::Mount => "mount",
            EventKind::Umount => "umount",
            EventKind::Setns => "setns",
            EventKind::Unshare => "unshare",
            EventKind::Chroot => "chroot",
            EventKind::PivotRoot => "pivot_root",
            EventKind::CredChange => "cred_change",
            EventKind::Ptrace => "ptrace",
            EventKind::ContainerStart => "container_start",
            EventKind::ContainerEnd => "container_end",
            EventKind::ModuleLoad => "module_load",
            EventKind::BpfLoad => "bpf_load",
            EventKind::Connect => "connect",
            EventKind::Accept => "accept",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Wall-clock nanoseconds since the Unix epoch (boot clock plus the offset measured at start).
    pub time: u64,
    pub boot_ns: u64,
    pub proc: ProcKey,
    pub tid: u32,
    pub ppid: u32,
    /// Start time of the parent (tick-rounded boot ns), so the parent's key is known.
    pub parent_start: u64,
    /// Index into the containers table; `None` for host processes.
    pub container: Option<u32>,
    pub body: Body,
}

impl Event {
    pub fn parent_key(&self) -> ProcKey {
        ProcKey { boot: self.proc.boot, tgid: self.ppid, start: self.parent_start }
    }
}

/// A container as first and last seen, with the classifier's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub runtime: Option<Runtime>,
    pub name: Option<String>,
    pub pod_uid: Option<String>,
    pub outer_id: Option<String>,
    pub cgroup: Option<String>,
    pub reason: String,
    pub first_seen: u64,
    pub last_seen: u64,
    pub processes: u64,
    pub events: u64,
}

/// A window in which events were lost, and how many of each kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub start: u64,
    pub end: u64,
    pub lost_exec: u64,
    pub lost_fork: u64,
    pub lost_exit: u64,
    /// Every other kind (cgroup moves, ...).
    pub lost_other: u64,
    pub reason: GapReason,
}

impl Gap {
    pub fn lost(&self) -> u64 {
        self.lost_exec + self.lost_fork + self.lost_exit + self.lost_other
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GapReason {
    /// The kernel could not reserve ring-buffer space.
    RingBufferFull,
    /// Events reached userspace but could not be stored (disk full, I/O error).
    StoreFailed(String),
    /// The recorder was not running between two runs: stopped, or crashed (`kill -9`,
    /// power loss), in which case its last segment was recovered at the next start.
    RecorderDown { crashed: bool },
    /// Retention deleted a whole segment holding `events` events (`--retain`, `--max-size`).
    Retention { segment: String, events: u64 },
    // New variants go last: stored gaps name variants by position.
    /// The active segment was removed or replaced under the running recorder: the `events`
    /// it held are gone from this store (someone with root did it; the rest was kept).
    SegmentLost { segment: String, events: u64 },
    /// Something else in the data directory was changed under the running recorder (its lock
    /// file removed, say); nothing was lost, but the store says it happened.
    Tampered { detail: String },
}

/// The stable index of a boot in every segment: the first 32 bits of its boot id
/// (a random UUID), so that process keys agree across segments and recorder runs.
pub fn boot_index(boot_id: &str) -> u32 {
    let hex: String = boot_id.chars().filter(char::is_ascii_hexdigit).take(8).collect();
    u32::from_str_radix(&hex, 16)
        .unwrap_or_else(|_| boot_id.bytes().fold(2_166_136_261u32, |h, b| (h ^ u32::from(b)).wrapping_mul(16_777_619)))
}

/// The machine and run a store's events come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootInfo {
    pub boot_id: String,
    pub hostname: String,
    pub kernel: String,
    pub ctrail_version: String,
    /// Wall-clock ns minus boot-clock ns, measured at recorder start.
    pub wall_offset_ns: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_decoding() {
        let seven = Exit { status: 7 << 8 };
        assert_eq!((seven.code(), seven.signal()), (Some(7), None));
        let killed = Exit { status: 9 };
        assert_eq!((killed.code(), killed.signal()), (None, Some(9)));
    }

    #[test]
    fn proc_key_from_kernel_and_procfs_agree() {
        assert_eq!(ProcKey::new(0, 5, 123_456_789_012), ProcKey::from_ticks(0, 5, 12_345));
    }
}
