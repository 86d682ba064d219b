//! `ctrail events`: recorded events in time order, filtered.

use std::process::ExitCode;

use anyhow::Result;
use ctrail_model::{Event, EventKind, Gap};
use ctrail_store::Found;
use serde::Serialize;

use crate::{
    cli::{EventsArgs, Filters, TypeArg},
    output::{self, Listing, csv_row::CsvRow},
    rows::{
        event::{EventCsv, EventJson, EventRow},
        gap,
    },
    source::Source,
    time,
};

/// The filters, resolved against the store.
pub struct Query {
    pub since: u64,
    pub until: u64,
    pub container: Option<String>,
    /// The containers `--name`, `--image`, `--pod`, `--namespace`, `--label` select.
    pub of: Option<std::collections::HashSet<String>>,
    pub host_only: bool,
    pub pid: Option<u32>,
    pub kinds: Option<Vec<EventKind>>,
    pub gaps: bool,
}

impl Query {
    pub fn new(f: &Filters, src: &Source) -> Result<Self> {
        let (since, until) = time::window(f.since.as_deref(), f.until.as_deref())?;
        let container = f.container.as_deref().map(|c| src.resolve_container(c)).transpose()?;
        let mut kinds = Vec::new();
        let mut gaps = f.types.is_empty();
        for t in &f.types {
            match t {
                TypeArg::Gap => gaps = true,
                TypeArg::Kind(k) => kinds.push(*k),
            }
        }
        let kinds = (!f.types.is_empty()).then_some(kinds);
        let of = f.of.ids(src);
        Ok(Query { since, until, container, of, host_only: f.host, pid: f.pid, kinds, gaps })
    }

    pub fn matches(&self, e: &Event) -> bool {
        (!self.host_only || e.container.is_none())
            && self.pid.is_none_or(|p| e.proc.tgid == p)
            && self.kinds.as_ref().is_none_or(|k| k.contains(&e.body.kind()))
    }

    pub fn gap_matches(&self, g: &Gap) -> bool {
        self.gaps && self.pid.is_none() && g.end >= self.since && g.start < self.until
    }

    /// Matching events in time order.
    pub fn events(&self, src: &Source) -> Vec<Found> {
        let keep = |e: &Event| self.matches(e);
        let one = |id: &str| src.reader.container_events(id, self.since, self.until, keep);
        match (&self.container, &self.of) {
            (Some(id), Some(of)) if !of.contains(id) => Vec::new(),
            (Some(id), _) => one(id),
            (None, Some(of)) => {
                let mut ids: Vec<&String> = of.iter().collect();
                ids.sort();
                let mut v: Vec<Found> = ids.into_iter().flat_map(|id| one(id)).collect();
                v.sort_by_key(|f| f.event.time);
                v
            }
            (None, None) => src.reader.events(self.since, self.until, keep),
        }
    }

    pub fn gaps(&self, src: &Source) -> Vec<Gap> {
        src.reader.gaps().into_iter().filter(|g| self.gap_matches(g)).collect()
    }
}

/// One line of `ctrail events`: an event, or a gap among them (gaps are not CSV rows).
enum Line<'a> {
    Event(EventRow<'a>),
    Gap(&'a Gap),
}

impl Line<'_> {
    fn time(&self) -> u64 {
        match self {
            Line::Event(e) => e.event.time,
            Line::Gap(g) => g.start,
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum LineJson<'a> {
    Event(Box<EventJson<'a>>),
    Gap(gap::GapJson),
}

impl Listing for Line<'_> {
    type Csv = EventCsv<'static>;
    const TABLE: &'static [&'static str] = &["TIME", "TYPE", "PID", "PPID", "CONTAINER", "RUNTIME", "DETAIL"];

    fn json(&self) -> impl Serialize {
        match self {
            Line::Event(e) => LineJson::Event(Box::new(e.json())),
            Line::Gap(g) => LineJson::Gap(gap::json(g)),
        }
    }

    fn csv(&self, row: &mut CsvRow) -> bool {
        match self {
            Line::Event(e) => {
                row.extend(&e.csv());
                true
            }
            Line::Gap(_) => false,
        }
    }

    fn table(&self) -> Vec<Vec<u8>> {
        match self {
            Line::Event(e) => e.table(),
            Line::Gap(g) => gap::table(g),
        }
    }
}

pub fn run(args: EventsArgs) -> Result<ExitCode> {
    let src = Source::open(&args.store.data_dir)?;
    let q = Query::new(&args.filters, &src)?;
    let events = q.events(&src);
    let gaps = q.gaps(&src);
    let mut lines: Vec<Line> = events.iter().map(|f| Line::Event(EventRow::new(f, &src))).collect();
    lines.extend(gaps.iter().map(Line::Gap));
    lines.sort_by_key(Line::time);
    src.sync_problems();
    output::write_listing(output::resolve(args.store.format), args.store.raw_cells, None, &lines)?;
    Ok(src.finish(!lines.is_empty()))
}
