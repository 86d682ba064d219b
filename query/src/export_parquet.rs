//! `ctrail export --format parquet`: the fleet tree (`ctrail-columnar`), the events and
//! the containers and gaps beside them, one file per segment, table, day and boot.

use std::{collections::HashMap, path::Path, process::ExitCode, sync::Mutex};

use anyhow::{Context, Result};
use ctrail_columnar::{Exported, SegmentExport};
use ctrail_model::Gap;

use crate::{events_cmd::Query, source::Source};

pub fn run(out: &Path, src: &Source, q: &Query) -> Result<ExitCode> {
    let boots: HashMap<_, _> = src.reader.boots().into_iter().collect();
    let total = Mutex::new(Exported::default());
    let keep = |e: &ctrail_model::Event| q.matches(e);
    src.reader.for_each_segment(q.since, q.until, keep, |file, groups| -> Result<()> {
        let mut seg = SegmentExport::new(out, file.seq, &boots);
        for g in groups.filter(|g| q.container_matches(g.container.as_deref())) {
            seg.add(g.container.as_deref(), &g.events)
                .with_context(|| format!("exporting segment {} to {}", file.seq, out.display()))?;
        }
        let gaps: Vec<Gap> = src.reader.boots_and_gaps_of(file).1.into_iter().filter(|g| q.gap_matches(g)).collect();
        let done = seg.finish(&gaps).with_context(|| format!("exporting segment {} to {}", file.seq, out.display()))?;
        *total.lock().unwrap_or_else(|p| p.into_inner()) += done;
        Ok(())
    })?;
    src.sync_problems();
    let done = total.into_inner().unwrap_or_else(|p| p.into_inner());
    eprintln!(
        "ctrail: exported {} events, {} containers and {} gaps as {} Parquet files under {}",
        done.events,
        done.containers,
        done.gaps,
        done.files,
        out.display()
    );
    Ok(src.report.exit_code(done.events > 0))
}
