//! Container names the runtime keeps on disk, read once per container when it is first seen.
//!
//! Only docker's for now: `<data root>/containers/<id>/config.v2.json` holds `"Name": "/x"`,
//! written when the container is created, so it is there before the container's first
//! process runs. The data root is dockerd's `--data-root` (found on its command line, since
//! dockerd may start after the recorder), else `/var/lib/docker`. A name is evidence a
//! responder reads first, but never needed: any failure leaves it unknown.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use ctrail_classify::Runtime;
use ctrail_model::Container;

#[derive(Default)]
pub struct Names {
    /// Per container ID, the name found (or `None`: looked, none), so each is read once.
    seen: HashMap<String, Option<String>>,
}

impl Names {
    /// Fills in `c.name` when the runtime knows one and the verdict did not.
    pub fn fill(&mut self, c: &mut Container) {
        if c.name.is_some() || c.runtime != Some(Runtime::Docker) {
            return;
        }
        let name = self.seen.entry(c.id.clone()).or_insert_with(|| docker_name(&docker_roots(), &c.id));
        c.name.clone_from(name);
    }
}

/// Whether the process behind `/proc/PID` runs as root: anyone can start a program named
/// `dockerd` with a `--data-root` of their own, and its files would become the names root
/// records.
fn runs_as_root(proc_dir: &Path) -> bool {
    std::fs::read_to_string(proc_dir.join("status")).is_ok_and(|s| {
        s.lines().find_map(|l| l.strip_prefix("Uid:")).is_some_and(|ids| ids.split_whitespace().all(|id| id == "0"))
    })
}

/// The data roots of the running dockerd processes (root's only), then the default.
fn docker_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        if !args.first().is_some_and(|a| a.ends_with(b"dockerd")) || !runs_as_root(&entry.path()) {
            continue;
        }
        if let Some(root) = data_root(&args) {
            roots.push(root);
        }
    }
    roots.push(PathBuf::from("/var/lib/docker"));
    roots
}

/// `--data-root DIR` or `--data-root=DIR` in a dockerd command line.
fn data_root(args: &[&[u8]]) -> Option<PathBuf> {
    let text = |a: &[u8]| String::from_utf8_lossy(a).into_owned();
    args.iter().enumerate().find_map(|(i, a)| {
        if *a == b"--data-root" {
            args.get(i + 1).map(|v| PathBuf::from(text(v)))
        } else {
            a.strip_prefix(b"--data-root=").map(|v| PathBuf::from(text(v)))
        }
    })
}

fn docker_name(roots: &[PathBuf], id: &str) -> Option<String> {
    // A container ID is hex; anything else must not become a path.
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    roots.iter().find_map(|root| name_in(&root.join("containers").join(id).join("config.v2.json")))
}

fn name_in(config: &Path) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(config).ok()?).ok()?;
    let name = v.get("Name")?.as_str()?.trim_start_matches('/');
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_root_in_both_spellings() {
        let a: Vec<&[u8]> = vec![b"dockerd", b"--data-root", b"/d/root", b"-H", b"x"];
        assert_eq!(data_root(&a), Some(PathBuf::from("/d/root")));
        let b: Vec<&[u8]> = vec![b"/usr/bin/dockerd", b"--data-root=/e"];
        assert_eq!(data_root(&b), Some(PathBuf::from("/e")));
        let c: Vec<&[u8]> = vec![b"dockerd", b"--data-root"];
        assert_eq!(data_root(&c), None);
    }

    #[test]
    fn name_from_config_and_no_path_from_a_foreign_id() {
        let dir = tempfile::tempdir().unwrap();
        let id = "ab12";
        let c = dir.path().join("containers").join(id);
        std::fs::create_dir_all(&c).unwrap();
        std::fs::write(c.join("config.v2.json"), br#"{"ID":"ab12","Name":"/web-1"}"#).unwrap();
        let roots = [dir.path().to_path_buf()];
        assert_eq!(docker_name(&roots, id).as_deref(), Some("web-1"));
        assert_eq!(docker_name(&roots, "../ab12"), None);
        assert_eq!(docker_name(&roots, "cd34"), None);
    }
}
