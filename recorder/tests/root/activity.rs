//! Every activity kind, triggered for real (`fixtures/triggers/trigger.c`) on the host and
//! inside real docker containers, privileged and not, and entered with nsenter. Each stored
//! event is compared with what the kernel answered the trigger, result included: a refused
//! attempt is evidence too.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
};

use ctrail_model::{Action, Activity, Body, Event};

use crate::helpers::*;

/// The trigger, built static once per test run so that it runs in a busybox container.
fn trigger() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| static_c("trigger"))
}

/// What the trigger printed: (kind, result, details).
type Said = Vec<(String, i64, Vec<String>)>;

fn parse(out: &[u8]) -> Said {
    String::from_utf8_lossy(out)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let kind = w.next()?.to_string();
            let result = w.next()?.parse().ok()?;
            Some((kind, result, w.map(str::to_string).collect()))
        })
        .collect()
}

fn run_trigger(cmd: &mut Command) -> Said {
    let o = cmd.stdin(Stdio::null()).output().expect("run the trigger");
    assert!(
        o.status.success(),
        "trigger failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let said = parse(&o.stdout);
    assert!(!said.is_empty(), "the trigger said nothing: {}", String::from_utf8_lossy(&o.stderr));
    said
}

/// The trigger's own exec (the marker is also in the argv of the docker CLI and nsenter).
fn trigger_exec<'a>(s: &'a Stored, marker: &str) -> &'a Event {
    let v: Vec<_> = s.execs_with(marker).into_iter().filter(|e| exec_of(e).exe.ends_with(b"ctrail-trigger")).collect();
    assert_eq!(v.len(), 1, "one exec of the trigger with {marker}: {v:?}");
    v[0]
}

/// The activity events of the trigger run with `marker` and of the children it forked.
fn trigger_activity<'a>(s: &'a Stored, marker: &str) -> Vec<(&'a Event, &'a Activity)> {
    let exec = trigger_exec(s, marker);
    s.events
        .iter()
        .filter(|e| e.proc == exec.proc || e.parent_key() == exec.proc)
        .filter_map(|e| match &e.body {
            Body::Activity(a) => Some((e, &**a)),
            _ => None,
        })
        .collect()
}

/// Whether syscall `name` exists in this kernel (init_module does not without modules).
fn has_syscall(name: &str) -> bool {
    ["/sys/kernel/tracing/events/syscalls", "/sys/kernel/debug/tracing/events/syscalls"]
        .iter()
        .any(|d| Path::new(d).join(format!("sys_enter_{name}")).is_dir())
}

const CLONE_NEWUTS: u64 = 0x0400_0000;

/// Checks one stored event per line the trigger printed, with its result and fields, and
/// that each is attributed to `container` (`None`: the host). Returns the failures.
fn check(s: &Stored, marker: &str, said: &Said, container: Option<&str>) -> Vec<String> {
    let acts = trigger_activity(s, marker);
    let mut failures = Vec::new();
    let port = |d: &[String], i: usize| d.get(i).and_then(|p| p.parse::<u16>().ok()).unwrap_or(0);
    for (kind, result, d) in said {
        // A kernel without the syscall (init_module without module support) has no hook
        // for it and records nothing: nothing to expect.
        if kind == "init_module" && !has_syscall("init_module") {
            continue;
        }
        let matches = |a: &Activity| -> bool {
            match (kind.as_str(), &a.action) {
                ("mount", Action::Mount { source, target, fstype, .. }) => {
                    source == "ctrail-trigger-src" && *target == d[0] && fstype == "tmpfs"
                }
                ("seccomp-mount", Action::Mount { source, target, .. }) => {
                    source == "ctrail-seccomp-src" && *target == d[0]
                }
                ("umount", Action::Umount { target, .. }) => *target == d[0],
                ("chroot", Action::Chroot { path }) => path == "/",
                ("pivot_root", Action::PivotRoot { new_root, put_old }) => *new_root == d[0] && *put_old == d[1],
                ("unshare", Action::Unshare { flags }) => flags & CLONE_NEWUTS != 0,
                ("setns", Action::Setns { nstype, .. }) => *nstype == CLONE_NEWUTS,
                ("setresgid" | "setresuid", Action::CredChange { call, args }) => {
                    call == kind
                        && args.first() == Some(&1000)
                        && (*result != 0 || (kind == "setresuid") == (a.after.uid == 1000))
                }
                ("capset", Action::CredChange { call, .. }) => {
                    call == "capset" && (*result != 0 || a.after.cap_effective == 0)
                }
                ("ptrace", Action::Ptrace { request, target_pid, .. }) => {
                    *request == 16 && target_pid.to_string() == d[0]
                }
                ("bpf", Action::BpfLoad { prog_type, name, insns, .. }) => {
                    *prog_type == 1 && name == "ctrail_trig" && *insns == 2
                }
                ("init_module", Action::ModuleLoad { call, params, .. }) => {
                    call == "init_module" && params == "ctrail=1"
                }
                (k, Action::Connect(c)) if k.ends_with("-connect") => {
                    c.local.port() == port(d, 0) && c.remote.port() == port(d, 1) && c.remote.ip().is_loopback()
                }
                (k, Action::Connect(c)) if k.ends_with("-refused") => {
                    c.remote.port() == port(d, 0) && c.remote.ip().is_loopback()
                }
                (k, Action::Accept(c)) if k.ends_with("-accept") => {
                    c.local.port() == port(d, 0) && c.remote.port() == port(d, 1) && c.remote.ip().is_loopback()
                }
                _ => false,
            }
        };
        let family_ok = |a: &Activity| match &a.action {
            Action::Connect(c) | Action::Accept(c) => c.remote.is_ipv6() == kind.starts_with("tcp6"),
            _ => true,
        };
        // accept returns a descriptor: the trigger prints 0 for any success.
        let result_ok = |a: &Activity| {
            if kind.ends_with("-accept") { (a.result >= 0) == (*result >= 0) } else { a.result == *result }
        };
        let found: Vec<_> = acts.iter().filter(|(_, a)| matches(a) && family_ok(a) && result_ok(a)).collect();
        match found.as_slice() {
            [] => failures.push(format!(
                "{kind} {result} {d:?}: not stored (stored: {:?})",
                acts.iter().map(|(_, a)| (&a.action, a.result)).collect::<Vec<_>>()
            )),
            [(e, _)] => {
                let got = s.container_of(e).map(|c| c.id.as_str());
                if got != container {
                    failures.push(format!("{kind}: attributed to {got:?}, expected {container:?}"));
                }
            }
            more => failures.push(format!("{kind}: stored {} times", more.len())),
        }
    }
    failures
}

#[test]
fn every_kind_on_the_host_is_stored_as_the_kernel_answered() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let t = trigger();
    // Each kind's stored fields are the same whichever hooks recorded them.
    for attach in ATTACH_MODES {
        let rec = Recorder::start(attach);
        assert_hooks(&rec, attach);
        let m = marker("trigger-host");
        let said = run_trigger(Command::new(t).arg(&m));
        let (s, log) = rec.stop();
        let kinds: Vec<&str> = said.iter().map(|(k, _, _)| k.as_str()).collect();
        for k in
            ["mount", "umount", "bpf", "tcp4-connect", "tcp4-accept", "tcp6-connect", "tcp6-accept", "tcp6-refused"]
        {
            assert!(kinds.contains(&k), "the trigger did not try {k}: {said:?}");
        }
        // As root on the host, these succeed; the refused connects do not.
        for (k, r, _) in &said {
            let expect_ok = ["mount", "umount", "bpf", "setresuid", "capset", "ptrace", "tcp4-connect", "tcp6-connect"];
            if expect_ok.contains(&k.as_str()) {
                assert!(*r >= 0, "{k} failed on the host: {said:?}");
            }
        }
        let failures = check(&s, &m, &said, None);
        assert!(failures.is_empty(), "{attach:?}: {}\nlog:\n{log}", failures.join("\n"));
    }
}

/// The automatic hooks, and the fallback of each forced.
const ATTACH_MODES: [&[&str]; 2] = [&[], &["--attach", "raw-tp"]];

/// The hooks the recorder says it used are the ones `attach` asks for.
fn assert_hooks(rec: &Recorder, attach: &[&str]) {
    let hooks = rec.hooks();
    let (exec, activity) = if attach.is_empty() {
        ("tp_btf/sched_process_exec", "tracepoint/syscalls(")
    } else {
        ("raw_tp/sched_process_exec", "raw_tp/sys_enter+sys_exit(")
    };
    assert_eq!(hooks.get("exec").map(String::as_str), Some(exec), "{hooks:?}");
    assert!(hooks.get("activity").is_some_and(|a| a.starts_with(activity)), "{attach:?}: {hooks:?}");
    if !attach.is_empty() {
        assert!(hooks.values().all(|h| !h.starts_with("tp_btf/")), "raw-tp forces every fallback: {hooks:?}");
    }
}

#[test]
fn seccomp_refused_calls_are_recorded_with_either_attachment() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let t = trigger();
    // A seccomp filter refuses the mount before the kernel's entry tracepoint runs: only the
    // exit sees it, through per-syscall tracepoints and through the raw fallback alike.
    for attach in ATTACH_MODES {
        let rec = Recorder::start(attach);
        assert_hooks(&rec, attach);
        let m = marker("trigger-seccomp");
        let said = run_trigger(Command::new(t).args([m.as_str(), "seccomp"]));
        let (s, log) = rec.stop();
        assert_eq!(said.first().map(|(k, r, _)| (k.as_str(), *r)), Some(("seccomp-mount", -1)), "{said:?}");
        let failures = check(&s, &m, &said, None);
        assert!(failures.is_empty(), "{attach:?}: {}\nlog:\n{log}", failures.join("\n"));
    }
}

/// `docker run -d --privileged ARGS`; where runc cannot grant a capability this machine's root
/// lacks (CAP_SYS_RESOURCE here), the same privileges less that one: every other capability,
/// no seccomp, no AppArmor, /proc and /sys unmasked.
fn privileged(args: &[&str]) -> String {
    let mut full = vec!["run", "-d", "--privileged"];
    full.extend_from_slice(args);
    let o = docker(&full);
    if o.status.success() {
        return String::from_utf8_lossy(&o.stdout).trim().to_string();
    }
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("apply caps"), "docker run --privileged: {err}");
    let _ = docker(&["rm", "-f", "ctrail-trigger-priv"]);
    let mut near = vec!["run", "-d", "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE"];
    near.extend_from_slice(&["--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined"]);
    near.extend_from_slice(&["--security-opt", "systempaths=unconfined"]);
    near.extend_from_slice(args);
    docker_ok(&near)
}

/// Removes the test's own container when the test ends, pass or fail (before `Down`).
struct RemovePrivileged;
impl Drop for RemovePrivileged {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", "ctrail-trigger-priv"]);
    }
}

/// `ctrail ARGS --data-dir DATA`: exit code and stdout.
fn ctrail(data: &Path, args: &[&str]) -> (i32, String) {
    let o = Command::new(ctrail_bin()).args(args).arg("--data-dir").arg(data).output().expect("run ctrail");
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn every_kind_inside_real_docker_containers_and_through_nsenter() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let t = trigger().display().to_string();
    // Dropped in reverse order: the container goes first, then the harness.
    let _down = Down;
    let _c = RemovePrivileged;
    let _ = docker(&["rm", "-f", "ctrail-trigger-priv"]);
    let image = "ctrail-e2e/busybox:latest";
    let vol = format!("{t}:/ctrail-trigger:ro");
    let rec = Recorder::start(&[]);
    // A privileged container: its mount, bpf load and the rest succeed, inside it.
    // docker turns IPv6 off in containers unless asked: ask, so that tcp6 runs inside too.
    let v6 = ["--sysctl", "net.ipv6.conf.all.disable_ipv6=0", "--sysctl", "net.ipv6.conf.lo.disable_ipv6=0"];
    let priv_id = privileged(&[
        v6[0],
        v6[1],
        v6[2],
        v6[3],
        "--network",
        "none",
        "--name",
        "ctrail-trigger-priv",
        "-v",
        &vol,
        image,
        "sleep",
        "600",
    ]);
    let m_priv = marker("trigger-priv");
    let said_priv = parse(&docker(&["exec", "ctrail-trigger-priv", "/ctrail-trigger", &m_priv]).stdout);
    // A default container: docker's seccomp profile and dropped capabilities refuse most of it.
    let m_def = marker("trigger-default");
    let o = docker(&[
        "run",
        "--rm",
        v6[0],
        v6[1],
        v6[2],
        v6[3],
        "--network",
        "none",
        "-v",
        &vol,
        image,
        "/ctrail-trigger",
        &m_def,
    ]);
    let said_def = parse(&o.stdout);
    // nsenter from the host into the privileged container's namespaces (not its cgroup).
    let pid = docker_ok(&["inspect", "-f", "{{.State.Pid}}", "ctrail-trigger-priv"]);
    let m_ns = marker("trigger-nsenter");
    let said_ns =
        run_trigger(Command::new("nsenter").args(["-t", &pid, "-a", "/ctrail-trigger", &m_ns, "mount", "tcp4"]));
    let data = rec.data();
    let (s, log) = rec.stop();

    let def_exec = trigger_exec(&s, &m_def);
    let def_id = s.container_of(def_exec).map(|c| c.id.clone()).expect("the default container's exec is attributed");
    assert!(!said_priv.is_empty() && !said_def.is_empty(), "priv: {said_priv:?} default: {said_def:?}");
    let mut failures = Vec::new();
    for (what, m, said, id) in [
        ("privileged", &m_priv, &said_priv, priv_id.as_str()),
        ("default", &m_def, &said_def, def_id.as_str()),
        ("nsenter", &m_ns, &said_ns, priv_id.as_str()),
    ] {
        failures.extend(check(&s, m, said, Some(id)).into_iter().map(|f| format!("{what}: {f}")));
    }
    assert!(failures.is_empty(), "{}\nlog:\n{log}", failures.join("\n"));

    let result_of = |said: &Said, k: &str| said.iter().find(|(x, _, _)| x == k).map(|(_, r, _)| *r);
    assert_eq!(result_of(&said_priv, "mount"), Some(0), "a privileged container mounts");
    assert_eq!(result_of(&said_def, "mount"), Some(-1), "a default one is refused (EPERM)");
    assert!(result_of(&said_priv, "bpf").is_some_and(|r| r >= 0), "{said_priv:?}");
    assert!(result_of(&said_def, "bpf").is_some_and(|r| r < 0), "{said_def:?}");
    for said in [&said_priv, &said_def] {
        assert_eq!(result_of(said, "tcp4-connect"), Some(0), "{said:?}");
        assert_eq!(result_of(said, "tcp6-connect"), Some(0), "{said:?}");
    }

    // The CLI carries each kind, by type and container, in JSON and CSV.
    for kind in [
        "mount",
        "umount",
        "chroot",
        "pivot_root",
        "unshare",
        "setns",
        "cred_change",
        "ptrace",
        "bpf_load",
        "connect",
        "accept",
    ] {
        let (code, out) = ctrail(&data, &["events", "--type", kind, "--container", &priv_id[..12], "--format", "json"]);
        assert_eq!(code, 0, "ctrail events --type {kind} found nothing in the privileged container");
        assert!(out.lines().all(|l| l.contains(&format!("\"type\":\"{kind}\""))), "{out}");
    }
    let (code, csv) = ctrail(
        &data,
        &["events", "--type", "connect,accept,bpf_load", "--container", &priv_id[..12], "--format", "csv"],
    );
    assert_eq!(code, 0);
    let mut rows = csv.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    for col in ["result", "name", "prog_type", "local_address", "local_port", "remote_address", "remote_port"] {
        assert!(header.contains(&col), "CSV column {col} missing: {header:?}");
    }
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let bpf_row = rows.clone().find(|r| r.contains("bpf_load")).expect("a bpf_load row");
    assert_eq!(bpf_row.split(',').nth(col("name")), Some("ctrail_trig"), "{bpf_row}");
    assert!(rows.any(|r| r.split(',').nth(col("remote_address")) == Some("127.0.0.1")), "{csv}");

    // A case export carries the same columns.
    let case = tempfile::tempdir().unwrap();
    let out = case.path().join("case");
    let (code, _) = ctrail(&data, &["export", "--container", &priv_id[..12], "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "ctrail export");
    let exported = std::fs::read_to_string(out.join("events.csv")).unwrap();
    let mut lines = exported.lines();
    assert_eq!(lines.next().map(|h| h.split(',').collect::<Vec<_>>()), Some(header.clone()), "same header");
    for kind in ["mount", "bpf_load", "connect", "accept", "ptrace", "cred_change"] {
        assert!(lines.clone().any(|r| r.split(',').nth(col("type")) == Some(kind)), "{kind} missing from the export");
    }
}
