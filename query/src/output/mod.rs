//! Output of query results: JSON Lines (the documented wire format), tables, CSV.

pub mod json;
pub mod table;

use std::io::IsTerminal;

use crate::cli::Format;

/// Table on a terminal, JSON Lines otherwise, unless asked.
pub fn resolve(format: Option<Format>) -> Format {
    format.unwrap_or_else(|| if std::io::stdout().is_terminal() { Format::Table } else { Format::Json })
}
