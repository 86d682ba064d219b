//! ctrail's history for engines that query Parquet in place (DuckDB, ClickHouse, Spark,
//! Trino): one immutable file per sealed segment, day and host, in a hive layout
//! (`ROOT/events/dt=YYYY-MM-DD/host=HOST/<boot-id>-<seq>.parquet`), under a schema that is
//! versioned and only ever grows (`docs/fleet.md`).

mod events;
mod export;
mod layout;
mod schema;
mod tables;
mod write;

pub use events::{EventColumns, FileBoot};
pub use export::{Exported, SegmentExport};
pub use layout::{FileKey, partition_value};
pub use schema::{SCHEMA_VERSION, containers_schema, events_schema, gaps_schema};
pub use tables::{containers_batch, gaps_batch};
pub use write::{AtomicFile, write_atomically};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ColumnarError {
    #[error("building the Arrow batch: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("writing Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("{path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
}
