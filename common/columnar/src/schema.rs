//! The events table as engines see it. Columns are only ever added (at the end), never
//! renamed or retyped: DuckDB's `union_by_name` and Spark's `mergeSchema` then read files
//! of every version together. Bump [`SCHEMA_VERSION`] with each addition.

use std::{collections::HashMap, sync::Arc};

use arrow_schema::{DataType, Field, Schema, TimeUnit};

/// Written into every file's key-value metadata as `ctrail.schema_version`. 2: the
/// `containers` and `gaps` tables, and `machine_id` in every table.
pub const SCHEMA_VERSION: u32 = 2;

fn version() -> HashMap<String, String> {
    HashMap::from([("ctrail.schema_version".to_string(), SCHEMA_VERSION.to_string())])
}

fn timestamp(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), nullable)
}

/// Integers are Int64 whatever their width: Spark reads unsigned Parquet integers badly,
/// and a pid or uid never needs the 64th bit. Time is `TIMESTAMP(MICROS, UTC)` (Spark
/// cannot read NANOS) with the exact nanoseconds beside it.
pub fn events_schema() -> Arc<Schema> {
    use DataType::*;
    let s = |name: &str| Field::new(name, Utf8, true);
    let i = |name: &str| Field::new(name, Int64, true);
    let b = |name: &str| Field::new(name, Boolean, true);
    let fields = vec![
        timestamp("time", false),
        Field::new("time_ns", Int64, false),
        Field::new("host", Utf8, false),
        Field::new("boot_id", Utf8, false),
        Field::new("type", Utf8, false),
        Field::new("pid", Int64, false),
        Field::new("tid", Int64, false),
        Field::new("ppid", Int64, false),
        Field::new("process_start", Int64, false),
        s("container_id"),
        s("runtime"),
        s("container_name"),
        s("image"),
        s("image_id"),
        s("pod_name"),
        s("pod_namespace"),
        s("pod_uid"),
        s("exe"),
        s("filename"),
        s("cwd"),
        Field::new("argv", List(Arc::new(Field::new("item", Utf8, true))), true),
        i("uid"),
        i("gid"),
        i("euid"),
        i("egid"),
        s("cap_effective"),
        s("comm"),
        i("exit_code"),
        i("signal"),
        s("cgroup"),
        i("exe_inode"),
        b("exe_upper_layer"),
        b("exe_memfd"),
        b("exe_deleted"),
        i("result"),
        s("detail"),
        s("machine_id"),
    ];
    Arc::new(Schema::new_with_metadata(fields, version()))
}

/// One row per container per file: the container as the segment recorded it (its
/// counters are the segment's), labels as a map. Joined to `events` on `container_id`.
pub fn containers_schema() -> Arc<Schema> {
    use DataType::*;
    let s = |name: &str| Field::new(name, Utf8, true);
    let labels = Field::new_map(
        "labels",
        "entries",
        Field::new("key", Utf8, false),
        Field::new("value", Utf8, true),
        false,
        false,
    );
    let fields = vec![
        Field::new("container_id", Utf8, false),
        Field::new("host", Utf8, false),
        Field::new("boot_id", Utf8, false),
        s("runtime"),
        s("container_name"),
        s("image"),
        s("image_id"),
        s("image_digest"),
        s("pod_name"),
        s("pod_namespace"),
        s("pod_uid"),
        Field::new("sandbox", Boolean, true),
        s("cgroup"),
        s("outer_id"),
        Field::new("reason", Utf8, false),
        timestamp("first_seen", false),
        timestamp("last_seen", false),
        Field::new("first_seen_ns", Int64, false),
        Field::new("last_seen_ns", Int64, false),
        Field::new("events", Int64, false),
        Field::new("processes", Int64, false),
        labels,
        Field::new("machine_id", Utf8, true),
    ];
    Arc::new(Schema::new_with_metadata(fields, version()))
}

/// One row per window in which events were lost, and why: what makes an answer from
/// the tree complete or not.
pub fn gaps_schema() -> Arc<Schema> {
    use DataType::*;
    let fields = vec![
        timestamp("start", false),
        timestamp("end", false),
        Field::new("start_ns", Int64, false),
        Field::new("end_ns", Int64, false),
        Field::new("host", Utf8, false),
        Field::new("boot_id", Utf8, false),
        Field::new("lost", Int64, false),
        Field::new("lost_exec", Int64, false),
        Field::new("lost_fork", Int64, false),
        Field::new("lost_exit", Int64, false),
        Field::new("lost_other", Int64, false),
        Field::new("reason", Utf8, false),
        Field::new("machine_id", Utf8, true),
    ];
    Arc::new(Schema::new_with_metadata(fields, version()))
}
