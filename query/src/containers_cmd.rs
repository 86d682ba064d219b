//! `ctrail containers`: every container seen.

use std::{io::Write, process::ExitCode};

use anyhow::Result;
use ctrail_model::Container;
use serde_json::json;

use crate::{
    cli::{ContainersArgs, Format},
    output::{
        self,
        csv_row::CsvRow,
        json,
        table::{self, Table},
    },
    source::Source,
    time::rfc3339,
};

pub const CSV_HEADER: [&str; 10] = [
    "container_id",
    "runtime",
    "name",
    "pod_uid",
    "outer_container_id",
    "first_seen",
    "last_seen",
    "processes",
    "events",
    "reason",
];

pub fn csv_row(c: &Container) -> [String; 10] {
    [
        c.id.clone(),
        c.runtime.map(|r| r.as_str().to_string()).unwrap_or_default(),
        c.name.clone().unwrap_or_default(),
        c.pod_uid.clone().unwrap_or_default(),
        c.outer_id.clone().unwrap_or_default(),
        rfc3339(c.first_seen),
        rfc3339(c.last_seen),
        c.processes.to_string(),
        c.events.to_string(),
        c.reason.clone(),
    ]
}

pub fn run(args: ContainersArgs) -> Result<ExitCode> {
    let src = Source::open(&args.store.data_dir)?;
    let mut list: Vec<_> = src.containers().values().collect();
    list.sort_by_key(|c| (c.first_seen, c.id.clone()));
    src.sync_problems();
    let mut out = std::io::stdout().lock();
    match output::resolve(args.store.format) {
        Format::Json => {
            for c in &list {
                let v = json!({
                    "container_id": c.id,
                    "runtime": c.runtime.map(|r| r.as_str()),
                    "name": c.name,
                    "pod_uid": c.pod_uid,
                    "outer_container_id": c.outer_id,
                    "cgroup": c.cgroup,
                    "first_seen": rfc3339(c.first_seen),
                    "last_seen": rfc3339(c.last_seen),
                    "processes": c.processes,
                    "events": c.events,
                    "reason": c.reason,
                });
                json::write_line(&mut out, &v)?;
            }
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            let mut row = CsvRow::new(args.store.raw_cells);
            row.write(&mut w, CSV_HEADER)?;
            for c in &list {
                row.write(&mut w, csv_row(c))?;
            }
            w.flush()?;
        }
        Format::Table if !list.is_empty() => {
            let mut t = Table::new(&["CONTAINER", "RUNTIME", "NAME", "FIRST SEEN", "LAST SEEN", "PROCS", "EVENTS"]);
            for c in &list {
                t.row([
                    table::short_id(&c.id),
                    c.runtime.map(|r| r.as_str()).unwrap_or("-").to_string(),
                    c.name.clone().or(c.pod_uid.clone()).unwrap_or_else(|| "-".into()),
                    rfc3339(c.first_seen),
                    rfc3339(c.last_seen),
                    c.processes.to_string(),
                    c.events.to_string(),
                ]);
            }
            writeln!(out, "{t}")?;
        }
        Format::Table => {}
    }
    Ok(src.finish(!list.is_empty()))
}
