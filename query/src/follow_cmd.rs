//! `ctrail events --follow`: new events as they are committed, until SIGINT or SIGTERM,
//! each with a cursor; `--after CURSOR` resumes with no duplicate and no hole, across
//! recorder restarts, and the windows the recorder lost (its downtime too) come as gap
//! records in the stream.
//!
//! Every round asks the recorder to flush (drain the kernel's ring, commit) and only then
//! reads up to the moment *before* the request, less a margin for the wall clock the
//! events are stamped with: everything stamped before that is committed by then, so a
//! later round never finds an event below the cursor. While a recorder is starting (its
//! lock names a live pid, its socket does not answer yet) the round is skipped: what it
//! will commit first may be older than now.

use std::{
    io::{self, Write},
    process::ExitCode,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use anyhow::{Result, bail};
use ctrail_model::Gap;
use ctrail_store::{Found, StoreReader, control};
use serde::Serialize;

use crate::{
    cli::EventsArgs,
    events_cmd::Query,
    output::{self, Format, csv_row::CsvRow, escape},
    rows::{
        event::{EventCsv, EventRow},
        gap,
    },
    source::Source,
};

/// How often the store is asked for what is new.
const POLL: Duration = Duration::from_millis(250);
/// Events are stamped with the boot clock plus an offset measured at recorder start; a
/// wall clock stepped since could stamp an event just after the flush below the horizon.
const CLOCK_MARGIN_NS: u64 = 200_000_000;

/// Where a stream stands: everything stamped before `time` was printed, and the first
/// `done` items stamped exactly `time` (ties are rare: nanosecond stamps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    time: u64,
    done: u64,
}

impl Cursor {
    pub fn parse(s: &str) -> Result<Self> {
        let parsed = s.split_once('.').and_then(|(t, d)| Some(Cursor { time: t.parse().ok()?, done: d.parse().ok()? }));
        match parsed {
            Some(c) => Ok(c),
            None => bail!("{:?} is not a cursor (they look like 1764650000123456789.0)", escape::text(s)),
        }
    }

    /// Whether an item stamped `t`, the `nth` (from 0) of those stamped `t` in this round,
    /// comes after the cursor.
    fn admits(&self, t: u64, nth: u64) -> bool {
        t > self.time || (t == self.time && nth >= self.done)
    }

    fn advance(&mut self, t: u64) {
        if t == self.time {
            self.done += 1;
        } else {
            *self = Cursor { time: t, done: 1 };
        }
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.time, self.done)
    }
}

/// An item of the stream and the time it is ordered by: a gap by its end (it is known,
/// and stored, once its window closed; a downtime gap ends when the recorder restarted).
enum Item<'a> {
    Event(EventRow<'a>),
    Gap(&'a Gap),
}

impl Item<'_> {
    fn key(&self) -> u64 {
        match self {
            Item::Event(e) => e.event.time,
            Item::Gap(g) => g.end,
        }
    }
}

#[derive(Serialize)]
struct WithCursor<T: Serialize> {
    #[serde(flatten)]
    line: T,
    cursor: String,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// SIGINT and SIGTERM end the stream after the round in progress (no SA_RESTART, so the
/// sleep between rounds ends at once).
fn catch_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

fn wall_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// A recorder has the directory (its lock file names a live process) but does not answer
/// yet: it is starting.
fn recorder_starting(dir: &std::path::Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join(ctrail_store::LOCK_FILE)) else { return false };
    text.trim().parse::<u32>().is_ok_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
}

fn has_active(dir: &std::path::Path) -> bool {
    ctrail_store::segment::list(dir)
        .is_ok_and(|l| l.segments.iter().any(|f| f.state == ctrail_store::segment::State::Active))
}

/// How far this round may read, or `None` to skip it.
fn horizon(dir: &std::path::Path, problems: &mut Problems) -> Option<u64> {
    let t0 = wall_now();
    match control::request(dir, control::FLUSH, Duration::from_secs(10)) {
        Ok(control::Reached::Live) => Some(t0.saturating_sub(CLOCK_MARGIN_NS)),
        // Starting, or killed: an active segment left by a crash is read only once the next
        // recorder has recovered it (reading past it would leave its events out for good).
        Ok(control::Reached::Offline) if recorder_starting(dir) || has_active(dir) => None,
        // Stopped in order (its last segment sealed): everything there is, is committed.
        Ok(control::Reached::Offline) => Some(t0),
        Err(e) => {
            problems.note(format!("{e}; waiting for the recorder"));
            None
        }
    }
}

/// Problems said once each on stderr as they happen (a stream has no end to say them
/// at); any of them makes the exit status 2.
#[derive(Default)]
struct Problems {
    said: std::collections::HashSet<String>,
    /// Something was left out of the stream (not just waited for).
    partial: bool,
}

impl Problems {
    fn once(&mut self, msg: String) {
        self.partial = true;
        self.note(msg);
    }

    /// Said once, without making the answer partial: a recorder restarting is waited for.
    fn note(&mut self, msg: String) {
        if self.said.insert(msg.clone()) {
            eprintln!("ctrail: {}", escape::text(&msg));
        }
    }
}

pub fn run(args: EventsArgs) -> Result<ExitCode> {
    let dir = args.store.data_dir.clone();
    let format = output::resolve(args.store.format);
    // Names given (`--container web`) are resolved once, against the whole store.
    let first = Source::open(&dir)?;
    let base = Query::new(&args.filters, &first)?;
    let mut cursor = match &args.after {
        Some(c) => Cursor::parse(c)?,
        None if args.filters.since.is_some() => Cursor { time: base.since, done: 0 },
        None => Cursor { time: wall_now(), done: 0 },
    };
    drop(first);
    catch_signals();
    let mut problems = Problems::default();
    let mut out = io::stdout().lock();
    let mut csv_header = format == Format::Csv;
    let result = (|| -> Result<()> {
        while !STOP.load(Ordering::SeqCst) {
            if let Some(until) = horizon(&dir, &mut problems).map(|h| h.min(base.until))
                && until > cursor.time
            {
                let since = cursor.time;
                let reader = match StoreReader::open_where(&dir, |f| f.overlaps(since, until)) {
                    Ok(r) => r,
                    // Retried next round: the cursor stays where it was.
                    Err(e) => {
                        problems.note(format!("reading {}: {e}; trying again", dir.display()));
                        std::thread::sleep(POLL);
                        continue;
                    }
                };
                let src = Source::from_reader(reader);
                let mut q = base.clone();
                (q.since, q.until) = (since, until);
                // Containers that match `--name`, `--pod`, ... may have started since.
                if !args.filters.of.is_empty() {
                    q.of = args.filters.of.ids(&src);
                }
                let found: Vec<Found> = q.events(&src);
                let gaps: Vec<Gap> =
                    src.reader.gaps().into_iter().filter(|g| q.gaps && g.end >= since && g.end < until).collect();
                let mut items: Vec<Item> = found.iter().map(|f| Item::Event(EventRow::new(f, &src))).collect();
                items.extend(gaps.iter().map(Item::Gap));
                items.sort_by_key(Item::key);
                let mut nth = (0u64, u64::MAX);
                for item in &items {
                    let t = item.key();
                    nth = if nth.1 == t { (nth.0 + 1, t) } else { (0, t) };
                    if !cursor.admits(t, nth.0) {
                        continue;
                    }
                    cursor.advance(t);
                    print(&mut out, format, &mut csv_header, args.store.raw_cells, item, cursor)?;
                }
                // Nothing was stamped in [since, until) that is not printed now.
                if cursor.time < until {
                    cursor = Cursor { time: until, done: 0 };
                }
                for p in src.reader.problems() {
                    problems.once(p);
                }
                out.flush()?;
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    })();
    match result {
        Err(e) if is_closed_pipe(&e) => return Ok(ExitCode::SUCCESS),
        r => r?,
    }
    eprintln!("ctrail: stopped; resume with --after {cursor}");
    Ok(if problems.partial { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

fn is_closed_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

fn print(
    out: &mut impl Write,
    format: Format,
    csv_header: &mut bool,
    raw_cells: bool,
    item: &Item,
    cursor: Cursor,
) -> Result<()> {
    match (format, item) {
        (Format::Json, Item::Event(e)) => {
            output::json::write_line(out, &WithCursor { line: e.json(), cursor: cursor.to_string() })?
        }
        (Format::Json, Item::Gap(g)) => {
            output::json::write_line(out, &WithCursor { line: gap::json(g), cursor: cursor.to_string() })?
        }
        (Format::Csv, Item::Event(e)) => {
            let mut w = csv::Writer::from_writer(&mut *out);
            let mut row = CsvRow::new(raw_cells);
            if std::mem::take(csv_header) {
                row.header::<_, EventCsv<'static>>(&mut w)?;
            }
            row.extend(&e.csv());
            w.write_byte_record(row.record())?;
            w.flush()?;
        }
        // Gaps are not CSV rows: said on stderr, as the stream goes.
        (Format::Csv, Item::Gap(g)) => eprintln!("ctrail: {}", escape::bytes(&gap::table(g).join(&b' '))),
        (Format::Table, Item::Event(e)) => writeln!(out, "{}", line(&e.table()))?,
        (Format::Table, Item::Gap(g)) => writeln!(out, "{}", line(&gap::table(g)))?,
    }
    Ok(())
}

/// A table row as one line: cells escaped, two spaces apart (a stream cannot align
/// columns it has not seen).
fn line(cells: &[Vec<u8>]) -> String {
    cells.iter().map(|c| escape::bytes(c).into_owned()).collect::<Vec<_>>().join("  ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_order_ties() {
        let c = Cursor::parse("1764650000123456789.2").unwrap();
        assert_eq!(c.to_string(), "1764650000123456789.2");
        assert!(!c.admits(1764650000123456789, 1) && c.admits(1764650000123456789, 2));
        assert!(c.admits(1764650000123456790, 0) && !c.admits(1764650000123456788, 9));
        for bad in ["", "12", "a.b", "1.2.3", "-1.0"] {
            assert!(Cursor::parse(bad).is_err(), "{bad:?}");
        }
        let mut c = Cursor { time: 5, done: 0 };
        c.advance(5);
        c.advance(7);
        assert_eq!(c, Cursor { time: 7, done: 1 });
    }
}
