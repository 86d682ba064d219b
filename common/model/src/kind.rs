//! The one table of event kinds. Everything that lists kinds comes from here: `ctrail
//! events --type`, `ctrail-recorder run --activity`, their `--help` and error messages,
//! the JSON `type`, the docs' lists (checked by a test), and, through
//! `ctrail_wire::OPS`, which syscalls the kernel side records for each activity kind.
//!
//! Kinds are not stored (a stored event is a [`crate::Body`]); their order here is the
//! order in which help and docs list them.

/// What part of the history a kind belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// A process's life: exec, fork, exit, a cgroup move.
    Process,
    /// What a process did, recorded from a syscall (`--activity` picks these).
    Activity,
    /// A container's cgroup created or removed.
    Container,
}

macro_rules! kinds {
    ($($variant:ident = $name:literal, $class:ident, $about:literal;)*) => {
        /// One kind of recorded event.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventKind {
            $(#[doc = $about] $variant,)*
        }

        impl EventKind {
            /// Every kind, in the order help and docs list them.
            pub const ALL: [EventKind; [$($name),*].len()] = [$(EventKind::$variant),*];

            /// The name users type and read (`--type`, JSON `type`, CSV `type`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(EventKind::$variant => $name,)*
                }
            }

            pub const fn class(self) -> Class {
                match self {
                    $(EventKind::$variant => Class::$class,)*
                }
            }

            /// One line on what the kind records, for help texts.
            pub const fn about(self) -> &'static str {
                match self {
                    $(EventKind::$variant => $about,)*
                }
            }
        }
    };
}

kinds! {
    Exec = "exec", Process, "a program was executed: the exec snapshot (who, what, where, which container)";
    Fork = "fork", Process, "a new process";
    Exit = "exit", Process, "a process ended: exit code or signal";
    CgroupMove = "cgroup_move", Process, "a process joined another cgroup (how `docker exec` enters a container)";
    Mount = "mount", Activity, "mount(2), refused attempts included";
    Umount = "umount", Activity, "umount2(2)";
    Setns = "setns", Activity, "setns(2): joining another namespace (nsenter)";
    Unshare = "unshare", Activity, "unshare(2): new namespaces";
    Chroot = "chroot", Activity, "chroot(2)";
    PivotRoot = "pivot_root", Activity, "pivot_root(2)";
    CredChange = "cred_change", Activity, "the setuid family and capset: ids and capabilities before and after";
    Ptrace = "ptrace", Activity, "ptrace(2), with the target's container";
    ModuleLoad = "module_load", Activity, "init_module and finit_module: a kernel module load";
    BpfLoad = "bpf_load", Activity, "bpf(BPF_PROG_LOAD): a BPF program load";
    Connect = "connect", Activity, "a TCP connect over IPv4 or IPv6";
    Accept = "accept", Activity, "a TCP accept over IPv4 or IPv6";
    ContainerStart = "container_start", Container, "a runtime created a container's cgroup";
    ContainerEnd = "container_end", Container, "a runtime removed a container's cgroup";
}

impl EventKind {
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kinds of one class, in table order.
    pub fn of(class: Class) -> impl Iterator<Item = EventKind> {
        Self::ALL.into_iter().filter(move |k| k.class() == class)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        let mut names: Vec<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), EventKind::ALL.len());
    }
}
