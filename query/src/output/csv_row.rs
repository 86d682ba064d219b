//! CSV rows: typed, with a header derived from the row type ([`csv_row!`]), and every cell
//! escaped and neutralised on its way in ([`escape::csv_cell`]), so no writer can forget.

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

    /// A cell of recorded (or any) bytes.
    pub fn push(&mut self, b: &[u8]) {
        self.rec.push_field(escape::csv_cell(b, self.raw).as_bytes());
    }

    /// A cell formatted in place, without a String per cell.
    pub fn push_fmt(&mut self, f: impl FnOnce(&mut String)) {
        self.scratch.clear();
        f(&mut self.scratch);
        let cell = escape::csv_cell(self.scratch.as_bytes(), self.raw);
        self.rec.push_field(cell.as_bytes());
    }

    fn empty(&mut self) {
        self.rec.push_field(b"");
    }

    pub fn clear(&mut self) {
        self.rec.clear();
    }

    /// Appends the cells of `r`.
    pub fn extend(&mut self, r: &impl CsvRecord) {
        r.push_into(self);
    }

    pub fn record(&self) -> &csv::ByteRecord {
        &self.rec
    }

    /// Writes `row` (cleared first) as one record.
    pub fn write<W: std::io::Write, R: CsvRecord>(&mut self, w: &mut csv::Writer<W>, row: &R) -> csv::Result<()> {
        self.rec.clear();
        row.push_into(self);
        w.write_byte_record(&self.rec)
    }

    /// Writes the header of `R`.
    pub fn header<W: std::io::Write, R: CsvRecord>(&mut self, w: &mut csv::Writer<W>) -> csv::Result<()> {
        self.rec.clear();
        for h in R::header() {
            self.push(h.as_bytes());
        }
        w.write_byte_record(&self.rec)
    }
}

/// A row type of a CSV file, or a run of its columns: their names and how it fills them
/// (made by [`csv_row!`], or by hand for a row made of runs).
pub trait CsvRecord {
    /// How many columns.
    const WIDTH: usize;
    fn header() -> Vec<&'static str>;
    fn push_into(&self, row: &mut CsvRow);
}

/// A run of columns that a row fills only for some kinds: empty cells otherwise.
impl<R: CsvRecord> CsvRecord for Option<R> {
    const WIDTH: usize = R::WIDTH;

    fn header() -> Vec<&'static str> {
        R::header()
    }

    fn push_into(&self, row: &mut CsvRow) {
        match self {
            Some(r) => r.push_into(row),
            None => (0..R::WIDTH).for_each(|_| row.empty()),
        }
    }
}

/// A value that is one CSV cell.
pub trait CsvCell {
    fn push(&self, row: &mut CsvRow);
}

impl CsvCell for str {
    fn push(&self, row: &mut CsvRow) {
        row.push(self.as_bytes());
    }
}

impl CsvCell for [u8] {
    fn push(&self, row: &mut CsvRow) {
        row.push(self);
    }
}

impl CsvCell for std::borrow::Cow<'_, str> {
    fn push(&self, row: &mut CsvRow) {
        row.push(self.as_bytes());
    }
}

impl CsvCell for bool {
    fn push(&self, row: &mut CsvRow) {
        row.push(if *self { b"true" } else { b"false" });
    }
}

impl CsvCell for String {
    fn push(&self, row: &mut CsvRow) {
        row.push(self.as_bytes());
    }
}

impl CsvCell for Vec<u8> {
    fn push(&self, row: &mut CsvRow) {
        row.push(self);
    }
}

impl<T: CsvCell + ?Sized> CsvCell for &T {
    fn push(&self, row: &mut CsvRow) {
        (**self).push(row);
    }
}

impl<T: CsvCell> CsvCell for Option<T> {
    fn push(&self, row: &mut CsvRow) {
        match self {
            Some(v) => v.push(row),
            None => row.empty(),
        }
    }
}

macro_rules! numeric_cells {
    ($($t:ty),*) => {
        $(impl CsvCell for $t {
            fn push(&self, row: &mut CsvRow) {
                let n = *self;
                row.push_fmt(|s| {
                    let _ = write!(s, "{n}");
                });
            }
        })*
    };
}
numeric_cells!(u16, u32, u64, usize, i32, i64, i128);

/// A stored time as a CSV cell: RFC 3339 with nanoseconds, formatted in place.
#[derive(Debug, Clone, Copy)]
pub struct Time(pub u64);

impl CsvCell for Time {
    fn push(&self, row: &mut CsvRow) {
        row.push_fmt(|s| crate::time::rfc3339_into(self.0, s));
    }
}

/// Capabilities and other 64-bit masks: 16 hex digits, as `/proc/PID/status` shows them.
#[derive(Debug, Clone, Copy)]
pub struct Hex64(pub u64);

impl CsvCell for Hex64 {
    fn push(&self, row: &mut CsvRow) {
        let v = self.0;
        row.push_fmt(|s| {
            let _ = write!(s, "{v:016x}");
        });
    }
}

/// `r#type` is the column `type`: raw identifiers lose their `r#`.
pub const fn column_name(field: &'static str) -> &'static str {
    let b = field.as_bytes();
    if b.len() > 2 && b[0] == b'r' && b[1] == b'#' {
        match std::str::from_utf8(b.split_at(2).1) {
            Ok(s) => s,
            Err(_) => field,
        }
    } else {
        field
    }
}

/// Declares a CSV row type: a struct whose field names are the file's columns, in order,
/// and whose field types are [`CsvCell`]s.
macro_rules! csv_row {
    ($(#[$m:meta])* pub struct $name:ident $(<$lt:lifetime>)? { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        pub struct $name $(<$lt>)? { $($(#[$fm])* pub $field: $ty),* }

        impl $(<$lt>)? $crate::output::csv_row::CsvRecord for $name $(<$lt>)? {
            const WIDTH: usize = [$(stringify!($field)),*].len();

            fn header() -> Vec<&'static str> {
                vec![$($crate::output::csv_row::column_name(stringify!($field))),*]
            }

            fn push_into(&self, row: &mut $crate::output::csv_row::CsvRow) {
                $($crate::output::csv_row::CsvCell::push(&self.$field, row);)*
            }
        }
    };
}
pub(crate) use csv_row;
