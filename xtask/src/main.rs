//! Developer tasks: `cargo xtask <task>`.
//!
//! - `record [--] [RECORDER ARGS...]`: install what a build needs, build in release, and start
//!   `ctrail-recorder run` in the foreground (the README's first command).
//! - `test`: the whole test suite, as CI runs it: dependencies, formatting, lints, every
//!   crate's tests (root tests load BPF into this kernel and start real containers),
//!   a bounded fuzzing run, and (as root) the kernel matrix.
//! - `fuzz [SECONDS]`: fuzz the cgroup-file parser and classifier for a bounded time.
//! - `bench`: benchmarks, printing ratios against a baseline measured in the same run.
//! - `vmlinux`: regenerate the vendored `recorder-ebpf/include/vmlinux.h` from this kernel.
//! - `image`: the container image (`dist/image/build.sh`) from release binaries, as
//!   `target/image/ctrail-image.tar` (docker load, podman load, ctr images import).
//! - `deb`: the Debian package (`dist/deb/build.sh`) from release binaries, in `target/deb/`.
//! - `deps`: check the crates' dependency rules (ARCHITECTURE.md) against the manifests.
//! - `kernel-matrix`: boot Debian's current 6.1 and 6.12 cloud kernels under QEMU (TCG) with
//!   pure cgroup v2, run the recorder and the query tool inside, and judge the serial logs.

use std::{
    env,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
    time::Instant,
};

use anyhow::{Context, Result, bail};

mod deps;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    eprintln!("xtask: {shown}");
    if cmd.get_current_dir().is_none() {
        cmd.current_dir(root());
    }
    let status = cmd.status().with_context(|| format!("starting {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

fn have(program: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {program} >/dev/null")]).status().is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// Debian packages, installed only when missing (apt-get update first: a fresh machine
/// has no package lists).
fn apt(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !Command::new("dpkg").args(["-s", p]).output().is_ok_and(|o| o.status.success()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        bail!("missing Debian packages {missing:?}: install them (apt-get install {})", missing.join(" "));
    }
    run(Command::new("apt-get").args(["update", "-q"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=600"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// What building the kernel programs needs: clang only (headers are vendored).
fn build_deps() -> Result<()> {
    if env::var_os("CLANG").is_some() || have("clang") {
        return Ok(());
    }
    apt(&["clang"])
}

fn record(args: &[String]) -> Result<()> {
    build_deps()?;
    run(Command::new("cargo").args(["build", "--release", "-p", "ctrail-recorder", "-p", "ctrail"]))?;
    let bin = root().join("target/release/ctrail-recorder");
    eprintln!("xtask: starting {} (Ctrl-C stops it; query with target/release/ctrail)", bin.display());
    let mut cmd = Command::new(&bin);
    // `cargo xtask record -- --data-dir D`, as cargo users write it: the `--` is cargo's
    // separator, not the recorder's.
    let args = args.strip_prefix(&["--".to_string()]).unwrap_or(args);
    cmd.arg("run").args(args);
    use std::os::unix::process::CommandExt;
    Err(cmd.exec()).with_context(|| format!("exec {}", bin.display()))
}

fn test() -> Result<()> {
    let t0 = Instant::now();
    build_deps()?;
    // util-linux for setpriv/unshare/nsenter, python3 for the OCI image builder.
    // tmux: the CLI's tables are tested in a real 100-column terminal; prometheus: a real
    // server scrapes the recorder's --metrics.
    apt(&["util-linux", "python3", "tmux", "prometheus"])?;
    if is_root() {
        // The real-container tests install their runtimes themselves; doing it here first
        // keeps apt's minute out of the tests' timing.
        run(Command::new("bash").args(["fixtures/containers/ctl.sh", "install"]))?;
    } else {
        eprintln!("xtask: not root: the kernel and container tests will be skipped (CI runs them as root)");
    }
    run(Command::new("cargo").args(["fmt", "--all", "--check"]))?;
    run(Command::new("cargo").args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;
    deps::check()?;
    // One test thread per binary where it matters is handled inside the tests (a lock
    // serialises recorders); binaries run one after another.
    let table = root().join("target/tmp/runtimes-table.txt");
    let _ = std::fs::remove_file(&table);
    let (mut passed, mut failed) = cargo_test()?;
    if let Ok(t) = std::fs::read_to_string(&table) {
        println!("\nreal containers, recorded and replayed:\n{t}");
    }
    fuzz(30)?;
    if is_root() {
        // Older kernels with pure cgroup v2, booted under QEMU: the same binaries must work.
        let (p, f) = kernel_matrix()?;
        passed += p;
        failed += f;
    }
    eprintln!("xtask: test suite passed in {:.0?}", t0.elapsed());
    // The closing line CI reads: the sum over every test binary.
    println!("tests: {passed} passed, {failed} failed");
    Ok(())
}

/// `cargo test --workspace`, echoing its output and summing its `test result:` lines.
fn cargo_test() -> Result<(u64, u64)> {
    use std::io::{BufRead, BufReader};
    eprintln!("xtask: cargo test --workspace");
    let mut child = Command::new("cargo")
        .args(["test", "--workspace"])
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("starting cargo test")?;
    let (mut passed, mut failed) = (0, 0);
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            let count = |what: &str| {
                rest.split(';')
                    .find_map(|p| p.trim().strip_suffix(what)?.trim().rsplit(' ').next()?.parse::<u64>().ok())
            };
            passed += count("passed").unwrap_or(0);
            failed += count("failed").unwrap_or(0);
        }
    }
    let status = child.wait()?;
    if !status.success() {
        println!("tests: {passed} passed, {failed} failed");
        bail!("cargo test failed ({status})");
    }
    Ok((passed, failed))
}

fn fuzz(seconds: u64) -> Result<()> {
    // cargo-fuzz needs a nightly toolchain (sanitizer flags); it is the one external tool.
    if !Command::new("cargo").args(["+nightly", "--version"]).output().is_ok_and(|o| o.status.success()) {
        bail!("fuzzing needs a nightly toolchain (rustup toolchain install nightly)");
    }
    if !Command::new("cargo").args(["fuzz", "--version"]).output().is_ok_and(|o| o.status.success()) {
        run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    let corpus = root().join("target/fuzz-corpus/cgroup_file");
    std::fs::create_dir_all(&corpus)?;
    // Seed with every fixture so the fuzzer starts from real shapes.
    for entry in std::fs::read_dir(root().join("fixtures/cgroup-cases"))? {
        let p = entry?.path();
        std::fs::copy(&p, corpus.join(p.file_name().expect("file name")))?;
    }
    // libFuzzer is chatty: its log goes to a file, and only its verdict to the console.
    let log_path = root().join("target/fuzz-cgroup_file.log");
    let log = std::fs::File::create(&log_path)?;
    eprintln!("xtask: cargo +nightly fuzz run cgroup_file ({seconds}s, log in {})", log_path.display());
    let status = Command::new("cargo")
        .args(["+nightly", "fuzz", "run", "cgroup_file"])
        .arg(&corpus)
        .args(["--", &format!("-max_total_time={seconds}"), "-rss_limit_mb=2048"])
        .current_dir(root())
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()
        .context("starting cargo fuzz")?;
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let keep = if status.success() { 1 } else { 40 };
    let tail: Vec<&str> = text.lines().rev().take(keep).collect();
    for l in tail.iter().rev() {
        eprintln!("fuzz: {l}");
    }
    if !status.success() {
        bail!("fuzzing found a failure (full log: {})", log_path.display());
    }
    Ok(())
}

/// Runs one bench, echoing and returning its standard output (its progress goes to stderr).
fn bench_output(package: &str, bench: &str) -> Result<String> {
    eprintln!("xtask: cargo bench -p {package} --bench {bench}");
    let out = Command::new("cargo")
        .args(["bench", "-q", "-p", package, "--bench", bench])
        .current_dir(root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("starting the {bench} bench"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{text}");
    if !out.status.success() {
        bail!("the {bench} bench failed ({})", out.status);
    }
    Ok(text)
}

fn shell(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Every benchmark, each against a baseline measured in the same run, written as the
/// markdown report BENCHMARKS.md (commit it). Installs what it compares against.
fn bench() -> Result<()> {
    apt(&["auditd", "bpftrace"])?;
    build_deps()?;
    let started = shell("date -u +%Y-%m-%dT%H:%M:%SZ");
    let storm = bench_output("ctrail-recorder", "exec_storm")?;
    let containers = bench_output("ctrail-recorder", "containers")?;
    let syscalls = bench_output("ctrail-recorder", "syscalls")?;
    let ingest = bench_output("ctrail-store", "ingest")?;
    let store = bench_output("ctrail", "store")?;
    let classify = bench_output("ctrail-classify", "classify")?;
    let machine = format!(
        "{} ({} CPUs), {} of memory, Linux {}, {}",
        shell("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'"),
        shell("nproc"),
        shell("free -h | awk '/^Mem:/ {print $2}'"),
        shell("uname -r"),
        shell(". /etc/os-release && echo $PRETTY_NAME"),
    );
    let notes = std::fs::read_to_string(root().join("docs/benchmark-notes.md")).unwrap_or_default();
    let report = format!(
        "# Benchmarks\n\nProduced by `cargo xtask bench` (as root) on {started}, commit `{}`.\n\n\
         Machine: {machine}.\n\n\
         Every number is measured in the same run as its baseline, rounds interleaved where \
         they compare tracers; these machines are noisy, so read ratios rather than absolutes.\n\n\
         {notes}\n## Exec storms: overhead, loss, CPU and memory\n\n{storm}\n\
         ## Containers: runtime metadata, and a storm inside one\n\n{containers}\n\
         ## System call overhead\n\n```\n{syscalls}```\n\n## Store: ingest and queries\n\n{ingest}\n{store}\n\
         ## Classifier\n\n```\n{classify}```\n",
        shell("git rev-parse --short HEAD"),
    );
    std::fs::write(root().join("BENCHMARKS.md"), report)?;
    eprintln!("xtask: wrote {}", root().join("BENCHMARKS.md").display());
    Ok(())
}

/// The newest Debian cloud kernel package of a series, resolved now (old ABIs leave the mirror).
fn kernel_package(series: &str) -> Result<String> {
    // `^linux-image-6\.1\.` must not match 6.12.
    let pattern = format!("^linux-image-{}\\.", series.replace('.', "\\."));
    let out = Command::new("apt-cache").args(["search", "--names-only", &pattern]).output()?;
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

/// Boots each kernel and judges its serial log; returns (checks passed, checks failed).
fn kernel_matrix() -> Result<(u64, u64)> {
    apt(&["qemu-system-x86", "cpio", "busybox-static", "xz-utils", "runc"])?;
    build_deps()?;
    run(Command::new("cargo").args(["build", "--release", "-p", "ctrail-recorder", "-p", "ctrail"]))?;
    let work = root().join("target/kernel-matrix");
    let rootfs = work.join("rootfs");
    let _ = std::fs::remove_dir_all(&rootfs);
    for d in ["bin", "sys", "proc", "dev", "tmp", "data", "lib64", "lib/x86_64-linux-gnu"] {
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
    // The activity trigger, static: bpf loads and TCP connects to record in the guest.
    run(Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(rootfs.join("bin/ctrail-trigger"))
        .arg(root().join("fixtures/triggers/trigger.c")))?;
    run(Command::new("sh")
        .arg("-c")
        .arg("find . | cpio -o -H newc --quiet | gzip -1 > ../initramfs.cpio.gz")
        .current_dir(&rootfs))?;
    run(Command::new("apt-get").arg("update").arg("-q"))?;
    let mut rows = Vec::new();
    let mut failed = false;
    let (mut passed_total, mut failed_total) = (0u64, 0u64);
    for series in ["6.1", "6.12"] {
        let pkg = kernel_package(series)?;
        run(Command::new("apt-get").args(["download", &pkg]).current_dir(&work))?;
        let deb = std::fs::read_dir(&work)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&format!("{pkg}_"))))
            .context("the downloaded kernel package")?;
        run(Command::new("sh")
            .arg("-c")
            .arg(format!("dpkg-deb --fsys-tarfile {} | tar -x --wildcards './boot/vmlinuz-*'", deb.display()))
            .current_dir(&work))?;
        let version = pkg.trim_start_matches("linux-image-");
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
        let log_path = work.join(format!("serial-{version}.log"));
        let log = std::fs::File::create(&log_path)?;
        // TCG: the /dev/kvm of these machines is not hardware virtualisation. QEMU exits the
        // same way on power-off and on panic, so the serial log is the verdict. One vCPU:
        // with two, TCG now and then lets a CPU run into the int3 of a kernel text patch in
        // progress (static keys flip when runc creates the first memory cgroup) and the
        // guest panics in kmem_cache_alloc, nothing to do with what is tested.
        let _ = Command::new("timeout")
            .arg("600")
            .args(["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-m", "2048", "-smp", "1", "-nic", "none"])
            .arg("-kernel")
            .arg(work.join(format!("boot/vmlinuz-{version}")))
            .arg("-initrd")
            .arg(work.join(format!("initramfs-{version}.cpio.gz")))
            .args(["-append", "console=ttyS0 panic=-1 quiet", "-nographic", "-no-reboot"])
            .stdout(log.try_clone()?)
            .stderr(log)
            .status()?;
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let pass = text.lines().filter(|l| l.starts_with("PASS ")).count();
        let fail = text.lines().filter(|l| l.starts_with("FAIL ")).count();
        let ended = text.contains("=== END");
        let hooks =
            text.lines().find_map(|l| l.split("hooks: ").nth(1)).unwrap_or("(recorder did not start)").to_string();
        if fail > 0 || pass == 0 || !ended {
            failed = true;
        }
        passed_total += pass as u64;
        failed_total += fail as u64 + u64::from(!ended || pass == 0);
        rows.push(format!(
            "{version:<32} cgroup2 only   {pass} passed, {fail} failed{}\n    hooks: {hooks}",
            if ended { "" } else { " (no END marker)" }
        ));
    }
    println!("\nkernel matrix (logs in {}):", work.display());
    for r in &rows {
        println!("{r}");
    }
    if failed {
        println!("tests: {passed_total} passed, {failed_total} failed");
        bail!("the kernel matrix failed");
    }
    Ok((passed_total, failed_total))
}

fn vmlinux() -> Result<()> {
    if !have("bpftool") {
        apt(&["bpftool"])?;
    }
    let out = Command::new("bpftool")
        .args(["btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"])
        .output()
        .context("running bpftool")?;
    if !out.status.success() {
        bail!("bpftool failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let path = root().join("recorder-ebpf/include/vmlinux.h");
    std::fs::write(&path, out.stdout)?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

fn image() -> Result<()> {
    build_deps()?;
    apt(&["python3"])?;
    run(Command::new("cargo").args(["build", "--release", "-p", "ctrail-recorder", "-p", "ctrail"]))?;
    run(Command::new("bash")
        .arg(root().join("dist/image/build.sh"))
        .arg(root().join("target/release"))
        .arg(root().join("target/image")))
}

fn deb() -> Result<()> {
    build_deps()?;
    run(Command::new("cargo").args(["build", "--release", "-p", "ctrail-recorder", "-p", "ctrail"]))?;
    run(Command::new("bash")
        .arg(root().join("dist/deb/build.sh"))
        .arg(root().join("target/release"))
        .arg(root().join("target/deb")))
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("record") => record(&args[1..]),
        Some("test") => test(),
        Some("fuzz") => {
            args.get(1).map(|s| s.parse()).transpose().map_err(Into::into).and_then(|s| fuzz(s.unwrap_or(60)))
        }
        Some("bench") => bench(),
        Some("vmlinux") => vmlinux(),
        Some("kernel-matrix") => kernel_matrix().map(|_| ()),
        Some("deps") => deps::check(),
        Some("deb") => deb(),
        Some("image") => image(),
        _ => {
            eprintln!(
                "usage: cargo xtask record [-- ARGS...] | test | fuzz [SECONDS] | bench | vmlinux | kernel-matrix | deps | deb | image"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}
