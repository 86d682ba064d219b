//! The processes already running when the recorder starts, read from /proc.
//!
//! Taken after the probes are attached, so that nothing falls between the snapshot
//! and the first kernel event; processes that started after attach are left to the
//! kernel. The snapshot gives parents and containers older than the recorder.

use std::{fs, path::Path};

use ctrail_model::{Caps, Cgroups, Exec, Namespaces, Source, USER_HZ};
use ctrail_procinfo as procinfo;

use crate::{
    decode::split_argv,
    exe_file,
    host::{self, Host},
};

/// One running process as /proc shows it.
#[derive(Debug, Clone)]
pub struct Running {
    pub tgid: u32,
    pub ppid: u32,
    pub start_ticks: u64,
    pub parent_start_ticks: u64,
    pub exec: Exec,
}

fn status_field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')).map(str::trim)
}

fn ids(status: &str, name: &str) -> (u32, u32) {
    let mut it = status_field(status, name).unwrap_or_default().split_whitespace().map(|v| v.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

fn cap(status: &str, name: &str) -> u64 {
    status_field(status, name).and_then(|v| u64::from_str_radix(v, 16).ok()).unwrap_or(0)
}

fn read_one(dir: &Path, host: &Host) -> Option<Running> {
    let stat = fs::read_to_string(dir.join("stat")).ok()?;
    let (comm, ppid, start_ticks) = procinfo::parse_stat(&stat)?;
    let tgid: u32 = dir.file_name()?.to_str()?.parse().ok()?;
    let status = fs::read_to_string(dir.join("status")).unwrap_or_default();
    let cmdline = fs::read(dir.join("cmdline")).unwrap_or_default();
    let exe_file::FromProc { exe, cwd, file } = exe_file::from_proc(dir);
    let parent_start_ticks = procinfo::stat_of(ppid).map(|(_, _, t)| t).unwrap_or(0);
    let (uid, euid) = ids(&status, "Uid");
    let (gid, egid) = ids(&status, "Gid");
    let ns_pid = status_field(&status, "NSpid")
        .and_then(|v| v.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(tgid);
    let loginuid =
        fs::read_to_string(dir.join("loginuid")).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(u32::MAX);
    let cgroups = procinfo::cgroups_of(dir);
    let v2_path = cgroups.as_ref().and_then(|c| c.v2()).map(|l| l.path.clone()).unwrap_or_else(|| "/".into());
    let v1_path = match (&host.v1, &cgroups) {
        (Some(v1), Some(c)) => c.path_in(&v1.line).map(str::to_string),
        _ => None,
    };
    let ns = procinfo::ns_of(dir);
    Some(Running {
        tgid,
        ppid,
        start_ticks,
        parent_start_ticks,
        exec: Exec {
            source: Source::Procfs,
            ns_pid,
            old_tid: 0,
            comm,
            comm_before: None,
            // What was passed to exec is gone by now: unknown.
            filename: Vec::new(),
            exe,
            cwd,
            file,
            argv_bytes: cmdline.len() as u32,
            argv: split_argv(&cmdline),
            argv_truncated: false,
            uid,
            gid,
            euid,
            egid,
            loginuid,
            caps: Caps {
                effective: cap(&status, "CapEff"),
                permitted: cap(&status, "CapPrm"),
                inheritable: cap(&status, "CapInh"),
                bounding: cap(&status, "CapBnd"),
                ambient: cap(&status, "CapAmb"),
            },
            ns: Namespaces::from_array(ns),
            cgroups: Cgroups {
                v2_id: host::cgroup_id(host.v2_mount.as_deref(), &v2_path),
                v2_path,
                v1_id: match (&host.v1, &v1_path) {
                    (Some(v1), Some(p)) => host::cgroup_id(v1.mount.as_deref(), p),
                    _ => 0,
                },
                v1_hierarchy: v1_path.as_ref().and(host.v1.as_ref()).map(|v| v.line.hierarchy_name()),
                v1_path,
                truncated: false,
            },
        },
    })
}

/// Every process that started before `before_boot_ns`, parents first.
pub fn take(host: &Host, before_boot_ns: u64, self_tgid: u32) -> Vec<Running> {
    let limit_ticks = before_boot_ns / (1_000_000_000 / USER_HZ);
    let mut out: Vec<Running> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter_map(|e| read_one(&e.path(), host))
        .filter(|r| r.start_ticks <= limit_ticks && r.tgid != self_tgid)
        .collect();
    out.sort_by_key(|r| (r.start_ticks, r.tgid));
    out
}
