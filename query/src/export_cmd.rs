//! `ctrail export --out DIR`: a case folder for a report, with the same filters as
//! `ctrail events`. Every file has a header row; `manifest.json` records the query, the
//! window, row counts and each file's SHA-256, so the case can be checked later.
//! The files hold command lines: the folder is 0700 and its files 0600.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    io::{BufWriter, IsTerminal, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::Path,
    process::ExitCode,
};

use anyhow::{Context, Result, bail};
use ctrail_common::{
    VERSION,
    record::{Body, ProcKey},
    store::Found,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{
    cli::ExportArgs,
    containers_cmd,
    events_cmd::{self, Query},
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

fn create(dir: &Path, name: &str) -> Result<csv::Writer<BufWriter<fs::File>>> {
    let path = dir.join(name);
    let f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    Ok(csv::Writer::from_writer(BufWriter::new(f)))
}

fn sha256(path: &Path) -> Result<String> {
    let mut h = Sha256::new();
    let mut f = fs::File::open(path)?;
    std::io::copy(&mut f, &mut h)?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
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

fn write_processes(dir: &Path, src: &Source, events: &[Found]) -> Result<u64> {
    let mut by_proc: BTreeMap<ProcKey, Vec<&Found>> = BTreeMap::new();
    for f in events {
        by_proc.entry(f.event.proc).or_default().push(f);
    }
    let mut w = create(dir, "processes.csv")?;
    w.write_record(PROCESS_HEADER)?;
    for (key, evs) in &by_proc {
        let describing = evs
            .iter()
            .rev()
            .find(|f| matches!(f.event.body, Body::Exec(_)))
            .or_else(|| evs.first())
            .expect("a process has at least one event");
        let v = ProcView::new(describing, src);
        let ev = EventView::new(describing, &src.containers);
        let (uid, gid, euid, egid, cap) = match &describing.event.body {
            Body::Exec(x) => {
                (x.uid.to_string(), x.gid.to_string(), x.euid.to_string(), x.egid.to_string(), hex64(x.caps.effective))
            }
            _ => Default::default(),
        };
        let exit = evs.iter().find_map(|f| match &f.event.body {
            Body::Exit(x) => Some(*x),
            _ => None,
        });
        w.write_record([
            key.tgid.to_string(),
            key.start.to_string(),
            rfc3339(v.started),
            describing.event.ppid.to_string(),
            ev.container_id().unwrap_or_default().to_string(),
            ev.runtime().unwrap_or_default().to_string(),
            ev.exe().unwrap_or_default(),
            ev.argv_line().unwrap_or_default(),
            uid,
            gid,
            euid,
            egid,
            cap,
            rfc3339(evs.first().map(|f| f.event.time).unwrap_or(0)),
            rfc3339(evs.last().map(|f| f.event.time).unwrap_or(0)),
            exit.and_then(|x| x.code()).map(|c| c.to_string()).unwrap_or_default(),
            exit.and_then(|x| x.signal()).map(|s| s.to_string()).unwrap_or_default(),
        ])?;
    }
    w.flush()?;
    Ok(by_proc.len() as u64)
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
    src.report_problems(0);

    let bar = progress(events.len() as u64);
    let mut w = create(out, "events.csv")?;
    w.write_record(events_cmd::CSV_HEADER)?;
    for (i, f) in events.iter().enumerate() {
        w.write_record(events_cmd::csv_record(&EventView::new(f, &src.containers)))?;
        if i % 4096 == 0 {
            bar.set_position(i as u64);
        }
    }
    w.flush()?;
    bar.finish_and_clear();

    let process_rows = write_processes(out, &src, &events)?;

    let ids: BTreeSet<&str> = events.iter().filter_map(|f| f.container.as_ref().map(|c| c.id.as_str())).collect();
    let mut w = create(out, "containers.csv")?;
    w.write_record(containers_cmd::CSV_HEADER)?;
    for c in ids.iter().filter_map(|id| src.containers.get(*id)) {
        w.write_record(containers_cmd::csv_row(c))?;
    }
    w.flush()?;

    let mut w = create(out, "gaps.csv")?;
    w.write_record(GAP_HEADER)?;
    for g in &gaps {
        w.write_record([
            rfc3339(g.start),
            rfc3339(g.end),
            g.lost().to_string(),
            g.lost_exec.to_string(),
            g.lost_fork.to_string(),
            g.lost_exit.to_string(),
            GapView(g).reason(),
        ])?;
    }
    w.flush()?;

    let rows = [
        ("events.csv", events.len() as u64),
        ("processes.csv", process_rows),
        ("containers.csv", ids.len() as u64),
        ("gaps.csv", gaps.len() as u64),
    ];
    let mut files = serde_json::Map::new();
    for (name, n) in rows {
        files.insert(name.into(), json!({"rows": n, "sha256": sha256(&out.join(name))?}));
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
    eprintln!(
        "ctrail: exported {} events of {} processes, {} containers, {} gaps to {}",
        events.len(),
        process_rows,
        ids.len(),
        gaps.len(),
        out.display()
    );
    Ok(if events.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
