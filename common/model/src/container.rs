//! A container as the store keeps it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Runtime;

/// A container as first and last seen, with the classifier's verdict and what its runtime
/// wrote about it on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub runtime: Option<Runtime>,
    /// The runtime's name for it (docker's `--name`, the lxc or nspawn machine name), from
    /// the cgroup path or the runtime's files.
    pub name: Option<String>,
    pub pod_uid: Option<String>,
    pub outer_id: Option<String>,
    pub cgroup: Option<String>,
    pub reason: String,
    pub first_seen: u64,
    pub last_seen: u64,
    pub processes: u64,
    pub events: u64,
    /// Store format 3 on; older records read as empty.
    pub meta: Metadata,
}

/// What the runtime's own files said about a container when the recorder first saw it. A
/// fact not found is `None`, never guessed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The image as the user typed it (`shop/api:1.4.2`).
    pub image: Option<String>,
    /// The image's content ID (`sha256:...`).
    pub image_id: Option<String>,
    /// The repository digest (`repo@sha256:...`) where the runtime stores one.
    pub image_digest: Option<String>,
    pub pod_name: Option<String>,
    pub pod_namespace: Option<String>,
    /// The container's name inside its pod (Kubernetes), or nerdctl's name.
    pub container_name: Option<String>,
    /// Labels (docker, podman) or OCI annotations (containerd, runc, crun).
    pub labels: BTreeMap<String, String>,
    /// Whether this is a pod's sandbox (pause) container; `None` outside pods.
    pub sandbox: Option<bool>,
    /// Which file each fact came from: fact name (`name`, `image`, `labels`, ...) -> path.
    pub sources: BTreeMap<String, String>,
}

impl Container {
    /// Folds another segment's record of the same container into this one: first and last
    /// seen over both, counts summed, the runtime and the metadata from whichever has them
    /// (the runtime's files may be read after the segment first holding it was sealed).
    pub fn absorb(&mut self, c: &Container) {
        self.first_seen = self.first_seen.min(c.first_seen);
        self.last_seen = self.last_seen.max(c.last_seen);
        self.events += c.events;
        self.processes += c.processes;
        if self.runtime.is_none() && c.runtime.is_some() {
            self.runtime = c.runtime;
            self.reason.clone_from(&c.reason);
        }
        if self.meta.sources.is_empty() && !c.meta.sources.is_empty() {
            self.meta = c.meta.clone();
            self.name = self.name.take().or_else(|| c.name.clone());
            self.pod_uid = self.pod_uid.take().or_else(|| c.pod_uid.clone());
        }
    }
}
