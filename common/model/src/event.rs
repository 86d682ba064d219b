//! One stored event: who, when, in which container, and what.

use serde::{Deserialize, Serialize};

use crate::{Action, Activity, CgroupMove, EventKind, Exec, Exit, Fork, ProcKey};

/// A container's cgroup appeared (`started`) or went away: when a runtime started or ended it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerLife {
    pub started: bool,
    pub cgroup: String,
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
