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
        let container = f.container.as_deref().map(|c| src.resolve_container(c).map(|c| c.id.clone())).transpose()?;
        let mut kinds = Vec::new();
        let mut gaps = f.types.is_empty();
        for t in &f.types {
            match (t.as_str(), EventKind::parse(t)) {
                ("gap", _) => gaps = true,
                (_, Some(k)) => kinds.push(k),
                _ => bail!("unknown event type {t:?}: use exec, fork, exit or gap"),
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

pub const CSV_HEADER: [&str; 20] = [
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

pub fn csv_record(v: &EventView<'_>) -> Vec<String> {
    use ctrail_common::record::Body;
    let e = v.event;
    let opt = |o: Option<String>| o.unwrap_or_default();
    // Columns that only exec records fill: uid, gid, euid, egid, cap_effective, comm_before, cgroup.
    let mut exec_cols: [String; 7] = Default::default();
    let mut comm = String::new();
    let (mut code, mut sig) = (String::new(), String::new());
    match &e.body {
        Body::Exec(x) => {
            exec_cols = [
                x.uid.to_string(),
                x.gid.to_string(),
                x.euid.to_string(),
                x.egid.to_string(),
                crate::view::hex64(x.caps.effective),
                x.comm_before.clone().unwrap_or_default(),
                x.cgroups.v2_path.clone(),
            ];
            comm = x.comm.clone();
        }
        Body::Fork(f) => comm = f.comm.clone(),
        Body::Exit(x) => {
            code = opt(x.code().map(|c| c.to_string()));
            sig = opt(x.signal().map(|s| s.to_string()));
        }
    }
    let [uid, gid, euid, egid, cap, before, cgroup] = exec_cols;
    vec![
        v.time(),
        v.kind().to_string(),
        e.proc.tgid.to_string(),
        e.tid.to_string(),
        e.ppid.to_string(),
        v.container_id().unwrap_or_default().to_string(),
        v.runtime().unwrap_or_default().to_string(),
        opt(v.exe()),
        opt(v.argv_line()),
        uid,
        gid,
        euid,
        egid,
        cap,
        comm,
        before,
        code,
        sig,
        cgroup,
        v.source().unwrap_or_default().to_string(),
    ]
}

fn detail(v: &EventView<'_>) -> String {
    use ctrail_common::record::Body;
    match &v.event.body {
        Body::Exec(_) => v.argv_line().filter(|a| !a.is_empty()).or_else(|| v.exe()).unwrap_or_default(),
        Body::Fork(f) => format!("{} forked", f.comm),
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
                    Row::Event(e) => json::event(&EventView::new(e, &src.containers)),
                    Row::Gap(g) => json::gap(&GapView(g)),
                };
                serde_json::to_writer(&mut out, &v)?;
                out.write_all(b"\n")?;
            }
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(CSV_HEADER)?;
            for r in &rows {
                if let Row::Event(e) = r {
                    w.write_record(csv_record(&EventView::new(e, &src.containers)))?;
                }
            }
            w.flush()?;
        }
        Format::Table => {
            let mut t = table::new(&["TIME", "TYPE", "PID", "PPID", "CONTAINER", "RUNTIME", "DETAIL"]);
            for r in &rows {
                match r {
                    Row::Event(e) => {
                        let v = EventView::new(e, &src.containers);
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
