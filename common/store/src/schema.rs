//! redb tables, key layouts and value encoding of a store file. Documented in
//! ARCHITECTURE.md ("On-disk format"); change both together and bump
//! [`super::FORMAT_VERSION`] when a reader of the old version would misread the new.

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
