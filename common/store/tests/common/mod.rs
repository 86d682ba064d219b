//! What the store's tests share: a boot, small events, a writer with injected time.

#![allow(dead_code)]

use std::path::Path;

use ctrail_model::{Body, BootInfo, Container, Event, Exit, ProcKey, Runtime};
use ctrail_store::{Options, StoreReader, StoreWriter};

pub const SEC: u64 = 1_000_000_000;
/// 2026-11-01T00:00:00Z: far from now, so nothing here depends on the clock.
pub const T0: u64 = 1_793_491_200 * SEC;

pub fn boot() -> BootInfo {
    BootInfo {
        boot_id: "0badc0de-0000-4000-8000-000000000001".into(),
        hostname: "test".into(),
        kernel: "test".into(),
        ctrail_version: "test".into(),
        wall_offset_ns: 0,
        machine_id: None,
    }
}

/// An exit of process `tgid` at `t`: the smallest event, told apart by its pid.
pub fn exit(tgid: u32, t: u64) -> Event {
    let proc = ProcKey::new(0x0bad_c0de, tgid, SEC);
    Event {
        time: t,
        boot_ns: t,
        proc,
        tid: tgid,
        ppid: 1,
        parent_start: 0,
        container: None,
        body: Body::Exit(Exit { status: 0 }),
    }
}

/// An exec of process `tgid` at `t` in `container` (a store index), with a real-looking
/// argv and cgroup path.
pub fn exec(tgid: u32, t: u64, container: Option<u32>) -> Event {
    Event { body: ctrail_synthetic::exec(tgid, tgid), container, ..exit(tgid, t) }
}

pub fn docker(id: &str) -> Container {
    Container {
        id: id.into(),
        runtime: Some(Runtime::Docker),
        name: Some(format!("name-of-{id}")),
        pod_uid: None,
        outer_id: None,
        cgroup: Some(format!("/system.slice/docker-{id}.scope")),
        reason: "test".into(),
        first_seen: T0,
        last_seen: T0,
        processes: 0,
        events: 0,
        meta: Default::default(),
    }
}

pub fn open(dir: &Path, opts: Options, now: u64) -> StoreWriter {
    let (mut w, _) = StoreWriter::open(dir, opts, now).unwrap();
    w.add_boot(&boot()).unwrap();
    w
}

/// Options without compaction: the tests that count segments want the ones they made.
pub fn no_compaction() -> Options {
    Options { compact_below: Some(0), ..Options::default() }
}

/// Every pid stored, in time order; the store must read without a problem.
pub fn pids(dir: &Path) -> Vec<u32> {
    let r = StoreReader::open(dir).unwrap();
    let found: Vec<u32> = r.events(0, u64::MAX, |_| true).into_iter().map(|f| f.event.proc.tgid).collect();
    assert!(r.problems().is_empty(), "{:?}", r.problems());
    found
}
