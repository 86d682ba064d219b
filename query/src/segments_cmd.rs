//! `ctrail segments`: every segment file of the store, its format, span, events and bytes,
//! and whether it verifies against the store's chain (every byte is read).

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::{cli::SegmentsArgs, output, rows::segment::SegmentRow};

output::self_listing!(SegmentRow, SegmentRow);

pub fn run(args: SegmentsArgs) -> Result<ExitCode> {
    let dir = &args.store.data_dir;
    let v = ctrail_store::verify::verify(dir).with_context(|| format!("checking the segments of {}", dir.display()))?;
    let rows: Vec<SegmentRow> = v.segments.iter().map(SegmentRow::new).collect();
    output::write_listing(output::resolve(args.store.format), args.store.raw_cells, None, &rows)?;
    // A damaged segment is listed as such (its CHECK says why): the listing is complete.
    // `ctrail verify` is the pass/fail answer.
    Ok(if rows.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
