//! Human tables for a terminal: every cell escaped ([`escape::bytes`]).

use comfy_table::presets::UTF8_BORDERS_ONLY;

use super::escape;

pub struct Table(comfy_table::Table);

impl Table {
    pub fn new(header: &[&str]) -> Self {
        let mut t = comfy_table::Table::new();
        t.load_preset(UTF8_BORDERS_ONLY).set_header(header.to_vec());
        Table(t)
    }

    pub fn row<I, C>(&mut self, cells: I)
    where
        I: IntoIterator<Item = C>,
        C: AsRef<[u8]>,
    {
        self.0.add_row(cells.into_iter().map(|c| escape::bytes(c.as_ref()).into_owned()).collect::<Vec<_>>());
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
