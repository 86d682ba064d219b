//! The JSON Lines output format (docs/output-format.md, version 1): one object per line.
//! Adding a key is compatible; renaming, removing or retyping one bumps the version.

use std::io::{self, Write};

use ctrail_model::Body;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::{
    time::rfc3339,
    view::{EventView, GapView, hex64},
};

pub fn event(v: &EventView<'_>) -> Value {
    let e = v.event;
    let mut o = Map::new();
    o.insert("type".into(), json!(v.kind()));
    o.insert("time".into(), json!(v.time()));
    o.insert("pid".into(), json!(e.proc.tgid));
    o.insert("tid".into(), json!(e.tid));
    o.insert("ppid".into(), json!(e.ppid));
    o.insert("process_start".into(), json!(e.proc.start));
    o.insert("container_id".into(), json!(v.container_id()));
    o.insert("runtime".into(), json!(v.runtime()));
    match &e.body {
        Body::Exec(x) => {
            o.insert("source".into(), json!(v.source()));
            o.insert("exe".into(), json!(v.exe()));
            o.insert("argv".into(), json!(v.argv()));
            if let Some(h) = v.argv_hex() {
                o.insert("argv_hex".into(), json!(h));
            }
            o.insert("argv_truncated".into(), json!(x.argv_truncated));
            o.insert("comm".into(), json!(x.comm));
            o.insert("comm_before".into(), json!(x.comm_before));
            o.insert("ns_pid".into(), json!(x.ns_pid));
            o.insert("uid".into(), json!(x.uid));
            o.insert("gid".into(), json!(x.gid));
            o.insert("euid".into(), json!(x.euid));
            o.insert("egid".into(), json!(x.egid));
            o.insert("loginuid".into(), json!(x.loginuid));
            o.insert("cap_effective".into(), json!(hex64(x.caps.effective)));
            o.insert("cap_permitted".into(), json!(hex64(x.caps.permitted)));
            o.insert("cap_inheritable".into(), json!(hex64(x.caps.inheritable)));
            o.insert("cap_bounding".into(), json!(hex64(x.caps.bounding)));
            o.insert("cap_ambient".into(), json!(hex64(x.caps.ambient)));
            o.insert(
                "namespaces".into(),
                json!({"pid": x.ns.pid, "mnt": x.ns.mnt, "net": x.ns.net, "uts": x.ns.uts,
                       "ipc": x.ns.ipc, "user": x.ns.user, "cgroup": x.ns.cgroup}),
            );
            o.insert("cgroup".into(), json!(x.cgroups.v2_path));
            o.insert("cgroup_v1".into(), json!(x.cgroups.v1_path));
        }
        Body::Fork(f) => {
            o.insert("comm".into(), json!(f.comm));
            o.insert("ns_pid".into(), json!(f.ns_pid));
        }
        Body::Activity(a) => crate::activity::json_fields(a, &mut o),
        Body::Container(c) => {
            o.insert("cgroup".into(), json!(c.cgroup));
        }
        Body::CgroupMove(m) => {
            o.insert("hierarchy".into(), json!(m.hierarchy.as_deref().unwrap_or("v2")));
            o.insert("cgroup".into(), json!(m.path));
            o.insert("cgroup_id".into(), json!(m.cgroup_id));
        }
        Body::Exit(x) => {
            o.insert("exit_code".into(), json!(x.code()));
            o.insert("signal".into(), json!(x.signal()));
            o.insert("core_dumped".into(), json!(x.core_dumped()));
        }
    }
    Value::Object(o)
}

pub fn gap(g: &GapView<'_>) -> Value {
    json!({
        "type": "gap",
        "time": rfc3339(g.0.start),
        "start": rfc3339(g.0.start),
        "end": rfc3339(g.0.end),
        "lost": g.0.lost(),
        "lost_exec": g.0.lost_exec,
        "lost_fork": g.0.lost_fork,
        "lost_exit": g.0.lost_exit,
        "reason": g.reason(),
    })
}

/// serde_json escapes `"`, `\\` and the C0 controls; this also escapes DEL, the C1 controls
/// and the bidirectional controls ([`super::escape::is_hostile`]) as `\\uXXXX`, so that JSON
/// shown on a terminal is as inert as a table. Still plain JSON: every parser reads the
/// same strings back.
struct InertFormatter;

impl serde_json::ser::Formatter for InertFormatter {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if super::escape::is_hostile(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// One JSON Lines record: `v` and a newline.
pub fn write_line(out: &mut impl Write, v: &impl Serialize) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, InertFormatter);
    v.serialize(&mut ser).map_err(io::Error::from)?;
    out.write_all(b"\n")
}
