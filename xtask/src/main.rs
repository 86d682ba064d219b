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
//! - `kernel-matrix`: boot Debian's current 5.10, 6.1 and 6.12 cloud kernels under QEMU (TCG)
//!   with pure cgroup v2, run the recorder (once per activity rung) and the query tool
//!   inside, and judge the serial logs.

use std::{
    env,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
    time::Instant,
};

use anyhow::{Context, Result, bail};

mod deps;
mod kernel_matrix;

use kernel_matrix::kernel_matrix;

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

pub(crate) fn run(cmd: &mut Command) -> Result<()> {
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
pub(crate) fn apt(packages: &[&str]) -> Result<()> {
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
pub(crate) fn build_deps() -> Result<()> {
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

pub(crate) fn shell(cmd: &str) -> String {
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
