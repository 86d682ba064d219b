//! The container image (`dist/image/build.sh`, `cargo xtask image`) run with real docker
//! the way `dist/kubernetes/daemonset.yaml` runs it: the docker arguments are made from
//! the manifest (host PID, capabilities, mounts, command, liveness probe), so the two
//! cannot drift. The recorder in its container records a `docker run` container and a host
//! process with the right verdicts and metadata, knows its own container as itself, and
//! `ctrail` on the host reads the data directory it wrote.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use yaml_rust2::{Yaml, YamlLoader};

use crate::helpers::*;

const NAME: &str = "ctrail-image-test";

/// What the DaemonSet asks of the container runtime.
struct Spec {
    image: String,
    host_pid: bool,
    privileged: bool,
    drop: Vec<String>,
    add: Vec<String>,
    command: Vec<String>,
    probe: Vec<String>,
    /// (host path, container path, read-only)
    mounts: Vec<(String, String, bool)>,
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec().map(|v| v.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
}

fn daemonset() -> Spec {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist/kubernetes/daemonset.yaml");
    let docs = YamlLoader::load_from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let ds = docs.iter().find(|d| d["kind"].as_str() == Some("DaemonSet")).expect("a DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let sc = &c["securityContext"];
    let volumes: Vec<(String, String)> = pod["volumes"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap().to_string(), v["hostPath"]["path"].as_str().unwrap().to_string()))
        .collect();
    let mounts = c["volumeMounts"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|m| {
            let name = m["name"].as_str().unwrap();
            let host = volumes.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no volume {name}")).1.clone();
            (host, m["mountPath"].as_str().unwrap().to_string(), m["readOnly"].as_bool().unwrap_or(false))
        })
        .collect();
    Spec {
        image: c["image"].as_str().unwrap().to_string(),
        host_pid: pod["hostPID"].as_bool().unwrap_or(false),
        privileged: sc["privileged"].as_bool().unwrap_or(false),
        drop: strings(&sc["capabilities"]["drop"]),
        add: strings(&sc["capabilities"]["add"]),
        command: [strings(&c["command"]), strings(&c["args"])].concat(),
        probe: strings(&c["livenessProbe"]["exec"]["command"]),
        mounts,
    }
}

/// The harness's dockerd keeps its files here, not in /var/lib/docker.
fn harness_docker_root() -> String {
    format!("{}/docker/root", std::env::var("CTRAIL_E2E_DIR").unwrap_or_else(|_| "/tmp/ctrail-e2e".into()))
}

struct Remove;
impl Drop for Remove {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", NAME]);
        let _ = docker(&["rm", "-f", "ctrail-image-victim"]);
    }
}

#[test]
fn the_image_records_containers_and_the_host_as_the_daemonset_runs_it() {
    if !need_root() {
        return;
    }
    let _g = serial();
    let _down = Down;
    let spec = daemonset();
    // What the manifest must say, whatever else changes in it.
    assert!(spec.host_pid && !spec.privileged, "host PID, not privileged");
    assert_eq!(spec.drop, ["ALL"]);
    for cap in ["SYS_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH"] {
        assert!(spec.add.iter().any(|c| c == cap), "{cap} in {:?}", spec.add);
    }
    for m in ["/var/lib/ctrail", "/sys/kernel/tracing", "/etc/machine-id"] {
        assert!(spec.mounts.iter().any(|(_, to, _)| to == m), "the manifest mounts {m}");
    }
    assert_eq!(spec.probe[..2], ["/usr/bin/ctrail-recorder".to_string(), "health".to_string()]);

    // The image, built from the binaries under test and loaded with no registry.
    let bins = PathBuf::from(env!("CARGO_BIN_EXE_ctrail-recorder")).parent().unwrap().to_path_buf();
    let out = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist/image/build.sh");
    let built = Command::new("bash").arg(&script).arg(&bins).arg(out.path()).output().unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let tar = String::from_utf8_lossy(&built.stdout).trim().to_string();
    assert!(docker_ok(&["version", "--format", "{{.Server.Version}}"]).len() > 1, "the harness's dockerd runs");
    docker_ok(&["load", "-i", &tar]);
    let _rm = Remove;
    // The same tarball loads into podman and containerd.
    for (tool, args) in [("podman", vec!["load", "-i", &tar]), ("ctr", vec!["images", "import", &tar])] {
        let o = Command::new("bash").arg(ctl()).arg(tool).args(&args).output().unwrap();
        assert!(o.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let o = Command::new("bash").arg(ctl()).args(["ctr", "images", "ls", "-q"]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("ctrail/ctrail"), "containerd lists the image");

    // The manifest's settings as docker arguments. The history goes to a directory of the
    // test instead of the host's /var/lib/ctrail; host paths this machine lacks are left out
    // (Kubernetes would create them empty).
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("data");
    std::fs::create_dir(&data_dir).unwrap();
    let mut args: Vec<String> =
        vec!["run".into(), "-d".into(), "--name".into(), NAME.into(), "--network".into(), "none".into()];
    if spec.host_pid {
        args.push("--pid=host".into());
    }
    args.extend(spec.drop.iter().map(|c| format!("--cap-drop={c}")));
    args.extend(spec.add.iter().map(|c| format!("--cap-add={c}")));
    for (host, to, ro) in &spec.mounts {
        let host = if to == "/var/lib/ctrail" { data_dir.to_str().unwrap().to_string() } else { host.clone() };
        if Path::new(&host).exists() {
            args.extend(["-v".into(), format!("{host}:{to}{}", if *ro { ":ro" } else { "" })]);
        }
    }
    let extra = harness_docker_root();
    args.extend(["-v".into(), format!("{extra}:{extra}:ro")]);
    args.extend(["--entrypoint".into(), spec.command[0].clone(), spec.image.trim_start_matches("docker.io/").into()]);
    args.extend(spec.command[1..].iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let recorder_id = docker_ok(&args);

    // Live when its liveness probe says so.
    let probe: Vec<&str> = ["exec", NAME].into_iter().chain(spec.probe.iter().map(String::as_str)).collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !docker(&probe).status.success() {
        let logs = docker(&["logs", NAME]);
        assert!(
            Instant::now() < deadline,
            "the recorder in its container never became live:\n{}",
            String::from_utf8_lossy(&logs.stderr)
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    let m = marker("image");
    let victim = docker_ok(&[
        "run",
        "-d",
        "--name",
        "ctrail-image-victim",
        "--network",
        "none",
        "ctrail-e2e/busybox:latest",
        "sh",
        "-c",
        &format!("sleep 1; exec /bin/echo {m}"),
    ]);
    assert!(run(Command::new("/bin/true").arg(format!("{m}-host"))).success());
    docker_ok(&["exec", NAME, "/usr/bin/ctrail", "--version"]);
    docker_ok(&["wait", "ctrail-image-victim"]);
    docker_ok(&["stop", "-t", "30", NAME]);
    let logs = docker(&["logs", NAME]);
    let log = String::from_utf8_lossy(&logs.stderr).to_string();
    assert!(log.contains("stopped: "), "an orderly stop:\n{log}");

    // The host reads what the container wrote.
    let (code, rows) = ctrail(&data_dir, &["events", "--type", "exec"]);
    assert_eq!(code, 0, "{rows:?}");
    let v = rows
        .iter()
        .find(|r| r["argv"] == serde_json::json!(["/bin/echo", m]))
        .unwrap_or_else(|| panic!("the container's exec is recorded:\n{log}"));
    assert_eq!((v["container_id"].as_str(), v["runtime"].as_str()), (Some(victim.as_str()), Some("docker")), "{v}");
    assert_eq!(v["name"], "ctrail-image-victim", "metadata from the runtime's files: {v}");
    assert!(v["image"].as_str().is_some_and(|i| i.contains("busybox")), "{v}");
    let h = rows
        .iter()
        .find(|r| r["argv"] == serde_json::json!(["/bin/true", format!("{m}-host")]))
        .expect("the host process is recorded");
    assert!(h["container_id"].is_null(), "a host process is on the host: {h}");
    let own = rows
        .iter()
        .find(|r| r["exe"] == "/usr/bin/ctrail" && r["argv"][1] == "--version")
        .expect("the exec inside the recorder's own container");
    assert_eq!(own["container_id"].as_str(), Some(recorder_id.as_str()), "its own container is itself: {own}");
    eprintln!("the image recorded {} execs; the recorder's own container is {}", rows.len(), &recorder_id[..12]);
}
