//! `ctrail export --format parquet`: the fleet layout, names that a second export repeats
//! byte for byte, recorded host names escaped into one path component, exit codes. What
//! engines read from it is tested with real engines in the recorder's root tests (fleet.rs).

use std::{collections::BTreeMap, fs, path::Path};

use crate::helpers::*;

/// Every file under `root`, relative, with its bytes.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.strip_prefix(root).unwrap().display().to_string(), fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn parquet_export_writes_the_fleet_layout_and_again_the_same_bytes() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    sample_store(&data);
    let out = d.path().join("fleet");
    let export = |extra: &[&str]| {
        let mut a =
            vec!["export", "--format", "parquet", "--data-dir", data.to_str().unwrap(), "--out", out.to_str().unwrap()];
        a.extend_from_slice(extra);
        ctrail(&a)
    };
    let o = export(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let first = tree(&out);
    assert!(!first.is_empty());
    for name in first.keys() {
        let parts: Vec<&str> = name.split('/').collect();
        assert_eq!(parts.len(), 4, "{name}");
        assert!(["events", "containers", "gaps"].contains(&parts[0]), "{name}");
        assert!(parts[1].starts_with("dt=2026-11-29"), "{name}");
        assert_eq!(parts[2], "host=test", "{name}");
        assert!(parts[3].starts_with("b0-") && parts[3].ends_with(".parquet"), "{name}");
    }
    let tables: std::collections::BTreeSet<&str> = first.keys().map(|n| n.split('/').next().unwrap()).collect();
    assert!(tables.contains("events") && tables.contains("containers"), "{tables:?}");
    for bytes in first.values() {
        assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let f = out.join(first.keys().next().unwrap());
        assert_eq!(fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600, "command lines inside");
    }
    // Again: the same names and the same bytes, nothing left under a temporary name.
    let o = export(&[]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(tree(&out), first, "a second export is the first, byte for byte");
    // Nothing matches: nothing written, exit 1.
    let empty = d.path().join("empty");
    let o = ctrail(&[
        "export",
        "--format",
        "parquet",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        empty.to_str().unwrap(),
        "--pid",
        "999999",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!empty.join("events").exists());
}
