//! `--parquet-dir`: the recorder's own Parquet tree is, file for file and byte for byte,
//! what `ctrail export --format parquet` writes from the same data directory; a kill -9
//! in the middle of writing a file leaves no partial file under a final name, the next
//! start writes what was missing, and a restart writes nothing twice.

use std::{
    collections::BTreeMap,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use ctrail_store::control::{self, Reached};

use crate::helpers::*;

/// Every file under `root` (relative path -> bytes), hidden ones included.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(p.strip_prefix(root).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out
}

fn seal(data: &Path) {
    assert_eq!(control::request(data, control::SEAL, Duration::from_secs(10)), Ok(Reached::Live));
}

fn modes(root: &Path) {
    for e in walkdir(root) {
        let m = std::fs::symlink_metadata(&e).unwrap();
        let want = if m.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(m.permissions().mode() & 0o777, want, "{}", e.display());
        assert_eq!(m.uid(), 0, "{}", e.display());
    }
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(walkdir(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn the_recorders_parquet_tree_is_the_offline_export_and_survives_a_kill_9_mid_write() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let out = tempfile::tempdir().unwrap();
    let root = out.path().join("tree");
    let root_s = root.to_str().unwrap().to_string();
    let m = marker("pqdir");

    // The first file of the first sealed segment: written, and the recorder killed (abort)
    // before the rename.
    let dir = tempfile::tempdir().unwrap();
    let mut rec =
        Recorder::start_in_env(dir, &["--parquet-dir", &root_s], &[("CTRAIL_STORE_CRASH_AT", "parquet:written")]);
    let data = rec.data();
    assert!(run(Command::new("/bin/true").arg(format!("{m}-a"))).success());
    let _ = control::request(&data, control::SEAL, Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(20);
    while rec.alive() {
        assert!(Instant::now() < deadline, "the crash point was never reached:\n{}", rec.log.lock().unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = rec.abandon();
    let left = tree(&root);
    assert!(!left.is_empty(), "the crash came after a file was written");
    for p in left.keys() {
        let name = p.file_name().unwrap().to_string_lossy();
        assert!(name.starts_with('.') && name.ends_with(".parquet.tmp"), "a file under a final name: {}", p.display());
    }

    // The next start writes what was missing; then more, sealed, and an orderly stop.
    let rec = Recorder::start_in(dir, &["--parquet-dir", &root_s]);
    assert!(run(Command::new("/bin/true").arg(format!("{m}-b"))).success());
    seal(&data);
    // The last segment goes in at the stop (no merge can take it after that).
    assert!(run(Command::new("/bin/true").arg(format!("{m}-c"))).success());
    let (stored, log) = rec.stop();
    assert!(!log.contains("Parquet tree") || !log.contains("ERROR"), "{log}");
    let first = tree(&root);
    assert!(first.keys().all(|p| !p.to_string_lossy().ends_with(".tmp")), "a temporary file stayed: {first:?}");
    let events: Vec<_> = first.keys().filter(|p| p.starts_with("events")).collect();
    // Segment 0 (a, written at the restart), 1 (what the crash left: nothing), 2 (b), 3 (c).
    assert!(events.len() >= 3, "an events file per segment with events: {events:?}");
    modes(&root);

    // The same data directory exported offline: the same files, byte for byte.
    let offline = out.path().join("offline");
    let o = Command::new(ctrail_bin())
        .args(["export", "--format", "parquet", "--out"])
        .arg(&offline)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let exported = tree(&offline);
    let names = |t: &BTreeMap<PathBuf, Vec<u8>>| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&first), names(&exported), "the same files");
    for (p, bytes) in &first {
        assert!(bytes == &exported[p], "{} differs from the offline export", p.display());
    }
    for tag in ["a", "b", "c"] {
        assert_eq!(stored.execs_with(&format!("{m}-{tag}")).len(), 1, "{tag} recorded");
    }
    // A restart writes nothing again: every file keeps its inode and mtime.
    let stamp = |t: &BTreeMap<PathBuf, Vec<u8>>| -> BTreeMap<PathBuf, (u64, i64, i64)> {
        t.keys()
            .map(|p| {
                let md = std::fs::metadata(root.join(p)).unwrap();
                (p.clone(), (md.ino(), md.mtime(), md.mtime_nsec()))
            })
            .collect()
    };
    let before = stamp(&first);
    let rec = Recorder::start_in(stored.dir, &["--parquet-dir", &root_s]);
    let (_again, _) = rec.stop();
    let after = stamp(&first);
    assert_eq!(before, after, "a restart rewrote files already in the tree");
    eprintln!("--parquet-dir wrote {} files, the offline export the same {}", first.len(), exported.len());
}
