//! Output of query results: JSON Lines (docs/output-format.md), tables, CSV and text lines.
//! Every cell and line of recorded text passes through [`escape`] on its way out.

pub mod csv_row;
pub mod escape;
pub mod json;
pub mod table;

use std::io::{IsTerminal, Write};

use crate::cli::Format;

/// Table on a terminal, JSON Lines otherwise, unless asked.
pub fn resolve(format: Option<Format>) -> Format {
    format.unwrap_or_else(|| if std::io::stdout().is_terminal() { Format::Table } else { Format::Json })
}

/// One line of human text (`tree`, `show`, `classify`): escaped as a whole (a newline in
/// recorded text shows as `\n`), then the newline that ends it.
pub fn line(out: &mut impl Write, text: impl AsRef<[u8]>) -> std::io::Result<()> {
    out.write_all(escape::bytes(text.as_ref()).as_bytes())?;
    out.write_all(b"\n")
}
