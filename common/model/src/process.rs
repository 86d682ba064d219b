//! A process and what describes it: its key, its exec snapshot, its fork, its exit, a
//! cgroup move, its credentials.

use serde::{Deserialize, Serialize};

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
    /// The executed file's path as the process saw it, resolved in the kernel from the
    /// file it runs (a relative path, a symlink or `/dev/fd/3` become the file's own path;
    /// a memfd is `/memfd:NAME`). What was passed to exec where nothing better is known:
    /// stores before format 4, snapshots whose `/proc/PID/exe` did not read.
    #[serde(with = "serde_bytes")]
    pub exe: Vec<u8>,
    /// Raw bytes: argv may be any bytes, and must come back exactly.
    #[serde(with = "byte_strings")]
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
    /// What was passed to exec (`bprm->filename`), as given.
    #[serde(with = "serde_bytes")]
    pub filename: Vec<u8>,
    /// The working directory at exec, as the process saw it (`None`: not known).
    #[serde(with = "serde_bytes")]
    pub cwd: Option<Vec<u8>>,
    /// The executed file itself (`None`: not known, as in stores before format 4).
    pub file: Option<ExeFile>,
}

/// The file an exec ran, as the kernel found it at the exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExeFile {
    /// The file system's device, as `stat` gives it (`major:minor` in [`Self::dev_string`]).
    pub dev_major: u32,
    pub dev_minor: u32,
    pub inode: u64,
    pub size: u64,
    /// File type and permission bits, set-id bits included (`st_mode`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    /// Nanoseconds since the epoch.
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    /// On overlayfs (a container's root file system, usually).
    pub overlay: bool,
    /// On overlayfs and copied to its upper layer: written (or changed) after the
    /// container started, so not the image's file.
    pub upper_layer: bool,
    /// A memfd (`memfd_create` and `fexecve`): the binary was never on any disk.
    pub memfd: bool,
    /// No name links the file any more: deleted after it was started (or a memfd).
    pub deleted: bool,
    /// The kernel walked only part of the exe path or of the cwd (deeper than 64 levels
    /// or longer than 4096 bytes): the leaf side is kept.
    pub path_truncated: bool,
    pub cwd_truncated: bool,
}

impl ExeFile {
    pub fn setuid(&self) -> bool {
        self.mode & 0o4000 != 0
    }

    pub fn setgid(&self) -> bool {
        // Set-gid without group execute is mandatory locking, not a set-id program.
        self.mode & 0o2010 == 0o2010
    }

    /// `upper_layer` where it means something: `None` off overlayfs.
    pub fn upper_layer(&self) -> Option<bool> {
        self.overlay.then_some(self.upper_layer)
    }

    pub fn dev_string(&self) -> String {
        format!("{}:{}", self.dev_major, self.dev_minor)
    }
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

/// `Vec<Vec<u8>>` as a sequence of byte strings. Serde's default writes a `Vec<u8>` byte by
/// byte: in the stored encoding (bincode) the bytes come out the same either way (a length,
/// then the bytes), but one call per byte made encoding the largest cost of ingest.
mod byte_strings {
    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};

    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(serde_bytes::Bytes::new(b))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Ok(Vec::<serde_bytes::ByteBuf>::deserialize(d)?.into_iter().map(serde_bytes::ByteBuf::into_vec).collect())
    }
}
