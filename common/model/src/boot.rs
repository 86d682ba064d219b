//! The machine and recorder run that events come from.

use serde::{Deserialize, Serialize};

/// The stable index of a boot in every segment: the first 32 bits of its boot id
/// (a random UUID), so that process keys agree across segments and recorder runs.
pub fn boot_index(boot_id: &str) -> u32 {
    let hex: String = boot_id.chars().filter(char::is_ascii_hexdigit).take(8).collect();
    u32::from_str_radix(&hex, 16)
        .unwrap_or_else(|_| boot_id.bytes().fold(2_166_136_261u32, |h, b| (h ^ u32::from(b)).wrapping_mul(16_777_619)))
}

/// The machine and run a store's events come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootInfo {
    pub boot_id: String,
    pub hostname: String,
    pub kernel: String,
    pub ctrail_version: String,
    /// Wall-clock ns minus boot-clock ns, measured at recorder start.
    pub wall_offset_ns: i64,
    /// `/etc/machine-id` (32 hex digits): the installation, stable across reboots and
    /// renames. Store format 5 on; `None` before, or when the host has none.
    pub machine_id: Option<String>,
}
