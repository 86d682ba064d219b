//! ctrail's domain records: what the recorder stores and the query tool reads.
//!
//! Decoupled from the kernel layout (`ctrail_wire`) so that the BPF side can change without
//! touching stored data; encoded with bincode 2 (serde) by `ctrail_store`, behind its format
//! version. A new variant of a stored enum goes last: stored values name variants by
//! position.

mod activity;
mod boot;
mod container;
pub mod describe;
mod event;
mod gap;
pub mod kind;
mod process;
mod runtime;

pub use activity::{Action, Activity, Connection};
pub use boot::{BootInfo, boot_index};
pub use container::{Container, Metadata};
pub use event::{Body, ContainerLife, Event};
pub use gap::{Gap, GapReason};
pub use kind::EventKind;
pub use process::{Caps, CgroupMove, Cgroups, Creds, ExeFile, Exec, Exit, Fork, Namespaces, ProcKey, Source, USER_HZ};
pub use runtime::Runtime;

/// The ctrail version, recorded in every store and export manifest.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
