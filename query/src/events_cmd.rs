//! `ctrail events`: recorded events in time order, filtered.

use std::{io::Write, process::ExitCode};

use anyhow::{Result, bail};
use ctrail_model::{Event, EventKind, Gap};
use ctrail_store::Found;

use crate::{
    cli::{EventsArgs, Filters, Format},
    output::{
        self,
        csv_row::CsvRow,
        escape, json,
        table::{self, Table},
    },
    source::Source,
    time,
    view::{EventView, GapView},
};

/// The filters, resolved against the store.
pub struct Query {
    pub since: u64,
    pub until: u64,
    pub container: Option<String>,
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
            match (t.as_str(), EventKind::parse(t)) {
                ("gap", _) => gaps = true,
                (_, Some(k)) => kinds.push(k),
                _ => bail!(
                    "unknown event type {t:?}: use {} or gap",
                    EventKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
                ),
            }
        }
        let kinds = (!f.types.is_empty()).then_some(kinds);
        Ok(Query { since, until, container, host_only: f.host, pid: f.pid, kinds, gaps })
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
        match &self.container {
            Some(id) => src.reader.container_events(id, self.since, self.until, keep),
            None => src.reader.events(self.since, self.until, keep),
        }
    }

    pub fn gaps(&self, src: &Source) -> Vec<Gap> {
        src.reader.gaps().into_iter().filter(|g| self.gap_matches(g)).collect()
    }
}

enum Row {
    Event(Found),
    Gap(Gap),
}

impl Row {
    fn time(&self) -> u64 {
        match self {
            Row::Event(f) => f.event.time,
            Row::Gap(g) => g.start,
        }
    }
}

/// The first columns of events.csv; the activity columns follow ([`csv_header`]).
pub const CSV_BASE: [&str; 20] = [
    "time",
    "type",
    "pid",
    "tid",
    "ppid",
    "container_id",
    "runtime",
    "exe",
    "argv",
    "uid",
    "gid",
    "euid",
    "egid",
    "cap_effective",
    "comm",
    "comm_before",
    "exit_code",
    "signal",
    "cgroup",
    "source",
];

/// Exact bytes, last: filled only when `exe` or `argv` needed escaping, so that what the
/// process passed comes back exactly (each argument's bytes in hex, space-separated).
pub const CSV_EXACT: [&str; 2] = ["exe_hex", "argv_hex"];

/// Every column of events.csv: the base ones, then the activity kinds', then the exact
/// bytes (appended, so older readers of the first columns still work).
pub fn csv_header() -> Vec<&'static str> {
    CSV_BASE.iter().chain(crate::activity::CSV_COLUMNS.iter()).chain(CSV_EXACT.iter()).copied().collect()
}

fn hex_into(b: &[u8], s: &mut String) {
    use std::fmt::Write as _;
    for byte in b {
        let _ = write!(s, "{byte:02x}");
    }
}

/// Fills `row` with one events.csv row ([`csv_header`] order). Exports write millions of
/// rows: fields go straight into the record's buffer, with no string per field.
pub fn csv_record(v: &EventView<'_>, row: &mut CsvRow) {
    use ctrail_model::Body;
    use std::fmt::Write as _;
    let e = v.event;
    row.clear();
    row.push_fmt(|s| crate::time::rfc3339_into(e.time, s));
    row.push(v.kind());
    row.push_num(e.proc.tgid);
    row.push_num(e.tid);
    row.push_num(e.ppid);
    row.push(v.container_id().unwrap_or_default());
    row.push(v.runtime().unwrap_or_default());
    match &e.body {
        Body::Exec(x) => {
            row.push(&x.exe);
            row.push(crate::view::argv_line(&x.argv));
            row.push_num(x.uid);
            row.push_num(x.gid);
            row.push_num(x.euid);
            row.push_num(x.egid);
            row.push_fmt(|s| {
                let _ = write!(s, "{:016x}", x.caps.effective);
            });
            row.push(&x.comm);
            row.push(x.comm_before.as_deref().unwrap_or_default());
            row.empty(2);
            row.push(&x.cgroups.v2_path);
        }
        Body::Fork(f) => {
            row.empty(7);
            row.push(&f.comm);
            row.empty(4);
        }
        Body::CgroupMove(ctrail_model::CgroupMove { path, .. })
        | Body::Container(ctrail_model::ContainerLife { cgroup: path, .. }) => {
            row.empty(11);
            row.push(path);
        }
        Body::Activity(_) => row.empty(12),
        Body::Exit(x) => {
            row.empty(9);
            row.push_opt(x.code().map(|c| c.to_string()));
            row.push_opt(x.signal().map(|c| c.to_string()));
            row.empty(1);
        }
    }
    row.push(v.source().unwrap_or_default());
    match &e.body {
        Body::Activity(a) => {
            for f in crate::activity::csv_values(a) {
                row.push(f);
            }
        }
        _ => row.empty(crate::activity::CSV_COLUMNS.len()),
    }
    match &e.body {
        Body::Exec(x) => {
            let exact = |b: &[u8]| matches!(escape::bytes(b), std::borrow::Cow::Borrowed(_));
            if exact(&x.exe) {
                row.empty(1);
            } else {
                row.push_fmt(|s| hex_into(&x.exe, s));
            }
            if x.argv.iter().all(|a| exact(a)) {
                row.empty(1);
            } else {
                row.push_fmt(|s| {
                    for (i, a) in x.argv.iter().enumerate() {
                        if i > 0 {
                            s.push(' ');
                        }
                        hex_into(a, s);
                    }
                });
            }
        }
        _ => row.empty(CSV_EXACT.len()),
    }
}

/// The DETAIL column, as bytes (argv may be any bytes; the table escapes them).
fn detail(v: &EventView<'_>) -> Vec<u8> {
    use ctrail_model::Body;
    let text = match &v.event.body {
        Body::Exec(x) if x.argv.is_empty() => return x.exe.clone(),
        Body::Exec(x) => return crate::view::argv_line(&x.argv),
        Body::Fork(f) => format!("{} forked", f.comm),
        Body::CgroupMove(m) => format!("moved to cgroup {} ({})", m.path, m.hierarchy.as_deref().unwrap_or("v2")),
        Body::Activity(a) => crate::activity::describe(a),
        Body::Container(c) => format!("{} (cgroup {})", if c.started { "started" } else { "ended" }, c.cgroup),
        Body::Exit(x) => match (x.code(), x.signal()) {
            (Some(c), _) => format!("exit {c}"),
            (_, Some(s)) => format!("killed by signal {s}"),
            _ => format!("status {}", x.status),
        },
    };
    text.into_bytes()
}

pub fn run(args: EventsArgs) -> Result<ExitCode> {
    let src = Source::open(&args.store.data_dir)?;
    let q = Query::new(&args.filters, &src)?;
    let mut rows: Vec<Row> = q.events(&src).into_iter().map(Row::Event).collect();
    rows.extend(q.gaps(&src).into_iter().map(Row::Gap));
    rows.sort_by_key(Row::time);
    src.sync_problems();
    let mut out = std::io::stdout().lock();
    match output::resolve(args.store.format) {
        Format::Json => {
            for r in &rows {
                let v = match r {
                    Row::Event(e) => json::event(&EventView::new(e, &src)),
                    Row::Gap(g) => json::gap(&GapView(g)),
                };
                json::write_line(&mut out, &v)?;
            }
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            let mut row = CsvRow::new(args.store.raw_cells);
            row.write(&mut w, csv_header())?;
            for r in &rows {
                if let Row::Event(e) = r {
                    csv_record(&EventView::new(e, &src), &mut row);
                    w.write_byte_record(row.record())?;
                }
            }
            w.flush()?;
        }
        Format::Table if !rows.is_empty() => {
            let mut t = Table::new(&["TIME", "TYPE", "PID", "PPID", "CONTAINER", "RUNTIME", "DETAIL"]);
            for r in &rows {
                match r {
                    Row::Event(e) => {
                        let v = EventView::new(e, &src);
                        t.row([
                            v.time().into_bytes(),
                            v.kind().into(),
                            e.event.proc.tgid.to_string().into_bytes(),
                            e.event.ppid.to_string().into_bytes(),
                            v.container_id().map(table::short_id).unwrap_or_else(|| "-".into()).into_bytes(),
                            v.runtime().unwrap_or("-").into(),
                            detail(&v),
                        ]);
                    }
                    Row::Gap(g) => {
                        let gv = GapView(g);
                        t.row([
                            time::rfc3339(g.start),
                            "GAP".into(),
                            "-".into(),
                            "-".into(),
                            "-".into(),
                            "-".into(),
                            format!("{} events lost until {} ({})", g.lost(), time::rfc3339(g.end), gv.reason()),
                        ]);
                    }
                }
            }
            writeln!(out, "{t}")?;
        }
        Format::Table => {}
    }
    Ok(src.finish(!rows.is_empty()))
}
