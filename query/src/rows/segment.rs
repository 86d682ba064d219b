//! A segment file, checked against the store's chain (`ctrail segments`).

use ctrail_store::{
    segment::{FileFormat, State},
    verify::{SegmentCheck, Vouched},
};
use serde::Serialize;

use crate::{
    output::csv_row::{Time, csv_row},
    time::rfc3339,
};

csv_row! {
/// One segment: its format, span, size, and whether it verifies.
#[derive(Serialize)]
pub struct SegmentRow {
    segment: String,
    format: u32,
    /// `active`, `sealed`, or `pending` (sealed, not yet written as format 2).
    state: &'static str,
    #[serde(serialize_with = "time_or_null")]
    first: Option<Time>,
    #[serde(serialize_with = "time_or_null")]
    last: Option<Time>,
    events: Option<u64>,
    bytes: u64,
    /// What the store's chain says of it (`vouched`, `mismatch`, `not in chain`, `pending`).
    chain: &'static str,
    /// `ok`, or what did not verify.
    check: String,
}
}

fn time_or_null<S: serde::Serializer>(t: &Option<Time>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339(t.0)),
        None => s.serialize_none(),
    }
}

impl SegmentRow {
    pub fn new(c: &SegmentCheck) -> Self {
        let (state, first, last) = match c.file.state {
            State::Active => ("active", 0, 0),
            State::Sealed { first, last } if c.file.format == FileFormat::Redb && c.vouched == Vouched::Pending => {
                ("pending", first, last)
            }
            State::Sealed { first, last } => ("sealed", first, last),
        };
        SegmentRow {
            segment: c.file.name(),
            format: c.format,
            state,
            // A segment without events has no span (its name says 0-0).
            first: (first > 0).then_some(Time(first)),
            last: (last > 0).then_some(Time(last)),
            events: c.events,
            bytes: c.bytes,
            chain: c.vouched.as_str(),
            check: if c.problems.is_empty() { "ok".into() } else { c.problems.join("; ") },
        }
    }

    pub const TABLE: &'static [&'static str] =
        &["SEGMENT", "FORMAT", "STATE", "FIRST", "LAST", "EVENTS", "BYTES", "CHAIN", "CHECK"];

    pub fn table(&self) -> Vec<Vec<u8>> {
        let time = |t: &Option<Time>| t.map_or("-".to_string(), |t| crate::time::shown(t.0));
        vec![
            self.segment.clone().into_bytes(),
            self.format.to_string().into_bytes(),
            self.state.into(),
            time(&self.first).into_bytes(),
            time(&self.last).into_bytes(),
            self.events.map_or("?".into(), |n| n.to_string()).into_bytes(),
            self.bytes.to_string().into_bytes(),
            self.chain.into(),
            self.check.clone().into_bytes(),
        ]
    }
}
