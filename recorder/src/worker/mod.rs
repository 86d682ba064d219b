//! The ingest thread: decodes kernel records, attributes them, batches them and commits.
//!
//! One thread owns the store, the process table and the verdict map, so none of them
//! needs a lock. Batches commit at 10,000 events or 100 ms, whichever comes first: the
//! age bounds what a crash can lose, and below 100k events/s it is what triggers; the
//! size only matters in storms, where bigger commits amortise the fsync and the index
//! pages each commit touches (ingest bench: ~275k events/s at 10,000 against ~175k at 1,000).

use std::{
    sync::mpsc::{Receiver, RecvTimeoutError},
    time::{Duration, Instant},
};

mod kernel;
mod records;
mod totals;

pub use kernel::{AyaKernel, Kernel};
pub use totals::Totals;

use ctrail_model::{Container, Event, EventKind, Gap, GapReason};
use ctrail_store::{Batch, StoreWriter};
use ctrail_wire::{self as wire, counter};

use crate::{
    attribution::Attribution,
    metadata::{self, Lookup},
    snapshot::Running,
};

pub enum Msg {
    Snapshot(Vec<Running>),
    /// Ring-buffer records, in the order the kernel wrote them.
    Records(Vec<Vec<u8>>),
    /// Commit now (a query wants current data); reply when done.
    Flush(tokio::sync::oneshot::Sender<Result<(), String>>),
    /// Commit and seal the active segment if it holds anything new; reply when done.
    Seal(tokio::sync::oneshot::Sender<Result<(), String>>),
    Stop,
}

/// Wall-clock ns now.
pub fn wall_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

pub struct Settings {
    pub batch_events: usize,
    pub batch_age: Duration,
    pub scope: u32,
    pub wall_offset_ns: i64,
    pub v1_hierarchy: Option<String>,
    /// Boot-clock ns when the probes were attached: the start of the first loss window.
    pub attached_boot_ns: u64,
    /// Runtime roots given with `--runtime-root` (more are found on the daemons' command lines).
    pub runtime_roots: metadata::Roots,
}

/// Records that reached userspace but could not be decoded since the last loss poll: lost,
/// so stored as a gap of their own (the kernel object and the recorder out of step, or a
/// bug), not merely counted.
struct Undecodable {
    records: u64,
    first_error: String,
}

pub struct Worker<K: Kernel> {
    store: StoreWriter,
    attribution: Attribution,
    kernel: K,
    settings: Settings,
    batch: Batch,
    batch_started: Option<Instant>,
    totals: Totals,
    /// Kernel loss counters at the last poll, and the boot time of that poll.
    lost_seen: [u64; 4],
    last_poll_boot_ns: u64,
    /// Events that reached us but could not be stored (disk full): recorded as a gap
    /// once the store accepts writes again.
    unstored: Option<Gap>,
    failing: bool,
    metadata: Lookup,
    undecodable: Option<Undecodable>,
    /// Where `--metrics` reads the totals from (copied after each message).
    published: Option<std::sync::Arc<std::sync::Mutex<Totals>>>,
}

/// A container's index in the store; its runtime's files are read on first sight.
fn register(store: &mut StoreWriter, metadata: &mut Lookup, c: Container) -> u32 {
    metadata.ask(&c.id, c.runtime);
    store.container(c)
}

impl<K: Kernel> Worker<K> {
    pub fn new(store: StoreWriter, attribution: Attribution, kernel: K, settings: Settings) -> Self {
        let last_poll_boot_ns = settings.attached_boot_ns;
        let metadata = Lookup::start(settings.runtime_roots.clone());
        Worker {
            store,
            attribution,
            kernel,
            settings,
            batch: Batch::default(),
            batch_started: None,
            totals: Totals::default(),
            lost_seen: [0; 4],
            last_poll_boot_ns,
            unstored: None,
            failing: false,
            metadata,
            undecodable: None,
            published: None,
        }
    }

    /// Keeps `to` up to date with this run's totals (for `--metrics`).
    pub fn publish_to(&mut self, to: std::sync::Arc<std::sync::Mutex<Totals>>) {
        self.published = Some(to);
    }

    fn wall(&self, boot_ns: u64) -> u64 {
        (boot_ns as i128 + self.settings.wall_offset_ns as i128).max(0) as u64
    }

    fn in_scope(&self, container: Option<u32>) -> bool {
        match self.settings.scope {
            wire::scope::CONTAINERS => container.is_some(),
            wire::scope::HOST => container.is_none(),
            _ => true,
        }
    }

    fn push(&mut self, e: Event) {
        if !self.in_scope(e.container) {
            return;
        }
        if self.batch_started.is_none() {
            self.batch_started = Some(Instant::now());
        }
        self.batch.events.push(e);
    }

    /// Turns new kernel losses into a gap covering the time since the last poll.
    fn poll_loss(&mut self) {
        let now = crate::host::boot_ns_now();
        let k = self.kernel.counters();
        self.totals.kernel = k;
        let lost = [
            k[counter::LOST_EXEC as usize],
            k[counter::LOST_FORK as usize],
            k[counter::LOST_EXIT as usize],
            k[counter::LOST_MOVE as usize] + k[counter::LOST_ACTIVITY as usize],
        ];
        let new: Vec<u64> = lost.iter().zip(self.lost_seen).map(|(a, b)| a - b).collect();
        if new.iter().any(|&n| n > 0) {
            let gap = Gap {
                start: self.wall(self.last_poll_boot_ns),
                end: self.wall(now),
                lost_exec: new[0],
                lost_fork: new[1],
                lost_exit: new[2],
                lost_other: new[3],
                reason: GapReason::RingBufferFull,
            };
            tracing::warn!("kernel dropped {} events (ring buffer full); stored as a gap", gap.lost());
            self.batch.gaps.push(gap);
            self.lost_seen = lost;
        }
        if let Some(u) = self.undecodable.take() {
            tracing::error!(
                "{} kernel records could not be decoded (the first: {}); stored as a gap",
                u.records,
                u.first_error
            );
            self.batch.gaps.push(Gap {
                start: self.wall(self.last_poll_boot_ns),
                end: self.wall(now),
                lost_exec: 0,
                lost_fork: 0,
                lost_exit: 0,
                lost_other: u.records,
                reason: GapReason::Undecodable { records: u.records, first_error: u.first_error },
            });
        }
        self.last_poll_boot_ns = now;
    }

    fn commit(&mut self) {
        if self.batch.is_empty() && self.unstored.is_none() {
            self.batch_started = None;
            return;
        }
        if let Some(g) = self.unstored.take() {
            self.batch.gaps.push(g);
        }
        match self.store.commit(&self.batch, wall_now()) {
            Ok(()) => {
                if self.totals.store_failures > 0 && self.failing {
                    tracing::warn!("the store accepts writes again; the lost window is stored as a gap");
                }
                self.failing = false;
                self.totals.stored += self.batch.events.len() as u64;
                for e in &self.batch.events {
                    *self.totals.stored_by_kind.entry(e.body.kind().as_str()).or_default() += 1;
                }
                for g in &self.batch.gaps {
                    *self.totals.gaps_by_reason.entry(totals::reason_label(&g.reason)).or_default() += 1;
                }
                self.totals.last_commit = wall_now();
            }
            Err(e) => {
                self.totals.store_failures += 1;
                // One line when the store starts failing, not one per batch.
                if !self.failing {
                    tracing::error!(
                        "could not store {} events: {e}; counting what is lost until it recovers",
                        self.batch.events.len()
                    );
                }
                self.failing = true;
                let mut gap =
                    self.batch.gaps.iter().find(|g| matches!(g.reason, GapReason::StoreFailed(_))).cloned().unwrap_or(
                        Gap {
                            start: self.batch.events.first().map(|e| e.time).unwrap_or(0),
                            end: 0,
                            lost_exec: 0,
                            lost_fork: 0,
                            lost_exit: 0,
                            lost_other: 0,
                            reason: GapReason::StoreFailed(e.to_string()),
                        },
                    );
                for ev in &self.batch.events {
                    match ev.body.kind() {
                        EventKind::Exec => gap.lost_exec += 1,
                        EventKind::Fork => gap.lost_fork += 1,
                        EventKind::Exit => gap.lost_exit += 1,
                        _ => gap.lost_other += 1,
                    }
                    gap.end = gap.end.max(ev.time);
                }
                // Kernel-loss gaps in a failed batch are kept for the next try.
                let kept: Vec<Gap> =
                    self.batch.gaps.drain(..).filter(|g| !matches!(g.reason, GapReason::StoreFailed(_))).collect();
                self.batch = Batch { events: Vec::new(), gaps: kept };
                self.unstored = Some(gap);
                self.batch_started = None;
                return;
            }
        }
        self.batch = Batch::default();
        self.batch_started = None;
    }

    /// The data directory changed under us (found by the store's checks, which also stored
    /// each as a gap): one error line each.
    fn log_tampers(&mut self) {
        for t in self.store.take_tampers() {
            tracing::error!("{}", t.what);
        }
        for r in self.store.take_reports() {
            tracing::warn!("{r}");
        }
    }

    /// Stores what a container's runtime files said (with the container, at the next commit).
    fn describe(&mut self, f: metadata::Found) {
        for r in &f.refused {
            // Debug formatting: an ID or path taken from recorded data is shown escaped.
            tracing::warn!("container {:?}: {r:?}", f.id);
        }
        tracing::debug!("container {:?}: metadata read in {:?}", f.id, f.took);
        self.store.describe(&f.id, f.name, f.pod_uid, f.runtime, f.meta);
    }

    pub fn run(mut self, rx: Receiver<Msg>) -> Totals {
        let poll_every = Duration::from_secs(1);
        let mut last_poll = Instant::now();
        loop {
            let wait = match self.batch_started {
                Some(t) => self.settings.batch_age.saturating_sub(t.elapsed()),
                None => poll_every,
            };
            match rx.recv_timeout(wait) {
                Ok(Msg::Records(records)) => {
                    for bytes in &records {
                        self.on_record(bytes);
                    }
                }
                Ok(Msg::Snapshot(running)) => self.on_snapshot(running),
                Ok(Msg::Flush(reply)) => {
                    self.commit();
                    let r = match self.unstored.as_ref() {
                        Some(g) => Err(format!("the store is failing: {:?}", g.reason)),
                        None => Ok(()),
                    };
                    let _ = reply.send(r);
                }
                Ok(Msg::Seal(reply)) => {
                    self.totals.seal_requests += 1;
                    self.commit();
                    let r = match self.unstored.as_ref() {
                        Some(g) => Err(format!("the store is failing: {:?}", g.reason)),
                        None => self.store.seal_now(wall_now()).map(|_| ()).map_err(|e| e.to_string()),
                    };
                    self.log_tampers();
                    let _ = reply.send(r);
                }
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            for f in self.metadata.found() {
                self.totals.metadata_answered += 1;
                self.describe(f);
            }
            self.totals.metadata_asked = self.metadata.asked();
            if let Some(p) = &self.published {
                p.lock().unwrap_or_else(|e| e.into_inner()).clone_from(&self.totals);
            }
            if last_poll.elapsed() >= poll_every {
                self.poll_loss();
                if let Err(e) = self.store.tick(wall_now()) {
                    tracing::warn!("segment upkeep failed: {e}");
                }
                self.log_tampers();
                last_poll = Instant::now();
            }
            let age_due = self.batch_started.is_some_and(|t| t.elapsed() >= self.settings.batch_age);
            if self.batch.events.len() >= self.settings.batch_events || age_due {
                self.commit();
            }
        }
        // Containers seen just before the stop: their files are still being read.
        for f in self.metadata.finish(Duration::from_secs(1)) {
            self.describe(f);
        }
        if self.metadata.dropped > 0 {
            tracing::warn!(
                "{} containers were recorded without runtime metadata (lookup queue full)",
                self.metadata.dropped
            );
        }
        self.poll_loss();
        self.commit();
        if let Some(g) = self.unstored.take() {
            self.batch.gaps.push(g);
            self.commit();
        }
        tracing::debug!("{} processes still live at stop", self.attribution.live());
        match self.store.close(wall_now()) {
            Ok(closed) => {
                if let Some(p) = closed.sealed {
                    tracing::info!("sealed {}", p.display());
                }
                for r in closed.reports {
                    tracing::warn!("{r}");
                }
            }
            Err(e) => tracing::error!("could not seal the active segment at stop: {e}"),
        }
        self.totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Host;
    use ctrail_model::BootInfo;
    use ctrail_store::{Options, StoreReader};
    use ctrail_wire::CgKey;

    /// No kernel: the ingest path alone.
    struct NoKernel;

    impl Kernel for NoKernel {
        fn cache_verdict(&mut self, _: CgKey, _: bool) -> Result<(), String> {
            Ok(())
        }

        fn counters(&self) -> [u64; wire::COUNTERS] {
            [0; wire::COUNTERS]
        }
    }

    #[test]
    fn a_record_that_does_not_decode_is_a_stored_gap_and_on_the_stop_line() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let (mut store, _) = StoreWriter::open(&dir, Options::default(), wall_now()).unwrap();
        let info = BootInfo {
            boot_id: "00000000-0000-4000-8000-000000000001".into(),
            hostname: "test".into(),
            kernel: "test".into(),
            ctrail_version: "test".into(),
            wall_offset_ns: 0,
            machine_id: None,
        };
        let boot = store.add_boot(&info).unwrap();
        let host = Host { boot: info, ns: [1, 2, 3, 4, 5, 6, 7], cgroups: None, v1: None, v2_mount: None };
        let settings = Settings {
            batch_events: 10,
            batch_age: Duration::from_millis(100),
            scope: wire::scope::ALL,
            wall_offset_ns: 0,
            v1_hierarchy: None,
            attached_boot_ns: crate::host::boot_ns_now(),
            runtime_roots: Default::default(),
        };
        let worker = Worker::new(store, Attribution::new(host, boot), NoKernel, settings);
        let mut unknown_kind = vec![0u8; 64];
        unknown_kind[0] = 99;
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        tx.send(Msg::Records(vec![vec![0u8; 8], unknown_kind])).unwrap();
        tx.send(Msg::Stop).unwrap();
        let totals = worker.run(rx);
        assert_eq!(totals.decode_errors, 2);
        assert!(totals.to_string().contains("undecodable=2"), "{totals}");
        let r = StoreReader::open(&dir).unwrap();
        let gaps = r.gaps();
        let bad: Vec<_> =
            gaps.iter().filter(|g| matches!(g.reason, GapReason::Undecodable { records: 2, .. })).collect();
        assert_eq!(bad.len(), 1, "{gaps:?}");
        assert_eq!(bad[0].lost(), 2);
        assert!(
            matches!(&bad[0].reason, GapReason::Undecodable { first_error, .. } if first_error.contains("shorter"))
        );
    }
}
