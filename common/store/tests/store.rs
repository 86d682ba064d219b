//! The store on its own, with time given by the test: retention, damaged segments and what a
//! crashed writer leaves behind. No root, no sleeps; the recorder's root tests cover the same
//! behaviour end to end.

use std::{fs, path::Path, process::Command};

use ctrail_model::GapReason;
use ctrail_store::{
    Batch, Options, StoreReader, StoreWriter,
    segment::{self, State},
};

mod common;

use common::{SEC, T0, exit, no_compaction, open, pids};

#[test]
fn retention_by_age_deletes_whole_old_segments_and_records_each() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let opts = Options { segment_age_ns: SEC, retain_ns: Some(3 * SEC), compact_below: Some(0), ..Options::default() };
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
    // The active segment counts too: a fresh redb file is as large as redb makes it (measured
    // here, not assumed); format-2 segments of 500 exits are ~3 KB: a budget of the active
    // segment and about four sealed ones.
    let active = {
        let w = open(&dir, Options { compact_below: Some(0), ..Options::default() }, T0);
        let size = fs::metadata(w.active_path()).unwrap().len();
        w.close(T0).unwrap();
        size
    };
    let budget = active + (12 << 10);
    let opts = Options { segment_age_ns: SEC, max_bytes: Some(budget), compact_below: Some(0), ..Options::default() };
    let mut w = open(&dir, opts, T0);
    for i in 0..12u32 {
        let t = T0 + u64::from(i) * SEC + 1;
        let events = (0..500).map(|j| exit(1000 * i + j, t)).collect();
        w.commit(&Batch { events, gaps: vec![] }, t + SEC).unwrap();
        // Retention runs on the maintenance thread and measures the active segment as it is
        // then: settled here, it measures the fresh one, not one the next batch grew.
        w.settle();
    }
    w.close(T0 + 20 * SEC).unwrap();
    let sizes: Vec<u64> =
        segment::list(&dir).unwrap().segments.iter().map(|f| fs::metadata(&f.path).unwrap().len()).collect();
    let (total, largest) = (sizes.iter().sum::<u64>(), sizes.iter().copied().max().unwrap());
    assert!(total <= budget + largest, "{total} bytes for a {budget}-byte budget: {sizes:?}");
    assert!((2..12).contains(&sizes.len()), "some deleted, more than the newest kept: {sizes:?}");
    let r = StoreReader::open(&dir).unwrap();
    assert!(r.gaps().iter().any(|g| matches!(g.reason, GapReason::Retention { .. })));
    assert!(pids(&dir).contains(&(11_000 + 499)), "the newest batch is kept");
}

/// Three format-1 segments (copies of the compatibility fixture written by d6bcdcd, the
/// last version that sealed redb segments), as seqs 0, 1 and 2.
fn format_1_store(dir: &Path) -> Vec<segment::SegmentFile> {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/stores/d6bcdcd/data");
    let one = segment::list(&fixture).unwrap().segments.remove(0);
    let State::Sealed { first, last } = one.state else { panic!("the fixture's segment is sealed") };
    fs::create_dir_all(dir).unwrap();
    fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    (0..3)
        .map(|seq| {
            let to = dir.join(segment::sealed_name(seq, first, last));
            fs::copy(&one.path, &to).unwrap();
            segment::parse(&to).unwrap()
        })
        .collect()
}

#[test]
fn damaged_format_1_segments_are_reported_then_set_aside_and_recorded_as_gaps() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let segs = format_1_store(&dir);
    let per_segment = StoreReader::open(&dir).unwrap().event_count() / 3;
    assert!(per_segment > 10, "the fixture holds an event of every kind");
    let (flipped, cut) = (&segs[0], &segs[1]);
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
    let found = r.events(0, u64::MAX, |_| true).len() as u64;
    assert_eq!(found, per_segment, "the intact segment answers");
    let problems = r.problems().join("\n");
    for f in [flipped, cut] {
        assert!(problems.contains(&f.name()), "{} not reported:\n{problems}", f.name());
    }
    drop(r);
    // The next recorder start moves them to corrupt/, says so in the chain, and writes the
    // intact one as format 2.
    let (w, report) = StoreWriter::open(&dir, no_compaction(), T0 + 10 * SEC).unwrap();
    let aside: Vec<String> =
        report.set_aside.iter().map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for f in [flipped, cut] {
        assert!(aside.contains(&f.name()), "{} not set aside: {aside:?}", f.name());
        assert!(dir.join("corrupt").join(f.name()).exists());
    }
    w.close(T0 + 10 * SEC).unwrap();
    assert_eq!(pids(&dir).len() as u64, per_segment, "no problem left; the intact one answers");
    let r = StoreReader::open(&dir).unwrap();
    let damaged: Vec<String> = r
        .gaps()
        .into_iter()
        .filter_map(|g| match g.reason {
            GapReason::Damaged { segment, .. } => Some(segment),
            _ => None,
        })
        .collect();
    assert_eq!(damaged, [flipped.name(), cut.name()], "each loss is a gap");
    let files = r.segment_files();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].format, segment::FileFormat::Seg, "the intact one was written as format 2");
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

/// Runtime metadata learnt after a container's first events (the recorder reads the files
/// off the ingest thread) is stored with it, survives sealing and compaction, and reads the
/// same from the active segment and from `.seg` files; a later segment's record fills an
/// earlier one's that sealed before the files were read.
#[test]
fn container_metadata_is_stored_with_the_container() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let id = "c0ffee".repeat(10) + "abcd";
    let mut w = open(&dir, no_compaction(), T0);
    // No name in its cgroup path (a docker container's path has only its ID).
    let idx = w.container(ctrail_model::Container { name: None, ..common::docker(&id) });
    w.commit(&Batch { events: vec![common::exec(7, T0 + 1, Some(idx))], gaps: vec![] }, T0 + 2).unwrap();
    w.seal_now(T0 + 3).unwrap();
    let mut meta = ctrail_model::Metadata { image: Some("shop/api:1.4.2".into()), ..Default::default() };
    meta.labels.insert("team".into(), "pay".into());
    meta.sources.insert("image".into(), "/var/lib/docker/containers/x/config.v2.json".into());
    w.describe(&id, Some("web-1".into()), None, None, meta.clone());
    w.commit(&Batch { events: vec![exit(7, T0 + 4)], gaps: vec![] }, T0 + 5).unwrap();
    let live = StoreReader::open(&dir).unwrap().containers();
    w.close(T0 + 6).unwrap();
    let sealed = StoreReader::open(&dir).unwrap().containers();
    for (when, list) in [("active", live), ("sealed", sealed)] {
        let c = list.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("{when}: {list:?}"));
        assert_eq!(c.meta, meta, "{when}");
        assert_eq!(c.name.as_deref(), Some("web-1"), "{when}");
    }
}

/// What an export of one file per segment reads: every event of the window exactly once,
/// a container at a time, the host's first and then by container ID, each in time order;
/// the same from the active redb segment and from the `.seg` it is sealed into.
#[test]
fn segments_are_read_a_container_at_a_time_in_id_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut w = open(&dir, no_compaction(), T0);
    // Made in an order that is not their IDs' order.
    let ids = ["cc".repeat(32), "aa".repeat(32), "bb".repeat(32)];
    let idx: Vec<u32> = ids.iter().map(|id| w.container(common::docker(id))).collect();
    let mut events = Vec::new();
    for n in 0..60u32 {
        let t = T0 + 100 + u64::from(60 - n) * 1000 + u64::from(n % 7);
        let c = match n % 4 {
            3 => None,
            k => Some(idx[k as usize]),
        };
        events.push(common::exec(100 + n, t, c));
    }
    w.commit(&Batch { events, gaps: vec![] }, T0 + 1_000_000).unwrap();
    let read = |r: &StoreReader| {
        let got = std::sync::Mutex::new(Vec::new());
        r.for_each_segment(
            0,
            u64::MAX,
            |_| true,
            |_, groups| -> Result<(), ()> {
                for g in groups {
                    let times: Vec<u64> = g.events.iter().map(|e| e.time).collect();
                    assert!(times.is_sorted(), "{times:?}");
                    let id = g.container.as_ref().map(|c| c.id.clone());
                    assert!(g.events.iter().all(|e| e.container.is_some() == id.is_some()));
                    got.lock().unwrap().push((id, g.events.len()));
                }
                Ok(())
            },
        )
        .unwrap();
        got.into_inner().unwrap()
    };
    let live = read(&StoreReader::open(&dir).unwrap());
    w.close(T0 + 2_000_000).unwrap();
    let r = StoreReader::open(&dir).unwrap();
    assert!(r.segment_files().iter().all(|s| s.format == segment::FileFormat::Seg), "sealed into .seg");
    let sealed = read(&r);
    let want = vec![(None, 15), (Some(ids[1].clone()), 15), (Some(ids[2].clone()), 15), (Some(ids[0].clone()), 15)];
    assert_eq!(live, want, "the active segment");
    assert_eq!(sealed, want, "the sealed segment");
}

/// A hook that notes the (first, last) seqs of what it was handed.
struct Took {
    next: u64,
    got: std::sync::Arc<std::sync::Mutex<Vec<(u64, u64)>>>,
}

impl ctrail_store::Finalized for Took {
    fn next(&self) -> u64 {
        self.next
    }

    fn finalized(&mut self, _: &Path, files: &[segment::SegmentFile]) -> Result<(), String> {
        for f in files {
            assert!(f.seq >= self.next, "handed {} again (next {})", f.seq, self.next);
            self.got.lock().unwrap().push((f.seq, f.last_seq));
            self.next = f.last_seq + 1;
        }
        Ok(())
    }
}

#[test]
fn segments_are_handed_over_once_no_merge_can_take_them_and_never_merged_after() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let hook = |next| Some(Box::new(Took { next, got: got.clone() }) as Box<dyn ctrail_store::Finalized>);
    let commit = |w: &mut StoreWriter, pid: u32, t: u64| {
        w.commit(&Batch { events: vec![exit(pid, t)], gaps: vec![] }, t).unwrap();
    };
    // A clock hour boundary (compaction merges within clock hours).
    let hour = 3600 * SEC;
    let h = (T0 / hour + 1) * hour;
    // Compaction on (every segment here is small): three seals in one hour merge into one
    // that a fourth could still join, so nothing is final yet.
    let (mut w, _) = StoreWriter::open_with(&dir, Options::default(), h - 700 * SEC, hook(0)).unwrap();
    w.add_boot(&common::boot()).unwrap();
    for i in 0..3u32 {
        let t = h - 600 * SEC + u64::from(i) * SEC;
        commit(&mut w, 100 + i, t);
        w.seal_now(t + 1).unwrap();
        w.settle();
    }
    assert_eq!(*got.lock().unwrap(), vec![], "a run of small segments in one hour may still grow");
    // A segment across the hour is never merged: it and the run before it are final.
    commit(&mut w, 200, h - SEC);
    commit(&mut w, 201, h + SEC);
    w.seal_now(h + 2 * SEC).unwrap();
    w.settle();
    assert_eq!(*got.lock().unwrap(), vec![(0, 2), (3, 3)]);
    // At stop the rest goes, small or not.
    commit(&mut w, 300, h + 100 * SEC);
    w.close(h + 101 * SEC).unwrap();
    assert_eq!(got.lock().unwrap().last(), Some(&(4, 4)));
    // The next run never merges what was handed over with what follows (same hour, small).
    let (mut w, _) = StoreWriter::open_with(&dir, Options::default(), h + 102 * SEC, hook(5)).unwrap();
    w.add_boot(&common::boot()).unwrap();
    for i in 0..2u32 {
        let t = h + (103 + u64::from(i)) * SEC;
        commit(&mut w, 400 + i, t);
        w.seal_now(t + 1).unwrap();
        w.settle();
    }
    w.close(h + 110 * SEC).unwrap();
    let files = segment::effective(segment::list(&dir).unwrap().segments).0;
    assert!(files.iter().any(|f| (f.seq, f.last_seq) == (4, 4)), "segment 4 was merged after it was handed over");
    let handed: Vec<(u64, u64)> = got.lock().unwrap().clone();
    let mut covered: Vec<u64> = handed.iter().flat_map(|&(a, b)| a..=b).collect();
    covered.dedup();
    assert_eq!(covered.len(), handed.iter().map(|&(a, b)| (b - a + 1) as usize).sum::<usize>(), "once each");
    assert!(files.iter().all(|f| handed.iter().any(|&(a, b)| a <= f.seq && f.last_seq <= b)), "{files:?} {handed:?}");
}
