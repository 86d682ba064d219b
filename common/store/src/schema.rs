//! redb tables, key layouts and value encoding of a store file. Documented in
//! ARCHITECTURE.md ("On-disk format"); change both together and bump
//! [`super::FORMAT_VERSION`] when a reader of the old version would misread the new.

use ctrail_model::{Body, Event};
use redb::TableDefinition;
use serde::{Serialize, de::DeserializeOwned};

use super::StoreError;

/// `magic` -> [`MAGIC`]; `format` -> u32 LE format version; `seq` -> u64 LE segment number;
/// `created`, `last_commit` -> u64 LE wall ns; format 2 adds `first`, `last` (u64 LE wall ns
/// of the earliest and latest event) and `late` (u64 LE: how far an order key of
/// [`EVENTS_BY_TIME`] may lie above its event's time).
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// (boot, tgid, start) -> [`ctrail_model::Event`]: the processes alive when the segment
/// began (their latest exec, or fork if they never exec'd), so the segment reads alone.
pub const CHECKPOINT: TableDefinition<(u32, u32, u64), &[u8]> = TableDefinition::new("checkpoint");
/// boot index (from the boot id, see [`ctrail_model::boot_index`]) -> [`ctrail_model::BootInfo`]
pub const BOOTS: TableDefinition<u32, &[u8]> = TableDefinition::new("boots");
/// (wall ns, seq) -> [`ctrail_model::Event`]; seq is unique and grows with each event
/// (format-1 segments).
pub const EVENTS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("events");
/// order key -> [`ctrail_model::Event`] (format-2 redb segments: the active one). The key
/// is the event's wall ns, or one more than the key before it when that is not larger:
/// unique, growing with each insert, never below the event's time, and above it by at most
/// the `late` meta value. One u64 key, as redb appends it fastest (a (time, seq) tuple or a
/// u128 cost a third of the ingest rate); a reader of `[since, until)` scans keys from
/// `since` to `until + late` and checks each event's own time.
pub const EVENTS_BY_TIME: TableDefinition<u64, &[u8]> = TableDefinition::new("events_by_time");

/// (boot, tgid, start, wall ns, seq) -> (): the events of one process, in time order
/// (format-1 segments only).
pub const BY_PROC: TableDefinition<(u32, u32, u64, u64, u64), ()> = TableDefinition::new("by_proc");
/// (container index, wall ns, seq) -> (): the events of one container, in time order
/// (format-1 segments only).
pub const BY_CONTAINER: TableDefinition<(u32, u64, u64), ()> = TableDefinition::new("by_container");
/// container index -> [`ctrail_model::Container`]
pub const CONTAINERS: TableDefinition<u32, &[u8]> = TableDefinition::new("containers");
/// container index -> (events, processes, first seen, last seen) in this segment (format-4
/// redb segments): the counters change at every commit, the record in [`CONTAINERS`]
/// (metadata, labels: kilobytes on a Kubernetes node) only when it is described, so only
/// these 32 bytes are rewritten. A counter row overrides the record's counters.
pub const CONTAINER_COUNTS: TableDefinition<u32, (u64, u64, u64, u64)> = TableDefinition::new("container_counts");
/// full container id -> container index
pub const CONTAINER_IDS: TableDefinition<&str, u32> = TableDefinition::new("container_ids");
/// (start wall ns, seq) -> [`ctrail_model::Gap`]
pub const GAPS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("gaps");

pub const MAGIC: &[u8] = b"ctrail-store";

/// A container record as formats 1 and 2 stored it: [`ctrail_model::Container`] before
/// its `meta` field (bincode names fields by position, so the old layout is kept here and
/// read by format, never guessed from the bytes).
#[derive(serde::Deserialize)]
pub struct ContainerV2 {
    id: String,
    runtime: Option<ctrail_model::Runtime>,
    name: Option<String>,
    pod_uid: Option<String>,
    outer_id: Option<String>,
    cgroup: Option<String>,
    reason: String,
    first_seen: u64,
    last_seen: u64,
    processes: u64,
    events: u64,
}

impl From<ContainerV2> for ctrail_model::Container {
    fn from(c: ContainerV2) -> Self {
        let ContainerV2 {
            id,
            runtime,
            name,
            pod_uid,
            outer_id,
            cgroup,
            reason,
            first_seen,
            last_seen,
            processes,
            events,
        } = c;
        ctrail_model::Container {
            id,
            runtime,
            name,
            pod_uid,
            outer_id,
            cgroup,
            reason,
            first_seen,
            last_seen,
            processes,
            events,
            meta: Default::default(),
        }
    }
}

/// An exec as formats 1-3 stored it: [`ctrail_model::Exec`] before `filename`, `cwd` and
/// `file`. Its `exe` is what was passed to exec, so that is the new `filename` too.
#[derive(serde::Deserialize)]
pub struct ExecV3 {
    source: ctrail_model::Source,
    ns_pid: u32,
    old_tid: u32,
    comm: String,
    comm_before: Option<String>,
    #[serde(with = "serde_bytes")]
    exe: Vec<u8>,
    argv: Vec<serde_bytes::ByteBuf>,
    argv_truncated: bool,
    argv_bytes: u32,
    uid: u32,
    gid: u32,
    euid: u32,
    egid: u32,
    loginuid: u32,
    caps: ctrail_model::Caps,
    ns: ctrail_model::Namespaces,
    cgroups: ctrail_model::Cgroups,
}

/// [`ctrail_model::Body`] of formats 1-3: the same variants in the same order (bincode
/// numbers them), only the exec's layout differs.
#[derive(serde::Deserialize)]
pub enum BodyV3 {
    Exec(Box<ExecV3>),
    Fork(ctrail_model::Fork),
    Exit(ctrail_model::Exit),
    CgroupMove(ctrail_model::CgroupMove),
    Activity(Box<ctrail_model::Activity>),
    Container(ctrail_model::ContainerLife),
}

/// [`ctrail_model::Event`] of formats 1-3.
#[derive(serde::Deserialize)]
pub struct EventV3 {
    time: u64,
    boot_ns: u64,
    proc: ctrail_model::ProcKey,
    tid: u32,
    ppid: u32,
    parent_start: u64,
    container: Option<u32>,
    body: BodyV3,
}

/// [`ctrail_model::BootInfo`] of formats 1-4: before `machine_id`.
#[derive(serde::Deserialize)]
pub struct BootInfoV4 {
    boot_id: String,
    hostname: String,
    kernel: String,
    ctrail_version: String,
    wall_offset_ns: i64,
}

impl Legacy for BootInfoV4 {
    type Now = ctrail_model::BootInfo;
    fn upgrade(self) -> Self::Now {
        let BootInfoV4 { boot_id, hostname, kernel, ctrail_version, wall_offset_ns } = self;
        ctrail_model::BootInfo { boot_id, hostname, kernel, ctrail_version, wall_offset_ns, machine_id: None }
    }
}

impl<T: Legacy> Legacy for (u32, T) {
    type Now = (u32, T::Now);
    fn upgrade(self) -> Self::Now {
        (self.0, self.1.upgrade())
    }
}

/// A stored shape of an older format and what it reads as now.
pub trait Legacy {
    type Now;
    fn upgrade(self) -> Self::Now;
}

impl Legacy for EventV3 {
    type Now = Event;
    fn upgrade(self) -> Event {
        let EventV3 { time, boot_ns, proc, tid, ppid, parent_start, container, body } = self;
        let body = match body {
            BodyV3::Exec(x) => {
                // Every old field is read here (an unread one would be dead code, which the
                // lints refuse) and every new one is given (the struct literal is complete).
                let x = *x;
                Body::Exec(Box::new(ctrail_model::Exec {
                    source: x.source,
                    ns_pid: x.ns_pid,
                    old_tid: x.old_tid,
                    comm: x.comm,
                    comm_before: x.comm_before,
                    filename: x.exe.clone(),
                    exe: x.exe,
                    argv: x.argv.into_iter().map(serde_bytes::ByteBuf::into_vec).collect(),
                    argv_truncated: x.argv_truncated,
                    argv_bytes: x.argv_bytes,
                    uid: x.uid,
                    gid: x.gid,
                    euid: x.euid,
                    egid: x.egid,
                    loginuid: x.loginuid,
                    caps: x.caps,
                    ns: x.ns,
                    cgroups: x.cgroups,
                    cwd: None,
                    file: None,
                }))
            }
            BodyV3::Fork(f) => Body::Fork(f),
            BodyV3::Exit(e) => Body::Exit(e),
            BodyV3::CgroupMove(m) => Body::CgroupMove(m),
            BodyV3::Activity(a) => Body::Activity(a),
            BodyV3::Container(c) => Body::Container(c),
        };
        Event { time, boot_ns, proc, tid, ppid, parent_start, container, body }
    }
}

impl<T: Legacy> Legacy for Vec<T> {
    type Now = Vec<T::Now>;
    fn upgrade(self) -> Self::Now {
        self.into_iter().map(Legacy::upgrade).collect()
    }
}

impl<T: Legacy> Legacy for (u64, T) {
    type Now = (u64, T::Now);
    fn upgrade(self) -> Self::Now {
        (self.0, self.1.upgrade())
    }
}

/// Decodes events (or a shape holding them) as a file of `format` laid them out: through
/// `L`, the layout before [`crate::EXE_FILE_SINCE`], when the file is older.
pub fn decode_events<L>(format: u32, what: &'static str, bytes: &[u8]) -> Result<L::Now, StoreError>
where
    L: Legacy + DeserializeOwned,
    L::Now: DeserializeOwned,
{
    if format < crate::EXE_FILE_SINCE { decode::<L>(what, bytes).map(Legacy::upgrade) } else { decode(what, bytes) }
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    bincode::serde::encode_to_vec(v, config()).map_err(|e| StoreError::Encode(e.to_string()))
}

/// Appends the encoding of `v` to `buf`: one buffer for a whole batch, as a fresh `Vec`
/// per event (and its regrowth) cost three times the encoding itself.
pub fn encode_into<T: Serialize>(buf: &mut Vec<u8>, v: &T) -> Result<(), StoreError> {
    bincode::serde::encode_into_std_write(v, buf, config()).map(|_| ()).map_err(|e| StoreError::Encode(e.to_string()))
}

pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    bincode::serde::decode_from_slice(bytes, config())
        .map(|(v, _)| v)
        .map_err(|e| StoreError::Decode { what, detail: e.to_string() })
}
