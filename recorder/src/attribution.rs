//! Who is who: process table, per-cgroup verdict cache, and container registry.
//!
//! Every exec is classified from its own kernel snapshot; forks inherit their
//! parent's container unless the cgroup they were born in is known to be one;
//! exits keep the container their process had. Verdicts are written back to the
//! kernel per cgroup pair so that `--scope` filters there.

use std::collections::HashMap;

use ctrail_classify::{self as classify, CgroupLine, CgroupSet, Evidence, NsEvidence, Verdict};
use ctrail_model::{Action, Activity, Container, Exec, ProcKey};
use ctrail_wire::CgKey;

use crate::host::Host;

#[derive(Debug, Clone)]
struct Proc {
    key: ProcKey,
    comm: String,
    container: Option<u32>,
    /// What the next verdict needs when the process moves: namespaces and paths.
    ns: [u32; 7],
    cg2: String,
    cg1: Option<String>,
}

/// A container seen in this run: its registry index and what the classifier said.
#[derive(Debug, Clone)]
pub struct Seen {
    pub verdict: Verdict,
    pub index: Option<u32>,
}

pub struct Attribution {
    host: Host,
    boot: u32,
    procs: HashMap<u32, Proc>,
    by_cgroup: HashMap<CgKey, Seen>,
    /// (pid ns, mnt ns) of each container seen: a process that enters both (nsenter,
    /// setns) without moving cgroups still runs inside that container.
    by_namespaces: HashMap<(u32, u32), u32>,
    /// The mount namespace alone: `setns` into a container's mount namespace.
    by_mnt: HashMap<u32, u32>,
    /// Containers whose start (or end) was recorded, so that each is recorded once although
    /// its cgroup appears in several hierarchies.
    started: std::collections::HashSet<String>,
    ended: std::collections::HashSet<String>,
}

/// The registry index of a container verdict (`None` for the host).
fn registered(verdict: &Verdict, now: u64, register: &mut impl FnMut(Container) -> u32) -> Option<u32> {
    let id = verdict.container_id.clone().filter(|_| verdict.container)?;
    Some(register(Container {
        id,
        runtime: verdict.runtime,
        name: verdict.name.clone(),
        pod_uid: verdict.pod_uid.clone(),
        outer_id: verdict.outer_id.clone(),
        cgroup: verdict.cgroup.clone(),
        reason: verdict.reason.clone(),
        first_seen: now,
        last_seen: now,
        processes: 0,
        events: 0,
        meta: Default::default(),
    }))
}

/// A verdict to write into the kernel's map.
pub struct Writeback {
    pub key: CgKey,
    pub container: bool,
}

impl Attribution {
    pub fn new(host: Host, boot: u32) -> Self {
        Attribution {
            host,
            boot,
            procs: HashMap::new(),
            by_cgroup: HashMap::new(),
            by_namespaces: HashMap::new(),
            by_mnt: HashMap::new(),
            started: Default::default(),
            ended: Default::default(),
        }
    }

    pub fn boot(&self) -> u32 {
        self.boot
    }

    /// A cgroup set as `/proc/PID/cgroup` would list it, from the recorded paths.
    fn cgroup_set(&self, v2: &str, v1: Option<&str>) -> CgroupSet {
        let mut lines = vec![CgroupLine { hierarchy_id: 0, controllers: vec![], path: v2.to_string() }];
        if let (Some(h), Some(path)) = (&self.host.v1, v1) {
            lines.push(CgroupLine { path: path.to_string(), ..h.line.clone() });
        }
        CgroupSet { lines }
    }

    /// Classifies an exec snapshot. `register` turns a container verdict into a registry index.
    pub fn on_exec(
        &mut self,
        key: ProcKey,
        ppid: u32,
        exec: &Exec,
        now: u64,
        register: &mut impl FnMut(Container) -> u32,
    ) -> (Option<u32>, Option<Writeback>) {
        let cgroups = self.cgroup_set(&exec.cgroups.v2_path, exec.cgroups.v1_path.as_deref());
        let parent_comm = self.procs.get(&ppid).map(|p| p.comm.clone());
        let verdict = classify::classify(&Evidence {
            cgroups: Some(&cgroups),
            host_cgroups: self.host.cgroups.as_ref(),
            ns: NsEvidence::compare(&exec.ns.to_array(), &self.host.ns),
            comm_before_exec: exec.comm_before.as_deref(),
            parent_comm: parent_comm.as_deref(),
        });
        let mut index = registered(&verdict, now, register);
        let ns_key = (exec.ns.pid, exec.ns.mnt);
        let own_ns = exec.ns.pid != self.host.ns[0] && exec.ns.mnt != self.host.ns[1];
        match index {
            Some(i) if own_ns => {
                self.by_namespaces.insert(ns_key, i);
                self.by_mnt.insert(exec.ns.mnt, i);
            }
            // Entered a container's namespaces without its cgroup (nsenter): its pid and mount
            // namespaces, or at least its mount namespace (it sees the container's files).
            None if exec.ns.mnt != self.host.ns[1] => {
                index = self.by_namespaces.get(&ns_key).or_else(|| self.by_mnt.get(&exec.ns.mnt)).copied()
            }
            _ => {}
        }
        self.procs.insert(
            key.tgid,
            Proc {
                key,
                comm: exec.comm.clone(),
                container: index,
                ns: exec.ns.to_array(),
                cg2: exec.cgroups.v2_path.clone(),
                cg1: exec.cgroups.v1_path.clone(),
            },
        );

        let cg = CgKey { cg2_id: exec.cgroups.v2_id, cg1_id: exec.cgroups.v1_id };
        let previous = self.by_cgroup.get(&cg).map(|s| s.verdict.container);
        // The first verdict for a cgroup goes to the kernel; a later one only when it
        // turns a host cgroup into a container (a runtime reusing a cgroup).
        let writeback = match previous {
            None => Some(verdict.container),
            Some(false) if verdict.container => Some(true),
            _ => None,
        }
        .map(|container| Writeback { key: cg, container });
        if writeback.is_some() {
            let index = index.filter(|_| verdict.container);
            self.by_cgroup.insert(cg, Seen { verdict, index });
        }
        (index, writeback)
    }

    /// A new process: its parent's container, or the container its cgroup is known to be.
    pub fn on_fork(&mut self, key: ProcKey, ppid: u32, comm: &str, ns: [u32; 7], cg: CgKey) -> Option<u32> {
        let by_cgroup = self.by_cgroup.get(&cg).filter(|s| s.verdict.container).and_then(|s| s.index);
        let parent = self.procs.get(&ppid);
        let container = by_cgroup.or_else(|| parent.and_then(|p| p.container));
        let (cg2, cg1) = parent.map(|p| (p.cg2.clone(), p.cg1.clone())).unwrap_or_else(|| ("/".into(), None));
        self.procs.insert(key.tgid, Proc { key, comm: comm.to_string(), container, ns, cg2, cg1 });
        container
    }

    /// The process joined another cgroup: decide again with the new path. A cgroup already
    /// known as a container's keeps that verdict (a runtime moves its helper in before it
    /// enters the container's namespaces).
    pub fn on_cgroup_move(
        &mut self,
        key: ProcKey,
        v2: bool,
        path: &str,
        cg: CgKey,
        now: u64,
        register: &mut impl FnMut(Container) -> u32,
    ) -> Option<u32> {
        if let Some(index) = self.by_cgroup.get(&cg).filter(|s| s.verdict.container).and_then(|s| s.index) {
            if let Some(p) = self.procs.get_mut(&key.tgid) {
                p.container = Some(index);
            }
            return Some(index);
        }
        let p = self.procs.get(&key.tgid).filter(|p| p.key == key).cloned()?;
        let (cg2, cg1) = if v2 { (path.to_string(), p.cg1.clone()) } else { (p.cg2.clone(), Some(path.to_string())) };
        let cgroups = self.cgroup_set(&cg2, cg1.as_deref());
        let verdict = classify::classify(&Evidence {
            cgroups: Some(&cgroups),
            host_cgroups: self.host.cgroups.as_ref(),
            ns: NsEvidence::compare(&p.ns, &self.host.ns),
            comm_before_exec: None,
            parent_comm: None,
        });
        let index = registered(&verdict, now, register);
        // Processes born later into this cgroup pair (clone3 CLONE_INTO_CGROUP, as
        // lxc-attach does) carry only its ids: remember what it is.
        if index.is_some() {
            self.by_cgroup.entry(cg).or_insert(Seen { verdict, index });
        }
        if let Some(me) = self.procs.get_mut(&key.tgid) {
            me.container = index;
            me.cg2 = cg2;
            me.cg1 = cg1;
        }
        index
    }

    /// What a process did happened in its container; a `setns` into a container's mount
    /// namespace happened in that container (`nsenter`, `docker exec` without a cgroup move).
    pub fn on_activity(&mut self, key: ProcKey, a: &Activity) -> Option<u32> {
        if let Action::Setns { .. } = a.action
            && a.ns.mnt != self.host.ns[1]
            && let Some(&i) = self.by_mnt.get(&a.ns.mnt)
        {
            return Some(i);
        }
        self.procs.get(&key.tgid).filter(|p| p.key == key).and_then(|p| p.container)
    }

    /// The container a live process is in, by pid (the target of a ptrace, say).
    pub fn container_of_pid(&self, pid: u32) -> Option<u32> {
        self.procs.get(&pid).and_then(|p| p.container)
    }

    /// A cgroup was created or removed: when its path is a container's, that container
    /// started or ended (once each, whatever the number of hierarchies).
    pub fn on_cgroup_dir(
        &mut self,
        created: bool,
        v2: bool,
        path: &str,
        now: u64,
        register: &mut impl FnMut(Container) -> u32,
    ) -> Option<u32> {
        let cgroups = if v2 { self.cgroup_set(path, None) } else { self.cgroup_set("/", Some(path)) };
        let verdict = classify::classify(&Evidence {
            cgroups: Some(&cgroups),
            host_cgroups: self.host.cgroups.as_ref(),
            ..Default::default()
        });
        // Only the container's own cgroup, not the ones below it (systemd inside, `.lxc`).
        let id = verdict.container_id.clone().filter(|_| verdict.container)?;
        if verdict.cgroup.as_deref() != Some(path) && !path.ends_with(&id) {
            let leaf = path.rsplit('/').next().unwrap_or_default();
            if !leaf.contains(id.as_str()) {
                return None;
            }
        }
        let first = if created { self.started.insert(id.clone()) } else { self.ended.insert(id) };
        first.then(|| registered(&verdict, now, register)).flatten()
    }

    /// A process ended: the container it had, and it leaves the table.
    pub fn on_exit(&mut self, key: ProcKey, cg: CgKey) -> Option<u32> {
        match self.procs.remove(&key.tgid) {
            Some(p) if p.key == key => p.container,
            Some(other) => {
                // A stale entry for a reused pid: keep the newer one.
                self.procs.insert(key.tgid, other);
                self.by_cgroup.get(&cg).and_then(|s| s.index)
            }
            None => self.by_cgroup.get(&cg).and_then(|s| s.index),
        }
    }

    pub fn live(&self) -> usize {
        self.procs.len()
    }
}
