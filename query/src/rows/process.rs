//! One process (described by its latest exec, or its fork) in every output format: `ps`,
//! `tree`, `show`'s ancestry, and an exported case's processes.csv.

use std::borrow::Cow;

use ctrail_model::{Body, Container, Exit};
use ctrail_store::Found;
use serde::Serialize;

use super::{
    activity::describe,
    event::{argv_line, shown_container},
};
use crate::{
    output::{
        csv_row::{Hex64, Time, csv_row},
        table::short_id,
    },
    source::Source,
    time::rfc3339,
};

pub struct ProcRow<'a> {
    pub found: &'a Found,
    pub container: Option<&'a Container>,
    /// Wall-clock ns.
    pub started: u64,
}

impl<'a> ProcRow<'a> {
    pub fn new(found: &'a Found, src: &'a Source) -> Self {
        ProcRow { found, container: shown_container(found, src), started: src.started(found.event.proc) }
    }

    /// The command line as bytes (the writer escapes it).
    pub fn command(&self) -> Vec<u8> {
        match &self.found.event.body {
            Body::Exec(x) if x.argv.is_empty() => x.exe.clone(),
            Body::Exec(x) => argv_line(&x.argv),
            Body::Fork(f) => format!("[{}] (forked, no exec)", f.comm).into_bytes(),
            Body::CgroupMove(m) => format!("(moved into {}, no exec seen)", m.path).into_bytes(),
            Body::Activity(a) => describe(a).into_bytes(),
            Body::Container(c) => format!("(cgroup {})", c.cgroup).into_bytes(),
            Body::Exit(_) => Vec::new(),
        }
    }

    fn comm(&self) -> &'a str {
        match &self.found.event.body {
            Body::Exec(x) => &x.comm,
            Body::Fork(f) => &f.comm,
            Body::Exit(_) | Body::CgroupMove(_) | Body::Activity(_) | Body::Container(_) => "",
        }
    }

    fn uid(&self) -> Option<u32> {
        match &self.found.event.body {
            Body::Exec(x) => Some(x.uid),
            _ => None,
        }
    }

    pub fn container_id(&self) -> Option<&'a str> {
        self.container.map(|c| c.id.as_str())
    }

    pub fn runtime(&self) -> Option<&'static str> {
        self.container.and_then(|c| c.runtime).map(|r| r.as_str())
    }

    pub fn json(&self, depth: Option<usize>) -> ProcJson<'a> {
        let e = &self.found.event;
        let exec = match &e.body {
            Body::Exec(x) => Some(x),
            _ => None,
        };
        ProcJson {
            pid: e.proc.tgid,
            ppid: e.ppid,
            process_start: e.proc.start,
            started: rfc3339(self.started),
            container_id: self.container_id(),
            runtime: self.runtime(),
            comm: self.comm(),
            uid: self.uid(),
            exe: exec.map(|x| String::from_utf8_lossy(&x.exe)),
            argv: exec.map(|x| x.argv.iter().map(|a| String::from_utf8_lossy(a)).collect()),
            depth,
        }
    }

    pub fn csv(&self, depth: Option<usize>) -> ProcCsv<'a> {
        let e = &self.found.event;
        ProcCsv {
            pid: e.proc.tgid,
            ppid: e.ppid,
            started: Time(self.started),
            uid: self.uid(),
            container_id: self.container_id(),
            runtime: self.runtime(),
            command: self.command(),
            depth,
        }
    }

    pub const TABLE: &'static [&'static str] = &["PID", "PPID", "STARTED", "UID", "CONTAINER", "RUNTIME", "COMMAND"];

    pub fn table(&self) -> Vec<Vec<u8>> {
        let e = &self.found.event;
        vec![
            e.proc.tgid.to_string().into_bytes(),
            e.ppid.to_string().into_bytes(),
            crate::time::shown(self.started).into_bytes(),
            self.uid().map(|u| u.to_string()).unwrap_or_else(|| "-".into()).into_bytes(),
            self.container_id().map(short_id).unwrap_or_else(|| "-".into()).into_bytes(),
            self.runtime().unwrap_or("-").into(),
            self.command(),
        ]
    }
}

/// `ps` and `tree` (and `show`'s ancestry): one object per process.
#[derive(Serialize)]
pub struct ProcJson<'a> {
    pid: u32,
    ppid: u32,
    process_start: u64,
    started: String,
    container_id: Option<&'a str>,
    runtime: Option<&'static str>,
    comm: &'a str,
    uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exe: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    argv: Option<Vec<Cow<'a, str>>>,
    /// `tree` only: 0 for a root; each child comes after its parent.
    #[serde(skip_serializing_if = "Option::is_none")]
    depth: Option<usize>,
}

csv_row! {
/// `ps --format csv` and `tree --format csv` (which fills `depth`).
pub struct ProcCsv<'a> {
    pid: u32,
    ppid: u32,
    started: Time,
    uid: Option<u32>,
    container_id: Option<&'a str>,
    runtime: Option<&'static str>,
    command: Vec<u8>,
    depth: Option<usize>,
}
}

csv_row! {
/// One row of an exported case's processes.csv: a process with events in the window,
/// described by its latest exec there.
pub struct ProcessCsv<'a> {
    pid: u32,
    process_start: u64,
    started: Time,
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
    first_event: Time,
    last_event: Time,
    exit_code: Option<u32>,
    signal: Option<u32>,
}
}

impl<'a> ProcessCsv<'a> {
    /// `p` as described by its latest exec, with its first and last event and its exit.
    pub fn new(p: &ProcRow<'a>, first: u64, last: u64, exit: Option<Exit>) -> Self {
        let e = &p.found.event;
        let x = match &e.body {
            Body::Exec(x) => Some(x.as_ref()),
            _ => None,
        };
        ProcessCsv {
            pid: e.proc.tgid,
            process_start: e.proc.start,
            started: Time(p.started),
            ppid: e.ppid,
            container_id: p.container_id(),
            runtime: p.runtime(),
            exe: x.map(|x| x.exe.as_slice()),
            argv: x.map(|x| argv_line(&x.argv)),
            uid: x.map(|x| x.uid),
            gid: x.map(|x| x.gid),
            euid: x.map(|x| x.euid),
            egid: x.map(|x| x.egid),
            cap_effective: x.map(|x| Hex64(x.caps.effective)),
            first_event: Time(first),
            last_event: Time(last),
            exit_code: exit.and_then(|x| x.code()),
            signal: exit.and_then(|x| x.signal()),
        }
    }
}
