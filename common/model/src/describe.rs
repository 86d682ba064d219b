//! How a recorded action reads in one line, and the names behind it (errno, namespaces,
//! BPF program types): one wording for `ctrail`'s tables and the Parquet files' `detail`
//! column, which the recorder writes too.

use std::borrow::Cow;

use crate::{Action, Activity, Body, Gap, GapReason};

/// The errno names a responder reads at a glance; others print as numbers.
pub fn errno_name(result: i64) -> Option<Cow<'static, str>> {
    if result >= 0 {
        return None;
    }
    let name = match -result {
        1 => "EPERM",
        2 => "ENOENT",
        9 => "EBADF",
        13 => "EACCES",
        14 => "EFAULT",
        16 => "EBUSY",
        17 => "EEXIST",
        20 => "ENOTDIR",
        22 => "EINVAL",
        30 => "EROFS",
        38 => "ENOSYS",
        98 => "EADDRINUSE",
        101 => "ENETUNREACH",
        110 => "ETIMEDOUT",
        111 => "ECONNREFUSED",
        113 => "EHOSTUNREACH",
        115 => "EINPROGRESS",
        n => return Some(Cow::Owned(format!("errno {n}"))),
    };
    Some(Cow::Borrowed(name))
}

const CLONE_FLAGS: [(u64, &str); 8] = [
    (0x0002_0000, "mnt"),
    (0x0200_0000, "cgroup"),
    (0x0400_0000, "uts"),
    (0x0800_0000, "ipc"),
    (0x1000_0000, "user"),
    (0x2000_0000, "pid"),
    (0x4000_0000, "net"),
    (0x0000_0080, "time"),
];

/// CLONE_NEW* flags as namespace names (`mnt,pid`).
pub fn namespaces(flags: u64) -> String {
    CLONE_FLAGS.iter().filter(|(f, _)| flags & f != 0).map(|(_, n)| *n).collect::<Vec<_>>().join(",")
}

/// `enum bpf_prog_type` names (uapi, stable numbering) for the common program types.
pub fn bpf_prog_type(t: u32) -> Option<&'static str> {
    const NAMES: [&str; 33] = [
        "unspec",
        "socket_filter",
        "kprobe",
        "sched_cls",
        "sched_act",
        "tracepoint",
        "xdp",
        "perf_event",
        "cgroup_skb",
        "cgroup_sock",
        "lwt_in",
        "lwt_out",
        "lwt_xmit",
        "sock_ops",
        "sk_skb",
        "cgroup_device",
        "sk_msg",
        "raw_tracepoint",
        "cgroup_sock_addr",
        "lwt_seg6local",
        "lirc_mode2",
        "sk_reuseport",
        "flow_dissector",
        "cgroup_sysctl",
        "raw_tracepoint_writable",
        "cgroup_sockopt",
        "tracing",
        "struct_ops",
        "ext",
        "lsm",
        "sk_lookup",
        "syscall",
        "netfilter",
    ];
    NAMES.get(t as usize).copied()
}

pub fn hex64(v: u64) -> String {
    format!("{v:016x}")
}

/// One readable line for tables, `show` and Parquet's `detail`.
pub fn describe(a: &Activity) -> String {
    let outcome = match errno_name(a.result) {
        Some(e) => format!(" -> {e}"),
        None => String::new(),
    };
    let what = match &a.action {
        Action::Mount { source, target, fstype, .. } => format!("mount {source} on {target} ({fstype})"),
        Action::Umount { target, .. } => format!("umount {target}"),
        Action::Setns { nstype, .. } => {
            format!("setns {}", if *nstype == 0 { "(any)".into() } else { namespaces(*nstype) })
        }
        Action::Unshare { flags } => format!("unshare {}", namespaces(*flags)),
        Action::Chroot { path } => format!("chroot {path}"),
        Action::PivotRoot { new_root, put_old } => format!("pivot_root {new_root} {put_old}"),
        Action::Ptrace { request, target_pid, target_container } => format!(
            "ptrace request {request} on {target_pid}{}",
            target_container.as_deref().map(|c| format!(" in container {c}")).unwrap_or_default()
        ),
        Action::CredChange { call, args } => format!(
            "{call}({}) uid {}->{} euid {}->{} caps {}->{}",
            args.iter().map(i64::to_string).collect::<Vec<_>>().join(", "),
            a.before.uid,
            a.after.uid,
            a.before.euid,
            a.after.euid,
            hex64(a.before.cap_effective),
            hex64(a.after.cap_effective)
        ),
        Action::ModuleLoad { call, name, file, .. } => match (name.is_empty(), file.is_empty()) {
            (false, _) => format!("{call} {name}"),
            (true, false) => format!("{call} from {file}"),
            (true, true) => call.clone(),
        },
        Action::BpfLoad { prog_type, name, .. } => format!(
            "bpf load {} program {}",
            bpf_prog_type(*prog_type).map_or_else(|| format!("type {prog_type}"), str::to_string),
            if name.is_empty() { "(unnamed)" } else { name }
        ),
        Action::Connect(c) => format!("connect {} -> {}", c.local, c.remote),
        Action::Accept(c) => format!("accept {} <- {}", c.local, c.remote),
    };
    format!("{what}{outcome}")
}

/// The one line on what an event did, for every kind but exec (whose argv is its line).
pub fn summary(body: &Body) -> Option<String> {
    let mut s = String::new();
    write_summary(body, &mut s).ok()?.then_some(s)
}

/// [`summary`] written into `out` (a column builder: no String per event); false for an
/// exec, which has none.
pub fn write_summary(body: &Body, out: &mut impl std::fmt::Write) -> Result<bool, std::fmt::Error> {
    match body {
        Body::Exec(_) => return Ok(false),
        Body::Fork(f) => write!(out, "{} forked", f.comm)?,
        Body::CgroupMove(m) => write!(out, "moved to cgroup {} ({})", m.path, m.hierarchy.as_deref().unwrap_or("v2"))?,
        Body::Activity(a) => out.write_str(&describe(a))?,
        Body::Container(c) => write!(out, "{} (cgroup {})", if c.started { "started" } else { "ended" }, c.cgroup)?,
        Body::Exit(x) => match (x.code(), x.signal()) {
            (Some(c), _) => write!(out, "exit {c}")?,
            (_, Some(s)) => write!(out, "killed by signal {s}")?,
            _ => write!(out, "status {}", x.status)?,
        },
    }
    Ok(true)
}

/// Why events were lost, in words.
pub fn gap_reason(g: &Gap) -> String {
    match &g.reason {
        GapReason::RingBufferFull => "ring buffer full".into(),
        GapReason::StoreFailed(e) => format!("store failed: {e}"),
        GapReason::RecorderDown { crashed: true } => "recorder crashed".into(),
        GapReason::RecorderDown { crashed: false } => "recorder stopped".into(),
        GapReason::Retention { segment, events } => format!("retention deleted segment {segment} ({events} events)"),
        GapReason::SegmentLost { segment, events } => {
            // The active segment's wording is what earlier versions printed (stable output).
            if segment.ends_with(".active.redb") {
                format!("active segment {segment} removed or replaced under the recorder ({events} events lost)")
            } else {
                format!("sealed segment {segment} removed behind the recorder ({events} events lost)")
            }
        }
        GapReason::Tampered { detail } => format!("data directory changed: {detail}"),
        GapReason::Undecodable { records, first_error } => {
            format!("{records} kernel records could not be decoded (the first: {first_error})")
        }
        GapReason::Damaged { segment, events, detail } => {
            let held = if *events > 0 { format!("{events} events") } else { "its events".into() };
            format!("segment {segment} was damaged ({detail}) and set aside; {held} are not in answers")
        }
    }
}
