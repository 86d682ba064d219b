//! `ctrail events`: recorded events in time order, filtered.

use std::process::ExitCode;

use anyhow::Result;
use ctrail_model::{Body, Event, EventKind, Gap};
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
#[derive(Clone)]
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
    /// `--exe` and `--upper-layer`: only execs, of these files.
    pub exe: Option<ExePattern>,
    pub upper_layer: bool,
}

/// `--exe`: an exact path, everything under a directory (ending in `/`), or a glob.
#[derive(Debug, Clone)]
pub enum ExePattern {
    Exact(Vec<u8>),
    Under(Vec<u8>),
    Glob(Vec<u8>),
}

impl ExePattern {
    pub fn new(p: &str) -> Self {
        let b = p.as_bytes().to_vec();
        if b.iter().any(|c| matches!(c, b'*' | b'?')) {
            ExePattern::Glob(b)
        } else if b.ends_with(b"/") {
            ExePattern::Under(b)
        } else {
            ExePattern::Exact(b)
        }
    }

    pub fn matches(&self, exe: &[u8]) -> bool {
        match self {
            ExePattern::Exact(p) => exe == p.as_slice(),
            ExePattern::Under(p) => exe.starts_with(p),
            ExePattern::Glob(p) => glob(p, exe),
        }
    }
}

/// `*` (any bytes, `/` included) and `?` (one byte); iterative, with one backtrack point,
/// so a hostile pattern or exe costs at most their product.
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
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
        Ok(Query {
            since,
            until,
            container,
            of,
            host_only: f.host,
            pid: f.pid,
            kinds,
            gaps,
            exe: f.exe.as_deref().map(ExePattern::new),
            upper_layer: f.upper_layer,
        })
    }

    pub fn matches(&self, e: &Event) -> bool {
        (!self.host_only || e.container.is_none())
            && self.pid.is_none_or(|p| e.proc.tgid == p)
            && self.kinds.as_ref().is_none_or(|k| k.contains(&e.body.kind()))
            && self.file_matches(e)
    }

    fn file_matches(&self, e: &Event) -> bool {
        if self.exe.is_none() && !self.upper_layer {
            return true;
        }
        let Body::Exec(x) = &e.body else { return false };
        self.exe.as_ref().is_none_or(|p| p.matches(&x.exe))
            && (!self.upper_layer || x.file.is_some_and(|f| f.upper_layer() == Some(true)))
    }

    pub fn gap_matches(&self, g: &Gap) -> bool {
        self.gaps && self.pid.is_none() && g.end >= self.since && g.start < self.until
    }

    /// `--container` and the container filters on an event already read (what
    /// [`Self::events`] answers through the container index).
    pub fn container_matches(&self, c: Option<&ctrail_model::Container>) -> bool {
        let id = c.map(|c| c.id.as_str());
        self.container.as_deref().is_none_or(|want| id == Some(want))
            && self.of.as_ref().is_none_or(|of| id.is_some_and(|id| of.contains(id)))
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
    if args.follow {
        return crate::follow_cmd::run(args);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exe_patterns_match_paths_directories_and_globs() {
        let m = |p: &str, e: &str| ExePattern::new(p).matches(e.as_bytes());
        assert!(m("/tmp/x", "/tmp/x") && !m("/tmp/x", "/tmp/xy"));
        assert!(m("/tmp/", "/tmp/a/b") && !m("/tmp/", "/tmpx"));
        assert!(m("/tmp/*", "/tmp/a/b") && m("*/.x", "/dev/shm/.x") && m("/bin/?ash", "/bin/bash"));
        assert!(!m("/bin/?ash", "/bin/ash") && !m("*.sh", "/bin/sh") && m("*", ""));
        assert!(m("/memfd:*", "/memfd:payload (deleted)"));
        // A pattern made to backtrack ends at once (at most pattern x exe steps).
        let long = "a".repeat(4000);
        assert!(!m("*a*a*a*a*a*a*a*b", &long));
    }
}
