//! `ctrail events --follow`: new events within about a second, a cursor with each, and a
//! resume from the last cursor after the recorder was killed and restarted that gives
//! every stored event once, none left out, and the downtime as a gap record.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use ctrail_model::GapReason;

use crate::helpers::*;

/// A follower and the lines it printed, each with when the test saw it.
struct Follower {
    child: Child,
    lines: Arc<Mutex<Vec<(Instant, serde_json::Value)>>>,
    stderr: Arc<Mutex<String>>,
}

impl Follower {
    fn start(data: &std::path::Path, after: &str) -> Follower {
        let mut child = Command::new(ctrail_bin())
            .args(["events", "--follow", "--format", "json", "--after", after, "--data-dir"])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ctrail events --follow");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let v: serde_json::Value = serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l}"));
                sink.lock().unwrap().push((Instant::now(), v));
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&(l + "\n"));
            }
        });
        Follower { child, lines, stderr }
    }

    /// Waits (up to `within`) for a line with `marker` in its argv; when it came.
    fn wait_exec(&self, marker: &str, within: Duration) -> Option<Instant> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let hit = self.lines.lock().unwrap().iter().find(|(_, v)| has_arg(v, marker)).map(|(t, _)| *t);
            if hit.is_some() {
                return hit;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    fn wait_gap(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.lines.lock().unwrap().iter().any(|(_, v)| v["type"] == "gap") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// SIGINT; the lines and the cursor it said to resume from.
    fn stop(mut self) -> (Vec<serde_json::Value>, String) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let err = self.stderr.lock().unwrap().clone();
        assert!(status.success(), "follower exited {status}: {err}");
        let cursor = err
            .lines()
            .find_map(|l| l.split("resume with --after ").nth(1))
            .unwrap_or_else(|| panic!("no resume cursor on stderr: {err}"))
            .to_string();
        let lines = self.lines.lock().unwrap().iter().map(|(_, v)| v.clone()).collect();
        (lines, cursor)
    }
}

fn has_arg(v: &serde_json::Value, marker: &str) -> bool {
    v["argv"].as_array().is_some_and(|a| a.iter().any(|x| x == marker))
}

fn cursor_time(c: &str) -> u64 {
    c.split('.').next().unwrap().parse().unwrap()
}

fn wall_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

#[test]
fn follow_streams_within_a_second_and_resumes_across_a_kill_9_with_no_duplicate_and_no_hole() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let rec = Recorder::start(&[]);
    let data = rec.data();
    let start = format!("{}.0", wall_now());
    let first = Follower::start(&data, &start);
    let m = marker("follow");
    let mut latencies = Vec::new();
    for i in 0..5 {
        let tag = format!("{m}-a{i}");
        let t = Instant::now();
        assert!(run(Command::new("/bin/true").arg(&tag)).success());
        let seen = first.wait_exec(&tag, Duration::from_secs(10)).unwrap_or_else(|| panic!("{tag} never streamed"));
        latencies.push(seen.saturating_duration_since(t));
        std::thread::sleep(Duration::from_millis(150));
    }
    let worst = latencies.iter().max().unwrap();
    eprintln!("follow latencies: {latencies:?}");
    assert!(*worst < Duration::from_millis(1500), "an event took {worst:?} to stream");

    // kill -9; what runs meanwhile is not recorded (the downtime); restart on the same dir.
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(rec.pid() as i32, libc::SIGKILL) };
    let dir = rec.abandon();
    assert!(run(Command::new("/bin/true").arg(format!("{m}-down"))).success());
    std::thread::sleep(Duration::from_millis(500));
    let rec = Recorder::start_in(dir, &[]);
    assert!(run(Command::new("/bin/true").arg(format!("{m}-b0"))).success());
    assert!(
        first.wait_exec(&format!("{m}-b0"), Duration::from_secs(10)).is_some(),
        "the stream survives a restart: {}",
        first.stderr.lock().unwrap()
    );
    assert!(first.wait_gap(Duration::from_secs(5)), "the downtime streams as a gap");
    let (one, cursor) = first.stop();

    // Meanwhile, more; then resume from the cursor the first follower stopped at.
    for i in 0..3 {
        assert!(run(Command::new("/bin/true").arg(format!("{m}-c{i}"))).success());
    }
    let second = Follower::start(&data, &cursor);
    assert!(second.wait_exec(&format!("{m}-c2"), Duration::from_secs(10)).is_some());
    std::thread::sleep(Duration::from_millis(300));
    let (two, end) = second.stop();
    let (s, _) = rec.stop();

    // Both streams together are exactly what the store holds between the first cursor and
    // the last: every event once (by time, pid and type), every gap once.
    let key = |v: &serde_json::Value| {
        (cursor_time(v["cursor"].as_str().unwrap()), v["pid"].as_u64().unwrap_or(0), v["type"].to_string())
    };
    let mut streamed: BTreeMap<(u64, u64, String), usize> = BTreeMap::new();
    for v in one.iter().chain(&two) {
        *streamed.entry(key(v)).or_default() += 1;
    }
    let dups: Vec<_> = streamed.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "streamed twice: {dups:?}");
    let (from, to) = (cursor_time(&start), cursor_time(&end));
    let mut stored: BTreeMap<(u64, u64, String), usize> = BTreeMap::new();
    for e in s.events.iter().filter(|e| e.time >= from && e.time < to) {
        let k = (e.time, u64::from(e.proc.tgid), format!("{:?}", e.body.kind().as_str()));
        *stored.entry(k).or_default() += 1;
    }
    let gaps: Vec<_> = s.gaps.iter().filter(|g| g.end >= from && g.end < to).collect();
    for g in &gaps {
        *stored.entry((g.end, 0, "\"gap\"".into())).or_default() += 1;
    }
    let missing: Vec<_> = stored.keys().filter(|k| !streamed.contains_key(*k)).take(5).collect();
    let extra: Vec<_> = streamed.keys().filter(|k| !stored.contains_key(*k)).take(5).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing from the streams: {missing:?}; not stored: {extra:?}");
    assert!(gaps.iter().any(|g| g.reason == GapReason::RecorderDown { crashed: true }), "{gaps:?}");
    let down = format!("{m}-down");
    assert!(!one.iter().chain(&two).any(|v| has_arg(v, &down)), "an exec during the downtime cannot be there");
    for tag in ["a0", "a4", "b0", "c0", "c2"] {
        let tag = format!("{m}-{tag}");
        assert_eq!(one.iter().chain(&two).filter(|v| has_arg(v, &tag)).count(), 1, "{tag}");
    }
    eprintln!("streamed {} + {} lines, {} gaps; the store agrees", one.len(), two.len(), gaps.len());
}
