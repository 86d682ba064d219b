//! Flat views of stored records, shared by every output format.

use std::collections::HashMap;

use ctrail_common::{
    record::{Body, Container, Event, Gap, Source},
    store::Found,
};

use crate::time::rfc3339;

/// Every container by full ID, merged across segments.
pub type Containers = HashMap<String, Container>;

/// One event as every output format sees it.
pub struct EventView<'a> {
    pub event: &'a Event,
    pub container: Option<&'a Container>,
}

impl<'a> EventView<'a> {
    /// The merged container record (runtime as finally known), found by the event's ID.
    pub fn new(found: &'a Found, containers: &'a Containers) -> Self {
        let container = found.container.as_ref().map(|c| containers.get(&c.id).unwrap_or(c.as_ref()));
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

    /// argv as one shell-like line for tables and CSV: arguments with spaces or quotes are quoted.
    pub fn argv_line(&self) -> Option<String> {
        self.argv().map(|args| args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" "))
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

pub fn quote(a: &str) -> String {
    if !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b)) {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

pub fn hex64(v: u64) -> String {
    format!("{v:016x}")
}

pub struct GapView<'a>(pub &'a Gap);

impl GapView<'_> {
    pub fn reason(&self) -> String {
        match &self.0.reason {
            ctrail_common::record::GapReason::RingBufferFull => "ring buffer full".into(),
            ctrail_common::record::GapReason::StoreFailed(e) => format!("store failed: {e}"),
            ctrail_common::record::GapReason::RecorderDown { crashed: true } => "recorder crashed".into(),
            ctrail_common::record::GapReason::RecorderDown { crashed: false } => "recorder stopped".into(),
            ctrail_common::record::GapReason::Retention { segment, events } => {
                format!("retention deleted segment {segment} ({events} events)")
            }
        }
    }
}
