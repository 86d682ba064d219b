//! `ctrail show PID`: one process, its ancestry and its events. PIDs are reused: every
//! process that had the PID is found, and `--at` picks the one that had it then.

use std::process::ExitCode;

use anyhow::Result;
use ctrail_model::{Body, ProcKey};
use ctrail_store::Found;

use crate::{
    cli::{Format, ShowArgs},
    output::{self, json, line},
    source::Source,
    time::{self, rfc3339},
    view::{EventView, ProcView, hex64},
};

/// The record that describes a process best: its latest exec, else its fork.
fn describing(events: &[Found]) -> Option<&Found> {
    events
        .iter()
        .rev()
        .find(|f| matches!(f.event.body, Body::Exec(_)))
        .or_else(|| events.iter().find(|f| matches!(f.event.body, Body::Fork(_))))
}

fn lifetime(src: &Source, key: ProcKey, events: &[Found]) -> (u64, Option<u64>) {
    let end = events.iter().find(|f| matches!(f.event.body, Body::Exit(_))).map(|f| f.event.time);
    (src.started(key), end)
}

pub fn run(args: ShowArgs) -> Result<ExitCode> {
    let src = Source::open(&args.store.data_dir)?;
    let keys = src.reader.procs_with_tgid(args.pid);
    let at = args.at.as_deref().map(|a| time::moment(Some(a))).transpose()?;
    let mut chosen = None;
    for k in keys.iter().rev() {
        let evs = src.reader.events_of(*k);
        let (start, end) = lifetime(&src, *k, &evs);
        let fits = at.is_none_or(|t| start <= t && end.is_none_or(|e| e >= t));
        if fits {
            chosen = Some((*k, evs));
            break;
        }
    }
    let Some((_, events)) = chosen else {
        match at {
            Some(t) => eprintln!("ctrail: no process had PID {} at {}", args.pid, rfc3339(t)),
            None => eprintln!("ctrail: no process with PID {} in this store", args.pid),
        }
        return Ok(src.finish(false));
    };
    let Some(me) = describing(&events) else { return Ok(src.finish(false)) };

    // Ancestry: parent keys, each described by its own latest exec.
    let mut ancestry: Vec<Found> = Vec::new();
    let mut cur = me.event.parent_key();
    while ancestry.len() < 64 && cur.tgid > 0 {
        let evs = src.reader.events_of(cur);
        let Some(p) = describing(&evs) else { break };
        let next = p.event.parent_key();
        ancestry.push(p.clone());
        if next == cur {
            break;
        }
        cur = next;
    }

    let mut out = std::io::stdout().lock();
    let view = ProcView::new(me, &src);
    match output::resolve(args.store.format) {
        Format::Json | Format::Csv => {
            let v = serde_json::json!({
                "process": json::event(&EventView::new(me, &src)),
                "started": rfc3339(view.started),
                "other_processes_with_this_pid": keys.len() - 1,
                "ancestry": ancestry.iter().map(|a| ProcView::new(a, &src).json()).collect::<Vec<_>>(),
                "events": events.iter().map(|e| json::event(&EventView::new(e, &src))).collect::<Vec<_>>(),
            });
            json::write_line(&mut out, &v)?;
        }
        Format::Table => {
            let e = &me.event;
            line(&mut out, format!("process {} started {}", e.proc.tgid, rfc3339(view.started)))?;
            if keys.len() > 1 {
                line(&mut out, format!("  ({} other processes had PID {}; --at picks one)", keys.len() - 1, args.pid))?;
            }
            line(&mut out, [b"  command    ".as_slice(), &view.command()].concat())?;
            match view.container {
                Some(c) => line(
                    &mut out,
                    format!("  container  {} ({})", c.id, c.runtime.map(|r| r.as_str()).unwrap_or("runtime unknown")),
                )?,
                None => line(&mut out, "  container  - (host)")?,
            }
            if let Body::Exec(x) = &e.body {
                line(&mut out, [b"  exe        ".as_slice(), &x.exe].concat())?;
                line(
                    &mut out,
                    format!("  comm       {} (before exec: {})", x.comm, x.comm_before.as_deref().unwrap_or("?")),
                )?;
                line(
                    &mut out,
                    format!(
                        "  uid/gid    {}/{} (euid {}, egid {}, loginuid {})",
                        x.uid, x.gid, x.euid, x.egid, x.loginuid
                    ),
                )?;
                line(
                    &mut out,
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
                    &mut out,
                    format!(
                        "  ns         pid {} mnt {} net {} uts {} ipc {} user {} cgroup {} (pid {} inside)",
                        x.ns.pid, x.ns.mnt, x.ns.net, x.ns.uts, x.ns.ipc, x.ns.user, x.ns.cgroup, x.ns_pid
                    ),
                )?;
                line(
                    &mut out,
                    format!("  cgroup     {} (v1: {})", x.cgroups.v2_path, x.cgroups.v1_path.as_deref().unwrap_or("-")),
                )?;
            }
            line(&mut out, "ancestry")?;
            for a in &ancestry {
                let v = ProcView::new(a, &src);
                let ctr = v.container.map(|c| format!(" [{}]", c.id)).unwrap_or_default();
                line(
                    &mut out,
                    [format!("  {} ", a.event.proc.tgid).into_bytes(), v.command(), ctr.into_bytes()].concat(),
                )?;
            }
            line(&mut out, "events")?;
            for f in &events {
                let v = EventView::new(f, &src);
                let detail = match &f.event.body {
                    Body::Exit(x) => match (x.code(), x.signal()) {
                        (Some(c), _) => format!("exit code {c}").into_bytes(),
                        (_, Some(s)) => format!("killed by signal {s}").into_bytes(),
                        _ => Vec::new(),
                    },
                    Body::Exec(x) => crate::view::argv_line(&x.argv),
                    Body::Fork(_) => format!("forked by {}", f.event.ppid).into_bytes(),
                    Body::CgroupMove(m) => format!("moved to cgroup {}", m.path).into_bytes(),
                    Body::Activity(a) => crate::activity::describe(a).into_bytes(),
                    Body::Container(c) => format!("cgroup {}", c.cgroup).into_bytes(),
                };
                line(&mut out, [format!("  {} {:<5} ", v.time(), v.kind()).into_bytes(), detail].concat())?;
            }
        }
    }
    Ok(src.finish(true))
}
