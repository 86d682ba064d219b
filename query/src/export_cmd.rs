//! `ctrail export --out DIR`: a case folder for a report, with the same filters as
//! `ctrail events`. Every file has a header row; `manifest.json` records the query, the
//! window, row counts and each file's SHA-256, so the case can be checked later.
//! The files hold command lines: the folder is 0700 and its files 0600.

use std::{
    collections::{BTreeSet, HashMap},
    fs,
    io::{BufWriter, IsTerminal, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::Path,
    process::ExitCode,
};

use anyhow::{Context, Result, bail};
use ctrail_model::{Body, ProcKey, VERSION};
use ctrail_store::Found;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{
    cli::ExportArgs,
    containers_cmd,
    events_cmd::{self, Query},
    output::csv_row::CsvRow,
    source::Source,
    time::rfc3339,
    view::{EventView, GapView, ProcView, hex64},
};

pub const PROCESS_HEADER: [&str; 17] = [
    "pid",
    "process_start",
    "started",
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
    "first_event",
    "last_event",
    "exit_code",
    "signal",
];

pub const GAP_HEADER: [&str; 7] = ["start", "end", "lost", "lost_exec", "lost_fork", "lost_exit", "reason"];

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

type CsvOut = csv::Writer<Hashed>;

fn create(dir: &Path, name: &str) -> Result<CsvOut> {
    let path = dir.join(name);
    let f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    Ok(csv::Writer::from_writer(Hashed { file: BufWriter::with_capacity(1 << 16, f), hash: Sha256::new() }))
}

/// Flushes a CSV file and returns its SHA-256.
fn finish(w: CsvOut) -> Result<String> {
    let mut h = w.into_inner().map_err(|e| anyhow::anyhow!("writing the export: {}", e.error()))?;
    h.flush()?;
    Ok(h.hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
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

/// Where one process's rows are in the (time-ordered) event list.
#[derive(Clone, Copy)]
struct Span {
    first: usize,
    last: usize,
    describing: usize,
    exec_seen: bool,
    exit: Option<usize>,
}

fn write_processes(dir: &Path, src: &Source, events: &[Found], raw: bool) -> Result<(u64, String)> {
    use std::fmt::Write as _;
    // One pass with fixed-size entries: exports hold millions of events.
    let mut spans: HashMap<ProcKey, Span> = HashMap::new();
    for (i, f) in events.iter().enumerate() {
        let is_exec = matches!(f.event.body, Body::Exec(_));
        let s = spans.entry(f.event.proc).or_insert(Span {
            first: i,
            last: i,
            describing: i,
            exec_seen: is_exec,
            exit: None,
        });
        s.last = i;
        if is_exec {
            s.describing = i;
            s.exec_seen = true;
        }
        if matches!(f.event.body, Body::Exit(_)) {
            s.exit = Some(i);
        }
    }
    let mut order: Vec<(ProcKey, Span)> = spans.into_iter().collect();
    order.sort_unstable_by_key(|(k, _)| *k);
    let mut w = create(dir, "processes.csv")?;
    let mut row = CsvRow::new(raw);
    row.write(&mut w, PROCESS_HEADER)?;
    for (key, span) in &order {
        let describing = &events[span.describing];
        let v = ProcView::new(describing, src);
        let ev = EventView::new(describing, src);
        row.clear();
        row.push_num(key.tgid);
        row.push_num(key.start);
        row.push_fmt(|s| crate::time::rfc3339_into(v.started, s));
        row.push_num(describing.event.ppid);
        row.push(ev.container_id().unwrap_or_default());
        row.push(ev.runtime().unwrap_or_default());
        match &describing.event.body {
            Body::Exec(x) => {
                row.push(&x.exe);
                row.push(crate::view::argv_line(&x.argv));
                for id in [x.uid, x.gid, x.euid, x.egid] {
                    row.push_num(id);
                }
                row.push_fmt(|s| {
                    let _ = write!(s, "{}", hex64(x.caps.effective));
                });
            }
            _ => row.empty(7),
        }
        row.push_fmt(|s| crate::time::rfc3339_into(events[span.first].event.time, s));
        row.push_fmt(|s| crate::time::rfc3339_into(events[span.last].event.time, s));
        let exit = span.exit.and_then(|i| match &events[i].event.body {
            Body::Exit(x) => Some(*x),
            _ => None,
        });
        row.push_opt(exit.and_then(|x| x.code()).map(|c| c.to_string()));
        row.push_opt(exit.and_then(|x| x.signal()).map(|c| c.to_string()));
        w.write_byte_record(row.record())?;
    }
    Ok((order.len() as u64, finish(w)?))
}

pub fn run(args: ExportArgs) -> Result<ExitCode> {
    let src = Source::open(&args.data_dir)?;
    let q = Query::new(&args.filters, &src)?;
    let out = &args.out;
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
    src.sync_problems();
    let raw = args.raw_cells;

    // events.csv on one core, the other files on another.
    let (events_sha, processes) = std::thread::scope(|scope| -> Result<(String, (u64, String))> {
        let events_file = scope.spawn(|| -> Result<String> {
            let bar = progress(events.len() as u64);
            let mut w = create(out, "events.csv")?;
            let mut row = CsvRow::new(raw);
            row.write(&mut w, events_cmd::csv_header())?;
            for (i, f) in events.iter().enumerate() {
                events_cmd::csv_record(&EventView::new(f, &src), &mut row);
                w.write_byte_record(row.record())?;
                if i % 4096 == 0 {
                    bar.set_position(i as u64);
                }
            }
            bar.finish_and_clear();
            finish(w)
        });
        let processes = write_processes(out, &src, &events, raw)?;
        let sha = events_file.join().map_err(|_| anyhow::anyhow!("the events.csv writer panicked"))??;
        Ok((sha, processes))
    })?;

    let ids: BTreeSet<&str> = events.iter().filter_map(|f| f.container.as_ref().map(|c| c.id.as_str())).collect();
    let mut row = CsvRow::new(raw);
    let mut w = create(out, "containers.csv")?;
    row.write(&mut w, containers_cmd::CSV_HEADER)?;
    for c in ids.iter().filter_map(|id| src.containers().get(*id)) {
        row.write(&mut w, containers_cmd::csv_row(c))?;
    }
    let containers_sha = finish(w)?;

    let mut w = create(out, "gaps.csv")?;
    row.write(&mut w, GAP_HEADER)?;
    for g in &gaps {
        row.write(
            &mut w,
            [
                rfc3339(g.start),
                rfc3339(g.end),
                g.lost().to_string(),
                g.lost_exec.to_string(),
                g.lost_fork.to_string(),
                g.lost_exit.to_string(),
                GapView(g).reason(),
            ],
        )?;
    }
    let gaps_sha = finish(w)?;

    // What the query skipped or distrusted: the case says it is incomplete, in a file and in
    // the manifest, not only on the terminal of whoever exported it.
    src.sync_problems();
    let problems = src.report.problems();
    let mut w = create(out, "problems.csv")?;
    row.write(&mut w, ["problem"])?;
    for p in &problems {
        row.write(&mut w, [p])?;
    }
    let problems_sha = finish(w)?;

    let (process_rows, processes_sha) = processes;
    let rows = [
        ("events.csv", events.len() as u64, events_sha),
        ("processes.csv", process_rows, processes_sha),
        ("containers.csv", ids.len() as u64, containers_sha),
        ("gaps.csv", gaps.len() as u64, gaps_sha),
        ("problems.csv", problems.len() as u64, problems_sha),
    ];
    let mut files = serde_json::Map::new();
    for (name, n, sha) in rows {
        files.insert(name.into(), json!({"rows": n, "sha256": sha}));
    }
    let f = &args.filters;
    let manifest = json!({
        "ctrail_version": VERSION,
        "format": 1,
        "created": rfc3339(crate::time::moment(None)?),
        "data_dir": args.data_dir.display().to_string(),
        "query": {
            "container": q.container,
            "host": f.host,
            "pid": f.pid,
            "types": f.types,
            "since": f.since,
            "until": f.until,
        },
        "complete": problems.is_empty(),
        "problems": problems,
        "window": {
            "since": (q.since > 0).then(|| rfc3339(q.since)),
            "until": (q.until < u64::MAX).then(|| rfc3339(q.until - 1)),
        },
        "files": files,
    });
    let path = out.join("manifest.json");
    let mut m = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    serde_json::to_writer_pretty(&mut m, &manifest)?;
    m.write_all(b"\n")?;
    let code = src.report.exit_code(!events.is_empty());
    eprintln!(
        "ctrail: exported {} events of {} processes, {} containers, {} gaps to {}",
        events.len(),
        process_rows,
        ids.len(),
        gaps.len(),
        out.display()
    );
    // The process ends right after this: freeing millions of decoded events one by one
    // would only add to the export's time.
    std::mem::forget(events);
    Ok(code)
}
