//! Where each runtime keeps its files on this host: the defaults, the roots given with
//! `--runtime-root`, and those found on the command lines of the runtimes' root-run
//! processes (dockerd `--data-root`, containerd `--root`/`--state` or its `--config` file,
//! conmon's `-b` bundle for podman and cri-o, runc/crun `--root`). A daemon may start after
//! the recorder (and conmon starts with each container), so the scan is redone when a
//! lookup misses, at most every [`RESCAN_EVERY`].

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use super::files;

/// The roots of one kind of runtime file, in the order they are tried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roots {
    /// dockerd data roots (`containers/<id>/config.v2.json`).
    pub docker: Vec<PathBuf>,
    /// containerd state dirs (`io.containerd.runtime.v2.task/<ns>/<id>/config.json`,
    /// `runc/<ns>/<id>/state.json`).
    pub containerd: Vec<PathBuf>,
    /// containers/storage graph roots (podman, cri-o: `overlay-containers/...`), and their
    /// run roots.
    pub storage: Vec<PathBuf>,
    /// runc and crun state roots (`<id>/state.json`, `<id>/status`).
    pub oci: Vec<PathBuf>,
    /// lxc paths (`<name>/config`).
    pub lxc: Vec<PathBuf>,
}

impl Roots {
    fn defaults() -> Roots {
        let p = |v: &[&str]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
        Roots {
            docker: p(&["/var/lib/docker"]),
            containerd: p(&["/run/containerd", "/run/k3s/containerd", "/run/docker/containerd/daemon"]),
            storage: p(&["/var/lib/containers/storage", "/run/containers/storage"]),
            oci: p(&["/run/runc", "/run/crun", "/run/docker/runtime-runc/moby"]),
            lxc: p(&["/var/lib/lxc"]),
        }
    }

    fn push(list: &mut Vec<PathBuf>, p: PathBuf) {
        if !list.contains(&p) {
            list.push(p);
        }
    }

    /// `KIND=DIR` from `--runtime-root` (KIND: docker, containerd, storage, oci, lxc).
    pub fn add(&mut self, kind: &str, dir: PathBuf) -> Result<(), String> {
        let list = match kind {
            "docker" => &mut self.docker,
            "containerd" => &mut self.containerd,
            "storage" | "podman" | "cri-o" => &mut self.storage,
            "oci" | "runc" | "crun" => &mut self.oci,
            "lxc" => &mut self.lxc,
            other => {
                return Err(format!("unknown runtime root kind {other:?} (docker, containerd, storage, oci, lxc)"));
            }
        };
        Roots::push(list, dir);
        Ok(())
    }

    /// Only roots root controls are kept: a directory someone else may write could be
    /// made to hold any "metadata".
    fn trusted(mut self) -> Roots {
        for l in [&mut self.docker, &mut self.containerd, &mut self.storage, &mut self.oci, &mut self.lxc] {
            l.retain(|d| files::trusted_dir(d));
        }
        self
    }
}

/// How often /proc may be scanned for roots: a miss waits for the next scan rather than
/// being given up (the lookup thread may wait; recording does not).
pub const RESCAN_EVERY: Duration = Duration::from_millis(100);

/// The roots, rescanned from /proc when asked, at most every [`RESCAN_EVERY`].
pub struct Finder {
    given: Roots,
    found: Roots,
    scanned: Option<Instant>,
}

impl Finder {
    pub fn new(given: Roots) -> Finder {
        Finder { given, found: Roots::default(), scanned: None }
    }

    pub fn roots(&mut self) -> &Roots {
        if self.scanned.is_none() {
            self.rescan();
        }
        &self.found
    }

    /// After a miss: the daemon may have started since, or moved. Whether the roots changed.
    pub fn rescan(&mut self) -> bool {
        if let Some(t) = self.scanned {
            std::thread::sleep(RESCAN_EVERY.saturating_sub(t.elapsed()));
        }
        self.scanned = Some(Instant::now());
        let mut r = self.given.clone();
        for cmdline in root_cmdlines() {
            from_cmdline(&cmdline, &mut r);
        }
        let d = Roots::defaults();
        for (to, from) in [
            (&mut r.docker, d.docker),
            (&mut r.containerd, d.containerd),
            (&mut r.storage, d.storage),
            (&mut r.oci, d.oci),
            (&mut r.lxc, d.lxc),
        ] {
            from.into_iter().for_each(|p| Roots::push(to, p));
        }
        let r = r.trusted();
        let changed = r != self.found;
        self.found = r;
        changed
    }
}

/// Roots that the runtimes running now name on their command lines but that this recorder
/// cannot see (in a container without those mounts): what it cannot read, by kind.
pub fn unseen() -> Vec<(&'static str, PathBuf)> {
    let mut r = Roots::default();
    for cmdline in root_cmdlines() {
        from_cmdline(&cmdline, &mut r);
    }
    let mut out = Vec::new();
    for (kind, list) in
        [("docker", r.docker), ("containerd", r.containerd), ("storage", r.storage), ("oci", r.oci), ("lxc", r.lxc)]
    {
        out.extend(list.into_iter().filter(|d| !d.exists()).map(|d| (kind, d)));
    }
    out
}

/// Command lines (argv) of the processes running as root.
fn root_cmdlines() -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let dir = entry.path();
        if !dir.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(dir.join("status")) else { continue };
        let root = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .is_some_and(|ids| ids.split_whitespace().all(|id| id == "0"));
        if !root {
            continue;
        }
        let Ok(raw) = std::fs::read(dir.join("cmdline")) else { continue };
        let args: Vec<String> =
            raw.split(|&b| b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if !args.is_empty() {
            out.push(args);
        }
    }
    out
}

/// The value of `--flag VALUE` or `--flag=VALUE`.
fn flag<'a>(args: &'a [String], names: &[&str]) -> Option<&'a str> {
    args.iter().enumerate().find_map(|(i, a)| {
        names.iter().find_map(|n| {
            if a == n {
                args.get(i + 1).map(String::as_str)
            } else {
                a.strip_prefix(n).and_then(|v| v.strip_prefix('='))
            }
        })
    })
}

/// A top-level `key = "value"` of a containerd config.toml (before any `[section]`).
fn toml_top(text: &str, key: &str) -> Option<String> {
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            return None;
        }
        if let Some((k, v)) = l.split_once('=')
            && k.trim() == key
        {
            return Some(v.trim().trim_matches('"').to_string());
        }
    }
    None
}

fn from_cmdline(args: &[String], r: &mut Roots) {
    let prog = Path::new(&args[0]).file_name().and_then(|n| n.to_str()).unwrap_or("");
    match prog {
        "dockerd" => {
            if let Some(d) = flag(args, &["--data-root", "-g"]) {
                Roots::push(&mut r.docker, d.into());
            }
            if let Some(e) = flag(args, &["--exec-root"]) {
                Roots::push(&mut r.containerd, Path::new(e).join("containerd/daemon"));
                Roots::push(&mut r.oci, Path::new(e).join("runtime-runc/moby"));
            }
        }
        "containerd" => {
            let config =
                flag(args, &["--config", "-c"]).and_then(|c| match files::read(Path::new(c), &mut (1 << 20)) {
                    files::FileRead::Bytes(b) => String::from_utf8(b).ok(),
                    _ => None,
                });
            let state = flag(args, &["--state"])
                .map(str::to_string)
                .or_else(|| config.as_deref().and_then(|c| toml_top(c, "state")));
            if let Some(s) = state {
                Roots::push(&mut r.containerd, s.into());
            }
        }
        // podman's and cri-o's monitor: `-b <graph root>/overlay-containers/<id>/userdata`.
        "conmon" => {
            if let Some(b) = flag(args, &["-b", "--bundle"]) {
                let b = Path::new(b);
                if let Some(root) = b.parent().and_then(Path::parent).and_then(Path::parent) {
                    Roots::push(&mut r.storage, root.to_path_buf());
                }
            }
        }
        "podman" | "crio" => {
            if let Some(g) = flag(args, &["--root"]) {
                Roots::push(&mut r.storage, g.into());
            }
            if let Some(g) = flag(args, &["--runroot"]) {
                Roots::push(&mut r.storage, g.into());
            }
        }
        "runc" | "crun" | "containerd-shim-runc-v2" => {
            if let Some(g) = flag(args, &["--root"]) {
                Roots::push(&mut r.oci, g.into());
            }
        }
        "lxc-start" => {
            if let Some(p) = flag(args, &["-P", "--lxcpath"]) {
                Roots::push(&mut r.lxc, p.into());
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn roots_from_daemon_command_lines() {
        let mut r = Roots::default();
        from_cmdline(&args("/usr/bin/dockerd --data-root /w/docker/root --exec-root=/w/docker/exec"), &mut r);
        from_cmdline(&args("conmon --api-version 1 -b /w/podman/root/overlay-containers/abc/userdata -c abc"), &mut r);
        from_cmdline(&args("containerd --state /w/cd/state"), &mut r);
        from_cmdline(&args("lxc-start -P /w/lxc -n x -d"), &mut r);
        assert_eq!(r.docker, [PathBuf::from("/w/docker/root")]);
        assert_eq!(r.containerd, [PathBuf::from("/w/docker/exec/containerd/daemon"), PathBuf::from("/w/cd/state")]);
        assert_eq!(r.storage, [PathBuf::from("/w/podman/root")]);
        assert_eq!(r.lxc, [PathBuf::from("/w/lxc")]);
    }

    #[test]
    fn containerd_state_from_its_config() {
        let t = "version = 2\nroot = \"/w/root\"\nstate = \"/w/state\"\n[grpc]\n  state = \"no\"\n";
        assert_eq!(toml_top(t, "state").as_deref(), Some("/w/state"));
        assert_eq!(toml_top("[grpc]\nstate = \"x\"", "state"), None);
    }
}
