//! The recorder on the real kernel: processes run, the store is read back after a stop.

use std::{
    collections::HashSet,
    ffi::OsStr,
    fs,
    os::unix::{ffi::OsStrExt, process::ExitStatusExt},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use ctrail_classify::Runtime;
use ctrail_model::{Body, Event, GapReason, Source};

use crate::helpers::*;

#[test]
fn short_lived_process_in_a_container_cgroup_is_attributed() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let id = "c7a1e5f2b3d4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e";
    let cg = FakeCgroup::new(&format!("/docker/{id}"));
    let rec = Recorder::start(&[]);
    let m = marker("short");
    // The shell joins the container cgroup, then execs /bin/true, which exits at once:
    // nothing could read its /proc in time.
    let t = Instant::now();
    let st = run(Command::new("sh").arg("-c").arg(format!("{}exec /bin/true {m}", cg.enter())));
    assert!(st.success());
    let lived = t.elapsed();
    let (s, log) = rec.stop();
    drop(cg);
    let e = s.one_exec(&m);
    let c = s.container_of(e).unwrap_or_else(|| panic!("no container for the exec; log:\n{log}"));
    assert_eq!(c.id, id);
    assert_eq!(c.runtime, Some(Runtime::Docker));
    // What was passed, and the file the kernel ran (/bin is a link to usr/bin here).
    let x = exec_of(e);
    assert_eq!(x.filename, b"/bin/true");
    let real = fs::canonicalize("/bin/true").unwrap();
    assert_eq!(x.exe, real.as_os_str().as_bytes());
    let f = x.file.expect("the executed file");
    let st = fs::metadata(&real).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((f.inode, f.size, f.mode, f.uid), (st.ino(), st.size(), st.mode(), st.uid()));
    assert_eq!(f.mtime_ns, st.mtime() * 1_000_000_000 + st.mtime_nsec());
    assert_eq!((libc::major(st.dev()), libc::minor(st.dev())), (f.dev_major, f.dev_minor));
    assert!(!f.overlay && f.upper_layer().is_none() && !f.deleted && !f.memfd);
    let exit = s.exit_of(e).expect("its exit is stored");
    assert_eq!(exit.container, e.container, "the exit keeps the container");
    // The shell's own move into the cgroup (before its exec) is an event of that process.
    let moves: Vec<&Event> =
        s.events.iter().filter(|m| m.proc == e.proc && matches!(m.body, Body::CgroupMove(_))).collect();
    assert!(!moves.is_empty(), "the move into the container's cgroup is recorded");
    for m in &moves {
        let Body::CgroupMove(mv) = &m.body else { unreachable!() };
        assert_eq!(mv.path, format!("/docker/{id}"));
        assert_eq!(s.container_of(m).map(|c| c.id.as_str()), Some(id), "a move is attributed to where it went");
    }
    eprintln!("process lived (with sh) {lived:?}; exec->exit {} us", (exit.boot_ns - e.boot_ns) / 1000);
}

#[test]
fn unshare_pid_namespace_is_host_with_its_own_pid_namespace() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let rec = Recorder::start(&[]);
    let m = marker("unshare");
    let st = run(Command::new("unshare").args(["-p", "-f", "--mount-proc", "/bin/true", &m]));
    assert!(st.success());
    let (s, _) = rec.stop();
    let e = *s
        .execs_with(&m)
        .iter()
        .find(|e| exec_of(e).filename == b"/bin/true")
        .expect("the exec of /bin/true inside the new pid namespace");
    assert!(e.container.is_none(), "unshare is not a container: {:?}", s.container_of(e));
    let x = exec_of(e);
    let host_pidns = s.events.iter().find_map(|e| match &e.body {
        Body::Exec(x) if x.source == Source::Kernel && e.proc.tgid != 0 && x.comm == "unshare" => Some(x.ns.pid),
        _ => None,
    });
    assert_eq!(x.ns_pid, 1, "pid 1 inside its own namespace");
    assert_ne!(Some(x.ns.pid), host_pidns, "its own pid namespace");
}

#[test]
fn fork_exit_codes_and_signals() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let rec = Recorder::start(&[]);
    let seven = marker("exit7");
    let killed = marker("kill9");
    let st = run(Command::new("sh").args(["-c", "exit 7", &seven]));
    assert_eq!(st.code(), Some(7));
    let st = run(Command::new("sh").args(["-c", "kill -9 $$", &killed]));
    assert_eq!(st.signal(), Some(9));
    let child = Command::new("/bin/true").spawn().expect("spawn");
    let child_pid = child.id();
    let _ = child.wait_with_output();
    let (s, _) = rec.stop();

    let e7 = s.one_exec(&seven);
    let Body::Exit(x) = &s.exit_of(e7).expect("exit 7 stored").body else { unreachable!() };
    assert_eq!((x.code(), x.signal()), (Some(7), None));
    let e9 = s.one_exec(&killed);
    let Body::Exit(x) = &s.exit_of(e9).expect("kill -9 stored").body else { unreachable!() };
    assert_eq!((x.code(), x.signal()), (None, Some(9)));

    let me = std::process::id();
    let fork = s
        .events
        .iter()
        .find(|e| e.proc.tgid == child_pid && matches!(e.body, Body::Fork(_)))
        .expect("the fork of /bin/true is stored");
    assert_eq!(fork.ppid, me);
    assert_eq!(fork.parent_key().tgid, me);
}

#[test]
fn argv_comes_back_exactly_or_flagged_truncated() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let rec = Recorder::start(&[]);
    let m = marker("argv");
    let odd: Vec<&OsStr> = vec![
        OsStr::new("hello world"),
        OsStr::new("it's \"quoted\""),
        OsStr::new(""),
        OsStr::from_bytes(b"\xff\xfe non-utf8 \x80"),
        OsStr::new("tab\there"),
        OsStr::new(&m),
    ];
    assert!(run(Command::new("/bin/true").args(&odd)).success());
    let big_m = marker("big");
    let chunk = "x".repeat(1000);
    let big: Vec<String> = std::iter::once(big_m.clone()).chain((0..110).map(|i| format!("{i}:{chunk}"))).collect();
    assert!(run(Command::new("/bin/true").args(&big)).success());
    let (s, _) = rec.stop();

    let x = exec_of(s.one_exec(&m));
    let want: Vec<Vec<u8>> =
        std::iter::once(b"/bin/true".to_vec()).chain(odd.iter().map(|a| a.as_bytes().to_vec())).collect();
    assert_eq!(x.argv, want);
    assert!(!x.argv_truncated);

    let x = exec_of(s.one_exec(&big_m));
    let full: Vec<u8> = std::iter::once("/bin/true".to_string())
        .chain(big.iter().cloned())
        .flat_map(|a| a.into_bytes().into_iter().chain([0]))
        .collect();
    assert!(full.len() > 100 * 1024);
    assert!(x.argv_truncated, "100 KiB of argv must be flagged truncated at the default limit");
    assert_eq!(x.argv_bytes as usize, full.len(), "the full length is kept");
    let kept: Vec<u8> = x.argv.join(&0u8);
    assert!(full.starts_with(&kept), "what is kept is an exact prefix");
    assert!(kept.len() >= 4096, "at least 4 KiB kept, got {}", kept.len());
}

#[test]
fn exec_storm_of_20000_loses_nothing() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let rec = Recorder::start(&[]);
    let m = marker("storm");
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        let st = Command::new("/bin/true").arg(&m).stdout(Stdio::null()).status().expect("spawn");
        assert!(st.success());
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    let (s, log) = rec.stop();
    let me = std::process::id();
    let mine = |e: &&Event| e.ppid == me;
    let execs = s.execs_with(&m).len();
    let procs: HashSet<_> = s.execs_with(&m).iter().map(|e| e.proc).collect();
    let forks =
        s.events.iter().filter(mine).filter(|e| matches!(e.body, Body::Fork(_)) && procs.contains(&e.proc)).count();
    let exits = s
        .events
        .iter()
        .filter(|e| procs.contains(&e.proc) && matches!(e.body, Body::Exit(x) if x.code() == Some(0)))
        .count();
    eprintln!("storm: {n} at {rate:.0}/s; stored exec={execs} fork={forks} exit={exits}");
    assert_eq!(procs.len(), n, "every process has its own key, pid reuse or not");
    assert_eq!((execs, forks, exits), (n, n, n), "log:\n{log}");
    assert!(s.gaps.is_empty(), "no loss expected: {:?}", s.gaps);
}

#[test]
fn tiny_ring_buffer_loss_is_counted_and_stored_as_a_gap() {
    if !need_root() {
        return;
    }
    let _g = serial();
    // One page of ring. Exec records carrying 6 KiB of argv cannot fit in it at all, so the
    // kernel must fail to reserve each one: a deterministic overflow, counted per CPU.
    let rec = Recorder::start(&["--ring-kib", "4"]);
    let m = marker("loss");
    let pad = "p".repeat(6000);
    let n: u64 = 50;
    for _ in 0..n {
        assert!(run(Command::new("/bin/true").args([&m, &pad])).success());
    }
    let (s, log) = rec.stop();
    let lost: u64 = s.gaps.iter().map(|g| g.lost()).sum();
    assert!(lost >= n, "{n} execs larger than the ring must be lost; log:\n{log}");
    assert!(s.gaps.iter().all(|g| g.reason == GapReason::RingBufferFull && g.start <= g.end));
    // The stored gaps account for exactly what the kernel counted.
    let line = log.lines().find(|l| l.contains("stopped:")).expect("summary line");
    let lost_part = line.split("lost ").nth(1).and_then(|r| r.split(", filtered").next()).unwrap_or_default();
    let counted: u64 = lost_part.split_whitespace().filter_map(|kv| kv.split_once('=')?.1.parse::<u64>().ok()).sum();
    assert_eq!(lost, counted, "gaps {lost} vs kernel counters {counted}: {line}");
    assert!(s.execs_with(&m).is_empty(), "an exec that cannot fit the ring cannot be stored");
    let lost_exec: u64 = s.gaps.iter().map(|g| g.lost_exec).sum();
    assert!(lost_exec >= n, "lost exec {lost_exec}");
}

#[test]
fn processes_running_before_start_are_in_the_store_and_keep_their_key() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let mut sleeper = Command::new("sleep").arg("30").spawn().expect("sleep");
    std::thread::sleep(Duration::from_millis(50));
    let rec = Recorder::start(&[]);
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (s, _) = rec.stop();
    let e = s
        .events
        .iter()
        .find(|e| e.proc.tgid == sleeper.id() && matches!(&e.body, Body::Exec(x) if x.source == Source::Procfs))
        .expect("the sleep that predates the recorder is in the snapshot");
    let x = exec_of(e);
    assert_eq!(x.argv, vec![b"sleep".to_vec(), b"30".to_vec()]);
    assert_eq!(x.exe, b"/usr/bin/sleep");
    // The kernel's exit record must land on the same process key as the /proc snapshot.
    let exit = s.exit_of(e).expect("the exit of a process from the snapshot joins its key");
    let Body::Exit(code) = &exit.body else { unreachable!() };
    assert_eq!(code.signal(), Some(9));
}

#[test]
fn scope_containers_keeps_only_container_processes() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let id = "d8b2f6a3c4e5d6f7a8091b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60";
    let cg = FakeCgroup::new(&format!("/docker/{id}"));
    let rec = Recorder::start(&["--scope", "containers"]);
    let host_m = marker("scope-host");
    let ctr_m = marker("scope-ctr");
    assert!(run(Command::new("/bin/true").arg(&host_m)).success());
    assert!(
        run(Command::new("sh").arg("-c").arg(format!("{}/bin/true {ctr_m}; /bin/true {ctr_m}", cg.enter()))).success()
    );
    let (s, _) = rec.stop();
    drop(cg);
    assert!(s.execs_with(&host_m).is_empty(), "host process stored under --scope containers");
    let ctr = s.execs_with(&ctr_m);
    assert_eq!(ctr.len(), 2);
    assert!(ctr.iter().all(|e| s.container_of(e).is_some_and(|c| c.id == id)));
    assert!(s.events.iter().all(|e| e.container.is_some()), "every stored event is in a container");
}

#[test]
fn check_names_hooks_and_refuses_without_privileges() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let out = Command::new(env!("CARGO_BIN_EXE_ctrail-recorder")).arg("check").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("hook exec") && text.contains("sched_process_exec"), "{text}");
    assert!(text.contains("hook fork") && text.contains("hook exit"), "{text}");
    // Two aligned columns: every value starts where the others do, after at least two
    // spaces (a long hook name once ran into its value).
    let starts: std::collections::BTreeSet<usize> = text
        .lines()
        .filter(|l| !l.starts_with("ok:"))
        .map(|l| {
            let gap = l.find("  ").unwrap_or_else(|| panic!("no gap between label and value: {l:?}"));
            gap + l[gap..].chars().take_while(|c| *c == ' ').count()
        })
        .collect();
    assert_eq!(starts.len(), 1, "values start in one column:\n{text}");

    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"])
        .arg(env!("CARGO_BIN_EXE_ctrail-recorder"))
        .args(["run", "--data-dir", "/tmp/ctrail-unprivileged-never-created"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("needs root"), "{err}");
    assert!(!Path::new("/tmp/ctrail-unprivileged-never-created").exists(), "nothing created without privileges");
}

/// This machine refuses fentry and has no kprobes: `check` says so rung by rung, the
/// tracepoints are what auto picks, and forcing a refused rung is an error at start, never a
/// recorder that silently records no activity.
#[test]
fn check_explains_the_refused_rungs_and_a_forced_one_is_refused_at_start() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let out = Command::new(env!("CARGO_BIN_EXE_ctrail-recorder")).arg("check").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let rung = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("activity rung {name} ")))
            .unwrap_or_else(|| panic!("no line for {name}:\n{text}"))
            .to_string()
    };
    assert!(rung("fentry/fexit").contains("out: this kernel refuses fentry/fexit programs"), "{text}");
    assert!(rung("kprobe/kretprobe").contains("out: this kernel has no kprobes"), "{text}");
    assert!(rung("tracepoint/syscalls").contains("used for mount,"), "{text}");
    assert!(rung("tracepoint/syscalls").contains("slow path"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ctrail-recorder"))
        .args(["run", "--activity-hooks", "fentry", "--data-dir"])
        .arg(dir.path().join("d"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--activity-hooks fentry/fexit: cannot record mount"), "{err}");
}

#[test]
fn store_files_are_private() {
    if !need_root() {
        return;
    }
    let _g = serial();
    use std::os::unix::fs::PermissionsExt;
    let rec = Recorder::start(&[]);
    let data = rec.data();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir_mode = mode(&data);
    let mut files: Vec<(String, u32)> = fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), mode(&p)))
        .collect();
    let (s, _) = rec.stop();
    files.extend(
        fs::read_dir(s.dir.path().join("data"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), mode(&p))),
    );
    assert_eq!(dir_mode, 0o700);
    assert!(files.iter().any(|(n, _)| n.ends_with(".active.redb")), "{files:?}");
    assert!(files.iter().any(|(n, _)| n == "control.sock"), "{files:?}");
    for (name, m) in &files {
        assert_eq!(m & 0o077, 0, "{name} is {m:o}: the store holds command lines");
    }
}
#[test]
fn raw_tp_fallback_records_the_same() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let id = "e9c3a7b4d5f6e7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2";
    let cg = FakeCgroup::new(&format!("/docker/{id}"));
    let rec = Recorder::start(&["--attach", "raw-tp"]);
    let log = rec.log.lock().unwrap().clone();
    assert!(log.contains("exec=raw_tp/sched_process_exec") && log.contains("exit=raw_tp/sched_process_exit"), "{log}");
    let m = marker("rawtp");
    let st = run(Command::new("sh").arg("-c").arg(format!("{}exec sh -c 'exit 5' {m}", cg.enter())));
    assert_eq!(st.code(), Some(5));
    let (s, _) = rec.stop();
    drop(cg);
    let e = s.one_exec(&m);
    assert_eq!(s.container_of(e).map(|c| c.id.as_str()), Some(id));
    assert_eq!(exec_of(e).comm_before.as_deref(), Some("sh"), "comm before exec via raw_tp/sched_prepare_exec");
    let Body::Exit(x) = &s.exit_of(e).expect("exit via raw_tp").body else { unreachable!() };
    assert_eq!(x.code(), Some(5));
    assert!(s.events.iter().any(|e| e.proc.tgid != 0 && matches!(e.body, Body::Fork(_))), "forks via raw_tp");
}

fn activities(s: &Stored, pred: impl Fn(&ctrail_model::Activity) -> bool) -> Vec<&Event> {
    s.events.iter().filter(|e| matches!(&e.body, Body::Activity(a) if pred(a))).collect()
}

fn activity_of(e: &Event) -> &ctrail_model::Activity {
    match &e.body {
        Body::Activity(a) => a,
        other => panic!("not an activity: {other:?}"),
    }
}

#[test]
fn mounts_namespaces_chroot_and_credential_changes_are_recorded() {
    use ctrail_model::Action;
    if !need_root() {
        return;
    }
    let _g = serial();
    let id = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    let cg = FakeCgroup::new(&format!("/docker/{id}"));
    let dir = tempfile::tempdir().unwrap();
    let host_mnt = dir.path().join("host-mnt");
    let ctr_mnt = dir.path().join("ctr-mnt");
    fs::create_dir_all(&host_mnt).unwrap();
    fs::create_dir_all(&ctr_mnt).unwrap();
    let rec = Recorder::start(&[]);
    let h = host_mnt.display();
    // On the host: a private mount namespace, a mount and its umount, a chroot.
    let st = run(Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(format!("mount -t tmpfs ctrail-host {h} && umount {h} && chroot / /bin/true")));
    assert!(st.success());
    // A mount refused to an unprivileged user is evidence too.
    let st = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg("mount")
        .args(["-t", "tmpfs", "ctrail-denied"])
        .arg(&host_mnt));
    assert!(!st.success());
    // Inside the container: a mount in its own mount namespace, and a long-lived process
    // that nsenter then enters.
    let c = ctr_mnt.display();
    let st = run(Command::new("sh")
        .arg("-c")
        .arg(format!("{}unshare -m sh -c 'mount -t tmpfs ctrail-ctr {c} && umount {c}'", cg.enter())));
    assert!(st.success());
    let mut inside = Command::new("sh")
        .arg("-c")
        .arg(format!("{}exec unshare -m -p -u -f --mount-proc sleep 30", cg.enter()))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let target = fs::read_to_string(format!("/proc/{}/task/{}/children", inside.id(), inside.id())).unwrap();
    let target: u32 = target.split_whitespace().next().expect("the sleep inside").parse().unwrap();
    let m = marker("nsenter");
    assert!(run(Command::new("nsenter").args(["-t", &target.to_string(), "-m", "-u", "/bin/true", &m])).success());
    inside.kill().unwrap();
    inside.wait().unwrap();
    let (s, log) = rec.stop();
    drop(cg);

    let host_target = host_mnt.to_string_lossy().to_string();
    let mounts = activities(&s, |a| matches!(&a.action, Action::Mount { target, .. } if *target == host_target));
    let ok: Vec<_> = mounts.iter().filter(|e| activity_of(e).result == 0).collect();
    assert_eq!(ok.len(), 1, "the host mount; log:\n{log}");
    let Action::Mount { source, fstype, .. } = &activity_of(ok[0]).action else { unreachable!() };
    assert_eq!((source.as_str(), fstype.as_str()), ("ctrail-host", "tmpfs"));
    assert!(s.container_of(ok[0]).is_none());
    let denied: Vec<_> = mounts.iter().filter(|e| activity_of(e).result == -1).collect();
    assert_eq!(denied.len(), 1, "the denied mount, EPERM");
    assert_eq!(activity_of(denied[0]).after.euid, 65534);
    assert_eq!(
        activities(&s, |a| matches!(&a.action, Action::Umount { target, .. } if *target == host_target)).len(),
        1
    );
    assert!(
        !activities(&s, |a| matches!(&a.action, Action::Chroot { path } if path == "/") && a.result == 0).is_empty()
    );
    let unshares = activities(&s, |a| matches!(a.action, Action::Unshare { flags } if flags & 0x20000 != 0));
    assert!(unshares.len() >= 2, "unshare -m, on the host and in the container");
    let creds = activities(&s, |a| {
        matches!(&a.action, Action::CredChange { call, .. } if call == "setresuid")
            && a.before.uid == 0
            && a.after.uid == 65534
    });
    assert!(!creds.is_empty(), "setpriv's setresuid, with the ids before and after");
    assert_eq!(activity_of(creds[0]).after.cap_effective, 0, "and the capabilities it dropped");

    let ctr_target = ctr_mnt.to_string_lossy().to_string();
    let in_ctr = activities(&s, |a| matches!(&a.action, Action::Mount { target, .. } if *target == ctr_target));
    assert_eq!(in_ctr.len(), 1);
    assert_eq!(
        s.container_of(in_ctr[0]).map(|c| c.id.as_str()),
        Some(id),
        "a mount inside the container is the container's"
    );

    // nsenter's setns into the container's mount namespace is the container's, and so is what it runs.
    let setns = activities(&s, |a| matches!(a.action, Action::Setns { .. }) && a.result == 0);
    assert!(
        setns.iter().any(|e| s.container_of(e).map(|c| c.id.as_str()) == Some(id)),
        "nsenter's setns is attributed to the container it entered"
    );
    let entered = s.execs_with(&m);
    assert!(entered.iter().any(|e| s.container_of(e).map(|c| c.id.as_str()) == Some(id)), "what nsenter ran is in it");
}

#[test]
fn activity_can_be_switched_off() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let rec = Recorder::start(&["--activity", "none"]);
    let log = rec.log.lock().unwrap().clone();
    assert!(log.contains("activity=off"), "{log}");
    assert!(run(Command::new("unshare").args(["-m", "/bin/true"])).success());
    let (s, _) = rec.stop();
    assert!(activities(&s, |_| true).is_empty());
}

#[test]
fn container_start_end_and_ptrace_into_a_container() {
    use ctrail_model::Action;
    if !need_root() {
        return;
    }
    let _g = serial();
    let id = "b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1";
    let rec = Recorder::start(&[]);
    // The container's cgroup appears while recording (in every hierarchy the recorder reads).
    let cg = FakeCgroup::new(&format!("/docker/{id}"));
    let mut victim = Command::new("sh").arg("-c").arg(format!("{}exec sleep 30", cg.enter())).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // A host process attaches to the container's process with ptrace, then lets go.
    let py = format!(
        "import ctypes,time; l=ctypes.CDLL(None); l.ptrace(16,{0},0,0); time.sleep(0.1); l.ptrace(17,{0},0,0)",
        victim.id()
    );
    assert!(run(Command::new("python3").args(["-c", &py])).success());
    victim.kill().unwrap();
    victim.wait().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(cg);
    std::thread::sleep(Duration::from_millis(300));
    let (s, log) = rec.stop();

    let life: Vec<(&Event, bool)> = s
        .events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Container(c) if s.container_of(e).is_some_and(|x| x.id == id) => Some((e, c.started)),
            _ => None,
        })
        .collect();
    assert_eq!(life.iter().filter(|(_, started)| *started).count(), 1, "one start, whatever the hierarchies; {log}");
    assert_eq!(life.iter().filter(|(_, started)| !*started).count(), 1, "one end");
    let traced = activities(
        &s,
        |a| matches!(&a.action, Action::Ptrace { request: 16, target_pid, .. } if *target_pid == victim.id()),
    );
    assert_eq!(traced.len(), 1, "PTRACE_ATTACH of the container's process");
    let Action::Ptrace { target_container, .. } = &activity_of(traced[0]).action else { unreachable!() };
    assert_eq!(target_container.as_deref(), Some(id), "the target's container is recorded with it");
    assert!(s.container_of(traced[0]).is_none(), "the tracer itself is on the host");
}
