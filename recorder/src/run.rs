//! `ctrail-recorder run`: the recording loop, the control socket, and orderly shutdown.

use std::{
    os::unix::fs::PermissionsExt,
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow};
use aya::maps::{MapData, RingBuf};
use ctrail_model::VERSION;
use ctrail_store::{StoreWriter, control};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Interest, unix::AsyncFd},
    net::{UnixListener, UnixStream},
    signal::unix::{SignalKind, signal},
    sync::{mpsc as tmpsc, oneshot},
};

use crate::{
    attribution::Attribution,
    cli::RunArgs,
    host, loader, preflight, snapshot,
    worker::{Msg, Settings, Totals, Worker, wall_now},
};

/// A request from a client connection (flush or seal), handed to the main loop so that the
/// ring buffer is drained before the ingest thread commits.
struct ControlRequest {
    seal: bool,
    reply: oneshot::Sender<Result<(), String>>,
}

/// How long a client may take to send its request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// One request line of at most `control::MAX_LINE` bytes within `REQUEST_TIMEOUT`: a client
/// that sends more, or nothing, is answered (or dropped) without anything being buffered.
async fn read_request(read: tokio::net::unix::OwnedReadHalf) -> Result<String, &'static str> {
    use tokio::io::AsyncReadExt;
    let mut line = Vec::new();
    let mut limited = read.take(control::MAX_LINE as u64);
    let got = tokio::time::timeout(REQUEST_TIMEOUT, BufReader::new(&mut limited).read_until(b'\n', &mut line)).await;
    match got {
        Err(_) => Err("timed out"),
        Ok(Err(_)) => Err("read failed"),
        Ok(Ok(_)) if line.last() != Some(&b'\n') => Err("request too long or cut off"),
        Ok(Ok(_)) => Ok(String::from_utf8_lossy(&line).trim().to_string()),
    }
}

async fn serve_client(stream: UnixStream, requests: tmpsc::Sender<ControlRequest>) {
    let (read, mut write) = stream.into_split();
    let reply = match read_request(read).await {
        Ok(r) if r == control::FLUSH || r == control::SEAL => {
            let (tx, rx) = oneshot::channel();
            if requests.send(ControlRequest { seal: r == control::SEAL, reply: tx }).await.is_err() {
                "error: the recorder is stopping".to_string()
            } else {
                match rx.await {
                    Ok(Ok(())) => "ok".to_string(),
                    // The reason is the recorder's own (a store error), one line.
                    Ok(Err(e)) => format!("error: {}", e.replace('\n', " ")),
                    Err(_) => "error: the recorder is stopping".to_string(),
                }
            }
        }
        // Never echoed back: the request is whatever the peer chose to send.
        Ok(_) => "error: unknown request (flush or seal)".to_string(),
        Err(why) => format!("error: {why}"),
    };
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, write.write_all(format!("{reply}\n").as_bytes())).await;
}

/// Records until SIGINT/SIGTERM. Returns the totals of the run.
pub async fn run(args: RunArgs) -> Result<Totals> {
    preflight::check()?;
    preflight::raise_memlock();
    let host = host::discover(VERSION)?;
    // Open the store before loading anything: a bad data dir must fail before probes go in.
    let (mut store, report) = StoreWriter::open(&args.data_dir, args.store_options(), wall_now())
        .with_context(|| format!("opening the store in {}", args.data_dir.display()))?;
    if let Some(mode) = report.tightened {
        tracing::warn!("{} was mode {mode:04o}, readable by others: tightened to 0700", args.data_dir.display());
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
    let boot = store.add_boot(&host.boot)?;

    // The control socket: we hold the data dir's lock, so any old socket file is stale.
    let sock_path = control::socket_path(&args.data_dir);
    let _ = std::fs::remove_file(&sock_path);
    let listener = UnixListener::bind(&sock_path).with_context(|| format!("binding {}", sock_path.display()))?;
    std::fs::set_permissions(&sock_path, std::fs::Permissions::from_mode(0o600))?;

    let t0 = Instant::now();
    let self_tgid = std::process::id();
    let probes = loader::load(&loader::Options {
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
    })?;
    let attached_boot_ns = host::boot_ns_now();
    let loader::Probes { bpf, ring, verdicts, counters, hooks } = probes;

    let running = snapshot::take(&host, attached_boot_ns, self_tgid);
    let settings = Settings {
        batch_events: args.batch_events.max(1),
        batch_age: Duration::from_millis(args.batch_ms.max(1)),
        scope: args.scope.wire(),
        wall_offset_ns: host.boot.wall_offset_ns,
        v1_hierarchy: host.v1.as_ref().map(|v| v.line.hierarchy_name()),
        attached_boot_ns,
    };
    let v1_desc = host.v1.as_ref().map(|v| v.line.hierarchy_name()).unwrap_or_else(|| "none (pure cgroup v2)".into());
    let worker = Worker::new(store, Attribution::new(host, boot), verdicts, counters, settings);
    // Bounded: if the store falls behind, the reader blocks, the kernel ring fills, and
    // the kernel counts what it drops (a stored gap) instead of memory growing unbounded.
    let (tx, rx) = mpsc::sync_channel::<Msg>(32);
    let handle = std::thread::Builder::new().name("ctrail-ingest".into()).spawn(move || worker.run(rx))?;
    let snapshot_len = running.len();
    tx.send(Msg::Snapshot(running)).map_err(|_| anyhow!("ingest thread ended early"))?;

    // Handlers go in before "recording" is announced: a stop right after it must be orderly.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
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
    let (seal_tx, mut seal_rx) = tmpsc::channel::<ControlRequest>(16);
    // The kernel wakes this loop only once the ring is an eighth full (a wakeup per event is
    // a context switch per exec on a busy host); the tick drains whatever is there meanwhile.
    let mut tick = tokio::time::interval(DRAIN_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard?;
                if !drain(guard.get_inner_mut(), &tx) {
                    return Err(anyhow!("ingest thread ended early"));
                }
                guard.clear_ready();
            }
            _ = tick.tick() => {
                if !drain(ring.get_mut(), &tx) {
                    return Err(anyhow!("ingest thread ended early"));
                }
            }
            conn = listener.accept() => {
                if let Ok((stream, _)) = conn {
                    tokio::spawn(serve_client(stream, seal_tx.clone()));
                }
            }
            Some(req) = seal_rx.recv() => {
                // Everything the kernel has written so far goes in before the commit.
                drain(ring.get_mut(), &tx);
                let msg = if req.seal { Msg::Seal(req.reply) } else { Msg::Flush(req.reply) };
                if tx.send(msg).is_err() {
                    return Err(anyhow!("ingest thread ended early"));
                }
            }
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
        }
    }
    drop(listener);
    let _ = std::fs::remove_file(&sock_path);
    // Stop the probes first, then drain what they already wrote, then commit.
    drop(bpf);
    drain(ring.get_mut(), &tx);
    let _ = tx.send(Msg::Stop);
    drop(tx);
    let totals = handle.join().map_err(|_| anyhow!("ingest thread panicked"))?;
    let k = totals.kernel;
    tracing::info!(
        "stopped: kernel emitted exec={} fork={} exit={} cgroup_move={} activity={}, lost exec={} fork={} exit={} \
         cgroup_move={} activity={}, filtered={}; received exec={} fork={} exit={} cgroup_move={}; snapshot={}; \
         stored={} events; store failures={}",
        k[0],
        k[1],
        k[2],
        k[8],
        k[10],
        k[3],
        k[4],
        k[5],
        k[9],
        k[11],
        k[6],
        totals.received[0],
        totals.received[1],
        totals.received[2],
        totals.received[3],
        totals.snapshot,
        totals.stored,
        totals.store_failures
    );
    Ok(totals)
}

/// How often the ring is drained when the kernel did not wake the reader: the most a record
/// waits in the ring before the ingest thread has it.
const DRAIN_EVERY: Duration = Duration::from_millis(20);

/// Records per message to the ingest thread: one channel wakeup per chunk, not per record.
const CHUNK: usize = 1024;

/// Moves everything in the ring to the ingest thread; false when that thread is gone.
fn drain(rb: &mut RingBuf<MapData>, tx: &mpsc::SyncSender<Msg>) -> bool {
    let mut chunk = Vec::new();
    while let Some(item) = rb.next() {
        chunk.push(item.to_vec());
        if chunk.len() == CHUNK && tx.send(Msg::Records(std::mem::take(&mut chunk))).is_err() {
            return false;
        }
    }
    chunk.is_empty() || tx.send(Msg::Records(chunk)).is_ok()
}
