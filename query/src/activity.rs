//! How the activity kinds (mount, setns, cred_change, ...) read in every output format.

use ctrail_model::{Action, Activity, Connection, Creds};
use serde_json::{Map, Value, json};

use crate::view::hex64;

/// The errno names a responder reads at a glance; others print as numbers.
pub fn errno_name(result: i64) -> Option<String> {
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
        n => return Some(format!("errno {n}")),
    };
    Some(name.into())
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

fn creds_json(c: &Creds) -> Value {
    json!({
        "uid": c.uid, "euid": c.euid, "suid": c.suid, "fsuid": c.fsuid,
        "gid": c.gid, "egid": c.egid, "sgid": c.sgid, "fsgid": c.fsgid,
        "cap_effective": hex64(c.cap_effective), "cap_permitted": hex64(c.cap_permitted),
        "cap_inheritable": hex64(c.cap_inheritable),
    })
}

/// The kind's own keys of a JSON event object.
pub fn json_fields(a: &Activity, o: &mut Map<String, Value>) {
    o.insert("result".into(), json!(a.result));
    o.insert("error".into(), json!(errno_name(a.result)));
    match &a.action {
        Action::Mount { source, target, fstype, flags } => {
            o.insert("source".into(), json!(source));
            o.insert("target".into(), json!(target));
            o.insert("fstype".into(), json!(fstype));
            o.insert("flags".into(), json!(flags));
        }
        Action::Umount { target, flags } => {
            o.insert("target".into(), json!(target));
            o.insert("flags".into(), json!(flags));
        }
        Action::Setns { fd, nstype } => {
            o.insert("fd".into(), json!(fd));
            o.insert("nstype".into(), json!(namespaces(*nstype)));
        }
        Action::Unshare { flags } => {
            o.insert("flags".into(), json!(flags));
            o.insert("nstype".into(), json!(namespaces(*flags)));
        }
        Action::Chroot { path } => {
            o.insert("target".into(), json!(path));
        }
        Action::PivotRoot { new_root, put_old } => {
            o.insert("target".into(), json!(new_root));
            o.insert("source".into(), json!(put_old));
        }
        Action::Ptrace { request, target_pid, target_container } => {
            o.insert("request".into(), json!(request));
            o.insert("target_pid".into(), json!(target_pid));
            o.insert("target_container_id".into(), json!(target_container));
        }
        Action::CredChange { call, args } => {
            o.insert("call".into(), json!(call));
            o.insert("args".into(), json!(args));
            o.insert("before".into(), creds_json(&a.before));
            o.insert("after".into(), creds_json(&a.after));
        }
        Action::ModuleLoad { call, name, file, params } => {
            o.insert("call".into(), json!(call));
            o.insert("name".into(), json!(non_empty(name)));
            o.insert("file".into(), json!(non_empty(file)));
            o.insert("params".into(), json!(params));
        }
        Action::BpfLoad { prog_type, name, attach_type, insns } => {
            o.insert("prog_type".into(), json!(prog_type));
            o.insert("prog_type_name".into(), json!(bpf_prog_type(*prog_type)));
            o.insert("name".into(), json!(name));
            o.insert("attach_type".into(), json!(attach_type));
            o.insert("insns".into(), json!(insns));
        }
        Action::Connect(c) | Action::Accept(c) => {
            o.insert("local_address".into(), json!(c.local.ip().to_string()));
            o.insert("local_port".into(), json!(c.local.port()));
            o.insert("remote_address".into(), json!(c.remote.ip().to_string()));
            o.insert("remote_port".into(), json!(c.remote.port()));
            o.insert("family".into(), json!(family(c)));
        }
    }
    if matches!(a.action, Action::Setns { .. } | Action::Unshare { .. }) {
        let n = a.ns;
        o.insert(
            "namespaces".into(),
            json!({"pid": n.pid, "mnt": n.mnt, "net": n.net, "uts": n.uts, "ipc": n.ipc, "user": n.user, "cgroup": n.cgroup}),
        );
    }
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn family(c: &Connection) -> &'static str {
    if c.remote.is_ipv6() { "ipv6" } else { "ipv4" }
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

/// One readable line for tables and `show`.
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

/// The activity columns of events.csv, after the original ones (appending is compatible).
pub const CSV_COLUMNS: [&str; CSV_COUNT] = [
    "result",
    "activity_source",
    "target",
    "fstype",
    "flags",
    "nstype",
    "uid_before",
    "uid_after",
    "euid_before",
    "euid_after",
    "cap_effective_before",
    "cap_effective_after",
    "name",
    "file",
    "params",
    "prog_type",
    "attach_type",
    "local_address",
    "local_port",
    "remote_address",
    "remote_port",
];

const CSV_COUNT: usize = 21;

/// Values for [`CSV_COLUMNS`] (empty strings where the kind has none).
pub fn csv_values(a: &Activity) -> [String; CSV_COUNT] {
    let mut v: [String; CSV_COUNT] = Default::default();
    v[0] = a.result.to_string();
    match &a.action {
        Action::Mount { source, target, fstype, flags } => {
            v[1] = source.clone();
            v[2] = target.clone();
            v[3] = fstype.clone();
            v[4] = flags.to_string();
        }
        Action::Umount { target, flags } => {
            v[2] = target.clone();
            v[4] = flags.to_string();
        }
        Action::Setns { nstype, .. } => v[5] = namespaces(*nstype),
        Action::Unshare { flags } => {
            v[4] = flags.to_string();
            v[5] = namespaces(*flags);
        }
        Action::Chroot { path } => v[2] = path.clone(),
        Action::PivotRoot { new_root, put_old } => {
            v[1] = put_old.clone();
            v[2] = new_root.clone();
        }
        Action::Ptrace { request, target_pid, target_container } => {
            v[1] = target_container.clone().unwrap_or_default();
            v[2] = target_pid.to_string();
            v[4] = request.to_string();
        }
        Action::CredChange { .. } => {
            v[6] = a.before.uid.to_string();
            v[7] = a.after.uid.to_string();
            v[8] = a.before.euid.to_string();
            v[9] = a.after.euid.to_string();
            v[10] = hex64(a.before.cap_effective);
            v[11] = hex64(a.after.cap_effective);
        }
        Action::ModuleLoad { name, file, params, .. } => {
            v[12] = name.clone();
            v[13] = file.clone();
            v[14] = params.clone();
        }
        Action::BpfLoad { prog_type, name, attach_type, .. } => {
            v[12] = name.clone();
            v[15] = bpf_prog_type(*prog_type).map_or_else(|| prog_type.to_string(), str::to_string);
            v[16] = attach_type.to_string();
        }
        Action::Connect(c) | Action::Accept(c) => {
            v[17] = c.local.ip().to_string();
            v[18] = c.local.port().to_string();
            v[19] = c.remote.ip().to_string();
            v[20] = c.remote.port().to_string();
        }
    }
    v
}
