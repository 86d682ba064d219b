//! `ctrail events` and `ctrail containers` over a store built here: the JSON Lines
//! contract, filters, exit codes, and bad input.

use std::process::{Command, Stdio};

use ctrail_model::{Body, BootInfo, Event, ProcKey};
use ctrail_store::{Batch, StoreWriter};

use crate::helpers::*;

fn store() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    sample_store(&d.path().join("data"));
    d
}

fn data(d: &tempfile::TempDir) -> String {
    d.path().join("data").to_string_lossy().into_owned()
}

#[test]
fn events_json_contract() {
    let d = store();
    let o = ctrail(&["events", "--data-dir", &data(&d), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows = json_lines(&o);
    assert_eq!(rows.len(), 10, "9 events and a gap");
    let mount = rows.iter().find(|r| r["type"] == "mount").unwrap();
    assert_eq!((mount["target"].clone(), mount["fstype"].clone()), ("/mnt".into(), "tmpfs".into()));
    assert_eq!((mount["result"].clone(), mount["error"].clone()), ((-1).into(), "EPERM".into()));
    let mv = rows.iter().find(|r| r["type"] == "cgroup_move").unwrap();
    assert_eq!(mv["cgroup"], format!("/docker/{DOCKER_ID}"));
    assert_eq!((mv["hierarchy"].clone(), mv["container_id"].clone()), ("v2".into(), DOCKER_ID.into()));
    for r in &rows {
        for k in ["type", "time", "pid", "ppid", "container_id", "runtime"] {
            assert!(r.get(k).is_some() || r["type"] == "gap", "no {k} in {r}");
        }
        let t = r["time"].as_str().unwrap();
        assert!(t.ends_with('Z') && t.len() == "2026-11-29T14:00:00.000000000Z".len(), "{t}");
    }
    let exec = rows.iter().find(|r| r["type"] == "exec" && r["argv"][0] == "/bin/sh").unwrap();
    assert_eq!(exec["argv"], serde_json::json!(["/bin/sh", "-c", "exit 7", "it's quoted"]));
    assert_eq!(exec["container_id"], DOCKER_ID);
    assert_eq!(exec["runtime"], "docker");
    assert_eq!(exec["exe"], "/bin/sh");
    assert_eq!(exec["uid"], 0);
    assert_eq!(exec["cap_effective"], "00000000a80425fb");
    let exits: Vec<_> = rows.iter().filter(|r| r["type"] == "exit").collect();
    assert_eq!((exits[0]["exit_code"].clone(), exits[0]["signal"].clone()), (7.into(), serde_json::Value::Null));
    assert_eq!((exits[1]["exit_code"].clone(), exits[1]["signal"].clone()), (serde_json::Value::Null, 9.into()));
    let gap = rows.iter().find(|r| r["type"] == "gap").unwrap();
    assert_eq!(gap["lost"], 4);
    assert!(gap["start"].is_string() && gap["end"].is_string());
    let host = rows.iter().find(|r| r["argv"][0] == "/bin/bash").unwrap();
    assert!(host["container_id"].is_null());
}

#[test]
fn execs_say_what_ran_and_the_drift_question_is_one_filter() {
    let d = store();
    let dd = data(&d);
    let rows = |args: &[&str]| {
        let mut a = vec!["events", "--data-dir", &dd, "--format", "json"];
        a.extend_from_slice(args);
        let o = ctrail(&a);
        (o.status.code(), json_lines(&o))
    };
    let (code, all) = rows(&["--type", "exec"]);
    assert_eq!(code, Some(0));
    let sh = all.iter().find(|r| r["exe"] == "/bin/sh").unwrap();
    assert_eq!((sh["filename"].as_str(), sh["cwd"].as_str()), (Some("/bin/sh"), Some("/")));
    assert_eq!((sh["exe_inode"].clone(), sh["exe_mode"].clone()), (4242.into(), "0100755".into()));
    assert_eq!(sh["exe_mtime"], "2023-11-14T22:13:20.123456789Z");
    assert_eq!((sh["exe_upper_layer"].clone(), sh["exe_memfd"].clone()), (true.into(), false.into()));
    let bash = all.iter().find(|r| r["exe"] == "/bin/bash").unwrap();
    assert_eq!(bash["exe_upper_layer"], false);

    let (code, upper) = rows(&["--upper-layer"]);
    assert_eq!(code, Some(0));
    assert!(!upper.is_empty() && upper.iter().all(|r| r["exe"] == "/bin/sh" || r["type"] == "gap"), "{upper:?}");
    let (code, bash) = rows(&["--exe", "/bin/bash"]);
    assert_eq!(code, Some(0));
    assert!(bash.iter().filter(|r| r["type"] != "gap").all(|r| r["exe"] == "/bin/bash"));
    let (_, under) = rows(&["--exe", "/usr/bin/", "--type", "exec"]);
    let want: Vec<&str> = all.iter().filter_map(|r| r["exe"].as_str()).filter(|e| e.starts_with("/usr/bin/")).collect();
    let got: Vec<&str> = under.iter().filter_map(|r| r["exe"].as_str()).collect();
    assert_eq!((got.len(), got), (2, want), "the execs under /usr/bin/");
    let (_, glob) = rows(&["--exe", "/*/s?*", "--type", "exec"]);
    let got: Vec<&str> = glob.iter().filter_map(|r| r["exe"].as_str()).collect();
    assert_eq!(got, ["/bin/sh", "/usr/bin/sleep"]);
    let (code, none) = rows(&["--exe", "/nowhere/*", "--type", "exec"]);
    assert_eq!((code, none.len()), (Some(1), 0), "nothing found");

    let o = ctrail(&["events", "--data-dir", &dd, "--format", "csv", "--type", "exec", "--upper-layer"]);
    let text = stdout(&o);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = |k: &str| header.iter().position(|h| *h == k).unwrap_or_else(|| panic!("no {k} column"));
    assert!(at("filename") > at("argv_hex"), "the new columns come after the old ones");
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!((row[at("exe_upper_layer")], row[at("exe_inode")], row[at("cwd")]), ("true", "4242", "/"));
}

#[test]
fn filters_container_prefix_pid_type_time_host() {
    let d = store();
    let dd = data(&d);
    let count = |args: &[&str]| {
        let mut a = vec!["events", "--data-dir", &dd, "--format", "json"];
        a.extend_from_slice(args);
        let o = ctrail(&a);
        (o.status.code(), json_lines(&o).len(), stderr(&o))
    };
    // A container's events, plus the gap: lost events may have been that container's.
    assert_eq!(count(&["--container", &DOCKER_ID[..50]]).1, 4 + 1);
    assert_eq!(count(&["--container", DOCKER_ID2]).1, 2 + 1);
    let (code, _, err) = count(&["--container", "aa11bb"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("ambiguous") && err.contains(DOCKER_ID) && err.contains(DOCKER_ID2), "{err}");
    let (code, _, err) = count(&["--container", "ffff"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no container matches"), "{err}");
    // PID 200 was two processes: both come back, each with its own start time.
    let o = ctrail(&["events", "--data-dir", &dd, "--format", "json", "--pid", "200", "--type", "exec"]);
    let rows = json_lines(&o);
    assert_eq!(rows.len(), 2);
    assert_ne!(rows[0]["process_start"], rows[1]["process_start"]);
    assert_eq!(count(&["--type", "exit"]).1, 2);
    assert_eq!(count(&["--type", "gap"]).1, 1);
    assert_eq!(count(&["--host", "--type", "exec"]).1, 2);
    // --until is inclusive: the exec at exactly 14:00:02 is in.
    assert_eq!(
        count(&["--since", "2026-11-29T14:00:01Z", "--until", "2026-11-29T14:00:02Z", "--type", "exec,fork"]).1,
        3
    );
}

#[test]
fn activity_kinds_have_their_fields_as_csv_columns() {
    let d = store();
    let o = ctrail(&["events", "--data-dir", &data(&d), "--type", "mount", "--format", "csv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header.len(), row.len());
    let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no column {name}"))];
    // A negative number begins with `-`: neutralised like a formula, unless raw cells are asked for.
    assert_eq!((col("type"), col("target"), col("fstype"), col("result")), ("mount", "/mnt", "tmpfs", "'-1"));
    let o = ctrail(&["events", "--data-dir", &data(&d), "--type", "mount", "--format", "csv", "--raw-cells"]);
    let text = stdout(&o);
    let row: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(row[header.iter().position(|h| *h == "result").unwrap()], "-1");
}

#[test]
fn nothing_found_is_exit_1_and_quiet() {
    let d = store();
    let o = ctrail(&["events", "--data-dir", &data(&d), "--since", "2030-01-01T00:00:00Z"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty() && o.stderr.is_empty());
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let d = store();
    let dd = data(&d);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["events", "--data-dir", &dd, "--since", "half past nine"], "cannot read"),
        (vec!["events", "--data-dir", &dd, "--since", "1h ago", "--until", "2h ago"], "--until is before --since"),
        (vec!["events", "--data-dir", "/nonexistent/ctrail"], "no ctrail store in /nonexistent/ctrail"),
        (vec!["events", "--data-dir", &dd, "--format", "yaml"], "invalid value"),
        (vec!["events", "--data-dir", &dd, "--type", "bogus"], "invalid value 'bogus' for '--type"),
        (vec!["show", "--data-dir", &dd, "--format", "csv", "1"], "invalid value 'csv'"),
    ];
    for (args, want) in cases {
        let o = ctrail(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // Foreign files where the store should be: a stray database, and a segment-named one
    // that is not a redb file at all.
    for name in ["other.redb", "0000000001-1-2.redb"] {
        let foreign = tempfile::tempdir().unwrap();
        std::fs::write(foreign.path().join(name), b"not a database at all, just text").unwrap();
        let o = ctrail(&["events", "--data-dir", foreign.path().to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains("is not a ctrail store") && stderr(&o).contains(name), "{}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    }
}

#[test]
fn containers_json_contract() {
    let d = store();
    let o = ctrail(&["containers", "--data-dir", &data(&d), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows = json_lines(&o);
    assert_eq!(rows.len(), 2);
    let c = rows.iter().find(|r| r["container_id"] == DOCKER_ID).unwrap();
    assert_eq!(c["runtime"], "docker");
    assert_eq!(c["first_seen"], "2026-11-29T14:00:01.000000000Z");
    assert_eq!(c["last_seen"], "2026-11-29T14:00:01.000000002Z");
    assert_eq!(c["events"], 4);
    assert_eq!(c["processes"], 1);
}

#[test]
fn closed_pipe_is_not_an_error() {
    let d = store();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ctrail"))
        .args(["events", "--data-dir", &data(&d), "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

#[test]
fn man_page_and_completions() {
    for (what, needle) in
        [("man", ".TH ctrail"), ("bash", "_ctrail()"), ("zsh", "#compdef ctrail"), ("fish", "complete -c ctrail")]
    {
        let o = ctrail(&["--generate", what]);
        assert_eq!(o.status.code(), Some(0));
        assert!(stdout(&o).contains(needle), "{what}");
    }
}

#[test]
fn the_data_dir_goes_before_or_after_the_command() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    sample_store(&data);
    let data = data.to_str().unwrap();
    for cmd in ["containers", "events", "segments"] {
        let before = ctrail(&["--data-dir", data, cmd, "--format", "json"]);
        let after = ctrail(&[cmd, "--data-dir", data, "--format", "json"]);
        assert_eq!(before.status.code(), Some(0), "{cmd}: {}", stderr(&before));
        assert!(!before.stdout.is_empty(), "{cmd}");
        assert_eq!(stdout(&before), stdout(&after), "{cmd}: the same command either way");
    }
    // The environment still works, and the flag wins over it.
    let o = ctrail_env(&["containers", "--format", "json"], &[("CTRAIL_DATA_DIR", data)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = ctrail_env(&["--data-dir", data, "containers", "--format", "json"], &[("CTRAIL_DATA_DIR", "/nonexistent")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// Runs `ctrail ARGS` in a real terminal (tmux, COLS wide) and returns what the pane shows,
/// wrapped lines joined back (so a row wider than the pane is one long line here).
fn in_tmux(cols: u16, args: &[&str]) -> String {
    let d = tempfile::tempdir().unwrap();
    let sock = d.path().join("tmux.sock");
    let quoted: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_ctrail"))
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let script = format!("TZ=UTC {}; echo __done__; sleep 60", quoted.join(" "));
    let tmux = |a: &[&str]| {
        std::process::Command::new("tmux").arg("-S").arg(&sock).args(a).output().expect("tmux (apt-get install tmux)")
    };
    let o = tmux(&["new-session", "-d", "-x", &cols.to_string(), "-y", "60", "-s", "t", "sh", "-c", &script]);
    assert!(o.status.success(), "tmux: {}", String::from_utf8_lossy(&o.stderr));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let screen = loop {
        let shown =
            String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", "t"]).stdout).into_owned();
        if shown.contains("__done__") {
            break shown;
        }
        assert!(std::time::Instant::now() < deadline, "ctrail did not finish in tmux:\n{shown}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = tmux(&["kill-server"]);
    screen.split("__done__").next().unwrap().to_string()
}

#[test]
fn on_a_100_column_terminal_rows_fit_and_times_are_local_to_the_second() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    sample_store(&data);
    // One exec with an argv far wider than the terminal.
    let long: Vec<String> = (0..40).map(|i| format!("--option-{i}=value-{i}")).collect();
    {
        let (mut w, _) = StoreWriter::open(&data, separate(), T0 + 7200 * SEC).unwrap();
        let boot = w
            .add_boot(&BootInfo {
                boot_id: "b0".into(),
                hostname: "test".into(),
                kernel: "6.18".into(),
                ctrail_version: "test".into(),
                wall_offset_ns: (T0 - 1000 * SEC) as i64,
                machine_id: None,
            })
            .unwrap();
        let argv: Vec<&str> = std::iter::once("/usr/bin/long").chain(long.iter().map(String::as_str)).collect();
        let e = Event {
            time: T0 + 6 * SEC,
            boot_ns: 1006 * SEC,
            proc: ProcKey::new(boot, 400, 1006 * SEC),
            tid: 400,
            ppid: 100,
            parent_start: 0,
            container: None,
            body: Body::Exec(exec(&argv, "/")),
        };
        w.commit(&Batch { events: vec![e], gaps: vec![] }, T0 + 7200 * SEC).unwrap();
        w.close(T0 + 7200 * SEC).unwrap();
    }
    let dd = data.to_str().unwrap();
    let screen = in_tmux(100, &["--data-dir", dd, "events"]);
    let widest = screen.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest <= 100, "a row wider than the terminal ({widest}):\n{screen}");
    assert!(screen.contains("/usr/bin/long") && screen.contains('…'), "the long argv is cut with a marker:\n{screen}");
    // Local time (TZ=UTC here) to the second, not RFC 3339 with nanoseconds.
    assert!(screen.contains("2026-11-29 14:00:00") && !screen.contains(".000000000Z"), "{screen}");
    let wide = in_tmux(100, &["events", "--data-dir", dd, "--wide", "--utc"]);
    assert!(wide.lines().any(|l| l.chars().count() > 100), "--wide keeps rows whole:\n{wide}");
    assert!(wide.contains(&long[39]) && wide.contains("2026-11-29 14:00:00Z"), "{wide}");
}
