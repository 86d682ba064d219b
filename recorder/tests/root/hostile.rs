//! The attacks on a recorder that runs as root and stores what attackers write, reproduced
//! for real: hostile names recorded from the kernel and read on a terminal and in CSV, data
//! directories that others control, planted symlinks and FIFOs, endless control-socket
//! requests, files removed under a running recorder.

use std::{
    fs,
    io::Write,
    os::unix::{ffi::OsStrExt, fs::PermissionsExt, net::UnixStream},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use ctrail_fixtures::tty::{control_bytes, run_on_tty};
use ctrail_model::GapReason;
use ctrail_store::{
    StoreReader,
    control::{self, Reached},
};

use crate::helpers::*;

/// Runs the recorder on `data` and expects it to refuse: exit 2 within a few seconds.
fn refused(data: &Path, extra: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ctrail-recorder"))
        .args(["run", "--data-dir"])
        .arg(data)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ctrail-recorder");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the recorder did not refuse {} (it is recording)", data.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{}: {err}", data.display());
    err
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// A root-owned 0600 file outside the data directory: what a planted link points at.
fn precious(dir: &Path) -> (PathBuf, std::time::SystemTime) {
    let p = dir.join("precious");
    fs::write(&p, b"root's own file").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    let mtime = fs::metadata(&p).unwrap().modified().unwrap();
    (p, mtime)
}

fn untouched(p: &Path, mtime: std::time::SystemTime) {
    assert_eq!(fs::read(p).unwrap(), b"root's own file", "{} was written", p.display());
    assert_eq!(fs::metadata(p).unwrap().modified().unwrap(), mtime, "{} was touched", p.display());
}

fn chown(p: &Path, uid: u32, follow: bool) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: (l)chown with a valid NUL-terminated path; -1 keeps the group.
    let r = unsafe {
        if follow { libc::chown(c.as_ptr(), uid, u32::MAX) } else { libc::lchown(c.as_ptr(), uid, u32::MAX) }
    };
    assert_eq!(r, 0, "chown {}", p.display());
}

const NOBODY: u32 = 65534;

#[test]
fn data_directories_that_others_control_are_refused_before_anything_in_them_is_opened() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();

    let foreign = t.join("foreign");
    fs::create_dir(&foreign).unwrap();
    fs::set_permissions(&foreign, fs::Permissions::from_mode(0o700)).unwrap();
    chown(&foreign, NOBODY, true);
    assert!(refused(&foreign, &[]).contains("owned by uid 65534"));
    assert!(entries(&foreign).is_empty(), "nothing created in it");

    let loose = t.join("loose");
    fs::create_dir(&loose).unwrap();
    fs::set_permissions(&loose, fs::Permissions::from_mode(0o777)).unwrap();
    assert!(refused(&loose, &[]).contains("writable by group or others"));
    assert!(entries(&loose).is_empty());
    assert_eq!(fs::metadata(&loose).unwrap().permissions().mode() & 0o7777, 0o777, "not silently chmodded");

    let open_parent = t.join("open-parent");
    fs::create_dir(&open_parent).unwrap();
    fs::set_permissions(&open_parent, fs::Permissions::from_mode(0o777)).unwrap();
    assert!(refused(&open_parent.join("data"), &[]).contains("above the data directory"));
    assert!(!open_parent.join("data").exists());

    let real = t.join("real");
    fs::create_dir(&real).unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o700)).unwrap();
    let link = t.join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    assert!(refused(&link, &[]).contains("is a symlink"));
    assert!(entries(&real).is_empty());

    // A link in sticky /tmp that another user made (and so can repoint) on the way there.
    let theirs = PathBuf::from(format!("/tmp/ctrail-test-link-{}", std::process::id()));
    let _ = fs::remove_file(&theirs);
    std::os::unix::fs::symlink(&real, &theirs).unwrap();
    chown(&theirs, NOBODY, false);
    let err = refused(&theirs.join("data"), &[]);
    fs::remove_file(&theirs).unwrap();
    assert!(err.contains("symlink on the way") && err.contains("65534"), "{err}");
    assert!(entries(&real).is_empty());

    let (target, mtime) = precious(t);
    for planted in ["lock", "0000000000.active.redb", "0000000001-1-2.redb"] {
        let d = t.join(format!("planted-{planted}"));
        fs::create_dir(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink(&target, d.join(planted)).unwrap();
        let err = refused(&d, &[]);
        assert!(err.contains(planted) && err.contains("a symlink"), "{planted}: {err}");
        assert_eq!(entries(&d), vec![planted.to_string()], "nothing else was created");
        untouched(&target, mtime);
    }

    let fifo_dir = t.join("fifo");
    fs::create_dir(&fifo_dir).unwrap();
    fs::set_permissions(&fifo_dir, fs::Permissions::from_mode(0o700)).unwrap();
    let fifo = fifo_dir.join("0000000005-1-2.redb");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let t0 = Instant::now();
    assert!(refused(&fifo_dir, &[]).contains("a FIFO"));
    assert!(t0.elapsed() < Duration::from_secs(10), "refused at once, not blocked on the FIFO");

    // Root's own 0700 directory under sticky /tmp is fine, and so is a loose one when the
    // user says so explicitly.
    let rec = Recorder::start_at(&real.join("data"), &[]);
    let _ = rec.kill_and_log();
    let rec = Recorder::start_at(&loose, &["--allow-untrusted-data-dir"]);
    let _ = rec.kill_and_log();
}

#[test]
fn hostile_names_recorded_from_the_kernel_reach_no_terminal_and_no_spreadsheet() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let bin = tempfile::tempdir().unwrap();
    let formula = bin.path().join("=1+2");
    let painter = bin.path().join("\x1b[2Jevil");
    for p in [&formula, &painter] {
        fs::copy("/bin/true", p).unwrap();
    }
    let cg = FakeCgroup::new("/lxc.payload.x\x1b[2J");
    let rec = Recorder::start(&[]);
    let m = marker("hostile");
    // exe exactly `=1+2`: exec'd by a relative name, as execv("=1+2", ...) does.
    let st = Command::new("python3")
        .args([
            "-c",
            "import os,sys; os.chdir(sys.argv[1]); os.execv('=1+2', ['=1+2', '@SUM(1)', '-2+3', sys.argv[2]])",
        ])
        .arg(bin.path())
        .arg(&m)
        .status()
        .unwrap();
    assert!(st.success());
    assert!(run(Command::new(&painter).args(["\x1b[2J\x1b[31mX\x1b]0;pwned\x07", "a\nb", "+x", &m])).success());
    assert!(run(Command::new("sh").arg("-c").arg(format!("{}exec /bin/true {m}", cg.enter()))).success());
    let (s, _) = rec.stop();
    drop(cg);
    let data = s.dir.path().join("data");
    let data = data.to_str().unwrap();
    let eq = s.execs_with(&m).into_iter().find(|e| exec_of(e).filename == b"=1+2").expect("the exe as passed to exec");
    let real = fs::canonicalize(bin.path()).unwrap();
    assert_eq!(exec_of(eq).exe, real.join("=1+2").as_os_str().as_bytes(), "the file it resolved to");
    assert_eq!(exec_of(eq).cwd.as_deref(), Some(real.as_os_str().as_bytes()), "the cwd it ran in");
    assert!(s.containers.iter().flatten().any(|c| c.name.as_deref() == Some("x\x1b[2J")), "the lxc name as recorded");

    for args in [vec!["events"], vec!["containers"]] {
        let mut full = args.clone();
        full.extend(["--data-dir", data]);
        let (out, code) = run_on_tty(Command::new(ctrail_bin()).args(&full));
        assert_eq!(code, Some(0));
        assert!(control_bytes(&out).is_empty(), "{args:?}: {:?}", control_bytes(&out));
        assert!(String::from_utf8_lossy(&out).contains("\\e[2J"), "{args:?}: escapes shown as text");
    }
    let o = Command::new(ctrail_bin()).args(["events", "--data-dir", data, "--format", "csv"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(control_bytes(&o.stdout).is_empty());
    let case = s.dir.path().join("case");
    let o = Command::new(ctrail_bin()).args(["export", "--data-dir", data, "--out"]).arg(&case).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    for csv in
        [o.stdout.clone(), fs::read(case.join("events.csv")).unwrap(), fs::read(case.join("processes.csv")).unwrap()]
    {
        assert!(control_bytes(&csv).is_empty());
        let text = String::from_utf8_lossy(&csv);
        for cell in text.split([',', '\n']).map(|c| c.trim_matches('"')) {
            assert!(!cell.starts_with(['=', '+', '-', '@']), "formula cell {cell:?}");
        }
    }
    let events = fs::read_to_string(case.join("events.csv")).unwrap();
    assert!(events.contains("'=1+2") && events.contains("'@SUM(1)"), "{events}");
}

fn vm_rss_kib(pid: u32) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn endless_and_huge_requests_are_bounded_and_the_recorder_keeps_answering() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let rec = Recorder::start(&[]);
    let sock = control::socket_path(&rec.data());
    let before = vm_rss_kib(rec.pid());
    // A client that connects and says nothing must not hold up the others.
    let _silent = UnixStream::connect(&sock).unwrap();
    let t = Instant::now();
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let sock = sock.clone();
            std::thread::spawn(move || {
                let mut s = UnixStream::connect(&sock).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
                let chunk = vec![b'A'; 1 << 20];
                let mut sent = 0usize;
                while sent < 64 << 20 && s.write_all(&chunk).is_ok() {
                    sent += chunk.len();
                }
                sent
            })
        })
        .collect();
    let sent: Vec<usize> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let took = t.elapsed();
    let after = vm_rss_kib(rec.pid());
    eprintln!("4 clients sent {sent:?} bytes in {took:?}; recorder RSS {before} -> {after} KiB");
    assert!(sent.iter().all(|&n| n < 64 << 20), "the recorder stopped reading each at its limit");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(after < before + 32 * 1024, "the recorder grew from {before} to {after} KiB");
    let t = Instant::now();
    assert_eq!(control::request(&rec.data(), control::FLUSH, Duration::from_secs(10)), Ok(Reached::Live));
    assert!(t.elapsed() < Duration::from_secs(2), "answered while a silent client is connected");
    let _ = rec.stop();
}

#[test]
fn removing_the_active_segment_or_the_lock_is_a_gap_and_a_log_line_and_a_second_recorder_is_refused() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let rec = Recorder::start(&[]);
    let data = rec.data();
    let before = marker("before-removal");
    assert!(run(Command::new("/bin/true").arg(&before)).success());
    assert_eq!(control::request(&data, control::FLUSH, Duration::from_secs(10)), Ok(Reached::Live));
    let active = ctrail_store::segment::list(&data)
        .unwrap()
        .segments
        .into_iter()
        .find(|s| s.state == ctrail_store::segment::State::Active)
        .unwrap();
    fs::remove_file(&active.path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !rec.log.lock().unwrap().contains("removed under the running recorder") {
        assert!(Instant::now() < deadline, "no log line:\n{}", rec.log.lock().unwrap());
        std::thread::sleep(Duration::from_millis(100));
    }
    fs::remove_file(data.join("lock")).unwrap();
    while !rec.log.lock().unwrap().contains("lock file was removed") {
        assert!(Instant::now() < deadline, "no log line:\n{}", rec.log.lock().unwrap());
        std::thread::sleep(Duration::from_millis(100));
    }
    // The lock file is gone and made again, but the directory itself was locked all along.
    fs::remove_file(data.join("lock")).unwrap();
    assert!(refused(&data, &[]).contains("in use"));
    let after = marker("after-removal");
    assert!(run(Command::new("/bin/true").arg(&after)).success());
    let (s, log) = rec.stop();
    assert!(s.execs_with(&before).is_empty(), "it was in the removed segment");
    assert_eq!(s.execs_with(&after).len(), 1, "recording went on:\n{log}");
    let lost: Vec<_> = s.gaps.iter().filter(|g| matches!(g.reason, GapReason::SegmentLost { .. })).collect();
    assert_eq!(lost.len(), 1, "{:?}", s.gaps);
    assert!(lost[0].lost() >= 1, "the removed events are counted: {:?}", lost[0]);
    assert!(s.gaps.iter().any(|g| matches!(g.reason, GapReason::Tampered { .. })), "{:?}", s.gaps);
    assert!(s.gaps.iter().all(|g| !matches!(g.reason, GapReason::RecorderDown { .. })), "no false crash");
}

#[test]
fn a_thousand_live_queries_add_no_segments_and_see_what_just_ran() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let rec = Recorder::start(&[]);
    let data = rec.data();
    let count = || ctrail_store::segment::list(&data).unwrap().segments.len();
    let before = count();
    let m = marker("fresh");
    assert!(run(Command::new("/bin/true").arg(&m)).success());
    let t = Instant::now();
    for i in 0..1000 {
        let o = Command::new(ctrail_bin())
            .args(["events", "--type", "exec", "--since", "5m", "--format", "json", "--data-dir"])
            .arg(&data)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "query {i}: {}", String::from_utf8_lossy(&o.stderr));
        if i == 0 {
            assert!(String::from_utf8_lossy(&o.stdout).contains(&m), "the first query sees what just ran");
        }
    }
    let after = count();
    eprintln!("1000 live queries in {:?}: segments {before} -> {after}", t.elapsed());
    assert!(after <= before + 1, "segments {before} -> {after}");
    let r = StoreReader::open(&data).unwrap();
    assert!(r.problems().is_empty(), "{:?}", r.problems());
    drop(r);
    let _ = rec.stop();
}
