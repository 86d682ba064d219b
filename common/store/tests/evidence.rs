//! The store as evidence: format-2 segments verify on every read, the chain names every
//! change made behind the recorder, and a crash at any step of sealing, compaction or
//! retention loses and doubles nothing. Time is given by the tests; no root.

use std::{fs, path::Path, process::Command};

use ctrail_model::{Event, GapReason};
use ctrail_store::{
    Batch, Options, StoreReader, StoreWriter,
    seg::reader::SegReader,
    segment::{self, FileFormat, SegmentFile},
    verify,
};

mod common;

use common::{SEC, T0, docker, exec, exit, no_compaction, open, pids};

/// `segments` sealed segments of `per` events each (execs in two containers and on the
/// host, then exits), pids numbered from 1 in the order written.
fn store(dir: &Path, opts: Options, segments: u32, per: u32) -> StoreWriter {
    let mut w = open(dir, opts, T0);
    let c = [w.container(docker(&"a".repeat(64))), w.container(docker(&"b".repeat(64)))];
    let mut pid = 0;
    for s in 0..segments {
        let events: Vec<Event> = (0..per)
            .map(|i| {
                pid += 1;
                let t = T0 + u64::from(s) * 60 * SEC + u64::from(i) * 1000;
                match i % 4 {
                    0 | 1 => exec(pid, t, Some(c[(i % 2) as usize])),
                    2 => exec(pid, t, None),
                    _ => exit(pid, t),
                }
            })
            .collect();
        let now = T0 + u64::from(s) * 60 * SEC + 30 * SEC;
        w.commit(&Batch { events, gaps: vec![] }, now).unwrap();
        w.seal_now(now).unwrap();
    }
    w.settle();
    w
}

fn segs(dir: &Path) -> Vec<SegmentFile> {
    segment::effective(segment::list(dir).unwrap().segments)
        .0
        .into_iter()
        .filter(|f| f.format == FileFormat::Seg)
        .collect()
}

fn breaks(dir: &Path) -> Vec<String> {
    verify::verify(dir).unwrap().breaks
}

#[test]
fn a_damaged_block_is_named_with_its_segment_and_the_rest_still_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    // 3 x 4096 + 100 host and container events: several blocks per container.
    store(&dir, no_compaction(), 1, 3 * 4096 + 100).close(T0 + 3600 * SEC).unwrap();
    let f = segs(&dir).remove(0);
    let r = SegReader::open(&f.path).unwrap();
    let blocks = r.blocks().unwrap().to_vec();
    assert!(blocks.len() >= 4, "{} blocks", blocks.len());
    let total = r.event_count();
    drop(r);
    let victim = &blocks[1];
    let mut bytes = fs::read(&f.path).unwrap();
    bytes[(victim.offset + u64::from(victim.len) / 2) as usize] ^= 1;
    fs::write(&f.path, bytes).unwrap();

    let r = StoreReader::open(&dir).unwrap();
    let found = r.events(0, u64::MAX, |_| true);
    assert_eq!(found.len() as u64, total - u64::from(victim.events), "only that block's events are left out");
    let problems = r.problems().join("\n");
    assert!(problems.contains(&f.name()) && problems.contains("block 1 "), "{problems}");
    // Every way into the segment says so: a container's events, a process's.
    let r = StoreReader::open(&dir).unwrap();
    r.container_events(&"a".repeat(64), 0, u64::MAX, |_| true);
    assert!(r.problems().iter().any(|p| p.contains("block")) || victim.container != Some(0));
    let b = breaks(&dir);
    assert!(b[0].contains(&f.name()) && b[0].contains("changed since it was sealed"), "{b:?}");
}

/// Everything a reader can get out of a segment.
#[derive(PartialEq)]
struct Everything {
    boots: Vec<(u32, ctrail_model::BootInfo)>,
    containers: Vec<(u32, ctrail_model::Container)>,
    gaps: Vec<ctrail_model::Gap>,
    checkpoint: Vec<Event>,
    events: Vec<(u64, Event)>,
    by_container: Vec<Vec<(u64, Event)>>,
    by_proc: Vec<Vec<Event>>,
}

/// For comparing a damaged copy with the original: `Err` when any of it was refused (a
/// store reader reports that).
fn everything(r: &SegReader) -> Result<Everything, String> {
    let e = |e: ctrail_store::StoreError| e.to_string();
    let mut by_proc = Vec::new();
    for pid in 1..=12 {
        for p in r.procs_with_tgid(pid).map_err(e)? {
            by_proc.push(r.events_of(p).map_err(e)?);
        }
    }
    let all = Everything {
        boots: r.boots(),
        containers: r.containers().map_err(e)?,
        gaps: r.gaps(),
        checkpoint: r.checkpoint().map_err(e)?,
        events: r.events(0, u64::MAX),
        by_container: r.containers().map_err(e)?.iter().map(|(i, _)| r.group_events(Some(*i), 0, u64::MAX)).collect(),
        by_proc,
    };
    let problems = r.take_problems();
    if problems.is_empty() { Ok(all) } else { Err(problems.join("; ")) }
}

#[test]
fn no_bit_flipped_anywhere_in_a_segment_yields_different_data_unreported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    store(&dir, no_compaction(), 1, 12).close(T0 + 3600 * SEC).unwrap();
    let f = segs(&dir).remove(0);
    let good = fs::read(&f.path).unwrap();
    let want = everything(&SegReader::open(&f.path).unwrap()).unwrap();
    let copy = tmp.path().join("copy.seg");
    let (mut refused, mut reported, mut same) = (0, 0, 0);
    for bit in 0..good.len() * 8 {
        let mut bytes = good.clone();
        bytes[bit / 8] ^= 1 << (bit % 8);
        fs::write(&copy, &bytes).unwrap();
        let Ok(r) = SegReader::open(&copy) else {
            refused += 1;
            continue;
        };
        match everything(&r) {
            Err(_) => reported += 1,
            Ok(got) => {
                // Not `assert_eq!`: the dump is long.
                assert!(got == want, "bit {bit} of {} changed what the segment says, unreported", good.len() * 8);
                same += 1;
            }
        }
    }
    eprintln!("{} bits: {refused} refused at open, {reported} reported on read, {same} harmless", good.len() * 8);
    assert_eq!(same, 0, "every byte of a segment is under a checksum that some read checks");
}

#[test]
fn a_segment_that_no_longer_opens_is_set_aside_with_its_count_in_the_chain_and_a_gap() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    store(&dir, no_compaction(), 3, 40).close(T0 + 3600 * SEC).unwrap();
    let victim = segs(&dir).remove(1);
    // The footer's hash of the directory: the file no longer opens.
    let mut bytes = fs::read(&victim.path).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0xff;
    fs::write(&victim.path, bytes).unwrap();
    let r = StoreReader::open(&dir).unwrap();
    assert_eq!(r.events(0, u64::MAX, |_| true).len(), 80);
    assert!(r.problems().iter().any(|p| p.contains(&victim.name())), "{:?}", r.problems());
    drop(r);
    let (w, report) = StoreWriter::open(&dir, no_compaction(), T0 + 7200 * SEC).unwrap();
    assert_eq!(report.set_aside.len(), 1, "{report:?}");
    w.close(T0 + 7200 * SEC).unwrap();
    assert_eq!(pids(&dir).len(), 80, "no problem left");
    let gaps = StoreReader::open(&dir).unwrap().gaps();
    let damaged: Vec<_> = gaps.iter().filter(|g| matches!(g.reason, GapReason::Damaged { .. })).collect();
    assert_eq!(damaged.len(), 1, "{gaps:?}");
    assert!(matches!(&damaged[0].reason, GapReason::Damaged { segment, events: 40, .. } if *segment == victim.name()));
    let b = breaks(&dir);
    assert_eq!(b.len(), 1, "{b:?}");
    assert!(b[0].contains(&victim.name()) && b[0].contains("set aside"), "{b:?}");
}

#[test]
fn verify_passes_on_an_intact_store_after_retention_and_compaction() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    // Compaction merges the small segments of each hour; retention deletes the oldest.
    let opts = Options { retain_ns: Some(3 * 3600 * SEC), ..Options::default() };
    let mut w = open(&dir, opts, T0);
    for s in 0..30u32 {
        let t = T0 + u64::from(s) * 1200 * SEC;
        w.commit(&Batch { events: vec![exit(s + 1, t)], gaps: vec![] }, t).unwrap();
        w.seal_now(t).unwrap();
    }
    w.close(T0 + 30 * 1200 * SEC).unwrap();
    let v = verify::verify(&dir).unwrap();
    assert!(v.intact(), "{:?}", v.breaks);
    let chain = v.chain.unwrap();
    let merged = chain.lines.iter().filter(|l| matches!(l.op, ctrail_store::chain::Op::Merged { .. })).count();
    assert!(merged > 0 && !chain.deleted.is_empty(), "compaction and retention both ran");
    let kept = pids(&dir);
    assert!(kept.len() < 30 && kept.ends_with(&[30]), "{kept:?}");
    assert!(segs(&dir).len() < kept.len(), "merged: {} segments for {} events", segs(&dir).len(), kept.len());
}

#[test]
fn verify_names_a_changed_byte_a_removed_segment_and_swapped_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let make = |name: &str| {
        let dir = tmp.path().join(name);
        store(&dir, no_compaction(), 5, 8).close(T0 + 3600 * SEC).unwrap();
        assert!(verify::verify(&dir).unwrap().intact());
        dir
    };
    // A byte changed that no read reaches (the process index is not read by `events`).
    let dir = make("changed");
    let f = segs(&dir).remove(2);
    let procs = SegReader::open(&f.path).unwrap().directory().procs.clone();
    let mut bytes = fs::read(&f.path).unwrap();
    bytes[procs.offset as usize] ^= 0x10;
    fs::write(&f.path, bytes).unwrap();
    let b = breaks(&dir);
    assert!(b[0].contains(&f.name()) && b[0].contains("changed since it was sealed"), "{b:?}");

    // A segment removed from the middle.
    let dir = make("removed");
    let f = segs(&dir).remove(2);
    fs::remove_file(&f.path).unwrap();
    let b = breaks(&dir);
    assert!(b[0].contains(&f.name()) && b[0].contains("missing"), "{b:?}");
    let r = StoreReader::open(&dir).unwrap();
    assert!(r.problems().iter().any(|p| p.contains(&f.name())), "queries say so too: {:?}", r.problems());
    drop(r);
    // The next recorder start records the loss: a gap in queries, still a break in verify.
    let (w, _) = StoreWriter::open(&dir, no_compaction(), T0 + 7200 * SEC).unwrap();
    w.close(T0 + 7200 * SEC).unwrap();
    assert_eq!(pids(&dir).len(), 32);
    let gaps = StoreReader::open(&dir).unwrap().gaps();
    assert!(
        gaps.iter().any(|g| matches!(&g.reason, GapReason::SegmentLost { segment, events: 8 } if *segment == f.name())),
        "{gaps:?}"
    );
    assert!(breaks(&dir)[0].contains("removed behind the recorder"));

    // One from another store, under the name of one of this store's.
    let dir = make("swapped-host");
    let other = make("other-host");
    let (ours, theirs) = (segs(&dir).remove(1), segs(&other).remove(1));
    fs::copy(&theirs.path, &ours.path).unwrap();
    let b = breaks(&dir);
    assert!(b.iter().any(|m| m.contains(&ours.name()) && m.contains("belongs to store")), "{b:?}");
    assert!(b[0].contains(&ours.name()), "{b:?}");
    let r = StoreReader::open(&dir).unwrap();
    r.events(0, u64::MAX, |_| true);
    assert!(r.problems().iter().any(|p| p.contains("belongs to store")), "{:?}", r.problems());

    // One of this store from another time, in place of another.
    let dir = make("swapped-time");
    let s = segs(&dir);
    fs::copy(&s[0].path, &s[3].path).unwrap();
    let b = breaks(&dir);
    assert!(b[0].contains(&s[3].name()) && b[0].contains("changed since it was sealed"), "{b:?}");
    // ... or renamed into the place of a removed one.
    let dir = make("renamed");
    let s = segs(&dir);
    fs::remove_file(&s[3].path).unwrap();
    let forged = dir.join(segment::seg_name(s[3].seq, s[3].seq, 1, 2));
    fs::rename(&s[0].path, &forged).unwrap();
    let b = breaks(&dir);
    assert!(b.iter().any(|m| m.contains(&s[0].name()) && m.contains("missing")), "{b:?}");
    assert!(b.iter().any(|m| m.contains("0000000003-1-2.seg") && m.contains("not in the chain")), "{b:?}");
}

#[test]
fn a_rewritten_chain_line_breaks_the_chain_and_the_recorder_starts_a_new_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    store(&dir, no_compaction(), 3, 4).close(T0 + 3600 * SEC).unwrap();
    let text = fs::read_to_string(dir.join("chain")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Drop the second sealing from the chain, re-linking nothing: a line does not follow.
    let cut: String = lines.iter().enumerate().filter(|(i, _)| *i != 2).map(|(_, l)| format!("{l}\n")).collect();
    fs::write(dir.join("chain"), cut).unwrap();
    let b = breaks(&dir);
    assert!(b[0].contains("the chain breaks") && b[0].contains("line 3"), "{b:?}");
    assert!(!StoreReader::open(&dir).unwrap().problems().is_empty(), "queries say so");
    let (w, _) = StoreWriter::open(&dir, no_compaction(), T0 + 7200 * SEC).unwrap();
    w.close(T0 + 7200 * SEC).unwrap();
    assert!(
        fs::read_dir(dir.join("corrupt")).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("chain."))
    );
    let b = breaks(&dir);
    assert!(b[0].contains("did not verify"), "the restart stays on record: {b:?}");
}

/// Run by `a_crash_at_every_step...` in a child process: segments sealed with compaction
/// and retention on, aborting at the step `CTRAIL_STORE_CRASH_AT` names. Each pid is noted
/// in `committed` once its commit returned (what a crash must not lose).
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os("CTRAIL_EVIDENCE_CRASH_DIR") else { return };
    let dir = Path::new(&dir);
    let note = |pid: u32| {
        use std::io::Write;
        let mut f = fs::OpenOptions::new().create(true).append(true).open(dir.with_file_name("committed")).unwrap();
        writeln!(f, "{pid}").unwrap();
        f.sync_all().unwrap();
    };
    let opts = Options { retain_ns: Some(3600 * SEC), ..Options::default() };
    let mut w = open(dir, opts, T0);
    // Three small segments in one hour (compaction merges them), then one two hours later
    // (retention deletes the first three).
    for (pid, t) in [(10, T0), (11, T0 + SEC), (12, T0 + 2 * SEC), (13, T0 + 7200 * SEC)] {
        w.commit(&Batch { events: vec![exit(pid, t)], gaps: vec![] }, t).unwrap();
        note(pid);
        w.seal_now(t).unwrap();
        w.settle();
    }
    // The step was never reached: say so (a crash point aborts instead).
    std::process::exit(3);
}

#[test]
fn a_crash_at_every_step_of_sealing_compaction_and_retention_loses_and_doubles_nothing() {
    use std::os::unix::process::ExitStatusExt;
    for step in [
        "seal:written",
        "seal:placed",
        "seal:chained",
        "merge:written",
        "merge:placed",
        "merge:chained",
        "retain:chained",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let st = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--nocapture"])
            .env("CTRAIL_EVIDENCE_CRASH_DIR", &dir)
            .env("CTRAIL_STORE_CRASH_AT", step)
            .stderr(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(st.signal(), Some(libc_sigabrt()), "{step}: the child was meant to crash there ({st})");
        let committed: Vec<u32> =
            fs::read_to_string(tmp.path().join("committed")).unwrap().lines().map(|l| l.parse().unwrap()).collect();
        // What a reader sees right after the crash: each event once.
        let r = StoreReader::open(&dir).unwrap();
        let seen: Vec<u32> = r.events(0, u64::MAX, |_| true).iter().map(|f| f.event.proc.tgid).collect();
        let mut unique = seen.clone();
        unique.dedup();
        assert_eq!(seen, unique, "{step}: nothing doubled before recovery");
        drop(r);
        let opts = Options { retain_ns: Some(3600 * SEC), ..Options::default() };
        let (w, _) = StoreWriter::open(&dir, opts, T0 + 7300 * SEC).unwrap();
        w.close(T0 + 7300 * SEC).unwrap();
        let seen = pids(&dir);
        let mut unique = seen.clone();
        unique.dedup();
        assert_eq!(seen, unique, "{step}: nothing doubled");
        assert!(seen.iter().all(|p| committed.contains(p)), "{step}: {seen:?} of {committed:?}");
        // Retention may have deleted some (before the crash, or at the restart): counted.
        let deleted: u64 = StoreReader::open(&dir)
            .unwrap()
            .gaps()
            .iter()
            .map(|g| match g.reason {
                GapReason::Retention { events, .. } => events,
                _ => 0,
            })
            .sum();
        assert_eq!(
            seen.len() as u64 + deleted,
            committed.len() as u64,
            "{step}: nothing lost: {seen:?} kept, {deleted} deleted, {committed:?} committed"
        );
        let v = verify::verify(&dir).unwrap();
        assert!(v.intact(), "{step}: {:?}", v.breaks);
        let left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp") || n.ends_with(".redb"))
            .collect();
        assert!(left.is_empty(), "{step}: left behind: {left:?}");
    }
}

fn libc_sigabrt() -> i32 {
    6
}

#[test]
fn a_thousand_seals_in_a_row_leave_a_bounded_number_of_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut w = open(&dir, Options::default(), T0);
    // What live queries of a version before single-writer segments did: a seal each.
    for i in 0..1000u32 {
        let t = T0 + u64::from(i) * SEC;
        w.commit(&Batch { events: vec![exit(i + 1, t)], gaps: vec![] }, t).unwrap();
        w.seal_now(t).unwrap();
    }
    w.settle();
    let n = segs(&dir).len();
    w.close(T0 + 1000 * SEC).unwrap();
    // 1000 seconds span at most two clock hours: one segment each, and the last sealed.
    assert!(n <= 3, "{n} segments after 1000 seals");
    assert_eq!(pids(&dir), (1..=1000).collect::<Vec<_>>());
    assert!(verify::verify(&dir).unwrap().intact());
}
