//! Output of query results: JSON Lines (docs/output-format.md), tables, CSV and text lines.
//! Every cell and line of recorded text passes through [`escape`] on its way out, and every
//! listing goes through [`write_listing`].

pub mod csv_row;
pub mod escape;
pub mod json;
pub mod table;

use std::io::{self, IsTerminal, Write};

use clap::ValueEnum;
use serde::Serialize;

use csv_row::{CsvRecord, CsvRow};

/// The formats of a listing (`events`, `containers`, `ps`, `tree`).
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// The formats of a command that shows one thing (`show`, `classify`): readable text or
/// one JSON object. It has no rows to put in CSV.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OneFormat {
    Table,
    Json,
}

fn on_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// Table on a terminal, JSON Lines otherwise, unless asked.
pub fn resolve(format: Option<Format>) -> Format {
    format.unwrap_or_else(|| if on_terminal() { Format::Table } else { Format::Json })
}

/// Text on a terminal, JSON otherwise, unless asked.
pub fn resolve_one(format: Option<OneFormat>) -> OneFormat {
    format.unwrap_or_else(|| if on_terminal() { OneFormat::Table } else { OneFormat::Json })
}

/// One item of a listing in every format.
pub trait Listing {
    /// Its CSV row type (whose fields are the columns).
    type Csv: CsvRecord;
    /// The table's column titles.
    const TABLE: &'static [&'static str];
    fn json(&self) -> impl Serialize;
    /// Fills `row` with its CSV cells; false when it has no CSV row (a gap among events).
    fn csv(&self, row: &mut CsvRow) -> bool;
    fn table(&self) -> Vec<Vec<u8>>;
}

/// [`Listing`] for a row type that is its own JSON object (serde), CSV row ([`CsvRecord`],
/// whose `'static` form is `$csv`) and table row (an inherent `TABLE` and `table`).
macro_rules! self_listing {
    ($row:ty, $csv:ty) => {
        impl $crate::output::Listing for $row {
            type Csv = $csv;
            const TABLE: &'static [&'static str] = <$csv>::TABLE;

            fn json(&self) -> impl serde::Serialize {
                self
            }

            fn csv(&self, row: &mut $crate::output::csv_row::CsvRow) -> bool {
                row.extend(self);
                true
            }

            fn table(&self) -> Vec<Vec<u8>> {
                <$row>::table(self)
            }
        }
    };
}
pub(crate) use self_listing;

/// Writes `items` to stdout in `format`; a table gets `title` above it, and is left out
/// when there is nothing to show (the exit status says so).
pub fn write_listing<L: Listing>(
    format: Format,
    raw_cells: bool,
    title: Option<String>,
    items: &[L],
) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match format {
        Format::Json => {
            for i in items {
                json::write_line(&mut out, &i.json())?;
            }
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            let mut row = CsvRow::new(raw_cells);
            row.header::<_, L::Csv>(&mut w)?;
            for i in items {
                row.clear();
                if i.csv(&mut row) {
                    w.write_byte_record(row.record())?;
                }
            }
            w.flush()?;
        }
        Format::Table if items.is_empty() => {}
        Format::Table => {
            let mut t = table::Table::new(L::TABLE);
            for i in items {
                t.row(i.table());
            }
            if let Some(title) = title {
                line(&mut out, title)?;
            }
            writeln!(out, "{t}")?;
        }
    }
    Ok(())
}

/// One line of human text (`tree`, `show`, `classify`): escaped as a whole (a newline in
/// recorded text shows as `\n`), then the newline that ends it.
pub fn line(out: &mut impl Write, text: impl AsRef<[u8]>) -> std::io::Result<()> {
    out.write_all(escape::bytes(text.as_ref()).as_bytes())?;
    out.write_all(b"\n")
}
