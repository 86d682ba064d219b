//! `ctrail ps`: the processes alive at a moment, from the checkpoint and events of the
//! segment that covers it; a moment that no longer exists on the host.

use std::{io::Write, process::ExitCode};

use anyhow::Result;

use crate::{
    cli::{Format, PsArgs},
    output::{
        self,
        csv_row::CsvRow,
        json,
        table::{self, Table},
    },
    source::Source,
    time::{self, rfc3339},
    view::ProcView,
};

pub fn run(args: PsArgs) -> Result<ExitCode> {
    let src = Source::open(&args.store.data_dir)?;
    let at = time::moment(args.at.as_deref())?;
    let container = args.container.as_deref().map(|c| src.resolve_container(c)).transpose()?;
    let alive = src.reader.alive_at(at, container.as_deref());
    src.sync_problems();
    let mut out = std::io::stdout().lock();
    let views: Vec<ProcView> = alive.iter().map(|f| ProcView::new(f, &src)).collect();
    match output::resolve(args.store.format) {
        Format::Json => {
            for v in &views {
                json::write_line(&mut out, &v.json())?;
            }
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            let mut row = CsvRow::new(args.store.raw_cells);
            row.write(&mut w, ["pid", "ppid", "started", "uid", "container_id", "runtime", "command"])?;
            for v in &views {
                let e = &v.found.event;
                row.write(
                    &mut w,
                    [
                        e.proc.tgid.to_string().into_bytes(),
                        e.ppid.to_string().into_bytes(),
                        rfc3339(v.started).into_bytes(),
                        v.uid().map(|u| u.to_string()).unwrap_or_default().into_bytes(),
                        v.container.map(|c| c.id.clone()).unwrap_or_default().into_bytes(),
                        v.container.and_then(|c| c.runtime).map(|r| r.as_str()).unwrap_or_default().into(),
                        v.command(),
                    ],
                )?;
            }
            w.flush()?;
        }
        Format::Table if !views.is_empty() => {
            let mut t = Table::new(&["PID", "PPID", "STARTED", "UID", "CONTAINER", "RUNTIME", "COMMAND"]);
            for v in &views {
                let e = &v.found.event;
                t.row([
                    e.proc.tgid.to_string().into_bytes(),
                    e.ppid.to_string().into_bytes(),
                    rfc3339(v.started).into_bytes(),
                    v.uid().map(|u| u.to_string()).unwrap_or_else(|| "-".into()).into_bytes(),
                    v.container.map(|c| table::short_id(&c.id)).unwrap_or_else(|| "-".into()).into_bytes(),
                    v.container.and_then(|c| c.runtime).map(|r| r.as_str()).unwrap_or("-").into(),
                    v.command(),
                ]);
            }
            writeln!(out, "processes alive at {}\n{t}", rfc3339(at))?;
        }
        Format::Table => {}
    }
    Ok(src.finish(!views.is_empty()))
}
