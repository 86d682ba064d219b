//! `ctrail containers`: every container seen.

use std::process::ExitCode;

use anyhow::Result;

use crate::{cli::ContainersArgs, output, rows::container::ContainerRow, source::Source};

output::self_listing!(ContainerRow<'_>, ContainerRow<'static>);

pub fn run(args: ContainersArgs) -> Result<ExitCode> {
    let src = Source::open(&args.store.data_dir)?;
    let mut list: Vec<_> = src.containers().values().filter(|c| args.of.matches(c)).collect();
    list.sort_by_key(|c| (c.first_seen, c.id.clone()));
    let rows: Vec<ContainerRow> = list.into_iter().map(ContainerRow::new).collect();
    src.sync_problems();
    output::write_listing(output::resolve(args.store.format), args.store.raw_cells, None, &rows)?;
    Ok(src.finish(!rows.is_empty()))
}
