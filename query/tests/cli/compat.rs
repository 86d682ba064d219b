//! Stores written by earlier versions read the same today (`fixtures/stores/`).
//!
//! Each fixture directory holds a data directory written by that version's own code
//! (`common/examples/fixture_store.rs` at the commit it names) and what that version's
//! `ctrail` printed for it. Today's output must carry every key with the same value; new
//! keys may appear (adding a key is compatible, see docs/output-format.md).

use std::path::PathBuf;

use serde_json::Value;

use crate::helpers::*;

fn fixtures() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/stores");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("data").is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no stores in {}", root.display());
    dirs
}

/// Every key of `then` is in `now` with an equal value, recursively.
fn carries(now: &Value, then: &Value, at: &str, problems: &mut Vec<String>) {
    match (now, then) {
        (Value::Object(n), Value::Object(t)) => {
            for (k, tv) in t {
                match n.get(k) {
                    Some(nv) => carries(nv, tv, &format!("{at}.{k}"), problems),
                    None => problems.push(format!("{at}.{k}: missing (was {tv})")),
                }
            }
        }
        _ if now != then => problems.push(format!("{at}: {now} (was {then})")),
        _ => {}
    }
}

fn check(dir: &std::path::Path, args: &[&str], expected_file: &str) -> Vec<String> {
    let data = dir.join("data");
    let mut full = args.to_vec();
    full.extend(["--data-dir", data.to_str().unwrap(), "--format", "json"]);
    let o = ctrail(&full);
    assert_eq!(o.status.code(), Some(0), "{}: ctrail {args:?}: {}", dir.display(), stderr(&o));
    let now = json_lines(&o);
    let then: Vec<Value> = std::fs::read_to_string(dir.join(expected_file))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut problems = Vec::new();
    if now.len() != then.len() {
        problems.push(format!("{expected_file}: {} rows now, {} then", now.len(), then.len()));
    }
    for (i, (n, t)) in now.iter().zip(&then).enumerate() {
        carries(n, t, &format!("{expected_file}[{i}]"), &mut problems);
    }
    problems.into_iter().map(|p| format!("{}: {p}", dir.display())).collect()
}

#[test]
fn stores_written_by_earlier_versions_read_the_same() {
    let mut problems = Vec::new();
    for dir in fixtures() {
        problems.extend(check(&dir, &["events"], "events.jsonl"));
        problems.extend(check(&dir, &["containers"], "containers.jsonl"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A store written with a chain (format 2 and later) still verifies: today's `ctrail verify`
/// reads the chain lines and segment hashes that version wrote.
#[test]
fn chains_written_by_earlier_versions_verify() {
    let chained: Vec<PathBuf> = fixtures().into_iter().filter(|d| d.join("data/chain").is_file()).collect();
    assert!(!chained.is_empty(), "no fixture with a chain");
    for dir in chained {
        let o = ctrail(&["verify", "--data-dir", dir.join("data").to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}: {}{}", dir.display(), stdout(&o), stderr(&o));
    }
}
