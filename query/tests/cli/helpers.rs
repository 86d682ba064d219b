//! Running `ctrail` and building small stores to query.

use std::{
    io::Write,
    path::Path,
    process::{Command, Output, Stdio},
};

use ctrail_model::Runtime;
use ctrail_model::{
    Action, Activity, Body, BootInfo, Caps, CgroupMove, Cgroups, Container, Creds, Event, ExeFile, Exec, Exit, Fork,
    Gap, GapReason, Namespaces, ProcKey, Source,
};
use ctrail_store::{Batch, Options, StoreWriter};

pub fn ctrail(args: &[&str]) -> Output {
    ctrail_stdin(args, None)
}

pub fn ctrail_stdin(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ctrail"))
        .args(args)
        .env_remove("CTRAIL_DATA_DIR")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ctrail");
    if let Some(bytes) = stdin {
        child.stdin.take().expect("stdin").write_all(bytes).expect("write stdin");
    }
    child.wait_with_output().expect("wait ctrail")
}

/// `ctrail ARGS` with more environment.
pub fn ctrail_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ctrail"))
        .args(args)
        .env_remove("CTRAIL_DATA_DIR")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run ctrail")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    stdout(o).lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// 2026-11-29T14:00:00Z
pub const T0: u64 = 1_795_960_800_000_000_000;
pub const SEC: u64 = 1_000_000_000;
pub const DOCKER_ID: &str = "aa11bb22cc33dd44ee55ff6600112233445566778899aabbccddeeff00112233";
pub const DOCKER_ID2: &str = "aa11bb22cc33dd44ee55ff66001122334455667788990000000000000000ffff";

pub fn exec(argv: &[&str], cgroup: &str) -> Box<Exec> {
    Box::new(Exec {
        source: Source::Kernel,
        ns_pid: 1,
        old_tid: 0,
        comm: argv[0].rsplit('/').next().unwrap_or_default().chars().take(15).collect(),
        comm_before: Some("runc:[2:INIT]".into()),
        exe: argv[0].as_bytes().to_vec(),
        argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
        argv_truncated: false,
        argv_bytes: argv.iter().map(|a| a.len() as u32 + 1).sum(),
        uid: 0,
        gid: 0,
        euid: 0,
        egid: 0,
        loginuid: u32::MAX,
        caps: Caps { effective: 0xa80425fb, permitted: 0xa80425fb, inheritable: 0, bounding: 0xa80425fb, ambient: 0 },
        ns: Namespaces::default(),
        cgroups: Cgroups { v2_path: cgroup.into(), ..Default::default() },
        filename: argv[0].as_bytes().to_vec(),
        cwd: Some(b"/".to_vec()),
        // `/bin/sh` stands for a binary written into its container after it started.
        file: Some(ExeFile {
            inode: 4242,
            mode: 0o100755,
            nlink: 1,
            overlay: true,
            upper_layer: argv[0] == "/bin/sh",
            mtime_ns: 1_700_000_000_123_456_789,
            ..Default::default()
        }),
    })
}

fn container(id: &str) -> Container {
    Container {
        id: id.into(),
        runtime: Some(Runtime::Docker),
        name: None,
        pod_uid: None,
        outer_id: None,
        cgroup: Some(format!("/docker/{id}")),
        reason: "docker (cgroupfs driver)".into(),
        first_seen: u64::MAX,
        last_seen: 0,
        processes: 0,
        events: 0,
        meta: Default::default(),
    }
}

/// A store with a host shell (whose mount is denied), two docker containers whose IDs share a prefix, a process
/// that moves into the first container and exits with 7, one killed by SIGKILL, a PID reused by a later process, and a gap.
/// Without compaction: each helper's segment stays a file of its own, for the tests that
/// damage one.
pub fn separate() -> Options {
    Options { compact_below: Some(0), ..Options::default() }
}

pub fn sample_store(dir: &Path) {
    let now = T0 + 3600 * SEC;
    let (mut w, _) = StoreWriter::open(dir, separate(), now).expect("create store");
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
    let c1 = w.container(container(DOCKER_ID));
    let c2 = w.container(container(DOCKER_ID2));
    let key = |tgid, start_s: u64| ProcKey::new(boot, tgid, start_s * SEC);
    let shell = key(100, 900);
    let ev = |t: u64, p: ProcKey, ppid: u32, c: Option<u32>, body: Body| Event {
        time: T0 + t,
        boot_ns: 1000 * SEC + t,
        proc: p,
        tid: p.tgid,
        ppid,
        parent_start: if ppid == shell.tgid { shell.start } else { 0 },
        container: c,
        body,
    };
    let a = key(200, 1001);
    let b = key(300, 1002);
    let reused = key(200, 1005);
    let denied = Body::Activity(Box::new(Activity {
        action: Action::Mount { source: "none".into(), target: "/mnt".into(), fstype: "tmpfs".into(), flags: 0 },
        result: -1,
        before: Creds { uid: 1000, euid: 1000, ..Default::default() },
        after: Creds { uid: 1000, euid: 1000, ..Default::default() },
        ns: Namespaces::default(),
    }));
    let events = vec![
        ev(0, shell, 1, None, Body::Exec(exec(&["/bin/bash"], "/"))),
        ev(SEC / 2, shell, 1, None, denied),
        ev(
            SEC,
            a,
            100,
            Some(c1),
            Body::Fork(Fork { ns_pid: 1, comm: "sh".into(), ns: Namespaces::default(), cgroup_v2_id: 7 }),
        ),
        ev(
            SEC,
            a,
            100,
            Some(c1),
            Body::CgroupMove(CgroupMove { hierarchy: None, path: format!("/docker/{DOCKER_ID}"), cgroup_id: 77 }),
        ),
        ev(SEC + 1, a, 100, Some(c1), Body::Exec(exec(&["/bin/sh", "-c", "exit 7", "it's quoted"], "/docker/x"))),
        ev(SEC + 2, a, 100, Some(c1), Body::Exit(Exit { status: 7 << 8 })),
        ev(2 * SEC, b, 100, Some(c2), Body::Exec(exec(&["/usr/bin/sleep", "100"], "/docker/y"))),
        ev(3 * SEC, b, 100, Some(c2), Body::Exit(Exit { status: 9 })),
        ev(5 * SEC, reused, 100, None, Body::Exec(exec(&["/usr/bin/top"], "/"))),
    ];
    let gaps = vec![Gap {
        start: T0 + 4 * SEC,
        end: T0 + 4 * SEC + 500,
        lost_exec: 3,
        lost_fork: 1,
        lost_exit: 0,
        lost_other: 0,
        reason: GapReason::RingBufferFull,
    }];
    w.commit(&Batch { events, gaps }, now).unwrap();
    w.close(now).unwrap();
}

/// What an attacker puts in argv: terminal escapes (erase, colour, window title, bell), a
/// newline that would split a row, spreadsheet formulas, a C1 control, a bidi override and
/// bytes that are not UTF-8.
pub fn hostile_argv() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        "/bin/true",
        "\x1b[2J\x1b[31mX\x1b]0;pwned\x07",
        "a\nb\r",
        "=1+2",
        "@SUM(1)",
        "-2+3",
        "+x",
        "\tx",
        "\u{9b}31m",
        "\u{202e}txt.exe",
        "back\\slash\x7f",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    v.push(vec![0xff, b'x', 0xfe]);
    v
}

pub const HOSTILE_NAME: &str = "x\x1b[2J\x1b]0;owned\x07";

/// A store whose every recorded string is hostile: argv, exe, comm, an LXC container whose
/// name (and cgroup) carries escapes, and a mount target.
pub fn hostile_store(dir: &Path) {
    let now = T0 + 3600 * SEC;
    let (mut w, _) = StoreWriter::open(dir, separate(), now).expect("create store");
    let boot = w
        .add_boot(&BootInfo {
            boot_id: "b1".into(),
            hostname: "h\x1b[2J".into(),
            kernel: "6.18".into(),
            ctrail_version: "test".into(),
            wall_offset_ns: (T0 - 1000 * SEC) as i64,
            machine_id: None,
        })
        .unwrap();
    let cgroup = format!("/lxc.payload.{HOSTILE_NAME}");
    let c = w.container(Container {
        id: HOSTILE_NAME.into(),
        runtime: Some(Runtime::Lxc),
        name: Some(HOSTILE_NAME.into()),
        pod_uid: None,
        outer_id: None,
        cgroup: Some(cgroup.clone()),
        reason: "lxc payload cgroup".into(),
        first_seen: u64::MAX,
        last_seen: 0,
        processes: 0,
        events: 0,
        meta: Default::default(),
    });
    let p = ProcKey::new(boot, 4000, 1001 * SEC);
    let mut x = exec(&["/bin/true"], &cgroup);
    x.argv = hostile_argv();
    x.exe = b"=1+2\x1b[2J".to_vec();
    x.comm = "\x1b[2Jevil".into();
    let ev = |t: u64, body: Body| Event {
        time: T0 + t,
        boot_ns: 1000 * SEC + t,
        proc: p,
        tid: p.tgid,
        ppid: 1,
        parent_start: 0,
        container: Some(c),
        body,
    };
    let mount = Body::Activity(Box::new(Activity {
        action: Action::Mount {
            source: "=cmd|' /C calc'!A0".into(),
            target: "/mnt/\x1b]0;t\x07".into(),
            fstype: "tmpfs".into(),
            flags: 0,
        },
        result: -1,
        before: Creds::default(),
        after: Creds::default(),
        ns: Namespaces::default(),
    }));
    let events = vec![ev(SEC, Body::Exec(x)), ev(SEC + 1, mount)];
    w.commit(&Batch { events, gaps: vec![] }, now).unwrap();
    w.close(now).unwrap();
}

/// Runs `ctrail` with its standard output on a pseudo-terminal, as an analyst sees it.
pub fn ctrail_on_tty(args: &[&str]) -> (Vec<u8>, Option<i32>) {
    ctrail_fixtures::tty::run_on_tty(
        Command::new(env!("CARGO_BIN_EXE_ctrail")).args(args).env_remove("CTRAIL_DATA_DIR"),
    )
}

pub use ctrail_fixtures::tty::control_bytes;
