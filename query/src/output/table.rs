//! Human tables for a terminal.

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};

pub fn new(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY).set_header(header.to_vec());
    t
}

/// The first 12 characters of an ID, as docker shows it (tables only: JSON and CSV keep it whole).
pub fn short_id(id: &str) -> String {
    if ctrail_common::classify::is_hex64(id) { id[..12].to_string() } else { id.to_string() }
}
