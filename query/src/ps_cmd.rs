//! `ctrail ps`: the processes alive at a moment, from the checkpoint and events of the
//! segment that covers it; a moment that no longer exists on the host.

use std::process::ExitCode;

use anyhow::Result;
use ctrail_store::Found;
use serde::Serialize;

use crate::{
    cli::PsArgs,
    output::{self, Listing, csv_row::CsvRow},
    rows::process::{ProcCsv, ProcRow},
    source::Source,
    time,
};

impl Listing for ProcRow<'_> {
    type Csv = ProcCsv<'static>;
    const TABLE: &'static [&'static str] = ProcRow::TABLE;

    fn json(&self) -> impl Serialize {
        ProcRow::json(self, None)
    }

    fn csv(&self, row: &mut CsvRow) -> bool {
        row.extend(&ProcRow::csv(self, None));
        true
    }

    fn table(&self) -> Vec<Vec<u8>> {
        ProcRow::table(self)
    }
}

pub fn run(args: PsArgs) -> Result<ExitCode> {
    let src = Source::open(&args.store.data_dir)?;
    let at = time::moment(args.at.as_deref())?;
    let container = args.container.as_deref().map(|c| src.resolve_container(c)).transpose()?;
    let of = args.of.ids(&src);
    let alive = src.reader.alive_at(at, container.as_deref());
    let in_of = |f: &&Found| of.as_ref().is_none_or(|of| f.container.as_ref().is_some_and(|c| of.contains(&c.id)));
    let rows: Vec<ProcRow> = alive.iter().filter(in_of).map(|f| ProcRow::new(f, &src)).collect();
    src.sync_problems();
    let title = format!("processes alive at {}", time::shown(at));
    output::write_listing(output::resolve(args.store.format), args.store.raw_cells, Some(title), &rows)?;
    Ok(src.finish(!rows.is_empty()))
}
