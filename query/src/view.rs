//! Flat views of stored records, shared by every output format.

use ctrail_model::{Body, Container, Event, Gap, Source};
use ctrail_store::Found;

use crate::time::rfc3339;

/// One event as every output format sees it.
pub struct EventView<'a> {
    pub event: &'a Event,
    pub container: Option<&'a Container>,
}

impl<'a> EventView<'a> {
    /// The merged container record (runtime as finally known), found by the event's ID.
    pub fn new(found: &'a Found, src: &'a crate::source::Source) -> Self {
        // The segment's own record suffices unless a later segment learned the runtime.
        let container = found.container.as_ref().map(|c| match c.runtime {
            Some(_) => c.as_ref(),
            None => src.containers().get(&c.id).unwrap_or(c.as_ref()),
        });
        EventView { event: &found.event, container }
    }

    pub fn kind(&self) -> &'static str {
        self.event.body.kind().as_str()
    }

    pub fn time(&self) -> String {
        rfc3339(self.event.time)
    }

    pub fn container_id(&self) -> Option<&str> {
        self.container.map(|c| c.id.as_str())
    }

    pub fn runtime(&self) -> Option<&'static str> {
        self.container.and_then(|c| c.runtime).map(|r| r.as_str())
    }

    pub fn exe(&self) -> Option<String> {
        match &self.event.body {
            Body::Exec(x) => Some(String::from_utf8_lossy(&x.exe).into_owned()),
            _ => None,
        }
    }

    pub fn argv(&self) -> Option<Vec<String>> {
        match &self.event.body {
            Body::Exec(x) => Some(x.argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect()),
            _ => None,
        }
    }

    /// Exact argv bytes as hex, only when some argument is not UTF-8 (JSON strings
    /// cannot carry such bytes, and argv must come back exactly).
    pub fn argv_hex(&self) -> Option<Vec<String>> {
        match &self.event.body {
            Body::Exec(x) if x.argv.iter().any(|a| std::str::from_utf8(a).is_err()) => {
                Some(x.argv.iter().map(|a| a.iter().map(|b| format!("{b:02x}")).collect()).collect())
            }
            _ => None,
        }
    }

    pub fn source(&self) -> Option<&'static str> {
        match &self.event.body {
            Body::Exec(x) => Some(match x.source {
                Source::Kernel => "kernel",
                Source::Procfs => "procfs",
            }),
            _ => None,
        }
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
pub fn quote_into(a: &[u8], out: &mut Vec<u8>) {
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

pub fn hex64(v: u64) -> String {
    format!("{v:016x}")
}

pub struct GapView<'a>(pub &'a Gap);

impl GapView<'_> {
    pub fn reason(&self) -> String {
        match &self.0.reason {
            ctrail_model::GapReason::RingBufferFull => "ring buffer full".into(),
            ctrail_model::GapReason::StoreFailed(e) => format!("store failed: {e}"),
            ctrail_model::GapReason::RecorderDown { crashed: true } => "recorder crashed".into(),
            ctrail_model::GapReason::RecorderDown { crashed: false } => "recorder stopped".into(),
            ctrail_model::GapReason::Retention { segment, events } => {
                format!("retention deleted segment {segment} ({events} events)")
            }
            ctrail_model::GapReason::SegmentLost { segment, events } => {
                format!("active segment {segment} removed or replaced under the recorder ({events} events lost)")
            }
            ctrail_model::GapReason::Tampered { detail } => format!("data directory changed: {detail}"),
        }
    }
}

/// One process, from its latest exec (or its fork), as `ps`, `tree`, `show` and the
/// export's processes.csv see it.
pub struct ProcView<'a> {
    pub found: &'a Found,
    pub container: Option<&'a Container>,
    pub started: u64,
}

impl<'a> ProcView<'a> {
    pub fn new(found: &'a Found, src: &'a crate::source::Source) -> Self {
        let container = found.container.as_ref().map(|c| match c.runtime {
            Some(_) => c.as_ref(),
            None => src.containers().get(&c.id).unwrap_or(c.as_ref()),
        });
        ProcView { found, container, started: src.started(found.event.proc) }
    }

    /// The command line as bytes (the writer escapes it).
    pub fn command(&self) -> Vec<u8> {
        match &self.found.event.body {
            Body::Exec(x) if x.argv.is_empty() => x.exe.clone(),
            Body::Exec(x) => argv_line(&x.argv),
            Body::Fork(f) => format!("[{}] (forked, no exec)", f.comm).into_bytes(),
            Body::CgroupMove(m) => format!("(moved into {}, no exec seen)", m.path).into_bytes(),
            Body::Activity(a) => crate::activity::describe(a).into_bytes(),
            Body::Container(c) => format!("(cgroup {})", c.cgroup).into_bytes(),
            Body::Exit(_) => Vec::new(),
        }
    }

    pub fn comm(&self) -> &str {
        match &self.found.event.body {
            Body::Exec(x) => &x.comm,
            Body::Fork(f) => &f.comm,
            Body::Exit(_) | Body::CgroupMove(_) | Body::Activity(_) | Body::Container(_) => "",
        }
    }

    pub fn uid(&self) -> Option<u32> {
        match &self.found.event.body {
            Body::Exec(x) => Some(x.uid),
            _ => None,
        }
    }

    pub fn json(&self) -> serde_json::Value {
        let e = &self.found.event;
        let mut v = serde_json::json!({
            "pid": e.proc.tgid,
            "ppid": e.ppid,
            "process_start": e.proc.start,
            "started": rfc3339(self.started),
            "container_id": self.container.map(|c| c.id.as_str()),
            "runtime": self.container.and_then(|c| c.runtime).map(|r| r.as_str()),
            "comm": self.comm(),
            "uid": self.uid(),
        });
        if let Body::Exec(x) = &e.body {
            v["exe"] = serde_json::json!(String::from_utf8_lossy(&x.exe));
            v["argv"] =
                serde_json::json!(x.argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>());
        }
        v
    }
}
