//! The events table as engines see it. Columns are only ever added (at the end), never
//! renamed or retyped: DuckDB's `union_by_name` and Spark's `mergeSchema` then read files
//! of every version together. Bump [`SCHEMA_VERSION`] with each addition.

use std::{collections::HashMap, sync::Arc};

use arrow_schema::{DataType, Field, Schema, TimeUnit};

/// Written into every file's key-value metadata as `ctrail.schema_version`.
pub const SCHEMA_VERSION: u32 = 1;

/// Integers are Int64 whatever their width: Spark reads unsigned Parquet integers badly,
/// and a pid or uid never needs the 64th bit. Time is `TIMESTAMP(MICROS, UTC)` (Spark
/// cannot read NANOS) with the exact nanoseconds beside it.
pub fn events_schema() -> Arc<Schema> {
    use DataType::*;
    let s = |name: &str| Field::new(name, Utf8, true);
    let i = |name: &str| Field::new(name, Int64, true);
    let b = |name: &str| Field::new(name, Boolean, true);
    let fields = vec![
        Field::new("time", Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
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
    ];
    let meta = HashMap::from([("ctrail.schema_version".to_string(), SCHEMA_VERSION.to_string())]);
    Arc::new(Schema::new_with_metadata(fields, meta))
}
