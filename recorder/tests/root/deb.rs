//! The Debian package (`dist/deb/build.sh`, `cargo xtask deb`): it installs here, upgrades
//! over itself and purges cleanly; `systemd-analyze verify` accepts its unit once it is
//! installed; `man ctrail` finds its page; the data directory is 0700; purge removes the
//! recorded history unless `CTRAIL_KEEP_DATA=1` says to keep it.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use crate::helpers::*;

const DATA: &str = "/var/lib/ctrail";

fn sh(cmd: &mut Command) -> (bool, String) {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

fn ok(cmd: &mut Command) -> String {
    let (good, out) = sh(cmd);
    assert!(good, "{cmd:?}:\n{out}");
    out
}

/// A data directory this machine already had is moved aside for the test and put back.
struct Aside(Option<PathBuf>);
impl Drop for Aside {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "ctrail"]).env("CTRAIL_KEEP_DATA", "0").output();
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_dir_all(DATA);
            let _ = std::fs::rename(p, DATA);
        }
    }
}

#[test]
fn the_debian_package_installs_upgrades_and_purges_cleanly() {
    if !need_root() {
        return;
    }
    let (installed, _) = sh(Command::new("dpkg").args(["-s", "ctrail"]));
    assert!(!installed, "a ctrail package is installed on this machine already: not touching it");
    let _g = serial();
    let aside = Path::new(DATA).exists().then(|| {
        let to = PathBuf::from(format!("{DATA}.before-deb-test-{}", std::process::id()));
        std::fs::rename(DATA, &to).unwrap();
        to
    });
    let _restore = Aside(aside);
    let bins = PathBuf::from(env!("CARGO_BIN_EXE_ctrail-recorder")).parent().unwrap().to_path_buf();
    assert!(bins.join("ctrail").exists(), "ctrail is built beside the recorder");
    let out = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist/deb/build.sh");
    // gzip: the test's debug binaries are large, and xz is slow.
    let deb = ok(Command::new("bash").arg(&script).arg(&bins).arg(out.path()).env("DPKG_DEB_COMPRESSOR_TYPE", "gzip"));
    let deb = deb.trim().lines().last().unwrap().to_string();

    ok(Command::new("dpkg").args(["-i", &deb]));
    for f in [
        "/usr/bin/ctrail",
        "/usr/bin/ctrail-recorder",
        "/lib/systemd/system/ctrail-recorder.service",
        "/etc/ctrail/recorder.toml",
    ] {
        assert!(Path::new(f).exists(), "{f} installed");
    }
    let mode = std::fs::metadata(DATA).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the data directory holds command lines");
    ok(Command::new("systemd-analyze").args(["verify", "/lib/systemd/system/ctrail-recorder.service"]));
    let man = ok(Command::new("man").args(["-w", "ctrail"]));
    assert!(man.contains("ctrail.1"), "{man}");
    let page = ok(Command::new("man").args(["-P", "cat", "ctrail-recorder-run"]).env("MANWIDTH", "80"));
    assert!(page.contains("parquet-dir") && page.contains("metrics"), "the run page is the binary's help:\n{page}");
    ok(Command::new("man").args(["-w", "ctrail-events"]));
    assert!(ok(Command::new("/usr/bin/ctrail").arg("--version")).contains("ctrail"));

    // Upgrade over itself: the user's configuration and data stay.
    std::fs::write("/etc/ctrail/recorder.toml", "host-name = \"kept\"\n").unwrap();
    std::fs::write(format!("{DATA}/marker"), b"history").unwrap();
    ok(Command::new("dpkg").args(["--force-confold", "-i", &deb]));
    assert_eq!(std::fs::read_to_string("/etc/ctrail/recorder.toml").unwrap(), "host-name = \"kept\"\n");
    assert!(Path::new(&format!("{DATA}/marker")).exists());

    // Purge, told to keep the data: everything installed goes, the history stays.
    ok(Command::new("dpkg").args(["--purge", "ctrail"]).env("CTRAIL_KEEP_DATA", "1"));
    for f in
        ["/usr/bin/ctrail", "/usr/bin/ctrail-recorder", "/lib/systemd/system/ctrail-recorder.service", "/etc/ctrail"]
    {
        assert!(!Path::new(f).exists(), "{f} left after purge");
    }
    assert!(Path::new(&format!("{DATA}/marker")).exists(), "CTRAIL_KEEP_DATA=1 keeps the history");
    // Purge without it: the history goes too.
    ok(Command::new("dpkg").args(["-i", &deb]));
    ok(Command::new("dpkg").args(["--purge", "ctrail"]));
    assert!(!Path::new(DATA).exists(), "purge removes the recorded data unless told to keep it");
    let (still, _) = sh(Command::new("dpkg").args(["-s", "ctrail"]));
    assert!(!still);
}
