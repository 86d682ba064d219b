//! `ctrail export --out DIR`: a case folder for a report, with the same filters as
//! `ctrail events`. Every file has a header row; `manifest.json` records the query, the
//! window, row counts, each file's SHA-256 and what was skipped, so the case can be checked
//! later and says when it is incomplete. The files hold command lines: the folder is 0700
//! and its files 0600.

use std::{
    collections::{BTreeSet, HashMap},
    fs,
    io::{BufWriter, IsTerminal, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::Path,
    process::ExitCode,
};

use anyhow::{Context, Result, bail};
use ctrail_model::{Body, Gap, ProcKey, VERSION};
use ctrail_store::Found;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{
    cli::ExportArgs,
    events_cmd::Query,
    output::csv_row::{CsvRecord, CsvRow},
    rows::{
        container::ContainerRow,
        event::{EventCsv, EventRow},
        gap::{self, GapCsv, ProblemCsv},
        process::{ProcRow, ProcessCsv},
    },
    source::Source,
    time::rfc3339,
};

/// A file that hashes what is written to it, so the manifest's SHA-256 costs no re-read.
struct Hashed {
    file: BufWriter<fs::File>,
    hash: Sha256,
}

impl Write for Hashed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// One CSV file of the case, being written.
struct CaseFile {
    w: csv::Writer<Hashed>,
    row: CsvRow,
    rows: u64,
}

/// A written file, for the manifest.
#[derive(Serialize)]
struct Written {
    rows: u64,
    sha256: String,
}

impl CaseFile {
    fn create<R: CsvRecord>(dir: &Path, name: &str, raw: bool) -> Result<Self> {
        let path = dir.join(name);
        let f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        let w = csv::Writer::from_writer(Hashed { file: BufWriter::with_capacity(1 << 16, f), hash: Sha256::new() });
        let mut me = CaseFile { w, row: CsvRow::new(raw), rows: 0 };
        me.row.header::<_, R>(&mut me.w)?;
        Ok(me)
    }

    fn write(&mut self, r: &impl CsvRecord) -> Result<()> {
        self.row.write(&mut self.w, r)?;
        self.rows += 1;
        Ok(())
    }

    /// Flushes the file and returns its row count and SHA-256.
    fn finish(self) -> Result<Written> {
        let mut h = self.w.into_inner().map_err(|e| anyhow::anyhow!("writing the export: {}", e.error()))?;
        h.flush()?;
        Ok(Written { rows: self.rows, sha256: h.hash.finalize().iter().map(|b| format!("{b:02x}")).collect() })
    }
}

fn progress(len: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(len),
        if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
    );
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("events.csv");
    bar
}

fn write_events(dir: &Path, src: &Source, events: &[Found], raw: bool) -> Result<Written> {
    let bar = progress(events.len() as u64);
    let mut f = CaseFile::create::<EventCsv>(dir, "events.csv", raw)?;
    for (i, e) in events.iter().enumerate() {
        f.write(&EventRow::new(e, src).csv())?;
        if i % 4096 == 0 {
            bar.set_position(i as u64);
        }
    }
    bar.finish_and_clear();
    f.finish()
}

/// Where one process's rows are in the (time-ordered) event list.
#[derive(Clone, Copy)]
struct Span {
    first: usize,
    last: usize,
    describing: usize,
    exit: Option<usize>,
}

fn write_processes(dir: &Path, src: &Source, events: &[Found], raw: bool) -> Result<Written> {
    // One pass with fixed-size entries: exports hold millions of events.
    let mut spans: HashMap<ProcKey, Span> = HashMap::new();
    for (i, f) in events.iter().enumerate() {
        let s = spans.entry(f.event.proc).or_insert(Span { first: i, last: i, describing: i, exit: None });
        s.last = i;
        match f.event.body {
            Body::Exec(_) => s.describing = i,
            Body::Exit(_) => s.exit = Some(i),
            _ => {}
        }
    }
    let mut order: Vec<(ProcKey, Span)> = spans.into_iter().collect();
    order.sort_unstable_by_key(|(k, _)| *k);
    let mut f = CaseFile::create::<ProcessCsv>(dir, "processes.csv", raw)?;
    for (_, span) in &order {
        let p = ProcRow::new(&events[span.describing], src);
        let exit = span.exit.and_then(|i| match &events[i].event.body {
            Body::Exit(x) => Some(*x),
            _ => None,
        });
        f.write(&ProcessCsv::new(&p, events[span.first].event.time, events[span.last].event.time, exit))?;
    }
    f.finish()
}

fn write_containers(dir: &Path, src: &Source, events: &[Found], raw: bool) -> Result<Written> {
    let ids: BTreeSet<&str> = events.iter().filter_map(|f| f.container.as_ref().map(|c| c.id.as_str())).collect();
    let mut f = CaseFile::create::<ContainerRow>(dir, "containers.csv", raw)?;
    for c in ids.iter().filter_map(|id| src.containers().get(*id)) {
        f.write(&ContainerRow::new(c))?;
    }
    f.finish()
}

fn write_gaps(dir: &Path, gaps: &[Gap], raw: bool) -> Result<Written> {
    let mut f = CaseFile::create::<GapCsv>(dir, "gaps.csv", raw)?;
    for g in gaps {
        f.write(&gap::csv(g))?;
    }
    f.finish()
}

/// What the query skipped or distrusted: the case says it is incomplete, in a file and in
/// the manifest, not only on the terminal of whoever exported it.
fn write_problems(dir: &Path, problems: &[String], raw: bool) -> Result<Written> {
    let mut f = CaseFile::create::<ProblemCsv>(dir, "problems.csv", raw)?;
    for p in problems {
        f.write(&ProblemCsv { problem: p })?;
    }
    f.finish()
}

#[derive(Serialize)]
struct Manifest<'a> {
    ctrail_version: &'static str,
    format: u32,
    created: String,
    data_dir: String,
    query: QueryJson<'a>,
    complete: bool,
    problems: &'a [String],
    window: Window,
    files: std::collections::BTreeMap<&'static str, Written>,
    store: StoreJson,
}

/// Which history the case was drawn from: a copy of the store's chain head kept elsewhere
/// shows later whether the store was rewritten since (`ctrail verify` on it).
#[derive(Serialize)]
struct StoreJson {
    store_id: Option<String>,
    chain_head: Option<String>,
    chain_lines: usize,
    /// The segments read, with the SHA-256 the chain sealed each with (`null` for the
    /// active segment and any the chain does not vouch for yet).
    segments: Vec<SegmentJson>,
}

#[derive(Serialize)]
struct SegmentJson {
    name: String,
    sha256: Option<String>,
    events: Option<u64>,
}

fn store_json(src: &Source, since: u64, until: u64) -> StoreJson {
    let chain = src.reader.chain();
    let segments = src
        .reader
        .segment_files()
        .into_iter()
        .filter(|f| f.overlaps(since, until))
        .map(|f| {
            let named = chain.and_then(|c| c.live.get(&f.name()));
            SegmentJson { name: f.name(), sha256: named.map(|n| n.sha256.clone()), events: named.map(|n| n.events) }
        })
        .collect();
    StoreJson {
        store_id: chain.and_then(|c| c.store_id.clone()),
        chain_head: chain.map(|c| c.head.clone()),
        chain_lines: chain.map_or(0, |c| c.lines.len()),
        segments,
    }
}

#[derive(Serialize)]
struct QueryJson<'a> {
    container: Option<&'a str>,
    name: Option<&'a str>,
    image: Option<&'a str>,
    pod: Option<&'a str>,
    namespace: Option<&'a str>,
    label: &'a [String],
    host: bool,
    pid: Option<u32>,
    types: Vec<&'static str>,
    exe: Option<&'a str>,
    upper_layer: bool,
    since: Option<&'a str>,
    until: Option<&'a str>,
}

#[derive(Serialize)]
struct Window {
    since: Option<String>,
    until: Option<String>,
}

fn write_manifest(out: &Path, m: &Manifest) -> Result<()> {
    let path = out.join("manifest.json");
    let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    serde_json::to_writer_pretty(&mut f, m)?;
    f.write_all(b"\n")?;
    Ok(())
}

pub fn run(args: ExportArgs) -> Result<ExitCode> {
    let src = Source::open(&args.data_dir)?;
    let q = Query::new(&args.filters, &src)?;
    let out = &args.out;
    if args.format == crate::cli::ExportFormat::Parquet {
        return crate::export_parquet::run(out, &src, &q);
    }
    if out.join("manifest.json").exists() {
        bail!("{} already holds an export (manifest.json); choose another --out", out.display());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(out)
        .with_context(|| format!("creating {}", out.display()))?;

    let events = q.events(&src);
    let gaps = q.gaps(&src);
    let raw = args.raw_cells;
    // events.csv on one core, the other files on another.
    let (events_file, processes) = std::thread::scope(|scope| -> Result<(Written, Written)> {
        let events_file = scope.spawn(|| write_events(out, &src, &events, raw));
        let processes = write_processes(out, &src, &events, raw)?;
        let events_file = events_file.join().map_err(|_| anyhow::anyhow!("the events.csv writer panicked"))??;
        Ok((events_file, processes))
    })?;
    let (events_n, processes_n) = (events_file.rows, processes.rows);
    let containers = write_containers(out, &src, &events, raw)?;
    let containers_n = containers.rows;
    let gaps_file = write_gaps(out, &gaps, raw)?;
    src.sync_problems();
    let problems = src.report.problems();
    let problems_file = write_problems(out, &problems, raw)?;

    let f = &args.filters;
    let manifest = Manifest {
        ctrail_version: VERSION,
        format: 1,
        created: rfc3339(crate::time::moment(None)?),
        data_dir: args.data_dir.display().to_string(),
        query: QueryJson {
            container: q.container.as_deref(),
            name: f.of.name.as_deref(),
            image: f.of.image.as_deref(),
            pod: f.of.pod.as_deref(),
            namespace: f.of.namespace.as_deref(),
            label: &f.of.label,
            host: f.host,
            pid: f.pid,
            types: f.types.iter().map(|t| t.as_str()).collect(),
            exe: f.exe.as_deref(),
            upper_layer: f.upper_layer,
            since: f.since.as_deref(),
            until: f.until.as_deref(),
        },
        complete: problems.is_empty(),
        problems: &problems,
        window: Window {
            since: (q.since > 0).then(|| rfc3339(q.since)),
            until: (q.until < u64::MAX).then(|| rfc3339(q.until - 1)),
        },
        files: [
            ("events.csv", events_file),
            ("processes.csv", processes),
            ("containers.csv", containers),
            ("gaps.csv", gaps_file),
            ("problems.csv", problems_file),
        ]
        .into_iter()
        .collect(),
        store: store_json(&src, q.since, q.until),
    };
    write_manifest(out, &manifest)?;
    eprintln!(
        "ctrail: exported {events_n} events of {processes_n} processes, {containers_n} containers, {} gaps to {}",
        gaps.len(),
        out.display()
    );
    let code = src.report.exit_code(!events.is_empty());
    // The process ends right after this: freeing millions of decoded events one by one
    // would only add to the export's time.
    std::mem::forget(events);
    Ok(code)
}
