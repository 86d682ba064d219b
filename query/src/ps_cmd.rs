//! `ctrail ps`: the processes alive at a moment, from the checkpoint and events of the
//! segment that covers it; a moment that no longer exists on the host.

use std::{io::Write, process::ExitCode};

use anyhow::Result;

use crate::{
    cli::{Format, PsArgs},
    output::{self, table},
    source::Source,
    time::{self, rfc3339},
    view::ProcView,
};

pub fn run(args: PsArgs) -> Result<ExitCode> {
    let src = Source::open(&args.store.data_dir)?;
    let at = time::moment(args.at.as_deref())?;
    let container = args.container.as_deref().map(|c| src.resolve_container(c)).transpose()?;
    let alive = src.reader.alive_at(at, container.as_deref());
    src.report_problems(0);
    if alive.is_empty() {
        return Ok(ExitCode::from(1));
    }
    let mut out = std::io::stdout().lock();
    let views: Vec<ProcView> = alive.iter().map(|f| ProcView::new(f, &src)).collect();
    match output::resolve(args.store.format) {
        Format::Json => {
            for v in &views {
                serde_json::to_writer(&mut out, &v.json())?;
                out.write_all(b"\n")?;
            }
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(["pid", "ppid", "started", "uid", "container_id", "runtime", "command"])?;
            for v in &views {
                let e = &v.found.event;
                w.write_record([
                    e.proc.tgid.to_string(),
                    e.ppid.to_string(),
                    rfc3339(v.started),
                    v.uid().map(|u| u.to_string()).unwrap_or_default(),
                    v.container.map(|c| c.id.clone()).unwrap_or_default(),
                    v.container.and_then(|c| c.runtime).map(|r| r.as_str().to_string()).unwrap_or_default(),
                    v.command(),
                ])?;
            }
            w.flush()?;
        }
        Format::Table => {
            let mut t = table::new(&["PID", "PPID", "STARTED", "UID", "CONTAINER", "RUNTIME", "COMMAND"]);
            for v in &views {
                let e = &v.found.event;
                t.add_row(vec![
                    e.proc.tgid.to_string(),
                    e.ppid.to_string(),
                    rfc3339(v.started),
                    v.uid().map(|u| u.to_string()).unwrap_or_else(|| "-".into()),
                    v.container.map(|c| table::short_id(&c.id)).unwrap_or_else(|| "-".into()),
                    v.container.and_then(|c| c.runtime).map(|r| r.as_str()).unwrap_or("-").to_string(),
                    v.command(),
                ]);
            }
            writeln!(out, "processes alive at {}\n{t}", rfc3339(at))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
