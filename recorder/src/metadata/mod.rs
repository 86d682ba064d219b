//! Runtime metadata (names, images, pods, labels) read from the runtimes' own files once per
//! container, when the recorder first sees it: every runtime writes them before the
//! container's first process runs, and some remove them milliseconds after it exits, so the
//! reading must be early, and it must never hold up recording.
//!
//! The ingest thread hands each new container to [`Lookup`], whose own thread reads the
//! files (bounded: [`runtimes::BUDGET`] bytes, [`MAX_QUEUE`] waiting containers) and sends
//! back what it found; the ingest thread stores it with the container at its next commit.

mod facts;
mod files;
pub mod roots;
mod runtimes;

use std::{
    collections::HashSet,
    sync::mpsc,
    time::{Duration, Instant},
};

use ctrail_classify::Runtime;
use ctrail_model::Metadata;

pub use roots::Roots;

/// Containers waiting for a lookup at most: beyond that (a storm of new containers faster
/// than their files can be read), a container is recorded without metadata and counted.
pub const MAX_QUEUE: usize = 4096;

pub struct Request {
    pub id: String,
    pub runtime: Option<Runtime>,
}

/// What the files said about one container.
#[derive(Debug)]
pub struct Found {
    pub id: String,
    pub name: Option<String>,
    pub pod_uid: Option<String>,
    pub runtime: Option<Runtime>,
    pub meta: Metadata,
    /// Files that were there but refused (not root's, a symlink, too large, unparsable).
    pub refused: Vec<String>,
    pub took: Duration,
}

pub struct Lookup {
    tx: Option<mpsc::SyncSender<Request>>,
    rx: mpsc::Receiver<Found>,
    asked: HashSet<String>,
    waiting: usize,
    pub dropped: u64,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Lookup {
    pub fn start(given: Roots) -> Lookup {
        let (tx, requests) = mpsc::sync_channel::<Request>(MAX_QUEUE);
        let (results, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("ctrail-metadata".into())
            .spawn(move || {
                let mut finder = roots::Finder::new(given);
                for r in requests {
                    let t = Instant::now();
                    let (mut f, found) = read(&mut finder, &r);
                    // The runtime's own files were not where the roots say: its daemon (or
                    // conmon, which podman starts per container) may be newer than the scan.
                    if !found && finder.rescan() {
                        // A daemon started (or moved) since the roots were found.
                        f = read(&mut finder, &r).0;
                    }
                    // Said, so that a reader tells "looked, nothing there" from "not looked yet".
                    if f.meta.sources.is_empty() {
                        f.meta.sources.insert("lookup".into(), "no file of its runtime found".into());
                    }
                    let found = Found {
                        id: r.id,
                        name: f.name,
                        pod_uid: f.pod_uid,
                        runtime: f.runtime,
                        meta: f.meta,
                        refused: f.refused,
                        took: t.elapsed(),
                    };
                    if results.send(found).is_err() {
                        break;
                    }
                }
            })
            .expect("spawning the metadata thread");
        Lookup { tx: Some(tx), rx, asked: HashSet::new(), waiting: 0, dropped: 0, thread: Some(thread) }
    }

    /// Asks for a container's metadata, once per container ID.
    pub fn ask(&mut self, id: &str, runtime: Option<Runtime>) {
        if self.asked.contains(id) {
            return;
        }
        self.asked.insert(id.to_string());
        let Some(tx) = &self.tx else { return };
        match tx.try_send(Request { id: id.to_string(), runtime }) {
            Ok(()) => self.waiting += 1,
            Err(_) => self.dropped += 1,
        }
    }

    /// What has been found since the last call.
    /// Containers asked about so far.
    pub fn asked(&self) -> u64 {
        self.asked.len() as u64
    }

    pub fn found(&mut self) -> Vec<Found> {
        let v: Vec<Found> = self.rx.try_iter().collect();
        self.waiting -= v.len();
        v
    }

    /// At stop: what the lookups still running find within `within`.
    pub fn finish(&mut self, within: Duration) -> Vec<Found> {
        self.tx = None;
        let deadline = Instant::now() + within;
        let mut v = Vec::new();
        while self.waiting > 0 {
            match self.rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(f) => {
                    self.waiting -= 1;
                    v.push(f);
                }
                Err(_) => break,
            }
        }
        if self.waiting == 0
            && let Some(t) = self.thread.take()
        {
            let _ = t.join();
        }
        v
    }
}

/// The readers for a runtime, in the reference's order; all of them when the cgroup path
/// did not say which runtime (a kubepods cgroupfs path, for one). Also whether the files
/// were where the roots say: the runtime's own reader found the container, or, when the
/// runtime is unknown, any reader did. A miss costs a rescan, and the lookups queued behind
/// it wait: a container that exits at once has its files removed within milliseconds.
fn read(finder: &mut roots::Finder, r: &Request) -> (facts::Facts, bool) {
    use runtimes::*;
    type Reader = fn(&mut Ctx, &str, &mut facts::Facts) -> bool;
    let readers: &[Reader] = match r.runtime {
        Some(Runtime::Docker) => &[docker, containerd],
        Some(Runtime::Containerd) => &[containerd, oci],
        Some(Runtime::CriO) | Some(Runtime::Podman) => &[storage, oci],
        Some(Runtime::Runc) | Some(Runtime::Crun) => &[oci, containerd],
        Some(Runtime::Lxc) => &[lxc],
        Some(Runtime::SystemdNspawn) => &[nspawn],
        Some(Runtime::LibvirtLxc) => &[],
        None => &[docker, containerd, storage, oci],
    };
    let mut f = facts::Facts::default();
    let mut cx = Ctx { roots: finder.roots(), budget: BUDGET };
    let (mut first, mut any) = (None, false);
    for reader in readers {
        // Later readers only fill what earlier ones left unknown (the first file wins).
        let found = reader(&mut cx, &r.id, &mut f);
        first.get_or_insert(found);
        any |= found;
    }
    let found = match r.runtime {
        None => any,
        Some(_) => first.unwrap_or(true),
    };
    (f, found)
}
