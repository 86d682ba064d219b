//! The executable as it was on disk: resolved in the kernel from the file it runs, with
//! the cwd, the file's identity, and where it came from (image, upper layer, memfd,
//! deleted), inside a real docker container and on the host.

use std::{fs, os::unix::fs::MetadataExt, process::Command};

use ctrail_model::{Event, ExeFile};

use crate::helpers::*;

/// The one exec with `marker` in its argv whose filename is `filename`.
fn exec_named<'a>(s: &'a Stored, marker: &str, filename: &str) -> &'a Event {
    let all = s.execs_with(marker);
    let found: Vec<&&Event> = all.iter().filter(|e| exec_of(e).filename == filename.as_bytes()).collect();
    assert_eq!(
        found.len(),
        1,
        "one exec of {filename:?} with {marker}: {:#?}",
        all.iter().map(|e| exec_of(e)).collect::<Vec<_>>()
    );
    found[0]
}

fn file_of(e: &Event) -> ExeFile {
    exec_of(e).file.unwrap_or_else(|| panic!("no file read for {:?}", exec_of(e)))
}

/// Removes the test's container when the test ends, pass or fail (before `Down`).
struct Remove(&'static str);
impl Drop for Remove {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", self.0]);
    }
}

#[test]
fn in_a_docker_container_the_exe_is_the_file_that_ran_and_drift_is_flagged() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let _down = Down;
    const NAME: &str = "ctrail-exe-drift";
    let _ = docker(&["rm", "-f", NAME]);
    let _rm = Remove(NAME);
    docker_ok(&["run", "-d", "--network", "none", "--name", NAME, "ctrail-e2e/busybox:latest", "sleep", "600"]);
    let rec = Recorder::start(&[]);
    let m = marker("exe");
    let sh = |script: &str| docker_ok(&["exec", NAME, "sh", "-c", script]);
    // A binary copied into the running container, run by a relative path from its cwd
    // (busybox then says "x: applet not found": the exec is what counts).
    sh("cp /bin/busybox /tmp/x");
    let _ = docker(&["exec", "-w", "/tmp", NAME, "./x", &m]);
    // The stat of it inside the container, to compare with what the kernel saw.
    let stat = sh("stat -c '%i %Y %s %a' /tmp/x");
    // A command from the image, through its symlink (/bin/true -> busybox).
    sh(&format!("/bin/true {m}"));
    // A copy opened, deleted, then run through its descriptor.
    let _ = docker(&[
        "exec",
        NAME,
        "sh",
        "-c",
        &format!("cp /bin/busybox /tmp/d && exec 3</tmp/d && rm /tmp/d && exec /proc/self/fd/3 {m}"),
    ]);
    // A binary never on any disk: busybox copied into a memfd and run with fexecve.
    let memfd = static_c("memfd_exec");
    docker_ok(&["cp", memfd.to_str().unwrap(), &format!("{NAME}:/memfd_exec")]);
    sh(&format!("/memfd_exec /bin/busybox true {m}"));
    let data = rec.data();
    let (s, log) = rec.stop();

    let x = exec_named(&s, &m, "./x");
    let xe = exec_of(x);
    assert_eq!(xe.exe, b"/tmp/x", "log:\n{log}");
    assert_eq!(xe.cwd.as_deref(), Some(&b"/tmp"[..]));
    let f = file_of(x);
    assert!(f.overlay, "docker's root is overlayfs here: {f:?}");
    assert_eq!(f.upper_layer(), Some(true), "written after the container started");
    let want: Vec<u64> = stat.split_whitespace().take(3).map(|v| v.parse().unwrap()).collect();
    assert_eq!(f.inode, want[0], "inode as stat in the container gives it");
    assert_eq!(f.mtime_ns / 1_000_000_000, want[1] as i64, "mtime as stat gives it");
    assert_eq!(f.size, want[2]);
    assert!(!f.deleted && !f.memfd);

    let t = exec_named(&s, &m, "/bin/true");
    assert_eq!(exec_of(t).exe, b"/bin/busybox", "the symlink's target");
    let tf = file_of(t);
    assert_eq!(tf.upper_layer(), Some(false), "the image's own file");
    assert_ne!(tf.inode, f.inode);

    let d = exec_named(&s, &m, "/proc/self/fd/3");
    assert_eq!(exec_of(d).exe, b"/tmp/d");
    assert!(file_of(d).deleted, "{:?}", file_of(d));

    let mem = s.execs_with(&m).into_iter().find(|e| exec_of(e).exe.starts_with(b"/memfd:")).expect("the memfd exec");
    assert!(file_of(mem).memfd, "{:?}", exec_of(mem));
    assert_eq!(file_of(mem).upper_layer(), None, "not on overlayfs at all");

    // The drift question, in one command: the upper-layer execs only.
    let (code, rows) = ctrail(&data, &["events", "--type", "exec", "--upper-layer", "--container", NAME]);
    assert_eq!(code, 0);
    let exes: Vec<&str> =
        rows.iter().filter(|r| r["argv"].to_string().contains(&m)).map(|r| r["exe"].as_str().unwrap()).collect();
    assert!(exes.contains(&"/tmp/x") && !exes.contains(&"/bin/busybox"), "{exes:?}");
    let row = rows.iter().find(|r| r["exe"] == "/tmp/x").unwrap();
    assert_eq!((row["filename"].as_str(), row["cwd"].as_str()), (Some("./x"), Some("/tmp")));
    assert_eq!(row["exe_upper_layer"], true);
    assert_eq!(row["exe_inode"], want[0]);
    let (code, rows) = ctrail(&data, &["events", "--exe", "/tmp/*", "--container", NAME]);
    assert_eq!(code, 0);
    assert!(rows.iter().all(|r| r["type"] == "exec" && r["exe"].as_str().unwrap().starts_with("/tmp/")), "{rows:?}");
    assert!(rows.iter().any(|r| r["exe"] == "/tmp/d" && r["exe_deleted"] == true));
}

#[test]
fn on_the_host_paths_are_as_the_process_sees_them() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    // A chroot holding a static busybox.
    let jail = root.join("jail");
    fs::create_dir_all(jail.join("bin")).unwrap();
    fs::create_dir_all(jail.join("work")).unwrap();
    fs::copy("/bin/busybox", jail.join("bin/busybox")).expect("busybox-static (ctl.sh install)");
    let bound = root.join("bound");
    fs::create_dir(&bound).unwrap();
    let real_true = fs::canonicalize("/bin/true").unwrap();
    let rec = Recorder::start(&[]);
    let m = marker("host-exe");
    // Through a bind mount (in a private mount namespace: nothing leaks to the host).
    let b = bound.display();
    let bin_dir = real_true.parent().unwrap().display();
    assert!(
        run(Command::new("unshare").args([
            "-m",
            "sh",
            "-c",
            &format!("mount --bind {bin_dir} {b} && exec {b}/true {m}")
        ]))
        .success()
    );
    // Inside a chroot, from a cwd inside it.
    assert!(
        run(Command::new("chroot").arg(&jail).args([
            "/bin/busybox",
            "sh",
            "-c",
            &format!("cd /work && exec /bin/busybox true {m}")
        ]))
        .success()
    );
    // A memfd, run with fexecve: never on any disk.
    let py = format!(
        "import os; fd = os.memfd_create('ctrail-memfd'); os.write(fd, open('{}', 'rb').read()); os.execve(fd, ['memfd', '{m}'], {{}})",
        real_true.display()
    );
    assert!(run(Command::new("python3").args(["-c", &py])).success());
    let (s, log) = rec.stop();

    let e = exec_named(&s, &m, &format!("{b}/true"));
    assert_eq!(exec_of(e).exe, format!("{b}/true").as_bytes(), "seen through the bind mount; log:\n{log}");
    assert_eq!(file_of(e).inode, fs::metadata(&real_true).unwrap().ino(), "the same file");

    let c = exec_named(&s, &m, "/bin/busybox");
    let cx = exec_of(c);
    assert_eq!(cx.exe, b"/bin/busybox", "relative to the chroot: {:?}", String::from_utf8_lossy(&cx.exe));
    assert_eq!(cx.cwd.as_deref(), Some(&b"/work"[..]));

    let mem = s
        .execs_with(&m)
        .into_iter()
        .find(|e| exec_of(e).argv.first().is_some_and(|a| a == b"memfd"))
        .expect("the memfd exec");
    let mf = file_of(mem);
    assert!(mf.memfd, "{mf:?}");
    assert!(exec_of(mem).exe.starts_with(b"/memfd:ctrail-memfd"), "{:?}", String::from_utf8_lossy(&exec_of(mem).exe));
    assert!(!exec_of(mem).filename.is_empty());
}

#[test]
fn without_the_path_walk_the_exe_is_what_was_passed_and_the_file_is_still_read() {
    if !need_root() {
        return;
    }
    let _g = serial();
    // The program kernels without bpf_loop (before 5.17) get, forced here.
    let rec = Recorder::start(&["--resolve-exe", "off"]);
    assert_eq!(rec.hooks().get("exec").map(String::as_str), Some("raw_tp/sched_process_exec(no-path-walk)"));
    let m = marker("no-walk");
    assert!(run(Command::new("/bin/true").arg(&m)).success());
    let (s, _) = rec.stop();
    let e = exec_named(&s, &m, "/bin/true");
    let x = exec_of(e);
    assert_eq!((x.exe.as_slice(), x.cwd.as_ref()), (&b"/bin/true"[..], None));
    let st = fs::metadata("/bin/true").unwrap();
    assert_eq!(file_of(e).inode, st.ino(), "the file's stat is read without the walk");
}
