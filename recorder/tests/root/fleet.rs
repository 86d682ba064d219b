//! Three hosts' real recordings exported as Parquet and asked the fleet questions by real
//! engines from PyPI (DuckDB, chDB, PySpark in local mode), in a virtualenv made here: each
//! must return exactly what `ctrail events` returns over the three stores.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use serde_json::Value;

use crate::helpers::*;

/// A virtualenv with the engines, made once per run under the target dir.
fn engines_python() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("engines-venv");
        let python = venv.join("bin/python3");
        if !python.exists() {
            assert!(run(Command::new("python3").args(["-m", "venv"]).arg(&venv)).success(), "python3 -m venv");
        }
        let o = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "duckdb", "chdb", "pyspark"])
            .output()
            .expect("run pip");
        assert!(o.status.success(), "pip install duckdb chdb pyspark: {}", String::from_utf8_lossy(&o.stderr));
        python
    })
}

/// One row of an answer: host, time ns, pid, type.
type Answer = BTreeSet<(String, i64, i64, String)>;

fn answer(v: &Value) -> Answer {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_string(),
                r[1].as_i64().unwrap(),
                r[2].as_i64().unwrap(),
                r[3].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// What `ctrail events` says over one host's store, as the engines' rows.
fn ctrail_rows(data: &Path, host: &str, args: &[&str]) -> Answer {
    let (code, rows) = ctrail(data, args);
    assert!(code == 0 || code == 1, "ctrail {args:?}: exit {code}");
    rows.iter()
        .filter(|r| r["type"] != "gap")
        .map(|r| {
            let t = r["time"].as_str().unwrap();
            (host.to_string(), rfc3339_ns(t), r["pid"].as_i64().unwrap(), r["type"].as_str().unwrap().to_string())
        })
        .collect()
}

/// `2026-12-02T04:05:06.123456789Z` as ns since the epoch.
fn rfc3339_ns(t: &str) -> i64 {
    let o = Command::new("date").args(["-u", "-d", t, "+%s%N"]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
}

#[test]
fn three_hosts_in_parquet_answer_the_fleet_questions_in_three_engines() {
    if !need_root() {
        return;
    }
    let python = engines_python();
    let _g = serial();
    let id = "f1ee7f1ee7f1ee7f1ee7f1ee7f1ee7f1ee7f1ee7f1ee7f1ee7f1ee7f1ee7f1ee";
    let bin = tempfile::tempdir().unwrap();
    let x = std::fs::canonicalize(bin.path()).unwrap().join("fleet-x");
    std::fs::copy("/bin/true", &x).unwrap();
    let x = x.to_str().unwrap().to_string();
    let m = marker("fleet");
    let tree = tempfile::tempdir().unwrap();
    let root = tree.path().to_str().unwrap().to_string();
    let mut stores = Vec::new();
    for host in ["alpha", "beta", "gamma.example"] {
        let cg = FakeCgroup::new(&format!("/docker/{id}"));
        let rec = Recorder::start(&["--host-name", host]);
        for _ in 0..2 {
            assert!(run(Command::new("sh").arg("-c").arg(format!("{}exec /bin/true {m}", cg.enter()))).success());
        }
        assert!(run(Command::new(&x).arg(&m)).success());
        let (s, _) = rec.stop();
        drop(cg);
        let data = s.dir.path().join("data");
        let o = Command::new(ctrail_bin())
            .args(["export", "--format", "parquet", "--out", &root, "--data-dir"])
            .arg(&data)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "export: {}", String::from_utf8_lossy(&o.stderr));
        stores.push((host, s));
    }
    // The layout of the contract.
    for host in ["alpha", "beta", "gamma.example"] {
        let dirs: Vec<_> = std::fs::read_dir(tree.path().join("events"))
            .unwrap()
            .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
            .map(|d| d.unwrap().path())
            .filter(|p| p.file_name().unwrap() == format!("host={host}").as_str())
            .collect();
        assert!(!dirs.is_empty(), "no host={host} directory under events/dt=*/");
    }
    // The window: the whole recording, as ctrail's own --since/--until forms.
    let (since_ns, until_ns) = (0i64, i64::MAX);
    let mut want_container = Answer::new();
    let mut want_exe = Answer::new();
    for (host, s) in &stores {
        let data = s.dir.path().join("data");
        want_container.extend(ctrail_rows(&data, host, &["events", "--container", id]));
        want_exe.extend(ctrail_rows(&data, host, &["events", "--type", "exec", "--exe", &x]));
    }
    assert!(want_container.len() >= 6, "two execs and their exits per host, at least: {want_container:?}");
    assert_eq!(want_exe.len(), 3, "one exec of X per host: {want_exe:?}");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/engines/query.py");
    for engine in ["duckdb", "chdb", "spark"] {
        let o = Command::new(python)
            .arg(&script)
            .args([engine, &root, id, &since_ns.to_string(), &until_ns.to_string(), &x])
            .output()
            .unwrap();
        assert!(o.status.success(), "{engine}: {}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(o.stdout.rsplit(|&b| b == b'\n').find(|l| !l.is_empty()).unwrap())
            .unwrap_or_else(|e| panic!("{engine} printed {}: {e}", String::from_utf8_lossy(&o.stdout)));
        assert_eq!(answer(&v["container"]), want_container, "{engine}: one container, every host");
        assert_eq!(answer(&v["exe"]), want_exe, "{engine}: every exec of {x}");
        if engine == "duckdb"
            && let Ok(id) = std::fs::read_to_string("/etc/machine-id")
        {
            assert_eq!(v["machines"], serde_json::json!([id.trim()]), "every row names this machine");
        }
    }
}
