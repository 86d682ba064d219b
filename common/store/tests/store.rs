//! The store on its own, with time given by the test: retention, damaged segments and what a
//! crashed writer leaves behind. No root, no sleeps; the recorder's root tests cover the same
//! behaviour end to end.

use std::{fs, path::Path, process::Command};

use ctrail_model::{Body, BootInfo, Event, Exit, GapReason, ProcKey};
use ctrail_store::{
    Batch, Options, StoreReader, StoreWriter,
    segment::{self, State},
};

const SEC: u64 = 1_000_000_000;
/// 2026-11-01T00:00:00Z: far from now, so nothing here depends on the clock.
const T0: u64 = 1_793_491_200 * SEC;

fn boot() -> BootInfo {
    BootInfo {
        boot_id: "0badc0de-0000-4000-8000-000000000001".into(),
        hostname: "test".into(),
        kernel: "test".into(),
        ctrail_version: "test".into(),
        wall_offset_ns: 0,
    }
}

/// An exit of process `tgid` at `t`: the smallest event, told apart by its pid.
fn exit(tgid: u32, t: u64) -> Event {
    let proc = ProcKey::new(0x0bad_c0de, tgid, SEC);
    Event {
        time: t,
        boot_ns: t,
        proc,
        tid: tgid,
        ppid: 1,
        parent_start: 0,
        container: None,
        body: Body::Exit(Exit { status: 0 }),
    }
}

fn open(dir: &Path, opts: Options, now: u64) -> StoreWriter {
    let (mut w, _) = StoreWriter::open(dir, opts, now).unwrap();
    w.add_boot(&boot()).unwrap();
    w
}

fn pids(dir: &Path) -> Vec<u32> {
    let r = StoreReader::open(dir).unwrap();
    assert!(r.problems().is_empty(), "{:?}", r.problems());
    r.events(0, u64::MAX, |_| true).into_iter().map(|f| f.event.proc.tgid).collect()
}

fn sealed(dir: &Path) -> Vec<segment::SegmentFile> {
    segment::list(dir).unwrap().segments.into_iter().filter(|s| matches!(s.state, State::Sealed { .. })).collect()
}

#[test]
fn retention_by_age_deletes_whole_old_segments_and_records_each() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let opts = Options { segment_age_ns: SEC, retain_ns: Some(3 * SEC), ..Options::default() };
    let mut w = open(&dir, opts, T0);
    // One event a second; every commit finds the segment a second old and seals it.
    for i in 0..8u32 {
        let t = T0 + u64::from(i) * SEC + 1;
        w.commit(&Batch { events: vec![exit(100 + i, t)], gaps: vec![] }, t + SEC).unwrap();
    }
    w.tick(T0 + 9 * SEC).unwrap();
    w.close(T0 + 9 * SEC).unwrap();
    let kept = pids(&dir);
    assert!(kept.len() < 8 && !kept.is_empty(), "{kept:?}");
    let first = kept[0];
    assert_eq!(kept, (first..108).collect::<Vec<_>>(), "the newest are kept, whole, in order");
    let r = StoreReader::open(&dir).unwrap();
    let deleted: Vec<_> = r.gaps().into_iter().filter(|g| matches!(g.reason, GapReason::Retention { .. })).collect();
    // The record of each deletion outlives the segment that held it (records of segments
    // deleted later are carried forward, merged): every deleted segment and event is
    // counted once, and only segments older than --retain went.
    let segments_of = |g: &ctrail_model::Gap| match &g.reason {
        GapReason::Retention { segment, .. } => {
            segment.split_once(" segments, ").map_or(1, |(n, _)| n.parse::<u32>().unwrap())
        }
        _ => 0,
    };
    let events_of = |g: &ctrail_model::Gap| match g.reason {
        GapReason::Retention { events, .. } => events,
        _ => 0,
    };
    assert_eq!(deleted.iter().map(segments_of).sum::<u32>(), first - 100, "{deleted:?}");
    assert_eq!(deleted.iter().map(events_of).sum::<u64>(), u64::from(first - 100), "{deleted:?}");
    assert!(deleted.iter().all(|g| g.start > T0 && g.end < T0 + 6 * SEC), "{deleted:?}");
}

#[test]
fn retention_by_size_keeps_the_directory_under_its_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let budget = 400 << 10;
    let opts = Options { segment_age_ns: SEC, max_bytes: Some(budget), ..Options::default() };
    let mut w = open(&dir, opts, T0);
    for i in 0..12u32 {
        let t = T0 + u64::from(i) * SEC + 1;
        let events = (0..500).map(|j| exit(1000 * i + j, t)).collect();
        w.commit(&Batch { events, gaps: vec![] }, t + SEC).unwrap();
    }
    w.close(T0 + 20 * SEC).unwrap();
    let sizes: Vec<u64> =
        segment::list(&dir).unwrap().segments.iter().map(|f| fs::metadata(&f.path).unwrap().len()).collect();
    let (total, largest) = (sizes.iter().sum::<u64>(), sizes.iter().copied().max().unwrap());
    assert!(total <= budget + largest, "{total} bytes for a {budget}-byte budget: {sizes:?}");
    let r = StoreReader::open(&dir).unwrap();
    assert!(r.gaps().iter().any(|g| matches!(g.reason, GapReason::Retention { .. })));
    assert!(pids(&dir).contains(&(11_000 + 499)), "the newest batch is kept");
}

#[test]
fn damaged_segments_are_reported_and_skipped_and_set_aside_at_the_next_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut w = open(&dir, Options::default(), T0);
    for (i, t) in [(1u32, T0 + 1), (2, T0 + 2), (3, T0 + 3)] {
        w.commit(&Batch { events: vec![exit(i, t)], gaps: vec![] }, t).unwrap();
        w.seal_now(t).unwrap();
    }
    w.close(T0 + 4).unwrap();
    let segs = sealed(&dir);
    let holding = |pid: u32| {
        segs.iter()
            .find(|s| {
                let r = ctrail_store::SegmentReader::open(s).unwrap();
                let mut hit = false;
                r.for_each_event(0, u64::MAX, |e| {
                    hit |= e.proc.tgid == pid;
                    std::ops::ControlFlow::Continue(())
                })
                .unwrap();
                hit
            })
            .unwrap()
            .clone()
    };
    let (flipped, cut) = (holding(1), holding(2));
    // Every byte flipped past the first 512 (the magic survives: redb must notice), and
    // the other file cut to a third.
    let mut bytes = fs::read(&flipped.path).unwrap();
    for b in bytes.iter_mut().skip(512) {
        *b ^= 0x5a;
    }
    fs::write(&flipped.path, bytes).unwrap();
    let len = fs::metadata(&cut.path).unwrap().len();
    fs::OpenOptions::new().write(true).open(&cut.path).unwrap().set_len(len / 3).unwrap();

    let r = StoreReader::open(&dir).unwrap();
    let found: Vec<u32> = r.events(0, u64::MAX, |_| true).iter().map(|f| f.event.proc.tgid).collect();
    assert_eq!(found, vec![3], "the intact segment answers");
    let problems = r.problems().join("\n");
    for f in [&flipped, &cut] {
        assert!(problems.contains(&f.name()), "{} not reported:\n{problems}", f.name());
    }
    drop(r);
    let (w, report) = StoreWriter::open(&dir, Options::default(), T0 + 10).unwrap();
    let aside: Vec<String> =
        report.set_aside.iter().map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for f in [&flipped, &cut] {
        assert!(aside.contains(&f.name()), "{} not set aside: {aside:?}", f.name());
        assert!(dir.join("corrupt").join(f.name()).exists());
    }
    drop(w);
    assert_eq!(pids(&dir), vec![3]);
}

/// Run by `a_crashed_writer...` in a child process: commits three batches, then dies without
/// closing anything, as `kill -9` or a power cut would leave the store.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os("CTRAIL_STORE_CRASH_DIR") else { return };
    let mut w = open(Path::new(&dir), Options::default(), T0);
    for i in 0..3u32 {
        let t = T0 + u64::from(i) * SEC;
        w.commit(&Batch { events: vec![exit(10 + i, t)], gaps: vec![] }, t).unwrap();
    }
    std::process::abort();
}

#[test]
fn a_crashed_writer_keeps_every_committed_batch_and_the_next_open_stores_the_downtime() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let st = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture"])
        .env("CTRAIL_STORE_CRASH_DIR", &dir)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!st.success(), "the child was meant to die");
    let actives: Vec<_> =
        segment::list(&dir).unwrap().segments.into_iter().filter(|s| s.state == State::Active).collect();
    assert_eq!(actives.len(), 1, "the crash left the active segment behind");
    // A leftover of a crash between preparing a segment and activating it goes too.
    fs::write(dir.join(segment::preparing_name(actives[0].seq + 1)), b"half-made").unwrap();

    let now = T0 + 60 * SEC;
    let (w, report) = StoreWriter::open(&dir, Options::default(), now).unwrap();
    assert_eq!(report.recovered.len(), 1);
    let down = report.downtime.expect("the downtime is stored");
    assert_eq!(down.reason, GapReason::RecorderDown { crashed: true });
    assert_eq!((down.start, down.end), (T0 + 2 * SEC, now), "from the last commit to now");
    w.close(now).unwrap();
    assert_eq!(pids(&dir), vec![10, 11, 12], "every committed batch, once");
    assert!(!fs::read_dir(&dir).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".preparing")));
}
