//! `--metrics`: a real Prometheus server (Debian's package) scrapes the recorder, and what
//! its HTTP API answers for stored and lost events equals the recorder's stop line.

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use ctrail_store::control;

use crate::helpers::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GET over HTTP/1.0 (no chunking): the body.
fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

/// One PromQL value through Prometheus's HTTP API, when it has one.
fn query(port: u16, promql: &str) -> Option<f64> {
    let q: String = promql
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'_' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let body = get(port, &format!("/api/v1/query?query={q}"))?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

/// `name=N` in the stop line, summed over `names`.
fn stop_line_sum(log: &str, section: &str, names: &[&str]) -> f64 {
    let line = log.lines().find(|l| l.contains("stopped: ")).unwrap_or_else(|| panic!("no stop line:\n{log}"));
    let part = line.split(section).nth(1).unwrap_or_else(|| panic!("no {section:?} in {line}"));
    let part = part.split(';').next().unwrap().split(", filtered").next().unwrap();
    names
        .iter()
        .map(|n| {
            part.split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{n}=")))
                .and_then(|v| v.trim_end_matches(',').parse::<f64>().ok())
                .unwrap_or_else(|| panic!("no {n}= in {part}"))
        })
        .sum()
}

#[test]
fn prometheus_scrapes_the_recorder_and_agrees_with_its_stop_line() {
    if !need_root() {
        return;
    }
    assert!(
        Command::new("prometheus").arg("--version").output().is_ok_and(|o| o.status.success()),
        "prometheus is not installed (cargo xtask test installs Debian's package)"
    );
    let _g = serial();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    // Containers only: the host's own processes (Prometheus among them) are not stored, so
    // the counts stand still once the workload is done.
    let rec = Recorder::start(&["--scope", "containers", "--metrics", &addr]);
    let id = "4d0f3e1c9b2a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e";
    let cg = FakeCgroup::new(&format!("/docker/{id}"));
    let m = marker("metrics");
    for _ in 0..5 {
        assert!(run(Command::new("sh").arg("-c").arg(format!("{}exec /bin/true {m}", cg.enter()))).success());
    }
    assert_eq!(control::request(&rec.data(), control::FLUSH, Duration::from_secs(10)), Ok(control::Reached::Live));
    let ours = get(port, "/metrics").expect("the recorder serves /metrics");
    assert!(
        ours.contains("ctrail_events_stored_total{kind=\"exec\"}") && ours.contains("ctrail_events_lost_total"),
        "{ours}"
    );
    assert!(get(port, "/other").is_some_and(|b| b.contains("/metrics only")));
    for name in
        ["ctrail_ring_buffer_fill_ratio", "ctrail_last_commit_age_seconds", "ctrail_store_segments", "ctrail_gaps"]
    {
        assert!(ours.contains(name), "{name} in\n{ours}");
    }

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ctrail\n    static_configs:\n      - targets: ['{addr}']\n"),
    )
    .unwrap();
    let pport = free_port();
    let mut prom = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{pport}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _prom = Kill(&mut prom);
    // Scraped, and the same for three scrapes in a row: nothing more is coming.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut same = 0;
    let mut last = None;
    let stored = loop {
        assert!(Instant::now() < deadline, "Prometheus never settled on a value (last {last:?})");
        let v = query(pport, "sum(ctrail_events_stored_total)");
        match v {
            Some(n) if v == last => {
                same += 1;
                if same >= 3 {
                    break n;
                }
            }
            _ => same = 0,
        }
        last = v;
        std::thread::sleep(Duration::from_millis(1000));
    };
    let lost = query(pport, "sum(ctrail_events_lost_total)").expect("lost counts scraped");
    let exec = query(pport, "ctrail_events_stored_total{kind=\"exec\"}").expect("execs scraped");
    let log = rec.kill_and_log();
    drop(cg);
    let line = log.lines().find(|l| l.contains("stopped: ")).unwrap();
    let stop_stored: f64 = line.split("stored=").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert_eq!(stored, stop_stored, "stored: Prometheus against the stop line\n{log}");
    assert_eq!(lost, stop_line_sum(&log, "lost ", &["exec", "fork", "exit", "cgroup_move", "activity"]), "{log}");
    assert!(exec >= 5.0, "the five execs in the container are among them: {exec}");
    eprintln!("Prometheus: {stored} stored, {lost} lost, as the stop line says");
}
