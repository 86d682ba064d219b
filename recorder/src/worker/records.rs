//! Each kernel record (and each process of the start-up snapshot) decoded, attributed to
//! its container, and added to the batch.

use ctrail_model::{Action, Body, ContainerLife, Event, ProcKey};
use ctrail_wire::CgKey;

use super::{Kernel, Undecodable, Worker, register};
use crate::{
    decode::{self, Decoded},
    snapshot::Running,
};

impl<K: Kernel> Worker<K> {
    pub(super) fn on_snapshot(&mut self, running: Vec<Running>) {
        let boot = self.attribution.boot();
        for r in running {
            let key = ProcKey::from_ticks(boot, r.tgid, r.start_ticks);
            let parent = ProcKey::from_ticks(boot, r.ppid, r.parent_start_ticks);
            let time = self.wall(key.start);
            let (store, metadata) = (&mut self.store, &mut self.metadata);
            let (container, _) =
                self.attribution.on_exec(key, r.ppid, &r.exec, time, &mut |c| register(store, metadata, c));
            self.totals.snapshot += 1;
            self.push(Event {
                time,
                boot_ns: key.start,
                proc: key,
                tid: r.tgid,
                ppid: r.ppid,
                parent_start: parent.start,
                container,
                body: Body::Exec(Box::new(r.exec)),
            });
        }
    }

    pub(super) fn on_record(&mut self, bytes: &[u8]) {
        let decoded = match decode::decode(bytes, self.settings.v1_hierarchy.as_deref()) {
            Ok(d) => d,
            Err(e) => {
                self.totals.decode_errors += 1;
                let u = self.undecodable.get_or_insert_with(|| Undecodable { records: 0, first_error: e.to_string() });
                u.records += 1;
                return;
            }
        };
        // Identity, time and cgroups come from the header, the same for every kind.
        let h = decoded.hdr();
        let boot = self.attribution.boot();
        let key = ProcKey::new(boot, h.tgid, h.start_boot_ns);
        let time = self.wall(h.ts_boot_ns);
        let cg = CgKey { cg2_id: h.cgroup_id, cg1_id: h.cg1_id };
        let (body, container) = match decoded {
            Decoded::Exec(h, exec) => {
                self.totals.received[0] += 1;
                let (store, metadata) = (&mut self.store, &mut self.metadata);
                let (container, writeback) =
                    self.attribution.on_exec(key, h.ppid, &exec, time, &mut |c| register(store, metadata, c));
                if let Some(w) = writeback
                    && let Err(e) = self.kernel.cache_verdict(w.key, w.container)
                {
                    tracing::warn!("cannot cache a verdict in the kernel: {e}");
                }
                (Body::Exec(exec), container)
            }
            Decoded::Fork(h, fork) => {
                self.totals.received[1] += 1;
                let container = self.attribution.on_fork(key, h.ppid, &fork.comm, fork.ns.to_array(), cg);
                (Body::Fork(fork), container)
            }
            Decoded::CgroupMove(_, mv) => {
                self.totals.received[3] += 1;
                let (store, metadata) = (&mut self.store, &mut self.metadata);
                let v2 = mv.hierarchy.is_none();
                let container =
                    self.attribution.on_cgroup_move(key, v2, &mv.path, cg, time, &mut |c| register(store, metadata, c));
                (Body::CgroupMove(mv), container)
            }
            Decoded::Activity(_, mut a) => {
                self.totals.received[4] += 1;
                let container = self.attribution.on_activity(key, &a);
                if let Action::Ptrace { target_pid, target_container, .. } = &mut a.action {
                    *target_container = self
                        .attribution
                        .container_of_pid(*target_pid)
                        .and_then(|i| self.store.container_id(i))
                        .map(str::to_string);
                }
                (Body::Activity(a), container)
            }
            Decoded::CgroupDir { created, v2, path, .. } => {
                self.totals.received[3] += 1;
                let (store, metadata) = (&mut self.store, &mut self.metadata);
                let Some(container) =
                    self.attribution.on_cgroup_dir(created, v2, &path, time, &mut |c| register(store, metadata, c))
                else {
                    return;
                };
                (Body::Container(ContainerLife { started: created, cgroup: path }), Some(container))
            }
            Decoded::Exit(_, exit, _comm) => {
                self.totals.received[2] += 1;
                let container = self.attribution.on_exit(key, cg);
                (Body::Exit(exit), container)
            }
        };
        let e = Event {
            time,
            boot_ns: h.ts_boot_ns,
            proc: key,
            tid: h.tid,
            ppid: h.ppid,
            parent_start: ProcKey::new(boot, h.ppid, h.parent_start_boot_ns).start,
            container,
            body,
        };
        self.push(e);
    }
}
