//! Facts about the host that the recorder measures once at start.

use std::{
    fs,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use ctrail_classify::{CgroupLine, CgroupSet};
use ctrail_model::BootInfo;
use ctrail_procinfo as procinfo;

/// Where the v1 hierarchies are; `None` on a pure cgroup v2 host.
#[derive(Debug, Clone)]
pub struct ChosenV1 {
    pub hierarchy_id: u32,
    pub line: CgroupLine,
    /// Where this hierarchy is mounted, to turn a path into a cgroup id (its inode).
    pub mount: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Host {
    pub boot: BootInfo,
    /// The host's namespace inodes (pid, mnt, net, uts, ipc, user, cgroup).
    pub ns: [u32; 7],
    /// The host's cgroup paths: paths every host process shares are no evidence.
    pub cgroups: Option<CgroupSet>,
    pub v1: Option<ChosenV1>,
    /// Where the cgroup v2 tree is mounted (`/sys/fs/cgroup` or `/sys/fs/cgroup/unified`).
    pub v2_mount: Option<PathBuf>,
}

/// CLOCK_REALTIME minus CLOCK_BOOTTIME, in ns: adds to a boot-clock stamp to give wall time.
pub fn wall_offset_ns() -> i64 {
    fn now(clock: libc::clockid_t) -> i128 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes into the timespec we own; both clocks always exist.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
    }
    // Bracket the boot clock reading with two wall readings to halve the error.
    let a = now(libc::CLOCK_REALTIME);
    let b = now(libc::CLOCK_BOOTTIME);
    let c = now(libc::CLOCK_REALTIME);
    ((a + c) / 2 - b) as i64
}

pub fn boot_ns_now() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: as in wall_offset_ns.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The v1 hierarchy whose path the kernel records next to the v2 path. `name=systemd`
/// first (what systemd-managed runtimes and nspawn use), then controllers that every
/// runtime populates; a hierarchy in which PID 1 is not at the root is shared by the
/// whole host (a per-job memory cgroup, say) and is a poor witness, so it comes last.
pub fn choose_v1(pid1: &CgroupSet) -> Option<ChosenV1> {
    let mut candidates: Vec<&CgroupLine> = pid1.by_preference().into_iter().filter(|l| !l.is_v2()).collect();
    candidates.sort_by_key(|l| l.path != "/");
    candidates.first().map(|l| ChosenV1 { hierarchy_id: l.hierarchy_id, line: (*l).clone(), mount: None })
}

/// cgroup mounts from /proc/self/mountinfo: (v2 mount, mount of each v1 hierarchy by its options).
fn cgroup_mounts() -> (Option<PathBuf>, Vec<(PathBuf, Vec<String>)>) {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v2 = None;
    let mut v1 = Vec::new();
    for line in text.lines() {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mountpoint = left.split(' ').nth(4).unwrap_or_default();
        let mut r = right.split(' ');
        let fstype = r.next().unwrap_or_default();
        let superopts = r.nth(1).unwrap_or_default();
        match fstype {
            "cgroup2" if v2.is_none() => v2 = Some(PathBuf::from(mountpoint)),
            "cgroup" => v1.push((PathBuf::from(mountpoint), superopts.split(',').map(str::to_string).collect())),
            _ => {}
        }
    }
    (v2, v1)
}

/// The cgroup id of a path: the inode of its directory (kernfs ids are inode numbers).
pub fn cgroup_id(mount: Option<&Path>, path: &str) -> u64 {
    mount.and_then(|m| fs::metadata(m.join(path.trim_start_matches('/'))).ok()).map(|m| m.ino()).unwrap_or(0)
}

pub fn discover(ctrail_version: &str) -> Result<Host> {
    let boot_id = fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .context("reading /proc/sys/kernel/random/boot_id")?
        .trim()
        .to_string();
    let hostname = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string();
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    let cgroups = fs::read_to_string("/proc/1/cgroup").ok().and_then(|t| CgroupSet::parse(&t).ok());
    let (v2_mount, v1_mounts) = cgroup_mounts();
    let v1 = cgroups.as_ref().and_then(choose_v1).map(|mut c| {
        c.mount = v1_mounts
            .iter()
            .find(|(_, opts)| c.line.controllers.iter().all(|ctl| opts.contains(ctl)))
            .map(|(m, _)| m.clone());
        c
    });
    Ok(Host {
        boot: BootInfo {
            boot_id,
            hostname,
            kernel,
            ctrail_version: ctrail_version.to_string(),
            wall_offset_ns: wall_offset_ns(),
            machine_id: machine_id(),
        },
        ns: procinfo::host_ns(),
        cgroups,
        v1,
        v2_mount,
    })
}

/// `/etc/machine-id` when it is one (32 lowercase hex digits, as systemd writes it); an
/// empty file (a not yet booted image) or anything else is none, never guessed.
fn machine_id() -> Option<String> {
    let text = fs::read_to_string("/etc/machine-id").ok()?;
    let id = text.trim();
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))).then(|| id.to_string())
}
