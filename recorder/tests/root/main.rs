//! Root tests: the recorder loads its BPF programs into this kernel and real processes
//! and real containers run under it.
//!
//! They need root. Outside CI a non-root run skips them with a message; in CI
//! (CI=true) a non-root run fails, so they can never pass by not running.

mod activity;
mod containers;
mod deb;
mod exe;
mod fleet;
mod follow;
mod helpers;
mod hostile;
mod image;
mod kernel;
mod metrics;
mod parquet_dir;
mod pod;
mod store;
