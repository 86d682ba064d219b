//! `ctrail-recorder run`: the recording loop and orderly shutdown, step by step.

use std::{
    path::Path,
    sync::mpsc,
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow};
use aya::maps::{MapData, RingBuf};
use ctrail_model::VERSION;
use ctrail_store::{StoreWriter, control::socket_path};
use tokio::{
    io::{Interest, unix::AsyncFd},
    net::UnixListener,
    signal::unix::{Signal, SignalKind, signal},
    sync::mpsc as tmpsc,
};

use crate::{
    attribution::Attribution,
    cli::RunArgs,
    control::{self, ControlRequest},
    host::{self, Host},
    loader, preflight,
    snapshot::{self, Running},
    worker::{AyaKernel, Msg, Settings, Totals, Worker, wall_now},
};

/// Records until SIGINT/SIGTERM. Returns the totals of the run.
pub async fn run(args: RunArgs) -> Result<Totals> {
    preflight::check()?;
    preflight::raise_memlock();
    let mut host = host::discover(VERSION)?;
    if let Some(name) = &args.host_name {
        host.boot.hostname = name.clone();
    }
    // The store before anything is loaded: a bad data dir must fail before probes go in.
    let mut store = open_store(&args)?;
    let boot = store.add_boot(&host.boot)?;
    let listener = control::bind(&args.data_dir)?;
    let t0 = Instant::now();
    let self_tgid = std::process::id();
    let loader::Probes { bpf, ring, verdicts, counters, hooks } = load_probes(&args, &host, self_tgid)?;
    let attached_boot_ns = host::boot_ns_now();
    let running = snapshot::take(&host, attached_boot_ns, self_tgid);
    // In a container: the runtimes' own files must be mounted in, or their containers go
    // without names, images and labels. Said once, with the mount that would fix it.
    for (kind, dir) in crate::metadata::roots::unseen() {
        tracing::warn!(
            "a running {kind} runtime keeps its files in {}, which this recorder cannot see (a container \
             without that mount?): its containers will have no names, images or labels; mount it read-only",
            dir.display()
        );
    }
    let snapshot_len = running.len();
    let v1_desc = host.v1.as_ref().map(|v| v.line.hierarchy_name()).unwrap_or_else(|| "none (pure cgroup v2)".into());
    let settings = settings(&args, &host, attached_boot_ns);
    let mut worker = Worker::new(store, Attribution::new(host, boot), AyaKernel { verdicts, counters }, settings);
    if let Some(addr) = args.metrics {
        let published = std::sync::Arc::new(std::sync::Mutex::new(Totals::default()));
        worker.publish_to(published.clone());
        let ring = u64::from(args.ring_kib) * 1024;
        let bound = crate::metrics::serve(addr, published, args.data_dir.clone(), ring)?;
        tracing::info!("serving Prometheus metrics at http://{bound}/metrics");
    }
    let (tx, ingest) = start_ingest(worker, running)?;
    // Handlers go in before "recording" is announced: a stop right after it must be orderly.
    let signals = [signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?];
    tracing::info!(
        "recording to {} (scope {:?}, v1 hierarchy {v1_desc}, {snapshot_len} running processes, ready in {:?}); hooks: {}",
        args.data_dir.display(),
        args.scope,
        t0.elapsed(),
        hooks.summary()
    );
    // SAFETY: the RingBuf owns its map fd (an OwnedFd in MapData) and outlives the AsyncFd,
    // which we drop before it; nothing else closes that fd.
    let mut ring = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
        .context("registering the ring buffer with tokio")?;
    record(&mut ring, listener, &tx, signals).await?;
    let _ = std::fs::remove_file(socket_path(&args.data_dir));
    // Stop the probes first, then drain what they already wrote, then commit.
    drop(bpf);
    drain(ring.get_mut(), &tx);
    let _ = tx.send(Msg::Stop);
    drop(tx);
    let totals = ingest.join().map_err(|_| anyhow!("ingest thread panicked"))?;
    tracing::info!("stopped: {totals}");
    Ok(totals)
}

/// Opens (or creates) the store, and logs what opening it found.
fn open_store(args: &RunArgs) -> Result<StoreWriter> {
    let dir: &Path = &args.data_dir;
    let tree = match &args.parquet_dir {
        Some(root) => {
            let t = crate::parquet_tree::ParquetTree::open(root, dir, !args.allow_untrusted_data_dir)
                .with_context(|| format!("opening the Parquet tree {}", root.display()))?;
            tracing::info!("writing each sealed segment to the Parquet tree {}", t.root().display());
            Some(Box::new(t) as Box<dyn ctrail_store::Finalized>)
        }
        None => None,
    };
    let (store, report) = StoreWriter::open_with(dir, args.store_options(), wall_now(), tree)
        .with_context(|| format!("opening the store in {}", dir.display()))?;
    if let Some(mode) = report.tightened {
        tracing::warn!("{} was mode {mode:04o}, readable by others: tightened to 0700", dir.display());
    }
    for p in &report.recovered {
        tracing::warn!("recovered {} left by a recorder that did not stop", p.display());
    }
    for (p, why) in &report.set_aside {
        tracing::error!("set aside unreadable segment {} ({why})", p.display());
    }
    if let Some(g) = &report.downtime {
        tracing::info!("recorder was down for {:.1}s: stored as a gap", (g.end - g.start) as f64 / 1e9);
    }
    Ok(store)
}

fn load_probes(args: &RunArgs, host: &Host, self_tgid: u32) -> Result<loader::Probes> {
    loader::load(&loader::Options {
        attach: match args.attach {
            crate::cli::AttachArg::Auto => loader::Attach::Auto,
            crate::cli::AttachArg::RawTp => loader::Attach::RawTp,
        },
        self_tgid,
        cg1_hierarchy: host.v1.as_ref().map(|v| v.hierarchy_id).unwrap_or(0),
        argv_max: args.argv_max,
        scope: args.scope.wire(),
        ring_bytes: args.ring_kib * 1024,
        activity: crate::cli::activity_bits(&args.activity),
        activity_hooks: args.activity_hooks.forced(),
        resolve_exe: args.resolve_exe == crate::cli::ResolveExe::Auto,
    })
}

fn settings(args: &RunArgs, host: &Host, attached_boot_ns: u64) -> Settings {
    Settings {
        batch_events: args.batch_events.max(1),
        batch_age: Duration::from_millis(args.batch_ms.max(1)),
        scope: args.scope.wire(),
        wall_offset_ns: host.boot.wall_offset_ns,
        v1_hierarchy: host.v1.as_ref().map(|v| v.line.hierarchy_name()),
        attached_boot_ns,
        runtime_roots: args.runtime_roots(),
    }
}

/// The ingest thread, fed first with the processes that were running at start.
fn start_ingest(
    worker: Worker<AyaKernel>,
    running: Vec<Running>,
) -> Result<(mpsc::SyncSender<Msg>, JoinHandle<Totals>)> {
    // Bounded: if the store falls behind, the reader blocks, the kernel ring fills, and
    // the kernel counts what it drops (a stored gap) instead of memory growing unbounded.
    let (tx, rx) = mpsc::sync_channel::<Msg>(32);
    let handle = std::thread::Builder::new().name("ctrail-ingest".into()).spawn(move || worker.run(rx))?;
    tx.send(Msg::Snapshot(running)).map_err(|_| anyhow!("ingest thread ended early"))?;
    Ok((tx, handle))
}

/// The loop: the ring buffer to the ingest thread, control requests, until a signal.
async fn record(
    ring: &mut AsyncFd<RingBuf<MapData>>,
    listener: UnixListener,
    tx: &mpsc::SyncSender<Msg>,
    [mut sigint, mut sigterm]: [Signal; 2],
) -> Result<()> {
    let gone = || anyhow!("ingest thread ended early");
    let (req_tx, mut req_rx) = tmpsc::channel::<ControlRequest>(16);
    // The kernel wakes this loop only once the ring is an eighth full (a wakeup per event is
    // a context switch per exec on a busy host); the tick drains whatever is there meanwhile.
    let mut tick = tokio::time::interval(DRAIN_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard?;
                if !drain(guard.get_inner_mut(), tx) {
                    return Err(gone());
                }
                guard.clear_ready();
            }
            _ = tick.tick() => {
                if !drain(ring.get_mut(), tx) {
                    return Err(gone());
                }
            }
            conn = listener.accept() => {
                if let Ok((stream, _)) = conn {
                    tokio::spawn(control::serve_client(stream, req_tx.clone()));
                }
            }
            Some(req) = req_rx.recv() => {
                // Everything the kernel has written so far goes in before the commit.
                drain(ring.get_mut(), tx);
                let msg = if req.seal { Msg::Seal(req.reply) } else { Msg::Flush(req.reply) };
                if tx.send(msg).is_err() {
                    return Err(gone());
                }
            }
            _ = sigint.recv() => return Ok(()),
            _ = sigterm.recv() => return Ok(()),
        }
    }
}

/// How often the ring is drained when the kernel did not wake the reader: the most a record
/// waits in the ring before the ingest thread has it.
const DRAIN_EVERY: Duration = Duration::from_millis(20);

/// Records per message to the ingest thread: one channel wakeup per chunk, not per record.
const CHUNK: usize = 1024;

/// Moves everything in the ring to the ingest thread; false when that thread is gone.
/// Bytes of ring buffer the last drain took (records and their 8-byte headers, 8-aligned)
/// and the most any drain took: how full the ring was when the reader came, for
/// `--metrics` (the kernel's positions are not exposed to us).
pub static RING_DRAINED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
pub static RING_DRAINED_MAX: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn drain(rb: &mut RingBuf<MapData>, tx: &mpsc::SyncSender<Msg>) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    let mut chunk = Vec::new();
    let mut bytes = 0u64;
    while let Some(item) = rb.next() {
        bytes += 8 + (item.len() as u64).div_ceil(8) * 8;
        chunk.push(item.to_vec());
        if chunk.len() == CHUNK && tx.send(Msg::Records(std::mem::take(&mut chunk))).is_err() {
            return false;
        }
    }
    RING_DRAINED.store(bytes, Relaxed);
    RING_DRAINED_MAX.fetch_max(bytes, Relaxed);
    chunk.is_empty() || tx.send(Msg::Records(chunk)).is_ok()
}
