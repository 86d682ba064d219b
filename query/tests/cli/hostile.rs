//! Recorded data is hostile: what a process chose as its argv, exe and cgroup names never
//! reaches a terminal, a CSV cell or a message as it was recorded; the control socket's peer
//! cannot make `ctrail` wait or grow; what a query skipped makes it exit 2.

use std::{
    io::{Read, Write},
    os::unix::net::UnixListener,
    path::Path,
    time::{Duration, Instant},
};

use crate::helpers::*;

fn store() -> (tempfile::TempDir, String) {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    hostile_store(&data);
    (d, data.to_str().unwrap().to_string())
}

#[test]
fn tables_and_text_on_a_terminal_show_escapes_as_text() {
    let (_d, data) = store();
    for args in [
        vec!["events"],
        vec!["containers"],
        vec!["ps", "--at", "2026-11-29T14:00:01.5Z"],
        vec!["tree", "--at", "2026-11-29T14:00:01.5Z"],
        vec!["show", "4000"],
    ] {
        let mut full = args.clone();
        full.extend(["--data-dir", &data]);
        let (out, code) = ctrail_on_tty(&full);
        assert_eq!(code, Some(0), "{args:?}: {}", String::from_utf8_lossy(&out));
        let bad = control_bytes(&out);
        assert!(bad.is_empty(), "{args:?} wrote {bad:?}:\n{}", String::from_utf8_lossy(&out));
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("\\e[2J"), "{args:?}: the escape is shown as text:\n{text}");
    }
    let (out, _) = ctrail_on_tty(&["events", "--data-dir", &data]);
    let text = String::from_utf8_lossy(&out);
    for shown in ["\\e]0;pwned\\x07", "a\\nb\\r", "\\u{9b}31m", "\\u{202e}txt.exe", "back\\\\slash\\x7f", "\\xffx\\xfe"]
    {
        assert!(text.contains(shown), "{shown:?} not in:\n{text}");
    }
}

#[test]
fn csv_cells_are_neither_formulas_nor_controls_and_exact_bytes_are_kept() {
    let (_d, data) = store();
    let o = ctrail(&["events", "--data-dir", &data, "--format", "csv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(control_bytes(&o.stdout).is_empty(), "{:?}", control_bytes(&o.stdout));
    let mut r = csv::Reader::from_reader(o.stdout.as_slice());
    let header = r.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        for (h, cell) in header.iter().zip(row.iter()) {
            assert!(!cell.starts_with(['=', '+', '-', '@']), "{h} = {cell:?}");
        }
    }
    let exec = &rows[0];
    let col = |name: &str| &exec[header.iter().position(|h| h == name).unwrap()];
    assert_eq!(col("exe"), "'=1+2\\e[2J");
    // The exact bytes of every argument, in hex: what the process passed, recoverable.
    let hex: Vec<Vec<u8>> = col("argv_hex")
        .split(' ')
        .map(|a| (0..a.len()).step_by(2).map(|i| u8::from_str_radix(&a[i..i + 2], 16).unwrap()).collect())
        .collect();
    assert_eq!(hex, hostile_argv());
    // Raw cells for programs: formulas as recorded, controls still escaped.
    let o = ctrail(&["events", "--data-dir", &data, "--format", "csv", "--raw-cells"]);
    assert!(control_bytes(&o.stdout).is_empty());
    let mut r = csv::Reader::from_reader(o.stdout.as_slice());
    let row = r.records().next().unwrap().unwrap();
    assert_eq!(&row[header.iter().position(|h| h == "exe").unwrap()], "=1+2\\e[2J");
}

#[test]
fn an_exported_case_is_as_safe_as_the_terminal() {
    let (d, data) = store();
    let case = d.path().join("case");
    let o = ctrail(&["export", "--data-dir", &data, "--out", case.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for f in ["events.csv", "processes.csv", "containers.csv"] {
        let bytes = std::fs::read(case.join(f)).unwrap();
        assert!(control_bytes(&bytes).is_empty(), "{f}: {:?}", control_bytes(&bytes));
        let mut r = csv::Reader::from_reader(bytes.as_slice());
        for row in r.records() {
            for cell in row.unwrap().iter() {
                assert!(!cell.starts_with(['=', '+', '-', '@']), "{f}: {cell:?}");
            }
        }
    }
    assert!(control_bytes(o.stderr.as_slice()).is_empty());
}

#[test]
fn json_is_exact_and_inert() {
    let (_d, data) = store();
    let o = ctrail(&["events", "--data-dir", &data, "--format", "json", "--type", "exec"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(control_bytes(&o.stdout).is_empty(), "{:?}", control_bytes(&o.stdout));
    let v = &json_lines(&o)[0];
    // JSON escapes and parsers unescape: the strings are the recorded ones (but for the
    // invalid UTF-8, which argv_hex carries exactly).
    assert_eq!(v["argv"][1], "\x1b[2J\x1b[31mX\x1b]0;pwned\x07");
    assert_eq!(v["argv"][8], "\u{9b}31m");
    assert_eq!(v["argv"][9], "\u{202e}txt.exe");
    assert_eq!(v["argv_hex"][11], "ff78fe");
    assert_eq!(v["comm"], "\x1b[2Jevil");
}

/// A fake recorder on the control socket.
fn serve_once(
    data: &Path,
    reply: impl FnOnce(std::os::unix::net::UnixStream) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let l = UnixListener::bind(data.join("control.sock")).unwrap();
    std::thread::spawn(move || {
        if let Ok((s, _)) = l.accept() {
            reply(s);
        }
    })
}

fn peak_rss_kib_of_children() -> i64 {
    // SAFETY: getrusage fills the struct we pass.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut u);
        u.ru_maxrss
    }
}

#[test]
fn a_hostile_control_socket_peer_is_bounded_in_time_memory_and_words() {
    let (d, data) = store();
    let data = Path::new(&data);
    // An error reply that tries to paint the analyst's terminal.
    let h = serve_once(data, |mut s| {
        let mut b = [0u8; 16];
        let _ = s.read(&mut b);
        let _ = s.write_all(b"error: \x1b[2J\x1b]0;pwned\x07 owned\n");
    });
    let o = ctrail(&["events", "--data-dir", data.to_str().unwrap()]);
    h.join().unwrap();
    assert_eq!(o.status.code(), Some(2), "the recorder did not flush: a partial answer");
    assert!(!o.stdout.is_empty(), "the rest is still answered");
    assert!(control_bytes(&o.stderr).is_empty(), "{:?}", String::from_utf8_lossy(&o.stderr));
    assert!(stderr(&o).contains("\\e[2J"), "{}", stderr(&o));
    std::fs::remove_file(data.join("control.sock")).unwrap();

    // A reply that never ends: ctrail reads a line's worth and gives up.
    let h = serve_once(data, |mut s| {
        let junk = vec![b'A'; 1 << 20];
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) && s.write_all(&junk).is_ok() {}
    });
    let before = peak_rss_kib_of_children();
    let t = Instant::now();
    let o = ctrail(&["events", "--data-dir", data.to_str().unwrap()]);
    let took = t.elapsed();
    h.join().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("longer than"), "{}", stderr(&o));
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let peak = peak_rss_kib_of_children();
    assert!(peak.max(before) < 200 * 1024, "ctrail grew to {peak} KiB");
    drop(d);
}

#[test]
fn a_fifo_named_like_a_segment_is_skipped_at_once() {
    let (d, data) = store();
    let fifo = Path::new(&data).join("0000000099-1-2.redb");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let t = Instant::now();
    let o = ctrail(&["events", "--data-dir", &data, "--format", "json"]);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(o.status.code(), Some(2), "skipping something is a partial answer");
    assert_eq!(json_lines(&o).len(), 2, "the rest is answered");
    assert!(stderr(&o).contains("a FIFO"), "{}", stderr(&o));
    drop(d);
}

#[test]
fn a_skipped_segment_makes_the_answer_and_the_case_say_incomplete() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    sample_store(&data);
    // A second segment, then damage it beyond reading.
    hostile_store(&data);
    let segs: Vec<_> = ctrail_store::segment::list(&data).unwrap().segments;
    assert_eq!(segs.len(), 2);
    std::fs::write(&segs[1].path, vec![0x5a; 8192]).unwrap();
    let o = ctrail(&["events", "--data-dir", data.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!json_lines(&o).is_empty(), "the other segment still answers");
    let name = segs[1].path.file_name().unwrap().to_str().unwrap();
    assert_eq!(stderr(&o).lines().filter(|l| l.contains(name)).count(), 1, "named once: {}", stderr(&o));
    let case = d.path().join("case");
    let o = ctrail(&["export", "--data-dir", data.to_str().unwrap(), "--out", case.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let problems = std::fs::read_to_string(case.join("problems.csv")).unwrap();
    assert!(problems.contains(name), "{problems}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["complete"], false);
    assert!(manifest["problems"][0].as_str().unwrap().contains(name));
    assert_eq!(manifest["files"]["problems.csv"]["rows"], 1);
}

#[test]
fn times_take_any_rfc3339_instant_and_durations_no_sign() {
    let (_d, data) = store();
    let o = ctrail(&["events", "--data-dir", &data, "--since", "9999-12-31T23:59:59Z"]);
    assert_eq!(o.status.code(), Some(1), "valid, and nothing is that late: {}", stderr(&o));
    let o = ctrail(&["events", "--data-dir", &data, "--until", "9999-12-31T23:59:59Z", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    for signed in ["--since=-5m", "--since=+5m"] {
        let o = ctrail(&["events", "--data-dir", &data, signed]);
        assert_eq!(o.status.code(), Some(2), "{signed}");
        assert!(stderr(&o).contains("no sign"), "{}", stderr(&o));
    }
    let o = ctrail(&["events", "--data-dir", &data, "--type", "bogus"]);
    assert_eq!(o.status.code(), Some(2));
    for kind in ctrail_model::EventKind::ALL {
        assert!(stderr(&o).contains(kind.as_str()), "{kind:?} missing from: {}", stderr(&o));
    }
}
