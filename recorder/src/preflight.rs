//! What this kernel and this process can do, checked before anything is loaded, so
//! that a missing piece is one clear message with its fix rather than a verifier dump.

use std::{fs, path::Path};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Missing {
    #[error(
        "ctrail-recorder needs root (or CAP_BPF with CAP_PERFMON) to load its kernel programs; \
         run it as root, e.g. `sudo ctrail-recorder run`"
    )]
    Privileges,
    #[error(
        "this kernel has no BTF at /sys/kernel/btf/vmlinux: ctrail's CO-RE programs need a kernel built \
         with CONFIG_DEBUG_INFO_BTF=y (every major distribution kernel since 2021 has it)"
    )]
    Btf,
    #[error("kernel {found} is too old: ctrail needs Linux 5.8 or newer (BPF ring buffer, tp_btf)")]
    KernelTooOld { found: String },
    #[error(
        "ctrail-recorder runs in a PID namespace of its own (it is PID 1): it must see the host's processes; \
         run the container with --pid=host (Kubernetes: hostPID: true)"
    )]
    NotHostPid,
    #[error(
        "ctrail-recorder is in a cgroup namespace that is not the host's (cgroup paths would come out \
         relative to its own container) and could not join the host's through /proc/1/ns/cgroup ({0}); \
         run the container with --cgroupns=host, or give it CAP_SYS_ADMIN and the host's PID namespace"
    )]
    NotHostCgroupNs(String),
}

/// Inside a container: the host's view must be there, or which mount or flag is missing
/// is said (outside one every check holds trivially).
pub fn host_view() -> Result<Vec<String>, Missing> {
    if std::process::id() == 1 {
        return Err(Missing::NotHostPid);
    }
    let ns = |p: &str| fs::read_link(p).ok();
    let mut warnings = Vec::new();
    // With the host's PID namespace, PID 1 is the host's init: its cgroup namespace is the
    // host's. A container's own (cgroup v2 runtimes make one per container, and Kubernetes
    // cannot ask for the host's) is left for the host's, before any thread starts.
    if let (Some(mine), Some(init)) = (ns("/proc/self/ns/cgroup"), ns("/proc/1/ns/cgroup"))
        && mine != init
    {
        join_host_cgroup_ns().map_err(|e| Missing::NotHostCgroupNs(e.to_string()))?;
        warnings.push(format!(
            "was in cgroup namespace {}, not the host's {}: joined the host's through /proc/1/ns/cgroup",
            mine.display(),
            init.display()
        ));
    }
    Ok(warnings)
}

/// Effective capabilities of this process.
fn cap_effective() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("CapEff:")).and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

pub fn privileged() -> bool {
    let caps = cap_effective();
    let has = |c: u32| caps & (1u64 << c) != 0;
    has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))
}

/// (major, minor) of a release string such as `6.18.44-fc-v669`.
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

pub fn kernel_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string()
}

pub fn btf_present() -> bool {
    Path::new("/sys/kernel/btf/vmlinux").exists()
}

/// Everything that must hold before loading; the first failure, with its fix.
pub fn check() -> Result<(), Missing> {
    let release = kernel_release();
    if kernel_version(&release).is_some_and(|v| v < (5, 8)) {
        return Err(Missing::KernelTooOld { found: release });
    }
    if !btf_present() {
        return Err(Missing::Btf);
    }
    if !privileged() {
        return Err(Missing::Privileges);
    }
    for w in host_view()? {
        tracing::warn!("{w}");
    }
    Ok(())
}

fn join_host_cgroup_ns() -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = fs::File::open("/proc/1/ns/cgroup")?;
    // SAFETY: setns on a namespace descriptor we hold open; no memory is shared.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWCGROUP) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK. Raising it may be refused
/// (no CAP_SYS_RESOURCE, as in some CI sandboxes); newer kernels do not need it, so a
/// failure is only worth a debug line.
pub fn raise_memlock() {
    let lim = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: setrlimit reads the struct we pass; no memory is shared.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) } != 0 {
        tracing::debug!(
            "could not raise RLIMIT_MEMLOCK ({}); fine on kernels >= 5.11",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(kernel_version("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(kernel_version("5.4.0-150-generic"), Some((5, 4)));
        assert_eq!(kernel_version("garbage"), None);
    }
}
