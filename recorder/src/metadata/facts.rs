//! The facts found for one container and the file each came from. The first file that
//! states a fact wins (the runtimes' files are read in the reference's order); a fact no
//! file states stays `None`.

use std::{collections::BTreeMap, path::Path};

use ctrail_model::Metadata;
use serde_json::Value;

#[derive(Debug, Default)]
pub struct Facts {
    pub name: Option<String>,
    pub pod_uid: Option<String>,
    /// The runtime whose files held the container (the cgroup path may not say: a
    /// cgroupfs kubepods path, for one).
    pub runtime: Option<ctrail_model::Runtime>,
    pub meta: Metadata,
    /// Files refused or unparsable, for the log.
    pub refused: Vec<String>,
}

/// A string field of a JSON object, when non-empty.
pub fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
}

impl Facts {
    fn slot(&mut self, fact: &str) -> Option<&mut Option<String>> {
        let m = &mut self.meta;
        Some(match fact {
            "name" => &mut self.name,
            "image" => &mut m.image,
            "image_id" => &mut m.image_id,
            "image_digest" => &mut m.image_digest,
            "pod_name" => &mut m.pod_name,
            "pod_namespace" => &mut m.pod_namespace,
            "pod_uid" => &mut self.pod_uid,
            "container_name" => &mut m.container_name,
            _ => return None,
        })
    }

    /// The runtime whose file this is, unless an earlier file said.
    pub fn runtime(&mut self, r: ctrail_model::Runtime, source: &Path) {
        if self.runtime.is_none() {
            self.runtime = Some(r);
            self.meta.sources.insert("runtime".into(), source.display().to_string());
        }
    }

    /// Sets `fact` from `source` unless an earlier file stated it.
    pub fn set(&mut self, fact: &str, value: Option<String>, source: &Path) {
        let Some(value) = value.filter(|v| !v.is_empty()) else { return };
        let Some(slot) = self.slot(fact) else { return };
        if slot.is_none() {
            *slot = Some(value);
            self.meta.sources.insert(fact.to_string(), source.display().to_string());
        }
    }

    pub fn sandbox(&mut self, is: bool, source: &Path) {
        if self.meta.sandbox.is_none() {
            self.meta.sandbox = Some(is);
            self.meta.sources.insert("sandbox".into(), source.display().to_string());
        }
    }

    pub fn labels(&mut self, labels: BTreeMap<String, String>, source: &Path) {
        if self.meta.labels.is_empty() && !labels.is_empty() {
            self.meta.labels = labels;
            self.meta.sources.insert("labels".into(), source.display().to_string());
        }
    }

    /// Identity in the annotation or label keys the runtimes write: containerd's CRI plugin,
    /// cri-o, kubelet's labels (cri-o, cri-dockerd) and nerdctl.
    pub fn kubernetes(&mut self, a: &BTreeMap<String, String>, source: &Path) {
        let get = |k: &str| a.get(k).cloned();
        let first = |ks: &[&str]| ks.iter().find_map(|k| get(k));
        self.set("pod_name", first(&["io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"]), source);
        self.set(
            "pod_namespace",
            first(&["io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace"]),
            source,
        );
        self.set(
            "container_name",
            first(&["io.kubernetes.cri.container-name", "io.kubernetes.container.name", "nerdctl/name"]),
            source,
        );
        self.set(
            "image",
            first(&[
                "io.kubernetes.cri.image-name",
                "io.kubernetes.cri.podsandbox.image-name",
                "io.kubernetes.cri-o.ImageName",
            ]),
            source,
        );
        self.set("image_id", first(&["io.kubernetes.cri-o.ImageRef"]), source);
        self.set("name", get("nerdctl/name"), source);
        match first(&["io.kubernetes.cri.container-type", "io.kubernetes.cri-o.ContainerType"]).as_deref() {
            Some("sandbox") => self.sandbox(true, source),
            Some("container") => self.sandbox(false, source),
            _ => {}
        }
        self.set("pod_uid", first(&["io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"]), source);
    }
}

/// An object of strings (docker's labels, an OCI spec's annotations).
pub fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|o| o.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_file_wins_and_says_where() {
        let mut f = Facts::default();
        f.set("image", Some("a:1".into()), Path::new("/one"));
        f.set("image", Some("b:2".into()), Path::new("/two"));
        f.set("image_id", Some(String::new()), Path::new("/two"));
        assert_eq!(f.meta.image.as_deref(), Some("a:1"));
        assert_eq!(f.meta.sources.get("image").map(String::as_str), Some("/one"));
        assert_eq!(f.meta.image_id, None, "an empty value is no fact");
    }

    #[test]
    fn cri_annotations() {
        let a: BTreeMap<String, String> = [
            ("io.kubernetes.cri.container-type", "container"),
            ("io.kubernetes.cri.sandbox-name", "api-7f9c"),
            ("io.kubernetes.cri.sandbox-namespace", "payments"),
            ("io.kubernetes.cri.sandbox-uid", "0b8e"),
            ("io.kubernetes.cri.container-name", "api"),
            ("io.kubernetes.cri.image-name", "shop/api:1.4.2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut f = Facts::default();
        f.kubernetes(&a, Path::new("/b/config.json"));
        assert_eq!(f.pod_uid.as_deref(), Some("0b8e"));
        let m = &f.meta;
        assert_eq!(
            (m.pod_name.as_deref(), m.pod_namespace.as_deref(), m.container_name.as_deref(), m.image.as_deref()),
            (Some("api-7f9c"), Some("payments"), Some("api"), Some("shop/api:1.4.2"))
        );
        assert_eq!(m.sandbox, Some(false));
    }
}
