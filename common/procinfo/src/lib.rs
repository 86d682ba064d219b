//! Reading what /proc says about a process: namespace inodes, cgroups, stat fields.
//!
//! The I/O half of classification, shared by the recorder (snapshot, host facts) and
//! `ctrail classify --pid`; the deciding half stays pure in `ctrail_classify`.

use std::{fs, path::Path};

use ctrail_classify::{self as classify, CgroupLine, CgroupSet, PathMatch};

pub const NS_NAMES: [&str; 7] = ["pid", "mnt", "net", "uts", "ipc", "user", "cgroup"];

/// The inode of a `/proc/PID/ns/NAME` link (`pid:[4026531836]`), 0 when unreadable.
pub fn ns_inode(link: &Path) -> u32 {
    fs::read_link(link)
        .ok()
        .and_then(|t| {
            let t = t.to_string_lossy().into_owned();
            let start = t.find('[')? + 1;
            t[start..].trim_end_matches(']').parse().ok()
        })
        .unwrap_or(0)
}

/// Namespace inodes of the process at `proc_dir`, in the kernel record's order.
pub fn ns_of(proc_dir: &Path) -> [u32; 7] {
    NS_NAMES.map(|n| ns_inode(&proc_dir.join("ns").join(n)))
}

/// The host's namespaces: PID 1's, or ours where PID 1's links cannot be read (some
/// sandboxes hide them; ctrail runs on the host, so its own are the host's then).
pub fn host_ns() -> [u32; 7] {
    let pid1 = ns_of(Path::new("/proc/1"));
    let me = ns_of(Path::new("/proc/self"));
    std::array::from_fn(|i| if pid1[i] != 0 { pid1[i] } else { me[i] })
}

pub fn cgroups_of(proc_dir: &Path) -> Option<CgroupSet> {
    fs::read_to_string(proc_dir.join("cgroup")).ok().and_then(|t| CgroupSet::parse(&t).ok())
}

/// The cgroup paths that mean "the host" in each hierarchy. Ours where we are not in a
/// container (on some machines every job sits in `memory:/process_api/<hex>`, a path PID 1
/// does not have), else PID 1's.
pub fn host_baseline(pid1: Option<&CgroupSet>, me: Option<&CgroupSet>) -> Option<CgroupSet> {
    let base = me.or(pid1)?;
    let lines = base
        .lines
        .iter()
        .map(|l| {
            let mine = me.and_then(|m| m.path_in(l));
            let theirs = pid1.and_then(|p| p.path_in(l));
            let usable = |p: &str| !matches!(classify::match_path(p), PathMatch::Container(_));
            let path = match (mine, theirs) {
                (Some(m), _) if usable(m) => m,
                (_, Some(t)) => t,
                _ => "/",
            };
            CgroupLine { path: path.to_string(), ..l.clone() }
        })
        .collect();
    Some(CgroupSet { lines })
}

/// The host baseline of this machine, read now.
pub fn host_cgroups() -> Option<CgroupSet> {
    host_baseline(cgroups_of(Path::new("/proc/1")).as_ref(), cgroups_of(Path::new("/proc/self")).as_ref())
}

/// (comm, ppid, start ticks) from /proc/PID/stat; comm may hold spaces and parentheses.
pub fn parse_stat(stat: &str) -> Option<(String, u32, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_string();
    let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // rest[0] is field 3 (state); ppid is field 4, starttime field 22.
    let ppid = rest.get(1)?.parse().ok()?;
    let start = rest.get(19)?.parse().ok()?;
    Some((comm, ppid, start))
}

pub fn stat_of(pid: u32) -> Option<(String, u32, u64)> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_comm() {
        let s = "42 (a) b (c)) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 0 0";
        assert_eq!(parse_stat(s), Some(("a) b (c)".to_string(), 7, 12345)));
    }

    #[test]
    fn baseline_prefers_our_job_path_over_pid1() {
        let pid1 = CgroupSet::parse("4:memory:/\n0::/\n").unwrap();
        let me = CgroupSet::parse("4:memory:/process_api/ab\n0::/\n").unwrap();
        let b = host_baseline(Some(&pid1), Some(&me)).unwrap();
        assert_eq!(b.lines[0].path, "/process_api/ab");
        let in_docker =
            CgroupSet::parse("0::/docker/1111111111111111111111111111111111111111111111111111111111111111\n").unwrap();
        let b = host_baseline(Some(&pid1), Some(&in_docker)).unwrap();
        assert_eq!(b.lines[0].path, "/");
    }
}
