//! A gap (a window in which events were lost, and why) in every output format.

use ctrail_model::Gap;
use serde::Serialize;

use crate::{
    output::csv_row::{Time, csv_row},
    time::rfc3339,
};

pub use ctrail_model::describe::gap_reason as reason;

#[derive(Serialize)]
pub struct GapJson {
    #[serde(rename = "type")]
    kind: &'static str,
    time: String,
    start: String,
    end: String,
    lost: u64,
    lost_exec: u64,
    lost_fork: u64,
    lost_exit: u64,
    reason: String,
}

pub fn json(g: &Gap) -> GapJson {
    GapJson {
        kind: "gap",
        time: rfc3339(g.start),
        start: rfc3339(g.start),
        end: rfc3339(g.end),
        lost: g.lost(),
        lost_exec: g.lost_exec,
        lost_fork: g.lost_fork,
        lost_exit: g.lost_exit,
        reason: reason(g),
    }
}

csv_row! {
/// One row of an exported case's gaps.csv.
pub struct GapCsv {
    start: Time,
    end: Time,
    lost: u64,
    lost_exec: u64,
    lost_fork: u64,
    lost_exit: u64,
    reason: String,
}
}

pub fn csv(g: &Gap) -> GapCsv {
    GapCsv {
        start: Time(g.start),
        end: Time(g.end),
        lost: g.lost(),
        lost_exec: g.lost_exec,
        lost_fork: g.lost_fork,
        lost_exit: g.lost_exit,
        reason: reason(g),
    }
}

/// A gap as a row of the events table.
pub fn table(g: &Gap) -> Vec<Vec<u8>> {
    let detail = format!("{} events lost until {} ({})", g.lost(), crate::time::shown(g.end), reason(g));
    [crate::time::shown(g.start).as_str(), "GAP", "-", "-", "-", "-", detail.as_str()]
        .map(|s| s.as_bytes().to_vec())
        .to_vec()
}

csv_row! {
/// One row of an exported case's problems.csv: something the export skipped or distrusted.
pub struct ProblemCsv<'a> {
    problem: &'a str,
}
}
