//! CSV rows whose every cell is escaped and neutralised ([`escape::csv_cell`]): the only way
//! cells reach a CSV writer, so no writer can forget.

use std::fmt::Write as _;

use super::escape;

/// One row being built; reused across rows (exports write millions).
pub struct CsvRow {
    rec: csv::ByteRecord,
    scratch: String,
    /// Leave formula-like cells as they are (`--raw-cells`, for machine consumers).
    raw: bool,
}

impl CsvRow {
    pub fn new(raw: bool) -> Self {
        CsvRow { rec: csv::ByteRecord::new(), scratch: String::new(), raw }
    }

    pub fn clear(&mut self) {
        self.rec.clear();
    }

    /// A cell of recorded (or any) bytes.
    pub fn push(&mut self, b: impl AsRef<[u8]>) {
        self.rec.push_field(escape::csv_cell(b.as_ref(), self.raw).as_bytes());
    }

    /// A cell formatted in place, without a String per cell.
    pub fn push_fmt(&mut self, f: impl FnOnce(&mut String)) {
        self.scratch.clear();
        f(&mut self.scratch);
        let cell = escape::csv_cell(self.scratch.as_bytes(), self.raw);
        self.rec.push_field(cell.as_bytes());
    }

    pub fn push_num(&mut self, n: impl std::fmt::Display) {
        self.push_fmt(|s| {
            let _ = write!(s, "{n}");
        });
    }

    pub fn push_opt(&mut self, v: Option<impl AsRef<[u8]>>) {
        match v {
            Some(b) => self.push(b),
            None => self.rec.push_field(b""),
        }
    }

    pub fn empty(&mut self, n: usize) {
        for _ in 0..n {
            self.rec.push_field(b"");
        }
    }

    pub fn record(&self) -> &csv::ByteRecord {
        &self.rec
    }

    /// A whole row of cells at once.
    pub fn write<W: std::io::Write, I, C>(&mut self, w: &mut csv::Writer<W>, cells: I) -> csv::Result<()>
    where
        I: IntoIterator<Item = C>,
        C: AsRef<[u8]>,
    {
        self.clear();
        for c in cells {
            self.push(c);
        }
        w.write_byte_record(&self.rec)
    }
}
