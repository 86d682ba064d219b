//! The segmented store under a real recorder: live queries, crash recovery, corruption,
//! retention, offline copies and a full disk.

use std::{
    collections::BTreeSet,
    fs,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use ctrail_model::{Body, Event, GapReason};
use ctrail_store::{
    StoreReader,
    control::{self, Reached},
    segment::{self, State},
};

use crate::helpers::*;

fn argv_has(e: &Event, m: &str) -> bool {
    matches!(&e.body, Body::Exec(x) if x.argv.iter().any(|a| a == m.as_bytes()))
}

fn stored_with(dir: &Path, m: &str) -> usize {
    StoreReader::open(dir).unwrap().events(0, u64::MAX, |e| argv_has(e, m)).len()
}

fn sealed_segments(dir: &Path) -> Vec<segment::SegmentFile> {
    segment::list(dir).unwrap().segments.into_iter().filter(|s| matches!(s.state, State::Sealed { .. })).collect()
}

#[test]
fn a_live_query_sees_a_process_that_exited_a_second_ago() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let rec = Recorder::start(&[]);
    let m = marker("live");
    assert!(run(Command::new("/bin/true").arg(&m)).success());
    std::thread::sleep(Duration::from_secs(1));
    // Another process (this test) asks the running recorder to flush, then reads the active
    // segment beside it.
    let t = Instant::now();
    let before = segment::list(&rec.data()).unwrap().segments.len();
    assert_eq!(control::request(&rec.data(), control::FLUSH, Duration::from_secs(10)), Ok(Reached::Live));
    let r = StoreReader::open(&rec.data()).expect("read while recording");
    assert_eq!(segment::list(&rec.data()).unwrap().segments.len(), before, "a flush makes no segment");
    let found = r.events(0, u64::MAX, |e| argv_has(e, &m));
    let took = t.elapsed();
    assert_eq!(found.len(), 1, "the exec of a process gone for a second is visible");
    let exit = r.events_of(found[0].event.proc).into_iter().any(|f| matches!(f.event.body, Body::Exit(_)));
    assert!(exit, "and so is its exit");
    eprintln!("flush + open + query while recording: {took:?}");
    // A second seal with nothing new does not make empty segments.
    let before = sealed_segments(&rec.data()).len();
    assert_eq!(control::request(&rec.data(), control::SEAL, Duration::from_secs(10)), Ok(Reached::Live));
    assert!(sealed_segments(&rec.data()).len() <= before + 1);
    let _ = rec.stop();
}

#[test]
fn kill_9_during_a_storm_keeps_every_committed_batch_and_stores_the_downtime() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let rec = Recorder::start(&[]);
    let data = rec.data();
    let m = marker("crash");
    let n = 20_000u32;
    let kill_at = 6_000;
    let mut killed_at = None;
    for i in 0..n {
        if i == kill_at {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(rec.pid() as i32, libc::SIGKILL) };
            killed_at = Some(i);
        }
        let st = Command::new("/bin/true").arg(&m).arg(i.to_string()).status().expect("spawn");
        assert!(st.success());
    }
    let dir = rec.abandon();
    assert!(killed_at.is_some());
    let leftovers: Vec<_> =
        segment::list(&data).unwrap().segments.into_iter().filter(|s| s.state == State::Active).collect();
    assert_eq!(leftovers.len(), 1, "kill -9 leaves the active segment behind");

    // Restart on the same data dir: it recovers and seals the old segment, records the downtime.
    let rec = Recorder::start_in(dir, &[]);
    let log = rec.log.lock().unwrap().clone();
    assert!(log.contains("recovered"), "{log}");
    let (s, _) = rec.stop();

    let mut seen: BTreeSet<u32> = BTreeSet::new();
    for e in s.events.iter().filter(|e| argv_has(e, &m)) {
        let Body::Exec(x) = &e.body else { unreachable!() };
        let i: u32 = String::from_utf8_lossy(x.argv.last().unwrap()).parse().unwrap();
        assert!(seen.insert(i), "exec {i} stored twice");
    }
    let k = seen.len() as u32;
    eprintln!("kill -9 at exec {kill_at}: {k} storm execs were committed before it");
    assert!(k > 0 && k <= kill_at + 1);
    // Batches commit in order: what is stored is a prefix, with no hole before the last commit.
    assert_eq!(seen.iter().copied().collect::<Vec<_>>(), (0..k).collect::<Vec<_>>(), "a hole in the stored prefix");
    let down: Vec<_> = s.gaps.iter().filter(|g| g.reason == GapReason::RecorderDown { crashed: true }).collect();
    assert_eq!(down.len(), 1, "{:?}", s.gaps);
    let last_stored = s.events.iter().filter(|e| argv_has(e, &m)).map(|e| e.time).max().unwrap();
    assert!(down[0].start >= last_stored && down[0].end > down[0].start, "{:?}", down[0]);
    assert!(segment::list(&s.dir.path().join("data")).unwrap().segments.iter().all(|f| f.state != State::Active));
}

/// Three sealed segments with one marker each (not merged: compaction is off).
fn three_segments(tag: &str) -> (Stored, [String; 3]) {
    let rec = Recorder::start(&["--compact-below", "0"]);
    let marks = [marker(&format!("{tag}-a")), marker(&format!("{tag}-b")), marker(&format!("{tag}-c"))];
    for m in &marks {
        assert!(run(Command::new("/bin/true").arg(m)).success());
        assert_eq!(control::request(&rec.data(), control::SEAL, Duration::from_secs(10)), Ok(Reached::Live));
    }
    let (s, _) = rec.stop();
    (s, marks)
}

fn segment_holding(dir: &Path, m: &str) -> segment::SegmentFile {
    sealed_segments(dir).into_iter().find(|f| stored_in(f, m)).expect("a segment holds the marker")
}

fn stored_in(f: &segment::SegmentFile, m: &str) -> bool {
    assert_eq!(f.format, segment::FileFormat::Seg, "sealed segments are written as format 2: {}", f.name());
    let r = ctrail_store::seg::reader::SegReader::open(&f.path).unwrap();
    r.events(0, u64::MAX).iter().any(|(_, e)| argv_has(e, m))
}

#[test]
fn flipped_and_cut_segments_are_reported_and_the_rest_answers() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let (s, [a, b, c]) = three_segments("corrupt");
    let data = s.dir.path().join("data");
    let flipped = segment_holding(&data, &a);
    let cut = segment_holding(&data, &b);
    assert_ne!(flipped.path, cut.path);
    // Flip every byte past the first 512 (the header survives), and cut the other file to
    // a third.
    let mut bytes = fs::read(&flipped.path).unwrap();
    for b in bytes.iter_mut().skip(512) {
        *b ^= 0x5a;
    }
    fs::write(&flipped.path, bytes).unwrap();
    let len = fs::metadata(&cut.path).unwrap().len();
    fs::OpenOptions::new().write(true).open(&cut.path).unwrap().set_len(len / 3).unwrap();

    let r = StoreReader::open(&data).expect("the store still opens");
    let hits = |m: &str| r.events(0, u64::MAX, |e| argv_has(e, m)).len();
    assert_eq!(hits(&c), 1, "the intact segment answers");
    assert_eq!(hits(&a) + hits(&b), 0);
    let problems = r.problems().join("\n");
    for f in [&flipped, &cut] {
        assert!(problems.contains(&f.name()), "{} not reported:\n{problems}", f.name());
    }
    drop(r);
    // The next recorder on this data dir sets them aside (corrupt/) and says so.
    let dir = s.dir;
    let rec = Recorder::start_in(dir, &[]);
    let log = rec.log.lock().unwrap().clone();
    let (after, _) = rec.stop();
    for f in [&flipped, &cut] {
        assert!(log.contains("set aside") && log.contains(&f.name()), "{} not set aside:\n{log}", f.name());
        assert!(after.dir.path().join("data/corrupt").join(f.name()).exists());
    }
    assert!(after.problems.is_empty(), "{:?}", after.problems);
    assert_eq!(after.execs_with(&c).len(), 1, "the intact segment still answers");
    let damaged = after.gaps.iter().filter(|g| matches!(g.reason, GapReason::Damaged { .. })).count();
    assert_eq!(damaged, 2, "each loss stays on record: {:?}", after.gaps);
    let o =
        Command::new(ctrail_bin()).arg("verify").arg("--data-dir").arg(after.dir.path().join("data")).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "the history is not intact: {}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn a_copied_data_dir_answers_the_same_offline() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let (s, marks) = three_segments("copy");
    let data = s.dir.path().join("data");
    let copy = tempfile::tempdir().unwrap();
    let st = Command::new("cp").arg("-a").arg(&data).arg(copy.path().join("data")).status().unwrap();
    assert!(st.success());
    let original = StoreReader::open(&data).unwrap();
    let copied = StoreReader::open(&copy.path().join("data")).unwrap();
    assert_eq!(
        control::request(&copy.path().join("data"), control::SEAL, Duration::from_secs(1)),
        Ok(Reached::Offline)
    );
    assert_eq!(original.event_count(), copied.event_count());
    assert_eq!(original.containers(), copied.containers());
    for m in &marks {
        assert_eq!(stored_with(&copy.path().join("data"), m), 1);
    }
}

#[test]
fn retention_by_age_deletes_whole_old_segments_and_records_them() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let rec = Recorder::start(&["--segment-age", "1s", "--retain", "3s"]);
    let marks: Vec<String> = (0..8).map(|i| marker(&format!("age{i}"))).collect();
    for (i, m) in marks.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(1000));
        }
        assert!(run(Command::new("/bin/true").arg(m)).success());
    }
    // Retention ran many times by now; the active segment is still there, and is the newest.
    let files = segment::list(&rec.data()).unwrap().segments;
    let active: Vec<_> = files.iter().filter(|f| f.state == State::Active).collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].seq, files.iter().map(|f| f.seq).max().unwrap());
    let (s, log) = rec.stop();
    let deleted: Vec<_> = s.gaps.iter().filter(|g| matches!(g.reason, GapReason::Retention { .. })).collect();
    assert!(!deleted.is_empty(), "{log}");
    let first_kept = marks.iter().position(|m| s.execs_with(m).len() == 1).expect("recent markers are kept");
    assert!(first_kept >= 2, "the oldest markers are gone, kept from {first_kept}");
    assert!(marks[first_kept..].iter().all(|m| s.execs_with(m).len() == 1), "only whole old segments go");
    assert!(marks[..first_kept].iter().all(|m| s.execs_with(m).is_empty()));
}

#[test]
fn retention_by_size_keeps_the_data_dir_under_budget() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let budget: u64 = 1 << 20;
    let rec = Recorder::start(&["--segment-age", "1s", "--max-size", "1MiB"]);
    let m = marker("size");
    // Sealed segments are compressed: argv that does not compress, so that they fill up.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut noise = || {
        (0..2000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'!' + (x % 90) as u8)
            })
            .collect::<String>()
    };
    for round in 0..6 {
        for _ in 0..300 {
            assert!(run(Command::new("/bin/true").arg(&m).arg(noise()).arg(round.to_string())).success());
        }
        std::thread::sleep(Duration::from_millis(1100));
    }
    let data = rec.data();
    let (s, _) = rec.stop();
    let sizes: Vec<u64> =
        segment::list(&data).unwrap().segments.iter().map(|f| fs::metadata(&f.path).unwrap().len()).collect();
    let total: u64 = sizes.iter().sum();
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let deleted = s.gaps.iter().filter(|g| matches!(g.reason, GapReason::Retention { .. })).count();
    eprintln!("segments {sizes:?}, total {total}, deleted {deleted}");
    assert!(deleted > 0, "some segments had to go");
    // Retention runs when a segment is sealed, so the active one may add its own size.
    assert!(total <= budget + largest, "{total} bytes on disk for a {budget}-byte budget");
    let kept: BTreeSet<String> = s
        .events
        .iter()
        .filter(|e| argv_has(e, &m))
        .map(|e| match &e.body {
            Body::Exec(x) => String::from_utf8_lossy(x.argv.last().unwrap()).into_owned(),
            _ => unreachable!(),
        })
        .collect();
    assert!(kept.contains("5"), "the newest round is kept: {kept:?}");
}

#[test]
fn a_storm_of_seal_requests_is_compacted_and_the_store_verifies_while_recording_and_after() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let rec = Recorder::start(&[]);
    let data = rec.data();
    let marks: Vec<String> = (0..300).map(|i| marker(&format!("storm{i}"))).collect();
    let t = Instant::now();
    for m in &marks {
        assert!(run(Command::new("/bin/true").arg(m)).success());
        assert_eq!(control::request(&data, control::SEAL, Duration::from_secs(10)), Ok(Reached::Live));
    }
    eprintln!("300 execs and seals in {:?}", t.elapsed());
    // Compaction runs behind the seals: the count comes down to a few.
    let deadline = Instant::now() + Duration::from_secs(60);
    let count = || segment::effective(segment::list(&data).unwrap().segments).0.len();
    while count() > 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(count() <= 4, "{} segments after 300 seals", count());
    let verify = || Command::new(ctrail_bin()).arg("verify").arg("--data-dir").arg(&data).output().unwrap();
    let o = verify();
    assert_eq!(o.status.code(), Some(0), "while recording: {}", String::from_utf8_lossy(&o.stdout));
    let (s, _) = rec.stop();
    for m in &marks {
        assert_eq!(s.execs_with(m).len(), 1, "{m}: once, nothing lost or doubled by compaction");
    }
    let o = verify();
    assert_eq!(o.status.code(), Some(0), "after: {}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn a_full_disk_keeps_the_recorder_alive_and_the_lost_window_is_a_gap() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let mnt = tempfile::tempdir().unwrap();
    let st =
        Command::new("mount").args(["-t", "tmpfs", "-o", "size=6m,mode=0700", "ctrail-test"]).arg(mnt.path()).status();
    assert!(st.unwrap().success(), "mount a small tmpfs");
    struct Umount(std::path::PathBuf);
    impl Drop for Umount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _umount = Umount(mnt.path().to_path_buf());
    let data = mnt.path().join("data");
    let mut rec = Recorder::start_at(&data, &[]);
    // Fill what is left of the tmpfs.
    let filler = mnt.path().join("filler");
    let _ = Command::new("dd").arg("if=/dev/zero").arg(format!("of={}", filler.display())).args(["bs=64k"]).output();
    let lost_m = marker("full");
    for _ in 0..200 {
        let _ = run(Command::new("/bin/true").arg(&lost_m).arg("y".repeat(3000)));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert!(rec.alive(), "the recorder survives a full disk");
    fs::remove_file(&filler).unwrap();
    let kept_m = marker("after");
    std::thread::sleep(Duration::from_millis(500));
    assert!(run(Command::new("/bin/true").arg(&kept_m)).success());
    std::thread::sleep(Duration::from_millis(1000));
    let r = {
        assert_eq!(control::request(&data, control::SEAL, Duration::from_secs(10)), Ok(Reached::Live));
        StoreReader::open(&data).unwrap()
    };
    let gaps: Vec<_> = r.gaps().into_iter().filter(|g| matches!(g.reason, GapReason::StoreFailed(_))).collect();
    let after = r.events(0, u64::MAX, |e| argv_has(e, &kept_m)).len();
    drop(r);
    let log = rec.kill_and_log();
    assert!(!gaps.is_empty(), "the lost window is stored as a gap:\n{log}");
    assert!(gaps.iter().map(|g| g.lost()).sum::<u64>() > 0);
    assert_eq!(after, 1, "recording goes on once space returns:\n{log}");
}
