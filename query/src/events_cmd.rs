//! `ctrail events`: recorded events in time order, filtered.

use std::{io::Write, process::ExitCode};

use anyhow::{Result, bail};
use ctrail_common::{
    record::{Event, EventKind, Gap},
    store::Found,
};

use crate::{
    cli::{EventsArgs, Filters, Format},
    output::{self, json, table},
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
                    "unknown event type {t:?}: use exec, fork, exit, cgroup_move, mount, umount, setns, unshare, \
                     chroot, pivot_root, cred_change, ptrace, container_start, container_end or gap"
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

/// Every column of events.csv: the base ones, then the activity kinds' (appended, so older
/// readers of the base columns still work).
pub fn csv_header() -> Vec<&'static str> {
    CSV_BASE.iter().chain(crate::activity::CSV_COLUMNS.iter()).copied().collect()
}

/// Fills `rec` with one events.csv row ([`csv_header`] order). Exports write millions of
/// rows: fields go straight into the record's buffer, with no string per field.
pub fn csv_record(v: &EventView<'_>, rec: &mut csv::ByteRecord, scratch: &mut String) {
    use ctrail_common::record::Body;
    use std::fmt::Write as _;
    let e = v.event;
    rec.clear();
    let mut put = |rec: &mut csv::ByteRecord, f: &dyn Fn(&mut String)| {
        scratch.clear();
        f(scratch);
        rec.push_field(scratch.as_bytes());
    };
    let num = |n: u32| {
        move |s: &mut String| {
            let _ = write!(s, "{n}");
        }
    };
    put(rec, &|s: &mut String| crate::time::rfc3339_into(e.time, s));
    rec.push_field(v.kind().as_bytes());
    put(rec, &num(e.proc.tgid));
    put(rec, &num(e.tid));
    put(rec, &num(e.ppid));
    rec.push_field(v.container_id().unwrap_or_default().as_bytes());
    rec.push_field(v.runtime().unwrap_or_default().as_bytes());
    match &e.body {
        Body::Exec(x) => {
            rec.push_field(&x.exe);
            put(rec, &|s: &mut String| {
                for (i, a) in x.argv.iter().enumerate() {
                    if i > 0 {
                        s.push(' ');
                    }
                    crate::view::quote_into(&String::from_utf8_lossy(a), s);
                }
            });
            put(rec, &num(x.uid));
            put(rec, &num(x.gid));
            put(rec, &num(x.euid));
            put(rec, &num(x.egid));
            put(rec, &|s: &mut String| {
                let _ = write!(s, "{:016x}", x.caps.effective);
            });
            rec.push_field(x.comm.as_bytes());
            rec.push_field(x.comm_before.as_deref().unwrap_or_default().as_bytes());
            rec.push_field(b"");
            rec.push_field(b"");
            rec.push_field(x.cgroups.v2_path.as_bytes());
        }
        Body::Fork(f) => {
            for _ in 0..7 {
                rec.push_field(b"");
            }
            rec.push_field(f.comm.as_bytes());
            for _ in 0..4 {
                rec.push_field(b"");
            }
        }
        Body::CgroupMove(ctrail_common::record::CgroupMove { path, .. })
        | Body::Container(ctrail_common::record::ContainerLife { cgroup: path, .. }) => {
            for _ in 0..11 {
                rec.push_field(b"");
            }
            rec.push_field(path.as_bytes());
        }
        Body::Activity(_) => {
            for _ in 0..12 {
                rec.push_field(b"");
            }
        }
        Body::Exit(x) => {
            for _ in 0..9 {
                rec.push_field(b"");
            }
            match x.code() {
                Some(c) => put(rec, &num(c)),
                None => rec.push_field(b""),
            }
            match x.signal() {
                Some(sg) => put(rec, &num(sg)),
                None => rec.push_field(b""),
            }
            rec.push_field(b"");
        }
    }
    rec.push_field(v.source().unwrap_or_default().as_bytes());
    match &e.body {
        Body::Activity(a) => {
            for f in crate::activity::csv_values(a) {
                rec.push_field(f.as_bytes());
            }
        }
        _ => {
            for _ in crate::activity::CSV_COLUMNS {
                rec.push_field(b"");
            }
        }
    }
}

fn detail(v: &EventView<'_>) -> String {
    use ctrail_common::record::Body;
    match &v.event.body {
        Body::Exec(_) => v.argv_line().filter(|a| !a.is_empty()).or_else(|| v.exe()).unwrap_or_default(),
        Body::Fork(f) => format!("{} forked", f.comm),
        Body::CgroupMove(m) => format!("moved to cgroup {} ({})", m.path, m.hierarchy.as_deref().unwrap_or("v2")),
        Body::Activity(a) => crate::activity::describe(a),
        Body::Container(c) => format!("{} (cgroup {})", if c.started { "started" } else { "ended" }, c.cgroup),
        Body::Exit(x) => match (x.code(), x.signal()) {
            (Some(c), _) => format!("exit {c}"),
            (_, Some(s)) => format!("killed by signal {s}"),
            _ => format!("status {}", x.status),
        },
    }
}

pub fn run(args: EventsArgs) -> Result<ExitCode> {
    let src = Source::open(&args.store.data_dir)?;
    let q = Query::new(&args.filters, &src)?;
    let mut rows: Vec<Row> = q.events(&src).into_iter().map(Row::Event).collect();
    rows.extend(q.gaps(&src).into_iter().map(Row::Gap));
    rows.sort_by_key(Row::time);
    src.report_problems(0);
    if rows.is_empty() {
        return Ok(ExitCode::from(1));
    }
    let mut out = std::io::stdout().lock();
    match output::resolve(args.store.format) {
        Format::Json => {
            for r in &rows {
                let v = match r {
                    Row::Event(e) => json::event(&EventView::new(e, &src)),
                    Row::Gap(g) => json::gap(&GapView(g)),
                };
                serde_json::to_writer(&mut out, &v)?;
                out.write_all(b"\n")?;
            }
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(csv_header())?;
            let (mut rec, mut scratch) = (csv::ByteRecord::new(), String::new());
            for r in &rows {
                if let Row::Event(e) = r {
                    csv_record(&EventView::new(e, &src), &mut rec, &mut scratch);
                    w.write_byte_record(&rec)?;
                }
            }
            w.flush()?;
        }
        Format::Table => {
            let mut t = table::new(&["TIME", "TYPE", "PID", "PPID", "CONTAINER", "RUNTIME", "DETAIL"]);
            for r in &rows {
                match r {
                    Row::Event(e) => {
                        let v = EventView::new(e, &src);
                        t.add_row(vec![
                            v.time(),
                            v.kind().to_string(),
                            e.event.proc.tgid.to_string(),
                            e.event.ppid.to_string(),
                            v.container_id().map(table::short_id).unwrap_or_else(|| "-".into()),
                            v.runtime().unwrap_or("-").to_string(),
                            detail(&v),
                        ]);
                    }
                    Row::Gap(g) => {
                        let gv = GapView(g);
                        t.add_row(vec![
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
    }
    Ok(ExitCode::SUCCESS)
}
