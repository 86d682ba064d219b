//! The `ctrail` binary as a user runs it: arguments in, stdout, stderr and exit code out.

mod classify;
mod compat;
mod docs;
mod events;
mod helpers;
mod hostile;
mod live;
mod parquet;
mod replay;
mod verify;
