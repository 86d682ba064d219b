//! `--metrics ADDR`: Prometheus metrics at `http://ADDR/metrics` (OpenMetrics text, from the
//! `prometheus-client` crate). Values are read at each scrape from what the ingest thread
//! publishes after every message, and from the data directory's listing: the server never
//! touches the ingest path. One small thread; a request is read up to 8 KiB and 5 seconds,
//! and anything but `GET /metrics` is a 404.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context, Result};
use ctrail_wire::counter;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};

use crate::worker::{Totals, wall_now};

/// What a scrape reads.
#[derive(Debug)]
struct Sources {
    totals: Arc<Mutex<Totals>>,
    data_dir: PathBuf,
    ring_bytes: u64,
}

/// The kinds the kernel counts, as labels, with their emitted and lost counters.
const KERNEL_KINDS: [(&str, u32, u32); 5] = [
    ("exec", counter::EXEC, counter::LOST_EXEC),
    ("fork", counter::FORK, counter::LOST_FORK),
    ("exit", counter::EXIT, counter::LOST_EXIT),
    ("cgroup_move", counter::MOVE, counter::LOST_MOVE),
    ("activity", counter::ACTIVITY, counter::LOST_ACTIVITY),
];

fn counter_family<'a>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    values: impl IntoIterator<Item = (&'a str, u64)>,
) -> std::fmt::Result {
    let probe = ConstCounter::new(0u64);
    let mut family = enc.encode_descriptor(name, help, None, probe.metric_type())?;
    for (value, n) in values {
        let labels = [(label, value)];
        ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, n: u64) -> std::fmt::Result {
    let c = ConstCounter::new(n);
    c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: f64) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}

impl Collector for Sources {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let t = self.totals.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let k = |c: u32| t.kernel[c as usize];
        // Counter names get `_total` from the OpenMetrics encoder.
        counter_family(
            &mut enc,
            "ctrail_events_emitted",
            "Records the kernel side sent, by kind",
            "kind",
            KERNEL_KINDS.iter().map(|&(n, e, _)| (n, k(e))),
        )?;
        counter_family(
            &mut enc,
            "ctrail_events_lost",
            "Records the kernel side could not send (ring buffer full), by kind; each loss is a stored gap",
            "kind",
            KERNEL_KINDS.iter().map(|&(n, _, l)| (n, k(l))),
        )?;
        counter_family(
            &mut enc,
            "ctrail_events_stored",
            "Events committed to the store, by kind",
            "kind",
            t.stored_by_kind.iter().map(|(n, v)| (*n, *v)),
        )?;
        counter(
            &mut enc,
            "ctrail_events_filtered",
            "Records the kernel side filtered out by --scope",
            k(counter::FILTERED),
        )?;
        counter(
            &mut enc,
            "ctrail_records_undecodable",
            "Kernel records that did not decode (stored as gaps)",
            t.decode_errors,
        )?;
        counter(
            &mut enc,
            "ctrail_store_failures",
            "Commits that failed (the events are counted in a gap)",
            t.store_failures,
        )?;
        counter_family(
            &mut enc,
            "ctrail_gaps",
            "Gaps stored by this run, by reason",
            "reason",
            t.gaps_by_reason.iter().map(|(n, v)| (*n, *v)),
        )?;
        counter(&mut enc, "ctrail_seal_requests", "Seal requests on the control socket", t.seal_requests)?;
        counter(
            &mut enc,
            "ctrail_metadata_lookups",
            "Containers whose runtime files were looked up",
            t.metadata_asked,
        )?;
        counter(&mut enc, "ctrail_metadata_answers", "Metadata lookups answered", t.metadata_answered)?;
        let age = if t.last_commit == 0 { -1.0 } else { wall_now().saturating_sub(t.last_commit) as f64 / 1e9 };
        gauge(&mut enc, "ctrail_last_commit_age_seconds", "Seconds since the last commit (-1: none yet)", age)?;
        let (segments, bytes) = match ctrail_store::segment::list(&self.data_dir) {
            Ok(l) => {
                let bytes: u64 =
                    l.segments.iter().filter_map(|f| std::fs::symlink_metadata(&f.path).ok()).map(|m| m.len()).sum();
                (l.segments.len() as f64, bytes as f64)
            }
            Err(_) => (-1.0, -1.0),
        };
        gauge(&mut enc, "ctrail_store_segments", "Segment files in the data directory", segments)?;
        gauge(&mut enc, "ctrail_store_bytes", "Bytes of the segment files in the data directory", bytes)?;
        use std::sync::atomic::Ordering::Relaxed;
        let fill = |b: u64| b as f64 / self.ring_bytes.max(1) as f64;
        gauge(
            &mut enc,
            "ctrail_ring_buffer_fill_ratio",
            "How full the ring buffer was when the reader last drained it (0-1)",
            fill(crate::run::RING_DRAINED.load(Relaxed)),
        )?;
        gauge(
            &mut enc,
            "ctrail_ring_buffer_fill_max_ratio",
            "The fullest the reader found the ring buffer since start (0-1; 1 means losses are near)",
            fill(crate::run::RING_DRAINED_MAX.load(Relaxed)),
        )?;
        Ok(())
    }
}

/// Binds `addr` (an error here stops the start) and serves scrapes on a thread.
pub fn serve(addr: SocketAddr, totals: Arc<Mutex<Totals>>, data_dir: PathBuf, ring_bytes: u64) -> Result<SocketAddr> {
    let listener = TcpListener::bind(addr).with_context(|| format!("binding --metrics {addr}"))?;
    let bound = listener.local_addr()?;
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Sources { totals, data_dir, ring_bytes }));
    std::thread::Builder::new().name("ctrail-metrics".into()).spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream, &registry);
        }
    })?;
    Ok(bound)
}

fn answer(mut s: TcpStream, registry: &Registry) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let path = path.split(|&b| b == b'?').next().unwrap_or_default();
    let (status, kind, body) = if method == b"GET" && path == b"/metrics" {
        let mut text = String::new();
        match prometheus_client::encoding::text::encode(&mut text, registry) {
            Ok(()) => ("200 OK", "application/openmetrics-text; version=1.0.0; charset=utf-8", text),
            Err(_) => ("500 Internal Server Error", "text/plain", "encoding failed\n".into()),
        }
    } else {
        ("404 Not Found", "text/plain", "ctrail-recorder serves /metrics only\n".into())
    };
    write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body.as_bytes())
}
