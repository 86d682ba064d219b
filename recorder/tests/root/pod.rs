//! A Kubernetes pod made the way kubelet makes it: through containerd's own CRI plugin over
//! its gRPC socket (`fixtures/cri/`: RunPodSandbox with host network and a kubepods cgroup
//! parent, CreateContainer, StartContainer), recorded, torn down, then asked for in the
//! responder's terms.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;

use crate::helpers::*;

fn cri_ctl(args: &[&str]) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/cri/ctl.sh");
    let out = Command::new("bash").arg(script).args(args).stdin(Stdio::null()).output().expect("run cri/ctl.sh");
    assert!(
        out.status.success(),
        "cri/ctl.sh {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct PodDown;
impl Drop for PodDown {
    fn drop(&mut self) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/cri/ctl.sh");
        let _ = Command::new("bash").arg(script).arg("down").status();
    }
}

const UID: &str = "0b8e4f7a-1c2d-4e5f-9a8b-7c6d5e4f3a2b";

#[test]
fn a_cri_pod_is_named_in_kubernetes_terms_after_it_is_gone() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let _ = Command::new("bash")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/cri/ctl.sh"))
        .arg("down")
        .status();
    cri_ctl(&["up"]);
    let down = PodDown;
    let rec = Recorder::start(&[]);
    let data = rec.data();
    let api_m = marker("pod-api");
    let once_m = marker("pod-once");
    // `api` runs a command and stays a moment; `once` exits at once, as a failing init
    // container would: its files are gone milliseconds later.
    let out = cri_ctl(&[
        "pod",
        "payments",
        "api-7f9c",
        UID,
        &format!("api:/bin/true {api_m}; sleep 1"),
        &format!("once:exit 0 {once_m}"),
    ]);
    let mut lines = out.lines();
    let sandbox = lines.next().expect("the sandbox ID").to_string();
    let ids: Vec<(String, String)> =
        lines.map(|l| l.split_once(' ').map(|(n, i)| (n.to_string(), i.to_string())).expect("NAME ID")).collect();
    assert_eq!(ids.len(), 2, "{out}");
    std::thread::sleep(Duration::from_millis(1500));
    drop(down);
    std::thread::sleep(Duration::from_millis(300));
    let (_stored, log) = rec.stop();

    let (_, containers) = ctrail(&data, &["containers"]);
    let record = |id: &str| -> Value {
        containers
            .iter()
            .find(|c| c["container_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("container {id} not recorded: {containers:#?}\nrecorder log:\n{log}"))
    };
    let mut problems = Vec::new();
    let mut want = |c: &Value, key: &str, v: Value| {
        if c[key] != v {
            problems.push(format!("{} {key}: {} (expected {v})", c["container_id"], c[key]));
        }
    };
    let s = record(&sandbox);
    for (k, v) in [("pod_namespace", "payments"), ("pod_name", "api-7f9c"), ("pod_uid", UID), ("runtime", "containerd")]
    {
        want(&s, k, v.into());
    }
    want(&s, "sandbox", true.into());
    for (name, id) in &ids {
        let c = record(id);
        for (k, v) in [
            ("pod_namespace", "payments"),
            ("pod_name", "api-7f9c"),
            ("pod_uid", UID),
            ("container_name", name.as_str()),
            ("runtime", "containerd"),
            ("image", "docker.io/ctrail-e2e/busybox:latest"),
        ] {
            want(&c, k, v.into());
        }
        want(&c, "sandbox", false.into());
    }
    // containerd writes the sandbox's image into its spec from 1.7 on; Debian 12's 1.6
    // does not, and a fact not on disk is null, never the configured default guessed.
    if !(s["image"].is_null() || s["image"] == "docker.io/ctrail-e2e/pause:latest") {
        problems.push(format!("sandbox image: {}", s["image"]));
    }
    // The pod's execs by its name, and only the pod's.
    let (code, execs) = ctrail(&data, &["events", "--pod", "payments/api-7f9c", "--type", "exec"]);
    let argv_has = |e: &Value, m: &str| {
        e["argv"].as_array().is_some_and(|a| a.iter().any(|x| x.as_str().is_some_and(|s| s.contains(m))))
    };
    let pod_ids: Vec<&str> = std::iter::once(sandbox.as_str()).chain(ids.iter().map(|(_, i)| i.as_str())).collect();
    if code != 0 || !execs.iter().all(|e| pod_ids.contains(&e["container_id"].as_str().unwrap_or(""))) {
        problems.push(format!("--pod payments/api-7f9c: exit {code}, {execs:#?}"));
    }
    for m in [&api_m, &once_m] {
        if !execs.iter().any(|e| argv_has(e, m) && e["pod_name"] == "api-7f9c") {
            problems.push(format!("no exec with {m} under --pod"));
        }
    }
    let (_, other) = ctrail(&data, &["events", "--pod", "default/api-7f9c", "--type", "exec"]);
    if !other.is_empty() {
        problems.push(format!("another namespace's pod matched: {other:?}"));
    }
    assert!(problems.is_empty(), "{}\nrecorder log:\n{log}", problems.join("\n"));
}
