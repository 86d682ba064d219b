//! The container verdict: is this process in a container, which one, run by what?
//!
//! Pure: the caller gathers the evidence (cgroup paths, namespace comparison, comm
//! before exec, parent comm) from the kernel or from `/proc`; this module only
//! decides, and says why in `reason`.
//!
//! Order of evidence:
//! 1. A known runtime shape in a cgroup path (v2 first, then `name=systemd`, then the
//!    controller hierarchies). Innermost match wins; the outer one is kept.
//! 2. An nspawn payload cgroup (`…/payload`) with its own pid and mount namespaces.
//! 3. Namespace evidence: own pid and mount namespaces, plus either another own
//!    namespace (uts, ipc, net) or a runtime's init comm, in a cgroup of its own.
//!    This catches plain `runc run` (`/<id>`), which matches no pattern, and it
//!    rejects `unshare -p -f --mount-proc`, which changes pid and mount only and
//!    stays in the host's cgroup.
//! 4. Otherwise host, naming a host look-alike unit when the path shows one.
//!
//! A controller path that the host shares (on some machines every process sits in
//! `memory:/process_api/<hex>`) is no evidence: with a host baseline, each path is
//! read relative to the host's own path in the same hierarchy.

mod cgroup_file;
mod patterns;

pub use cgroup_file::{CgroupLine, CgroupSet, ParseError};
pub use patterns::{ContainerMatch, PathMatch, is_hex64, match_path};

pub use ctrail_model::Runtime;
use serde::{Deserialize, Serialize};

/// Whether each namespace of the process differs from the host's (`None`: not known).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NsEvidence {
    pub pid: Option<bool>,
    pub mnt: Option<bool>,
    pub net: Option<bool>,
    pub uts: Option<bool>,
    pub ipc: Option<bool>,
    pub cgroup: Option<bool>,
    pub user: Option<bool>,
}

impl NsEvidence {
    /// Compares namespace inodes of a process with the host's, in the order
    /// pid, mnt, net, uts, ipc, user, cgroup (the kernel record's order).
    /// An inode of 0 means unknown.
    pub fn compare(own: &[u32; 7], host: &[u32; 7]) -> Self {
        let d = |i: usize| (own[i] != 0 && host[i] != 0).then(|| own[i] != host[i]);
        NsEvidence { pid: d(0), mnt: d(1), net: d(2), uts: d(3), ipc: d(4), user: d(5), cgroup: d(6) }
    }

    fn own(&self) -> Vec<&'static str> {
        [
            ("pid", self.pid),
            ("mnt", self.mnt),
            ("net", self.net),
            ("uts", self.uts),
            ("ipc", self.ipc),
            ("cgroup", self.cgroup),
            ("user", self.user),
        ]
        .into_iter()
        .filter(|(_, v)| *v == Some(true))
        .map(|(n, _)| n)
        .collect()
    }

    fn known(&self) -> bool {
        self.pid.is_some() || self.mnt.is_some()
    }
}

/// Everything known about one process.
#[derive(Debug, Clone, Default)]
pub struct Evidence<'a> {
    pub cgroups: Option<&'a CgroupSet>,
    /// The host's own cgroups (PID 1's, or the recorder's), to discount shared paths.
    pub host_cgroups: Option<&'a CgroupSet>,
    pub ns: NsEvidence,
    pub comm_before_exec: Option<&'a str>,
    pub parent_comm: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub container: bool,
    pub runtime: Option<Runtime>,
    pub container_id: Option<String>,
    pub pod_uid: Option<String>,
    pub outer_id: Option<String>,
    pub name: Option<String>,
    /// The cgroup path the decision was read from.
    pub cgroup: Option<String>,
    pub reason: String,
}

impl Verdict {
    fn host(reason: String) -> Self {
        Verdict {
            container: false,
            runtime: None,
            container_id: None,
            pod_uid: None,
            outer_id: None,
            name: None,
            cgroup: None,
            reason,
        }
    }
}

/// The comm a runtime gives its init process just before it execs the payload.
fn runtime_from_comm(comm: &str) -> Option<Runtime> {
    match comm {
        c if c.starts_with("runc:[") => Some(Runtime::Runc),
        c if c.starts_with("crun:[") || c == "crun" => Some(Runtime::Crun),
        "systemd-nspawn" => Some(Runtime::SystemdNspawn),
        "lxc-start" | "lxc-execute" | "lxc-attach" => Some(Runtime::Lxc),
        _ => None,
    }
}

fn runtime_from_parent(comm: &str) -> Option<Runtime> {
    match comm {
        c if c.starts_with("containerd-shim") => Some(Runtime::Containerd),
        "systemd-nspawn" => Some(Runtime::SystemdNspawn),
        c if c.starts_with("lxc-start") || c.starts_with("[lxc monitor]") => Some(Runtime::Lxc),
        _ => None,
    }
}

/// `path` relative to the host's own path in that hierarchy: `/process_api/ab/x`
/// with a host at `/process_api/ab` reads as `/x`; the host's own path reads as `/`.
fn relative<'p>(path: &'p str, host: Option<&str>) -> &'p str {
    match host {
        Some(h) if h != "/" => match path.strip_prefix(h) {
            Some("") => "/",
            Some(rest) if rest.starts_with('/') => rest,
            _ => path,
        },
        _ => path,
    }
}

/// Decides one process, in the order of evidence the module docs give.
pub fn classify(ev: &Evidence<'_>) -> Verdict {
    let lines = ev.cgroups.map(|c| c.by_preference()).unwrap_or_default();
    let rel: Vec<(&CgroupLine, &str)> =
        lines.iter().map(|l| (*l, relative(&l.path, ev.host_cgroups.and_then(|h| h.path_in(l))))).collect();
    let host_unit = match by_path(&rel) {
        Ok(v) => return v,
        Err(unit) => unit,
    };
    if let Some(v) = by_namespaces(ev, &rel, host_unit.is_some()) {
        return v;
    }
    host(ev, &rel, host_unit)
}

/// A host look-alike unit seen in a path: (path, rule, component).
type HostUnit = (String, &'static str, String);

/// Step 1: a runtime's path shape in the most trusted hierarchy that has one; otherwise
/// the first host look-alike unit seen, if any.
fn by_path(rel: &[(&CgroupLine, &str)]) -> Result<Verdict, Option<HostUnit>> {
    let mut host_unit = None;
    for (line, path) in rel {
        match match_path(path) {
            PathMatch::Container(m) => {
                return Ok(Verdict {
                    container: true,
                    runtime: m.runtime,
                    container_id: Some(m.id),
                    pod_uid: m.pod_uid,
                    outer_id: m.outer_id,
                    name: m.name,
                    cgroup: Some(line.path.clone()),
                    reason: format!("{} path matches {} in cgroup {}", m.rule, line.path, line.hierarchy_name()),
                });
            }
            PathMatch::HostUnit { rule, component } if host_unit.is_none() => {
                host_unit = Some((line.path.clone(), rule, component));
            }
            _ => {}
        }
    }
    Err(host_unit)
}

/// Steps 2 and 3: a cgroup of its own (the most trusted hierarchy whose path is not the
/// host's) with its own pid and mount namespaces: an nspawn payload, or a container of a
/// runtime without a path shape when more evidence agrees.
fn by_namespaces(ev: &Evidence<'_>, rel: &[(&CgroupLine, &str)], looks_like_host_unit: bool) -> Option<Verdict> {
    let own_core = ev.ns.pid == Some(true) && ev.ns.mnt == Some(true);
    let (line, path) = rel.iter().find(|(_, p)| *p != "/").filter(|_| own_core)?;
    let own = ev.ns.own();
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let leaf = comps.last().copied().unwrap_or_default();
    if leaf == "payload" {
        let name = comps.iter().rev().nth(1).map(|n| {
            let n = n.strip_prefix("systemd-nspawn@").unwrap_or(n);
            n.strip_suffix(".service").or(n.strip_suffix(".scope")).unwrap_or(n).to_string()
        });
        return Some(Verdict {
            container: true,
            runtime: Some(Runtime::SystemdNspawn),
            container_id: name.clone(),
            pod_uid: None,
            outer_id: None,
            name,
            cgroup: Some(line.path.clone()),
            reason: format!(
                "systemd-nspawn payload cgroup {} ({}) with own namespaces: {}",
                line.path,
                line.hierarchy_name(),
                own.join("+")
            ),
        });
    }
    let own_extra = [ev.ns.uts, ev.ns.ipc, ev.ns.net].contains(&Some(true));
    let comm_rt = ev.comm_before_exec.and_then(runtime_from_comm);
    let parent_rt = ev.parent_comm.and_then(runtime_from_parent);
    if looks_like_host_unit || !(own_extra || comm_rt.is_some() || parent_rt.is_some()) {
        return None;
    }
    let via = match (comm_rt, parent_rt) {
        (Some(_), _) => format!(", comm before exec {:?}", ev.comm_before_exec.unwrap_or_default()),
        (None, Some(_)) => format!(", parent {:?}", ev.parent_comm.unwrap_or_default()),
        _ => String::new(),
    };
    Some(Verdict {
        container: true,
        runtime: comm_rt.or(parent_rt),
        container_id: Some(leaf.to_string()),
        pod_uid: None,
        outer_id: None,
        name: None,
        cgroup: Some(line.path.clone()),
        reason: format!(
            "own cgroup {} ({}) and own namespaces {}{via}; no runtime path pattern",
            line.path,
            line.hierarchy_name(),
            own.join("+")
        ),
    })
}

/// Step 4: the host, and why.
fn host(ev: &Evidence<'_>, rel: &[(&CgroupLine, &str)], host_unit: Option<HostUnit>) -> Verdict {
    if let Some((path, rule, component)) = host_unit {
        return Verdict::host(format!("host: {rule} ({component} in {path})"));
    }
    if rel.is_empty() {
        return Verdict::host("host: no cgroup information".into());
    }
    let own = ev.ns.own();
    let own_core = ev.ns.pid == Some(true) && ev.ns.mnt == Some(true);
    let own_cgroup = rel.iter().any(|(_, p)| *p != "/");
    let reason = if own_core && !own_cgroup {
        format!(
            "host: own namespaces {} but the host's cgroups: a namespace sandbox such as `unshare`, not a container",
            own.join("+")
        )
    } else if own_core {
        format!("host: own namespaces {} only; no container evidence", own.join("+"))
    } else if !ev.ns.known() {
        "host: no runtime pattern in the cgroup paths (namespaces unknown)".to_string()
    } else {
        "host: no runtime pattern in the cgroup paths and host pid/mnt namespaces".to_string()
    };
    Verdict::host(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_all() -> NsEvidence {
        NsEvidence {
            pid: Some(true),
            mnt: Some(true),
            net: Some(true),
            uts: Some(true),
            ipc: Some(true),
            cgroup: Some(false),
            user: Some(false),
        }
    }

    #[test]
    fn unshare_is_host_even_with_own_pid_and_mnt() {
        let cg = CgroupSet::parse("0::/\n").unwrap();
        let ns = NsEvidence { pid: Some(true), mnt: Some(true), ..Default::default() };
        let v = classify(&Evidence { cgroups: Some(&cg), ns, ..Default::default() });
        assert!(!v.container, "{v:?}");
        assert!(v.reason.contains("not a container"));
    }

    #[test]
    fn plain_runc_needs_namespaces() {
        let cg = CgroupSet::parse("0::/e2e-runc\n").unwrap();
        let file_only = classify(&Evidence { cgroups: Some(&cg), ..Default::default() });
        assert!(!file_only.container);
        let v = classify(&Evidence {
            cgroups: Some(&cg),
            ns: own_all(),
            comm_before_exec: Some("runc:[2:INIT]"),
            ..Default::default()
        });
        assert!(v.container);
        assert_eq!(v.runtime, Some(Runtime::Runc));
        assert_eq!(v.container_id.as_deref(), Some("e2e-runc"));
    }

    #[test]
    fn shared_memory_path_is_no_evidence() {
        let host = CgroupSet::parse("4:memory:/process_api/ab\n0::/\n").unwrap();
        let cg = CgroupSet::parse("4:memory:/process_api/ab\n0::/\n").unwrap();
        let v =
            classify(&Evidence { cgroups: Some(&cg), host_cgroups: Some(&host), ns: own_all(), ..Default::default() });
        assert!(!v.container, "{v:?}");
    }

    #[test]
    fn runtime_names_round_trip() {
        for r in Runtime::ALL {
            assert_eq!(Runtime::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{}\"", r.as_str()));
        }
    }
}
