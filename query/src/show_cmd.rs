//! `ctrail show PID`: one process, its ancestry and its events. PIDs are reused: every
//! process that had the PID is found, and `--at` picks the one that had it then.

use std::{io::Write, process::ExitCode};

use anyhow::Result;
use ctrail_model::{Body, ProcKey};
use ctrail_store::Found;
use serde::Serialize;

use crate::{
    cli::ShowArgs,
    output::{self, OneFormat, json, line},
    rows::{
        activity::{describe, hex64},
        event::{EventJson, EventRow, argv_line},
        process::{ProcJson, ProcRow},
    },
    source::Source,
    time::{self, rfc3339},
};

/// The record that describes a process best: its latest exec, else its fork.
fn describing(events: &[Found]) -> Option<&Found> {
    events
        .iter()
        .rev()
        .find(|f| matches!(f.event.body, Body::Exec(_)))
        .or_else(|| events.iter().find(|f| matches!(f.event.body, Body::Fork(_))))
}

/// The newest process that had `pid` (at `at`, when given), with its events.
fn choose(src: &Source, pid: u32, at: Option<u64>) -> Option<Vec<Found>> {
    for k in src.reader.procs_with_tgid(pid).into_iter().rev() {
        let events = src.reader.events_of(k);
        let start = src.started(k);
        let end = events.iter().find(|f| matches!(f.event.body, Body::Exit(_))).map(|f| f.event.time);
        if at.is_none_or(|t| start <= t && end.is_none_or(|e| e >= t)) {
            return Some(events);
        }
    }
    None
}

/// Its parents, nearest first, each described by its own latest exec (at most 64: a loop
/// of recorded parents cannot make this endless).
fn ancestry(src: &Source, of: ProcKey) -> Vec<Found> {
    let mut out: Vec<Found> = Vec::new();
    let mut cur = of;
    while out.len() < 64 && cur.tgid > 0 {
        let evs = src.reader.events_of(cur);
        let Some(p) = describing(&evs) else { break };
        let next = p.event.parent_key();
        out.push(p.clone());
        if next == cur {
            break;
        }
        cur = next;
    }
    out
}

/// Everything `show` knows about the process.
struct Shown<'a> {
    me: &'a Found,
    others: usize,
    ancestry: &'a [Found],
    events: &'a [Found],
}

#[derive(Serialize)]
struct ShowJson<'a> {
    process: EventJson<'a>,
    started: String,
    other_processes_with_this_pid: usize,
    ancestry: Vec<ProcJson<'a>>,
    events: Vec<EventJson<'a>>,
}

fn print_json(src: &Source, s: &Shown) -> Result<()> {
    let v = ShowJson {
        process: EventRow::new(s.me, src).json(),
        started: rfc3339(src.started(s.me.event.proc)),
        other_processes_with_this_pid: s.others,
        ancestry: s.ancestry.iter().map(|a| ProcRow::new(a, src).json(None)).collect(),
        events: s.events.iter().map(|e| EventRow::new(e, src).json()).collect(),
    };
    json::write_line(&mut std::io::stdout().lock(), &v)?;
    Ok(())
}

fn print_text(src: &Source, s: &Shown, pid: u32) -> Result<()> {
    let out = &mut std::io::stdout().lock();
    let view = ProcRow::new(s.me, src);
    let e = &s.me.event;
    line(out, format!("process {} started {}", e.proc.tgid, time::shown(view.started)))?;
    if s.others > 0 {
        line(out, format!("  ({} other processes had PID {pid}; --at picks one)", s.others))?;
    }
    line(out, [b"  command    ".as_slice(), &view.command()].concat())?;
    match view.container {
        Some(c) => line(
            out,
            format!("  container  {} ({})", c.id, c.runtime.map(|r| r.as_str()).unwrap_or("runtime unknown")),
        )?,
        None => line(out, "  container  - (host)")?,
    }
    if let Body::Exec(x) = &e.body {
        exec_lines(out, x)?;
    }
    line(out, "ancestry")?;
    for a in s.ancestry {
        let v = ProcRow::new(a, src);
        let ctr = v.container.map(|c| format!(" [{}]", c.id)).unwrap_or_default();
        line(out, [format!("  {} ", a.event.proc.tgid).into_bytes(), v.command(), ctr.into_bytes()].concat())?;
    }
    line(out, "events")?;
    for f in s.events {
        line(
            out,
            [format!("  {} {:<5} ", time::shown(f.event.time), f.event.body.kind()).into_bytes(), detail(f)].concat(),
        )?;
    }
    Ok(())
}

fn exec_lines(out: &mut impl Write, x: &ctrail_model::Exec) -> std::io::Result<()> {
    line(out, [b"  exe        ".as_slice(), &x.exe].concat())?;
    line(out, format!("  comm       {} (before exec: {})", x.comm, x.comm_before.as_deref().unwrap_or("?")))?;
    line(out, format!("  uid/gid    {}/{} (euid {}, egid {}, loginuid {})", x.uid, x.gid, x.euid, x.egid, x.loginuid))?;
    line(
        out,
        format!(
            "  caps       eff {} prm {} inh {} bnd {} amb {}",
            hex64(x.caps.effective),
            hex64(x.caps.permitted),
            hex64(x.caps.inheritable),
            hex64(x.caps.bounding),
            hex64(x.caps.ambient)
        ),
    )?;
    line(
        out,
        format!(
            "  ns         pid {} mnt {} net {} uts {} ipc {} user {} cgroup {} (pid {} inside)",
            x.ns.pid, x.ns.mnt, x.ns.net, x.ns.uts, x.ns.ipc, x.ns.user, x.ns.cgroup, x.ns_pid
        ),
    )?;
    line(out, format!("  cgroup     {} (v1: {})", x.cgroups.v2_path, x.cgroups.v1_path.as_deref().unwrap_or("-")))
}

/// One event of the process, in words (argv as bytes: `line` escapes them).
fn detail(f: &Found) -> Vec<u8> {
    match &f.event.body {
        Body::Exit(x) => match (x.code(), x.signal()) {
            (Some(c), _) => format!("exit code {c}").into_bytes(),
            (_, Some(s)) => format!("killed by signal {s}").into_bytes(),
            _ => Vec::new(),
        },
        Body::Exec(x) => argv_line(&x.argv),
        Body::Fork(_) => format!("forked by {}", f.event.ppid).into_bytes(),
        Body::CgroupMove(m) => format!("moved to cgroup {}", m.path).into_bytes(),
        Body::Activity(a) => describe(a).into_bytes(),
        Body::Container(c) => format!("cgroup {}", c.cgroup).into_bytes(),
    }
}

pub fn run(args: ShowArgs) -> Result<ExitCode> {
    let src = Source::open(&args.data_dir)?;
    let at = args.at.as_deref().map(|a| time::moment(Some(a))).transpose()?;
    let others = src.reader.procs_with_tgid(args.pid).len().saturating_sub(1);
    let Some(events) = choose(&src, args.pid, at) else {
        match at {
            Some(t) => eprintln!("ctrail: no process had PID {} at {}", args.pid, rfc3339(t)),
            None => eprintln!("ctrail: no process with PID {} in this store", args.pid),
        }
        return Ok(src.finish(false));
    };
    let Some(me) = describing(&events) else { return Ok(src.finish(false)) };
    let ancestry = ancestry(&src, me.event.parent_key());
    let shown = Shown { me, others, ancestry: &ancestry, events: &events };
    match output::resolve_one(args.format) {
        OneFormat::Json => print_json(&src, &shown)?,
        OneFormat::Table => print_text(&src, &shown, args.pid)?,
    }
    Ok(src.finish(true))
}
