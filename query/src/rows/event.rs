//! One event in every output format: its JSON object, its events.csv row, its table row.

use std::borrow::Cow;

use ctrail_model::{Body, Container, Event, Source as ExecSource};
use ctrail_store::Found;
use serde::Serialize;

use super::activity::{ActivityCsv, ActivityJson, NamespacesJson, hex64};
use crate::{
    output::{
        csv_row::{CsvRecord, CsvRow, Hex64, Time, csv_row},
        escape,
    },
    source::Source,
    time::rfc3339,
};

/// An event with the container record it is shown with.
pub struct EventRow<'a> {
    pub event: &'a Event,
    pub container: Option<&'a Container>,
}

/// The container a stored event is shown with: its segment's record, unless that segment
/// was written before the runtime or the runtime's files were known (no metadata source,
/// not even "looked, none found"): the merged record then, which a later segment filled.
pub fn shown_container<'a>(found: &'a Found, src: &'a Source) -> Option<&'a Container> {
    found.container.as_ref().map(|c| match c.runtime {
        Some(_) if !c.meta.sources.is_empty() => c.as_ref(),
        _ => src.containers().get(&c.id).unwrap_or(c.as_ref()),
    })
}

impl<'a> EventRow<'a> {
    pub fn new(found: &'a Found, src: &'a Source) -> Self {
        EventRow { event: &found.event, container: shown_container(found, src) }
    }

    pub fn kind(&self) -> &'static str {
        self.event.body.kind().as_str()
    }

    pub fn container_id(&self) -> Option<&'a str> {
        self.container.map(|c| c.id.as_str())
    }

    pub fn runtime(&self) -> Option<&'static str> {
        self.container.and_then(|c| c.runtime).map(|r| r.as_str())
    }

    pub fn json(&self) -> EventJson<'a> {
        let e = self.event;
        let body = match &e.body {
            Body::Exec(x) => BodyJson::Exec(Box::new(ExecJson::new(x))),
            Body::Fork(f) => BodyJson::Fork { comm: &f.comm, ns_pid: f.ns_pid },
            Body::Activity(a) => BodyJson::Activity(Box::new(ActivityJson::new(a))),
            Body::Container(c) => BodyJson::Container { cgroup: &c.cgroup },
            Body::CgroupMove(m) => BodyJson::CgroupMove {
                hierarchy: m.hierarchy.as_deref().unwrap_or("v2"),
                cgroup: &m.path,
                cgroup_id: m.cgroup_id,
            },
            Body::Exit(x) => BodyJson::Exit { exit_code: x.code(), signal: x.signal(), core_dumped: x.core_dumped() },
        };
        EventJson {
            kind: self.kind(),
            time: rfc3339(e.time),
            pid: e.proc.tgid,
            tid: e.tid,
            ppid: e.ppid,
            process_start: e.proc.start,
            container_id: self.container_id(),
            runtime: self.runtime(),
            name: self.container.and_then(|c| c.name.as_deref()),
            image: self.container.and_then(|c| c.meta.image.as_deref()),
            pod_name: self.container.and_then(|c| c.meta.pod_name.as_deref()),
            pod_namespace: self.container.and_then(|c| c.meta.pod_namespace.as_deref()),
            body,
        }
    }

    pub fn csv(&self) -> EventCsv<'a> {
        let e = self.event;
        let mut base = EventBaseCsv {
            time: Time(e.time),
            r#type: self.kind(),
            pid: e.proc.tgid,
            tid: e.tid,
            ppid: e.ppid,
            container_id: self.container_id(),
            runtime: self.runtime(),
            exe: None,
            argv: None,
            uid: None,
            gid: None,
            euid: None,
            egid: None,
            cap_effective: None,
            comm: None,
            comm_before: None,
            exit_code: None,
            signal: None,
            cgroup: None,
            source: None,
        };
        let mut exact = None;
        let mut file = ExeFileCsv::default();
        match &e.body {
            Body::Exec(x) => {
                file = ExeFileCsv::new(x);
                base.exe = Some(&x.exe);
                base.argv = Some(argv_line(&x.argv));
                base.uid = Some(x.uid);
                base.gid = Some(x.gid);
                base.euid = Some(x.euid);
                base.egid = Some(x.egid);
                base.cap_effective = Some(Hex64(x.caps.effective));
                base.comm = Some(&x.comm);
                base.comm_before = Some(x.comm_before.as_deref().unwrap_or_default());
                base.cgroup = Some(&x.cgroups.v2_path);
                base.source = Some(exec_source(x.source));
                exact = Some(ExactCsv::new(&x.exe, &x.argv));
            }
            Body::Fork(f) => base.comm = Some(&f.comm),
            Body::CgroupMove(m) => base.cgroup = Some(&m.path),
            Body::Container(c) => base.cgroup = Some(&c.cgroup),
            Body::Exit(x) => {
                base.exit_code = x.code();
                base.signal = x.signal();
            }
            Body::Activity(_) => {}
        }
        let activity = match &e.body {
            Body::Activity(a) => Some(ActivityCsv::new(a)),
            _ => None,
        };
        EventCsv { base, activity, exact: exact.unwrap_or_default(), file }
    }

    /// TIME, TYPE, PID, PPID, CONTAINER, RUNTIME, DETAIL.
    pub fn table(&self) -> Vec<Vec<u8>> {
        let e = self.event;
        vec![
            crate::time::shown(e.time).into_bytes(),
            self.kind().into(),
            e.proc.tgid.to_string().into_bytes(),
            e.ppid.to_string().into_bytes(),
            self.container_id().map(crate::output::table::short_id).unwrap_or_else(|| "-".into()).into_bytes(),
            self.runtime().unwrap_or("-").into(),
            self.detail(),
        ]
    }

    /// One line on what happened (argv as bytes: the table escapes them).
    pub fn detail(&self) -> Vec<u8> {
        match &self.event.body {
            Body::Exec(x) if x.argv.is_empty() => x.exe.clone(),
            Body::Exec(x) => argv_line(&x.argv),
            other => ctrail_model::describe::summary(other).unwrap_or_default().into_bytes(),
        }
    }
}

pub fn exec_source(s: ExecSource) -> &'static str {
    match s {
        ExecSource::Kernel => "kernel",
        ExecSource::Procfs => "procfs",
    }
}

/// The JSON object of one event: the keys every kind has, then the kind's own
/// (docs/output-format.md).
#[derive(Serialize)]
pub struct EventJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    time: String,
    pid: u32,
    tid: u32,
    ppid: u32,
    process_start: u64,
    container_id: Option<&'a str>,
    runtime: Option<&'static str>,
    /// The container's name, image and pod (null when unknown or on the host).
    name: Option<&'a str>,
    image: Option<&'a str>,
    pod_name: Option<&'a str>,
    pod_namespace: Option<&'a str>,
    #[serde(flatten)]
    body: BodyJson<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum BodyJson<'a> {
    Exec(Box<ExecJson<'a>>),
    Fork { comm: &'a str, ns_pid: u32 },
    Activity(Box<ActivityJson<'a>>),
    Container { cgroup: &'a str },
    CgroupMove { hierarchy: &'a str, cgroup: &'a str, cgroup_id: u64 },
    Exit { exit_code: Option<u32>, signal: Option<u32>, core_dumped: bool },
}

#[derive(Serialize)]
struct ExecJson<'a> {
    source: &'static str,
    exe: Cow<'a, str>,
    argv: Vec<Cow<'a, str>>,
    /// Only when some argument is not UTF-8: each argument's exact bytes in hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    argv_hex: Option<Vec<String>>,
    argv_truncated: bool,
    comm: &'a str,
    comm_before: Option<&'a str>,
    ns_pid: u32,
    uid: u32,
    gid: u32,
    euid: u32,
    egid: u32,
    loginuid: u32,
    cap_effective: String,
    cap_permitted: String,
    cap_inheritable: String,
    cap_bounding: String,
    cap_ambient: String,
    namespaces: NamespacesJson,
    cgroup: &'a str,
    cgroup_v1: Option<&'a str>,
    #[serde(flatten)]
    file: ExeFileJson<'a>,
}

/// What was passed to exec, the cwd, and the executed file (null where not known: a
/// store before format 4, a process that predates the recorder for `filename`).
#[derive(Serialize)]
struct ExeFileJson<'a> {
    filename: Option<Cow<'a, str>>,
    /// Only when `exe`, `filename` or `cwd` is not UTF-8: its exact bytes in hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    exe_hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filename_hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cwd_hex: Option<String>,
    cwd: Option<Cow<'a, str>>,
    exe_inode: Option<u64>,
    exe_dev: Option<String>,
    exe_size: Option<u64>,
    exe_mode: Option<String>,
    exe_uid: Option<u32>,
    exe_gid: Option<u32>,
    exe_mtime: Option<String>,
    exe_ctime: Option<String>,
    /// null off overlayfs (and when not known).
    exe_upper_layer: Option<bool>,
    exe_memfd: Option<bool>,
    exe_deleted: Option<bool>,
    exe_setuid: Option<bool>,
    exe_setgid: Option<bool>,
    exe_path_truncated: Option<bool>,
    cwd_truncated: Option<bool>,
}

fn non_utf8_hex(b: &[u8]) -> Option<String> {
    std::str::from_utf8(b).is_err().then(|| hex(b))
}

/// A file time (ns since the epoch, never negative on a real file) as RFC 3339.
fn file_time(ns: i64) -> String {
    rfc3339(ns.max(0) as u64)
}

impl<'a> ExeFileJson<'a> {
    fn new(x: &'a ctrail_model::Exec) -> Self {
        let f = x.file.as_ref();
        ExeFileJson {
            filename: (!x.filename.is_empty()).then(|| String::from_utf8_lossy(&x.filename)),
            exe_hex: non_utf8_hex(&x.exe),
            filename_hex: non_utf8_hex(&x.filename),
            cwd_hex: x.cwd.as_deref().and_then(non_utf8_hex),
            cwd: x.cwd.as_deref().map(String::from_utf8_lossy),
            exe_inode: f.map(|f| f.inode),
            exe_dev: f.map(|f| f.dev_string()),
            exe_size: f.map(|f| f.size),
            exe_mode: f.map(|f| format!("{:07o}", f.mode)),
            exe_uid: f.map(|f| f.uid),
            exe_gid: f.map(|f| f.gid),
            exe_mtime: f.map(|f| file_time(f.mtime_ns)),
            exe_ctime: f.map(|f| file_time(f.ctime_ns)),
            exe_upper_layer: f.and_then(|f| f.upper_layer()),
            exe_memfd: f.map(|f| f.memfd),
            exe_deleted: f.map(|f| f.deleted),
            exe_setuid: f.map(|f| f.setuid()),
            exe_setgid: f.map(|f| f.setgid()),
            exe_path_truncated: f.map(|f| f.path_truncated),
            cwd_truncated: f.map(|f| f.cwd_truncated),
        }
    }
}

csv_row! {
/// The columns of events.csv after the exact bytes (added in store format 4; appended, so
/// the columns before keep their places): what was passed to exec, the cwd, the file.
#[derive(Default)]
pub struct ExeFileCsv<'a> {
    filename: Option<&'a [u8]>,
    cwd: Option<&'a [u8]>,
    exe_inode: Option<u64>,
    exe_dev: Option<String>,
    exe_size: Option<u64>,
    exe_mode: Option<String>,
    exe_uid: Option<u32>,
    exe_gid: Option<u32>,
    exe_mtime: Option<Time>,
    exe_ctime: Option<Time>,
    exe_upper_layer: Option<bool>,
    exe_memfd: Option<bool>,
    exe_deleted: Option<bool>,
    exe_setuid: Option<bool>,
    exe_setgid: Option<bool>,
}
}

impl<'a> ExeFileCsv<'a> {
    fn new(x: &'a ctrail_model::Exec) -> Self {
        let f = x.file.as_ref();
        ExeFileCsv {
            filename: (!x.filename.is_empty()).then_some(x.filename.as_slice()),
            cwd: x.cwd.as_deref(),
            exe_inode: f.map(|f| f.inode),
            exe_dev: f.map(|f| f.dev_string()),
            exe_size: f.map(|f| f.size),
            exe_mode: f.map(|f| format!("{:07o}", f.mode)),
            exe_uid: f.map(|f| f.uid),
            exe_gid: f.map(|f| f.gid),
            exe_mtime: f.map(|f| Time(f.mtime_ns.max(0) as u64)),
            exe_ctime: f.map(|f| Time(f.ctime_ns.max(0) as u64)),
            exe_upper_layer: f.and_then(|f| f.upper_layer()),
            exe_memfd: f.map(|f| f.memfd),
            exe_deleted: f.map(|f| f.deleted),
            exe_setuid: f.map(|f| f.setuid()),
            exe_setgid: f.map(|f| f.setgid()),
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

impl<'a> ExecJson<'a> {
    fn new(x: &'a ctrail_model::Exec) -> Self {
        ExecJson {
            source: exec_source(x.source),
            exe: String::from_utf8_lossy(&x.exe),
            argv: x.argv.iter().map(|a| String::from_utf8_lossy(a)).collect(),
            argv_hex: x
                .argv
                .iter()
                .any(|a| std::str::from_utf8(a).is_err())
                .then(|| x.argv.iter().map(|a| hex(a)).collect()),
            argv_truncated: x.argv_truncated,
            comm: &x.comm,
            comm_before: x.comm_before.as_deref(),
            ns_pid: x.ns_pid,
            uid: x.uid,
            gid: x.gid,
            euid: x.euid,
            egid: x.egid,
            loginuid: x.loginuid,
            cap_effective: hex64(x.caps.effective),
            cap_permitted: hex64(x.caps.permitted),
            cap_inheritable: hex64(x.caps.inheritable),
            cap_bounding: hex64(x.caps.bounding),
            cap_ambient: hex64(x.caps.ambient),
            namespaces: (&x.ns).into(),
            cgroup: &x.cgroups.v2_path,
            cgroup_v1: x.cgroups.v1_path.as_deref(),
            file: ExeFileJson::new(x),
        }
    }
}

csv_row! {
/// The first columns of events.csv.
pub struct EventBaseCsv<'a> {
    time: Time,
    r#type: &'static str,
    pid: u32,
    tid: u32,
    ppid: u32,
    container_id: Option<&'a str>,
    runtime: Option<&'static str>,
    exe: Option<&'a [u8]>,
    argv: Option<Vec<u8>>,
    uid: Option<u32>,
    gid: Option<u32>,
    euid: Option<u32>,
    egid: Option<u32>,
    cap_effective: Option<Hex64>,
    comm: Option<&'a str>,
    comm_before: Option<&'a str>,
    exit_code: Option<u32>,
    signal: Option<u32>,
    cgroup: Option<&'a str>,
    source: Option<&'static str>,
}
}

csv_row! {
/// The last columns of events.csv: filled only when `exe` or `argv` needed escaping, so
/// that what the process passed comes back exactly (each argument's bytes in hex,
/// space-separated).
#[derive(Default)]
pub struct ExactCsv {
    exe_hex: Option<String>,
    argv_hex: Option<String>,
}
}

impl ExactCsv {
    fn new(exe: &[u8], argv: &[Vec<u8>]) -> Self {
        let exact = |b: &[u8]| matches!(escape::bytes(b), Cow::Borrowed(_));
        ExactCsv {
            exe_hex: (!exact(exe)).then(|| hex(exe)),
            argv_hex: (!argv.iter().all(|a| exact(a)))
                .then(|| argv.iter().map(|a| hex(a)).collect::<Vec<_>>().join(" ")),
        }
    }
}

/// One row of events.csv: the base columns, the activity kinds' (appended, so older
/// readers of the first ones still work), then the exact bytes.
pub struct EventCsv<'a> {
    base: EventBaseCsv<'a>,
    activity: Option<ActivityCsv<'a>>,
    exact: ExactCsv,
    file: ExeFileCsv<'a>,
}

impl CsvRecord for EventCsv<'_> {
    const WIDTH: usize = EventBaseCsv::WIDTH + ActivityCsv::WIDTH + ExactCsv::WIDTH + ExeFileCsv::WIDTH;

    fn header() -> Vec<&'static str> {
        [EventBaseCsv::header(), ActivityCsv::header(), ExactCsv::header(), ExeFileCsv::header()].concat()
    }

    fn push_into(&self, row: &mut CsvRow) {
        self.base.push_into(row);
        self.activity.push_into(row);
        self.exact.push_into(row);
        self.file.push_into(row);
    }
}

/// argv as one shell-like line for tables and CSV: arguments with spaces or quotes are
/// quoted. Bytes stay bytes: the writer escapes what must be escaped, reversibly.
pub fn argv_line(argv: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(argv.iter().map(|a| a.len() + 1).sum());
    for (i, a) in argv.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        quote_into(a, &mut out);
    }
    out
}

/// Appends `a`, shell-quoted when it holds anything but plain characters. A quote inside
/// is written `'"'"'` rather than `'\\''`: the output escaping turns every backslash into
/// two, and quoting should not add any.
fn quote_into(a: &[u8], out: &mut Vec<u8>) {
    if !a.is_empty() && a.iter().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(b)) {
        out.extend_from_slice(a);
    } else {
        out.push(b'\'');
        for &b in a {
            if b == b'\'' {
                out.extend_from_slice(b"'\"'\"'");
            } else {
                out.push(b);
            }
        }
        out.push(b'\'');
    }
}
