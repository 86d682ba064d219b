//! Human tables for a terminal: every cell escaped ([`escape::bytes`]).

use std::sync::atomic::{AtomicBool, Ordering};

use comfy_table::{ContentArrangement, presets::UTF8_BORDERS_ONLY};

use super::escape;

static WIDE: AtomicBool = AtomicBool::new(false);

/// `--wide`: every cell whole on one line, however wide the terminal.
pub fn wide(on: bool) {
    WIDE.store(on, Ordering::Relaxed);
}

/// A row wraps onto at most this many lines on a terminal; what is left (a long argv) is
/// cut, with `…` as the marker. `--wide` shows it all.
const MAX_LINES: u16 = 2;

pub struct Table(comfy_table::Table);

impl Table {
    /// On a terminal the table fits its width (the widest column, usually argv, wraps,
    /// then is cut); piped, or with `--wide`, rows are whole.
    pub fn new(header: &[&str]) -> Self {
        let mut t = comfy_table::Table::new();
        t.load_preset(UTF8_BORDERS_ONLY).set_header(header.to_vec());
        if !WIDE.load(Ordering::Relaxed) && t.is_tty() {
            t.set_content_arrangement(ContentArrangement::Dynamic).set_truncation_indicator("…");
        }
        Table(t)
    }

    pub fn row<I, C>(&mut self, cells: I)
    where
        I: IntoIterator<Item = C>,
        C: AsRef<[u8]>,
    {
        let mut row = comfy_table::Row::from(
            cells.into_iter().map(|c| escape::bytes(c.as_ref()).into_owned()).collect::<Vec<_>>(),
        );
        if !WIDE.load(Ordering::Relaxed) && self.0.is_tty() {
            row.max_height(usize::from(MAX_LINES));
        }
        self.0.add_row(row);
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The first 12 characters of an ID, as docker shows it (tables only: JSON and CSV keep it whole).
pub fn short_id(id: &str) -> String {
    if ctrail_classify::is_hex64(id) { id[..12].to_string() } else { id.to_string() }
}
