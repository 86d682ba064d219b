//! Types shared by ctrail's recorder and query tool.
//!
//! - [`wire`]: the kernel record layout (mirrors `recorder-ebpf/include/events.h`);
//! - [`record`]: owned, versioned domain records;
//! - [`classify`]: the container verdict (pure, no I/O);
//! - [`store`]: the embedded redb store and its on-disk format.

pub mod classify;
pub mod procinfo;
pub mod record;
pub mod store;
pub mod wire;

/// The ctrail version, recorded in every store and export manifest.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
