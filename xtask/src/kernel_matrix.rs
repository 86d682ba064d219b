//! `cargo xtask kernel-matrix`: the release binaries on Debian's 5.10, 6.1 and 6.12 cloud
//! kernels, booted under QEMU with pure cgroup v2 (this host is hybrid), judged from each
//! guest's serial log (`fixtures/kernel-matrix/init` says what it prints).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use crate::{apt, build_deps, root, run, shell};

/// A kernel series and the Debian suite it comes from (`None`: this machine's own sources).
/// Debian 11's 5.10 is what Amazon Linux 2 and many long-lived fleets run.
const KERNELS: [(&str, Option<&str>); 3] = [("5.10", Some("bullseye")), ("6.1", None), ("6.12", None)];

/// The activity rungs the guest records with, in its order (`auto` first), passed to it on
/// the kernel command line.
const RUNGS: [&str; 5] = ["auto", "fentry", "kprobe", "tracepoint", "raw"];

/// Where kernels of another suite are looked up: a private apt configuration used only for
/// the download, so this machine's sources never see the older suite.
fn suite_apt(work: &Path, suite: &str) -> Result<Vec<String>> {
    let dir = work.join(format!("apt-{suite}"));
    std::fs::create_dir_all(dir.join("lists/partial"))?;
    std::fs::create_dir_all(dir.join("cache/archives/partial"))?;
    let list = dir.join("sources.list");
    std::fs::write(
        &list,
        format!(
            "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian {suite} main\n"
        ),
    )?;
    let opts = vec![
        format!("-oDir::Etc::SourceList={}", list.display()),
        "-oDir::Etc::SourceParts=/dev/null".to_string(),
        format!("-oDir::State::Lists={}", dir.join("lists").display()),
        format!("-oDir::Cache={}", dir.join("cache").display()),
        // Only lists under this private directory are touched: not the system's lock.
        "-oDebug::NoLocking=1".to_string(),
    ];
    run(Command::new("apt-get").args(&opts).args(["update", "-q"]))?;
    Ok(opts)
}

/// The newest Debian cloud kernel package of a series, resolved now (old ABIs leave the mirror).
fn kernel_package(series: &str, apt_opts: &[String]) -> Result<String> {
    // `^linux-image-6\.1\.` must not match 6.12.
    let pattern = format!("^linux-image-{}\\.", series.replace('.', "\\."));
    let out = Command::new("apt-cache").args(apt_opts).args(["search", "--names-only", &pattern]).output()?;
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|n| n.ends_with("-cloud-amd64") && !n.contains("unsigned") && !n.contains("dbg"))
        .collect();
    names.sort_by_key(|n| {
        n.split(|c: char| !c.is_ascii_digit()).filter_map(|p| p.parse::<u64>().ok()).collect::<Vec<_>>()
    });
    names.pop().with_context(|| format!("no Debian cloud kernel package for {series}"))
}

/// Turns `runc spec`'s default into the guest's module-loading container.
const RUNC_SPEC_EDIT: &str = r#"
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/busybox", "insmod", "/modules/dummy.ko"]
for k in ("bounding", "effective", "permitted"):
    c["process"]["capabilities"][k].append("CAP_SYS_MODULE")
c["mounts"].append({"destination": "/modules", "type": "bind", "source": "/modules", "options": ["rbind", "ro"]})
json.dump(c, open(p, "w"), indent=1)
"#;

/// The shared initramfs: busybox, the release binaries and their libraries, runc and its
/// bundle, the static trigger, the guest's init.
fn build_rootfs(work: &Path) -> Result<()> {
    let rootfs = work.join("rootfs");
    let _ = std::fs::remove_dir_all(&rootfs);
    for d in ["bin", "sys", "proc", "dev", "tmp", "run", "data", "lib64", "lib/x86_64-linux-gnu"] {
        std::fs::create_dir_all(rootfs.join(d))?;
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))?;
    // runc: a real container runtime in the guest, to load a module from inside a container.
    let runc = PathBuf::from(shell("command -v runc"));
    let bins = [root().join("target/release/ctrail-recorder"), root().join("target/release/ctrail"), runc];
    for path in &bins {
        std::fs::copy(path, rootfs.join("bin").join(path.file_name().expect("binary name")))?;
        // The binaries are dynamic: take their shared libraries along.
        let ldd = Command::new("ldd").arg(path).output()?;
        for lib in String::from_utf8_lossy(&ldd.stdout).split_whitespace().filter(|w| w.starts_with('/')) {
            let dest =
                if lib.starts_with("/lib64") { rootfs.join("lib64") } else { rootfs.join("lib/x86_64-linux-gnu") };
            std::fs::copy(lib, dest.join(Path::new(lib).file_name().expect("library name")))?;
        }
    }
    // Its bundle: busybox, the kernel's modules bound in read-only, CAP_SYS_MODULE granted.
    let bundle = rootfs.join("bundle");
    std::fs::create_dir_all(bundle.join("rootfs/bin"))?;
    std::fs::create_dir_all(bundle.join("rootfs/modules"))?;
    std::fs::copy("/bin/busybox", bundle.join("rootfs/bin/busybox"))?;
    run(Command::new("runc").arg("spec").current_dir(&bundle))?;
    run(Command::new("python3").arg("-c").arg(RUNC_SPEC_EDIT).arg(bundle.join("config.json")))?;
    std::fs::copy(root().join("fixtures/kernel-matrix/init"), rootfs.join("init"))?;
    // The activity trigger, static: every activity kind, and the unrelated-read benchmark.
    run(Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(rootfs.join("bin/ctrail-trigger"))
        .arg(root().join("fixtures/triggers/trigger.c")))?;
    run(Command::new("sh")
        .arg("-c")
        .arg("find . | cpio -o -H newc --quiet | gzip -1 > ../initramfs.cpio.gz")
        .current_dir(&rootfs))?;
    Ok(())
}

/// Downloads a kernel, and appends its `dummy.ko` to the shared initramfs; returns the
/// version (`6.1.0-41-cloud-amd64`).
fn fetch_kernel(work: &Path, series: &str, suite: Option<&str>) -> Result<String> {
    let apt_opts = match suite {
        Some(s) => suite_apt(work, s)?,
        None => Vec::new(),
    };
    let pkg = kernel_package(series, &apt_opts)?;
    run(Command::new("apt-get").args(&apt_opts).args(["download", &pkg]).current_dir(work))?;
    let deb = std::fs::read_dir(work)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&format!("{pkg}_"))))
        .context("the downloaded kernel package")?;
    run(Command::new("sh")
        .arg("-c")
        .arg(format!("dpkg-deb --fsys-tarfile {} | tar -x --wildcards './boot/vmlinuz-*'", deb.display()))
        .current_dir(work))?;
    let version = pkg.trim_start_matches("linux-image-").to_string();
    // A real module of this kernel for the guest to load (module_load): dummy has no
    // dependencies. It rides in a second cpio archive appended to the shared one.
    let extra = work.join(format!("extra-{version}"));
    let _ = std::fs::remove_dir_all(&extra);
    std::fs::create_dir_all(extra.join("modules"))?;
    run(Command::new("sh")
        .arg("-c")
        .arg(format!(
            "dpkg-deb --fsys-tarfile {} | tar -x --wildcards './lib/modules/*/kernel/drivers/net/dummy.ko*' && \
             m=$(find lib -name 'dummy.ko*') && case $m in *.xz) xz -dc $m;; *) cat $m;; esac > modules/dummy.ko && \
             rm -rf lib && find modules | cpio -o -H newc --quiet | gzip -1 > ../extra-{version}.cpio.gz && \
             cat ../initramfs.cpio.gz ../extra-{version}.cpio.gz > ../initramfs-{version}.cpio.gz",
            deb.display()
        ))
        .current_dir(&extra))?;
    Ok(version)
}

/// One guest's verdict, from its serial log.
struct Guest {
    passed: u64,
    failed: Vec<String>,
    report: Vec<String>,
}

fn judge(text: &str, wall_clock: bool) -> Guest {
    let mut failed: Vec<String> =
        text.lines().filter_map(|l| l.strip_prefix("FAIL ")).map(|l| l.trim().to_string()).collect();
    let mut passed = text.lines().filter(|l| l.starts_with("PASS ")).count() as u64;
    let mut report = Vec::new();
    for l in text.lines().filter_map(|l| l.strip_prefix("HOOKS ")) {
        let (rung, hooks) = l.split_once(' ').unwrap_or((l, ""));
        let pick = |key: &str| {
            hooks.split_whitespace().find_map(|h| h.strip_prefix(&format!("{key}="))).unwrap_or("-").to_string()
        };
        report.push(format!("{rung:<10} activity={} seccomp_refusals={}", pick("activity"), pick("seccomp_refusals")));
    }
    // An unrelated read with each rung recording against the runs without a recorder
    // just before it (this host's speed drifts over a boot): the best batch (the read's
    // own path: what a hook adds) and the median batch (what else ran on the one vCPU
    // meanwhile too, chiefly the recorder draining its ring).
    // (rung, its runs, the base runs before it), each run [best, median] ns per read.
    type Runs = Vec<[f64; 2]>;
    let mut paired: Vec<(&str, Runs, Runs)> = Vec::new();
    let mut base: Vec<[f64; 2]> = Vec::new();
    let mut after_base = true;
    for l in text.lines().filter_map(|l| l.strip_prefix("READ ")) {
        let mut parts = l.split_whitespace();
        let (Some(what), Some(Ok(best)), Some(Ok(median))) =
            (parts.next(), parts.next().map(str::parse), parts.next().map(str::parse))
        else {
            continue;
        };
        if what == "base" {
            if !after_base {
                base.clear();
            }
            base.push([best, median]);
            after_base = true;
            continue;
        }
        if after_base || paired.last().is_none_or(|p| p.0 != what) {
            paired.push((what, Vec::new(), base.clone()));
        }
        if let Some(p) = paired.last_mut() {
            p.1.push([best, median]);
        }
        after_base = false;
    }
    let least = |v: &[[f64; 2]], i: usize| v.iter().map(|r| r[i]).fold(f64::INFINITY, f64::min);
    // On the instruction clock the median is the best batch again: one line.
    let kinds: &[(usize, &str)] =
        if wall_clock { &[(0, "best batch"), (1, "median batch")] } else { &[(0, "best batch")] };
    for &(i, which) in kinds {
        let ratios: Vec<String> = paired
            .iter()
            .filter(|p| !p.2.is_empty())
            .map(|p| {
                format!(
                    "{} {:.3}x ({:.0}/{:.0} ns)",
                    p.0,
                    least(&p.1, i) / least(&p.2, i),
                    least(&p.1, i),
                    least(&p.2, i)
                )
            })
            .collect();
        if !ratios.is_empty() {
            report.push(format!(
                "unrelated read, {which}, vs the runs without a recorder before it: {}",
                ratios.join(", ")
            ));
        }
    }
    // Each kind's fields, and the trigger's events less times and ids, alike on every rung.
    for prefix in ["FIELDS ", "VALUES "] {
        let mut by_item: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
        for l in text.lines().filter_map(|l| l.strip_prefix(prefix)) {
            let mut parts = l.splitn(3, ' ');
            let (Some(rung), Some(item)) = (parts.next(), parts.next()) else { continue };
            by_item.entry(item).or_default().push((rung, parts.next().unwrap_or("").trim()));
        }
        for (item, seen) in by_item {
            let Some(&(_, want)) = seen.first() else { continue };
            let differ: Vec<&str> = seen.iter().filter(|(_, v)| *v != want).map(|(r, _)| *r).collect();
            if differ.is_empty() && seen.len() == RUNGS.len() {
                passed += 1;
            } else {
                failed.push(format!(
                    "{} {item}: {} differs from auto ({} rungs reported)",
                    prefix.trim(),
                    differ.join(","),
                    seen.len()
                ));
            }
        }
    }
    if !text.contains("=== END") {
        failed.push("no END marker".into());
    }
    if passed == 0 {
        failed.push("no check passed".into());
    }
    Guest { passed, failed, report }
}

/// Boots each kernel and judges its serial log; returns (checks passed, checks failed).
pub fn kernel_matrix() -> Result<(u64, u64)> {
    apt(&["qemu-system-x86", "cpio", "busybox-static", "xz-utils", "runc"])?;
    build_deps()?;
    run(Command::new("cargo").args(["build", "--release", "-p", "ctrail-recorder", "-p", "ctrail"]))?;
    let work = root().join("target/kernel-matrix");
    std::fs::create_dir_all(&work)?;
    build_rootfs(&work)?;
    run(Command::new("apt-get").arg("update").arg("-q"))?;
    let mut rows = Vec::new();
    let (mut passed_total, mut failed_total) = (0u64, 0u64);
    // CTRAIL_KERNELS=6.1,5.10 boots only those (a developer's loop); CTRAIL_GUEST_DEBUG=1
    // makes the guest print each recorder's whole log (verifier output included).
    let only = std::env::var("CTRAIL_KERNELS").ok();
    let debug = std::env::var_os("CTRAIL_GUEST_DEBUG").is_some();
    let wall_clock = std::env::var("CTRAIL_GUEST_CLOCK").is_ok_and(|v| v == "wall");
    for (series, suite) in KERNELS {
        if only.as_deref().is_some_and(|o| !o.split(',').any(|k| k == series)) {
            continue;
        }
        let version = fetch_kernel(&work, series, suite)?;
        let log_path = work.join(format!("serial-{version}.log"));
        let log = std::fs::File::create(&log_path)?;
        // The guest's clock counts instructions (`-icount shift=0`: one per virtual ns), so
        // its read measurement is the work a read does, the same in every run: on wall time
        // this host's drift moved the same hooks 0.94-1.07x between runs (the trigger's
        // batches, the best of 300, already skip the recorder's own wakeups).
        // CTRAIL_GUEST_CLOCK=wall measures wall time instead.
        // TCG: the /dev/kvm of these machines is not hardware virtualisation. QEMU exits the
        // same way on power-off and on panic, so the serial log is the verdict. One vCPU:
        // with two, TCG now and then lets a CPU run into the int3 of a kernel text patch in
        // progress (static keys flip when runc creates the first memory cgroup) and the
        // guest panics in kmem_cache_alloc, nothing to do with what is tested.
        let _ = Command::new("timeout")
            .arg("900")
            .args(["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-m", "2048", "-smp", "1", "-nic", "none"])
            .arg("-kernel")
            .arg(work.join(format!("boot/vmlinuz-{version}")))
            .arg("-initrd")
            .arg(work.join(format!("initramfs-{version}.cpio.gz")))
            .arg("-append")
            .arg(format!(
                "console=ttyS0 panic=-1 quiet ctrail.rungs={}{}",
                RUNGS.join(","),
                if debug { " ctrail.debug" } else { "" }
            ))
            .args(["-nographic", "-no-reboot"])
            .args(if wall_clock { &[][..] } else { &["-icount", "shift=0"][..] })
            .stdout(log.try_clone()?)
            .stderr(log)
            .status()?;
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let g = judge(&text, wall_clock);
        passed_total += g.passed;
        failed_total += g.failed.len() as u64;
        rows.push(format!("{version:<32} cgroup2 only   {} passed, {} failed", g.passed, g.failed.len()));
        rows.extend(g.report.iter().map(|r| format!("    {r}")));
        rows.extend(g.failed.iter().map(|f| format!("    FAIL {f}")));
    }
    println!("\nkernel matrix (logs in {}):", work.display());
    if !wall_clock {
        println!("(the guests' clock counts instructions, one per ns: read costs are instructions per read)");
    }
    for r in &rows {
        println!("{r}");
    }
    if failed_total > 0 {
        println!("tests: {passed_total} passed, {failed_total} failed");
        bail!("the kernel matrix failed");
    }
    Ok((passed_total, failed_total))
}
