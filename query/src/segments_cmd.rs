//! `ctrail segments`: every segment file of the store, its format, span, events and bytes,
//! and whether it verifies against the store's chain (every byte is read).

use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::{
    cli::SegmentsArgs,
    output::{self, Listing, csv_row::CsvRow},
    rows::segment::SegmentRow,
};

impl Listing for SegmentRow {
    type Csv = SegmentRow;
    const TABLE: &'static [&'static str] = SegmentRow::TABLE;

    fn json(&self) -> impl Serialize {
        self
    }

    fn csv(&self, row: &mut CsvRow) -> bool {
        row.extend(self);
        true
    }

    fn table(&self) -> Vec<Vec<u8>> {
        SegmentRow::table(self)
    }
}

pub fn run(args: SegmentsArgs) -> Result<ExitCode> {
    let dir = &args.store.data_dir;
    let v = ctrail_store::verify::verify(dir).with_context(|| format!("checking the segments of {}", dir.display()))?;
    let rows: Vec<SegmentRow> = v.segments.iter().map(SegmentRow::new).collect();
    output::write_listing(output::resolve(args.store.format), args.store.raw_cells, None, &rows)?;
    // A damaged segment is listed as such (its CHECK says why): the listing is complete.
    // `ctrail verify` is the pass/fail answer.
    Ok(if rows.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
