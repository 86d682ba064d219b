//! One reader per runtime's files (`../shared/reference/runtime-metadata.md` has where each
//! keeps what). Each returns whether it found the container, and adds what it read to
//! [`Facts`]; none guesses.

use std::{collections::BTreeMap, path::Path};

use ctrail_model::Runtime;
use serde_json::Value;

use super::{
    facts::{Facts, string_map, text},
    files::{self, FileRead},
    roots::Roots,
};

/// The bytes one container's lookup may read, over all its files.
pub const BUDGET: u64 = 32 << 20;

pub struct Ctx<'a> {
    pub roots: &'a Roots,
    pub budget: u64,
}

impl Ctx<'_> {
    fn json(&mut self, path: &Path, f: &mut Facts) -> Option<Value> {
        files::json(path, &mut self.budget, &mut f.refused)
    }
}

/// docker: `<data root>/containers/<id>/config.v2.json`.
pub fn docker(cx: &mut Ctx, id: &str, f: &mut Facts) -> bool {
    let roots = cx.roots.docker.clone();
    for root in roots {
        let Some(path) = files::under(&root, &["containers", id, "config.v2.json"]) else { return false };
        let Some(v) = cx.json(&path, f) else { continue };
        f.runtime(Runtime::Docker, &path);
        let config = v.get("Config").cloned().unwrap_or(Value::Null);
        f.set("name", text(&v, "Name").map(|n| n.trim_start_matches('/').to_string()), &path);
        f.set("image", text(&config, "Image"), &path);
        f.set("image_id", text(&v, "Image"), &path);
        f.set("image_digest", v.get("ImageManifest").and_then(|m| text(m, "digest")), &path);
        let labels = string_map(config.get("Labels"));
        // cri-dockerd puts kubelet's identity in the labels.
        f.kubernetes(&labels, &path);
        f.labels(labels, &path);
        return true;
    }
    false
}

/// An OCI spec's annotations: identity keys, and every annotation as a label.
fn spec(spec: &Value, path: &Path, f: &mut Facts) {
    let a = string_map(spec.get("annotations"));
    f.kubernetes(&a, path);
    f.labels(a, path);
}

/// containerd: the task bundle in any namespace of any state root; when the bundle is gone
/// (the task was deleted), runc's state under containerd, whose labels hold the annotations.
pub fn containerd(cx: &mut Ctx, id: &str, f: &mut Facts) -> bool {
    if !files::component(id) {
        return false;
    }
    let roots = cx.roots.containerd.clone();
    for root in &roots {
        let tasks = root.join("io.containerd.runtime.v2.task");
        for ns in namespaces(&tasks) {
            let Some(path) = files::under(&tasks, &[&ns, id, "config.json"]) else { continue };
            if let Some(v) = cx.json(&path, f) {
                f.runtime(Runtime::Containerd, &path);
                spec(&v, &path, f);
                return true;
            }
        }
    }
    for root in &roots {
        let runc = root.join("runc");
        for ns in namespaces(&runc) {
            let Some(path) = files::under(&runc, &[&ns, id, "state.json"]) else { continue };
            if let Some(v) = cx.json(&path, f) {
                f.runtime(Runtime::Containerd, &path);
                runc_state(&v, &path, f);
                return true;
            }
        }
    }
    false
}

/// The namespaces (subdirectories) under a containerd directory, root's only.
fn namespaces(dir: &Path) -> Vec<String> {
    if !files::trusted_dir(dir) {
        return Vec::new();
    }
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| files::component(n))
        .take(256)
        .collect();
    v.sort();
    v
}

/// runc's `state.json`: `config.labels` is every annotation as `k=v` (plus `bundle=`).
fn runc_state(v: &Value, path: &Path, f: &mut Facts) {
    let labels: BTreeMap<String, String> = v
        .pointer("/config/labels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k != "bundle")
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    f.kubernetes(&labels, path);
    f.labels(labels, path);
}

/// Plain runc (`<root>/<id>/state.json`) or crun (`<root>/<id>/config.json`, a copy of
/// the spec).
pub fn oci(cx: &mut Ctx, id: &str, f: &mut Facts) -> bool {
    let roots = cx.roots.oci.clone();
    for root in roots {
        if let Some(path) = files::under(&root, &[id, "state.json"])
            && let Some(v) = cx.json(&path, f)
        {
            runc_state(&v, &path, f);
            return true;
        }
        if let Some(path) = files::under(&root, &[id, "config.json"])
            && let Some(v) = cx.json(&path, f)
        {
            spec(&v, &path, f);
            return true;
        }
    }
    false
}

/// containers/storage (podman, cri-o): the container's spec under `userdata/` (cri-o's
/// identity annotations), then podman's `containers.json` (name, image ID, image as typed)
/// and `images.json` (digest). Labels of podman are in libpod's database only.
pub fn storage(cx: &mut Ctx, id: &str, f: &mut Facts) -> bool {
    let roots = cx.roots.storage.clone();
    let mut found = false;
    for root in &roots {
        if let Some(path) = files::under(root, &["overlay-containers", id, "userdata", "config.json"])
            && let Some(v) = cx.json(&path, f)
        {
            let a = string_map(v.get("annotations"));
            if a.keys().any(|k| k.starts_with("io.kubernetes.cri-o.")) {
                f.runtime(Runtime::CriO, &path);
            }
            f.kubernetes(&a, &path);
            // cri-o keeps the pod's labels as JSON in one annotation.
            if let Some(l) = a.get("io.kubernetes.cri-o.Labels").and_then(|l| serde_json::from_str(l).ok()) {
                f.labels(string_map(Some(&l)), &path);
            }
            found = true;
        }
        let Some(list) = files::under(root, &["overlay-containers", "containers.json"]) else { continue };
        let Some(all) = cx.json(&list, f) else { continue };
        let Some(c) = all.as_array().into_iter().flatten().find(|c| c.get("id").and_then(Value::as_str) == Some(id))
        else {
            continue;
        };
        found = true;
        f.runtime(Runtime::Podman, &list);
        let meta: Value =
            c.get("metadata").and_then(Value::as_str).and_then(|m| serde_json::from_str(m).ok()).unwrap_or_default();
        let names = c.get("names").and_then(Value::as_array);
        f.set(
            "name",
            text(&meta, "name").or_else(|| names.and_then(|n| n.first()?.as_str().map(str::to_string))),
            &list,
        );
        f.set("image", text(&meta, "image-name"), &list);
        let image_id = text(c, "image");
        f.set("image_id", image_id.clone(), &list);
        if let Some(image_id) = image_id
            && let Some(images) = files::under(root, &["overlay-images", "images.json"])
            && let Some(all) = cx.json(&images, f)
            && let Some(i) =
                all.as_array().into_iter().flatten().find(|i| i.get("id").and_then(Value::as_str) == Some(&image_id))
        {
            f.set("image_digest", text(i, "digest"), &images);
            f.set(
                "image",
                i.get("names").and_then(Value::as_array).and_then(|n| n.first()?.as_str().map(str::to_string)),
                &images,
            );
        }
        break;
    }
    found
}

/// lxc: `<lxcpath>/<name>/config` (the cgroup's ID is the name).
pub fn lxc(cx: &mut Ctx, id: &str, f: &mut Facts) -> bool {
    let roots = cx.roots.lxc.clone();
    for root in roots {
        let Some(path) = files::under(&root, &[id, "config"]) else { return false };
        if let FileRead::Bytes(b) = files::read(&path, &mut cx.budget) {
            let text = String::from_utf8_lossy(&b);
            let uts = text.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == "lxc.uts.name").then(|| v.trim().to_string())
            });
            f.set("name", uts.or_else(|| Some(id.to_string())), &path);
            return true;
        }
    }
    false
}

/// systemd-nspawn: `/run/systemd/machines/<name>` (`NAME=`), while the machine runs
/// registered.
pub fn nspawn(cx: &mut Ctx, id: &str, f: &mut Facts) -> bool {
    let Some(path) = files::under(Path::new("/run/systemd/machines"), &[id]) else { return false };
    let FileRead::Bytes(b) = files::read(&path, &mut cx.budget) else { return false };
    let text = String::from_utf8_lossy(&b);
    f.set("name", text.lines().find_map(|l| l.strip_prefix("NAME=")).map(str::to_string), &path);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A root directory as the recorder trusts it (the test runs as root in CI; elsewhere
    /// the files are not root's and are refused, which the last check shows).
    fn roots_at(dir: &Path) -> Roots {
        let d = dir.to_path_buf();
        Roots {
            docker: vec![d.clone()],
            containerd: vec![d.clone()],
            storage: vec![d.clone()],
            oci: vec![d.clone()],
            lxc: vec![d],
        }
    }

    fn write(path: PathBuf, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn as_root() -> bool {
        // /proc/self belongs to the effective user.
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0
    }

    #[test]
    fn docker_config() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path().join("containers/ab12/config.v2.json"),
            r#"{"Name":"/web-1","Image":"sha256:5e1d","Config":{"Image":"shop/api:1.4.2","Labels":{"team":"pay"}}}"#,
        );
        let roots = roots_at(dir.path());
        let mut cx = Ctx { roots: &roots, budget: BUDGET };
        let mut f = Facts::default();
        assert_eq!(docker(&mut cx, "ab12", &mut f), as_root());
        assert!(!docker(&mut cx, "../ab12", &mut Facts::default()), "no path from a foreign ID");
        if as_root() {
            assert_eq!(f.name.as_deref(), Some("web-1"));
            assert_eq!(f.meta.image.as_deref(), Some("shop/api:1.4.2"));
            assert_eq!(f.meta.image_id.as_deref(), Some("sha256:5e1d"));
            assert_eq!(f.meta.labels.get("team").map(String::as_str), Some("pay"));
            assert!(f.meta.sources["image"].ends_with("containers/ab12/config.v2.json"));
        } else {
            assert!(f.refused.is_empty() || f.name.is_none());
        }
    }

    #[test]
    fn containerd_bundle_then_runc_state() {
        if !as_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path().join("io.containerd.runtime.v2.task/k8s.io/c1/config.json"),
            r#"{"annotations":{"io.kubernetes.cri.container-type":"sandbox","io.kubernetes.cri.sandbox-name":"p"}}"#,
        );
        write(
            dir.path().join("runc/default/c2/state.json"),
            r#"{"config":{"labels":["bundle=/x","team=pay","nerdctl/name=web"]}}"#,
        );
        let roots = roots_at(dir.path());
        let mut cx = Ctx { roots: &roots, budget: BUDGET };
        let mut f = Facts::default();
        assert!(containerd(&mut cx, "c1", &mut f));
        assert_eq!((f.meta.sandbox, f.meta.pod_name.as_deref()), (Some(true), Some("p")));
        let mut g = Facts::default();
        assert!(containerd(&mut cx, "c2", &mut g));
        assert_eq!(g.name.as_deref(), Some("web"));
        assert!(!g.meta.labels.contains_key("bundle"));
    }

    #[test]
    fn crio_userdata_spec() {
        if !as_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path().join("overlay-containers/c4/userdata/config.json"),
            r#"{"annotations":{"io.kubernetes.cri-o.ContainerType":"container","io.kubernetes.pod.name":"api-7f9c",
                "io.kubernetes.pod.namespace":"payments","io.kubernetes.pod.uid":"0b8e","io.kubernetes.container.name":"api",
                "io.kubernetes.cri-o.ImageName":"shop/api:1.4.2","io.kubernetes.cri-o.ImageRef":"sha256:5e1d",
                "io.kubernetes.cri-o.Labels":"{\"app\":\"api\"}"}}"#,
        );
        let roots = roots_at(dir.path());
        let mut cx = Ctx { roots: &roots, budget: BUDGET };
        let mut f = Facts::default();
        assert!(storage(&mut cx, "c4", &mut f));
        let m = &f.meta;
        assert_eq!(f.runtime, Some(Runtime::CriO));
        assert_eq!((m.pod_name.as_deref(), m.pod_namespace.as_deref()), (Some("api-7f9c"), Some("payments")));
        assert_eq!((f.pod_uid.as_deref(), m.container_name.as_deref()), (Some("0b8e"), Some("api")));
        assert_eq!((m.image.as_deref(), m.image_id.as_deref()), (Some("shop/api:1.4.2"), Some("sha256:5e1d")));
        assert_eq!(m.sandbox, Some(false));
        assert_eq!(m.labels.get("app").map(String::as_str), Some("api"), "the pod's labels, not the annotations");
    }

    #[test]
    fn podman_storage() {
        if !as_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path().join("overlay-containers/containers.json"),
            r#"[{"id":"c3","names":["web"],"image":"i9","metadata":"{\"image-name\":\"localhost/busybox:latest\",\"name\":\"web\"}"}]"#,
        );
        write(dir.path().join("overlay-images/images.json"), r#"[{"id":"i9","digest":"sha256:77","names":["x"]}]"#);
        let roots = roots_at(dir.path());
        let mut cx = Ctx { roots: &roots, budget: BUDGET };
        let mut f = Facts::default();
        assert!(storage(&mut cx, "c3", &mut f));
        let m = &f.meta;
        assert_eq!((f.name.as_deref(), m.image.as_deref()), (Some("web"), Some("localhost/busybox:latest")));
        assert_eq!((m.image_id.as_deref(), m.image_digest.as_deref()), (Some("i9"), Some("sha256:77")));
    }
}
