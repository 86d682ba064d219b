//! How the activity kinds (mount, setns, cred_change, ...) read: their JSON keys, their
//! events.csv columns and their one-line description, each built from the typed record.

use std::borrow::Cow;

pub use ctrail_model::describe::{bpf_prog_type, describe, errno_name, hex64, namespaces};
use ctrail_model::{Action, Activity, Connection, Creds, Namespaces};
use serde::Serialize;

use crate::output::csv_row::{Hex64, csv_row};

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Namespace inodes, as every JSON object names them.
#[derive(Serialize)]
pub struct NamespacesJson {
    pid: u32,
    mnt: u32,
    net: u32,
    uts: u32,
    ipc: u32,
    user: u32,
    cgroup: u32,
}

impl From<&Namespaces> for NamespacesJson {
    fn from(n: &Namespaces) -> Self {
        NamespacesJson { pid: n.pid, mnt: n.mnt, net: n.net, uts: n.uts, ipc: n.ipc, user: n.user, cgroup: n.cgroup }
    }
}

#[derive(Serialize)]
pub struct CredsJson {
    uid: u32,
    euid: u32,
    suid: u32,
    fsuid: u32,
    gid: u32,
    egid: u32,
    sgid: u32,
    fsgid: u32,
    cap_effective: String,
    cap_permitted: String,
    cap_inheritable: String,
}

impl From<&Creds> for CredsJson {
    fn from(c: &Creds) -> Self {
        CredsJson {
            uid: c.uid,
            euid: c.euid,
            suid: c.suid,
            fsuid: c.fsuid,
            gid: c.gid,
            egid: c.egid,
            sgid: c.sgid,
            fsgid: c.fsgid,
            cap_effective: hex64(c.cap_effective),
            cap_permitted: hex64(c.cap_permitted),
            cap_inheritable: hex64(c.cap_inheritable),
        }
    }
}

/// The keys of an activity event's JSON object after the common ones.
#[derive(Serialize)]
pub struct ActivityJson<'a> {
    result: i64,
    error: Option<Cow<'static, str>>,
    #[serde(flatten)]
    action: ActionJson<'a>,
    /// After the call, for setns and unshare (they change them).
    #[serde(skip_serializing_if = "Option::is_none")]
    namespaces: Option<NamespacesJson>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ActionJson<'a> {
    Mount {
        source: &'a str,
        target: &'a str,
        fstype: &'a str,
        flags: u64,
    },
    Umount {
        target: &'a str,
        flags: u64,
    },
    Setns {
        fd: i32,
        nstype: String,
    },
    Unshare {
        flags: u64,
        nstype: String,
    },
    Chroot {
        target: &'a str,
    },
    PivotRoot {
        target: &'a str,
        source: &'a str,
    },
    Ptrace {
        request: i64,
        target_pid: u32,
        target_container_id: Option<&'a str>,
    },
    CredChange {
        call: &'a str,
        args: &'a [i64],
        before: CredsJson,
        after: CredsJson,
    },
    ModuleLoad {
        call: &'a str,
        name: Option<&'a str>,
        file: Option<&'a str>,
        params: &'a str,
    },
    BpfLoad {
        prog_type: u32,
        prog_type_name: Option<&'static str>,
        name: &'a str,
        attach_type: u32,
        insns: u32,
    },
    Connection {
        local_address: String,
        local_port: u16,
        remote_address: String,
        remote_port: u16,
        family: &'static str,
    },
}

fn connection_json(c: &Connection) -> ActionJson<'static> {
    ActionJson::Connection {
        local_address: c.local.ip().to_string(),
        local_port: c.local.port(),
        remote_address: c.remote.ip().to_string(),
        remote_port: c.remote.port(),
        family: if c.remote.is_ipv6() { "ipv6" } else { "ipv4" },
    }
}

impl<'a> ActivityJson<'a> {
    pub fn new(a: &'a Activity) -> Self {
        let action = match &a.action {
            Action::Mount { source, target, fstype, flags } => {
                ActionJson::Mount { source, target, fstype, flags: *flags }
            }
            Action::Umount { target, flags } => ActionJson::Umount { target, flags: *flags },
            Action::Setns { fd, nstype } => ActionJson::Setns { fd: *fd, nstype: namespaces(*nstype) },
            Action::Unshare { flags } => ActionJson::Unshare { flags: *flags, nstype: namespaces(*flags) },
            Action::Chroot { path } => ActionJson::Chroot { target: path },
            Action::PivotRoot { new_root, put_old } => ActionJson::PivotRoot { target: new_root, source: put_old },
            Action::Ptrace { request, target_pid, target_container } => ActionJson::Ptrace {
                request: *request,
                target_pid: *target_pid,
                target_container_id: target_container.as_deref(),
            },
            Action::CredChange { call, args } => {
                ActionJson::CredChange { call, args, before: (&a.before).into(), after: (&a.after).into() }
            }
            Action::ModuleLoad { call, name, file, params } => {
                ActionJson::ModuleLoad { call, name: non_empty(name), file: non_empty(file), params }
            }
            Action::BpfLoad { prog_type, name, attach_type, insns } => ActionJson::BpfLoad {
                prog_type: *prog_type,
                prog_type_name: bpf_prog_type(*prog_type),
                name,
                attach_type: *attach_type,
                insns: *insns,
            },
            Action::Connect(c) | Action::Accept(c) => connection_json(c),
        };
        let namespaces =
            matches!(a.action, Action::Setns { .. } | Action::Unshare { .. }).then(|| NamespacesJson::from(&a.ns));
        ActivityJson { result: a.result, error: errno_name(a.result), action, namespaces }
    }
}

csv_row! {
/// The activity columns of events.csv (filled for the activity kinds, empty otherwise).
/// For ptrace, `target` is the target pid, `activity_source` its container and `flags`
/// the request.
#[derive(Default)]
pub struct ActivityCsv<'a> {
    result: Option<i64>,
    activity_source: Option<&'a str>,
    target: Option<Cow<'a, str>>,
    fstype: Option<&'a str>,
    flags: Option<i128>,
    nstype: Option<String>,
    uid_before: Option<u32>,
    uid_after: Option<u32>,
    euid_before: Option<u32>,
    euid_after: Option<u32>,
    cap_effective_before: Option<Hex64>,
    cap_effective_after: Option<Hex64>,
    name: Option<&'a str>,
    file: Option<&'a str>,
    params: Option<&'a str>,
    prog_type: Option<Cow<'a, str>>,
    attach_type: Option<u32>,
    local_address: Option<String>,
    local_port: Option<u16>,
    remote_address: Option<String>,
    remote_port: Option<u16>,
}
}

impl<'a> ActivityCsv<'a> {
    pub fn new(a: &'a Activity) -> Self {
        let mut v = ActivityCsv { result: Some(a.result), ..Default::default() };
        match &a.action {
            Action::Mount { source, target, fstype, flags } => {
                v.activity_source = Some(source);
                v.target = Some(Cow::Borrowed(target));
                v.fstype = Some(fstype);
                v.flags = Some(i128::from(*flags));
            }
            Action::Umount { target, flags } => {
                v.target = Some(Cow::Borrowed(target));
                v.flags = Some(i128::from(*flags));
            }
            Action::Setns { nstype, .. } => v.nstype = Some(namespaces(*nstype)),
            Action::Unshare { flags } => {
                v.flags = Some(i128::from(*flags));
                v.nstype = Some(namespaces(*flags));
            }
            Action::Chroot { path } => v.target = Some(Cow::Borrowed(path)),
            Action::PivotRoot { new_root, put_old } => {
                v.activity_source = Some(put_old);
                v.target = Some(Cow::Borrowed(new_root));
            }
            Action::Ptrace { request, target_pid, target_container } => {
                v.activity_source = Some(target_container.as_deref().unwrap_or_default());
                v.target = Some(Cow::Owned(target_pid.to_string()));
                v.flags = Some(i128::from(*request));
            }
            Action::CredChange { .. } => {
                v.uid_before = Some(a.before.uid);
                v.uid_after = Some(a.after.uid);
                v.euid_before = Some(a.before.euid);
                v.euid_after = Some(a.after.euid);
                v.cap_effective_before = Some(Hex64(a.before.cap_effective));
                v.cap_effective_after = Some(Hex64(a.after.cap_effective));
            }
            Action::ModuleLoad { name, file, params, .. } => {
                v.name = Some(name);
                v.file = Some(file);
                v.params = Some(params);
            }
            Action::BpfLoad { prog_type, name, attach_type, .. } => {
                v.name = Some(name);
                v.prog_type =
                    Some(bpf_prog_type(*prog_type).map_or_else(|| prog_type.to_string().into(), Cow::Borrowed));
                v.attach_type = Some(*attach_type);
            }
            Action::Connect(c) | Action::Accept(c) => {
                v.local_address = Some(c.local.ip().to_string());
                v.local_port = Some(c.local.port());
                v.remote_address = Some(c.remote.ip().to_string());
                v.remote_port = Some(c.remote.port());
            }
        }
        v
    }
}
