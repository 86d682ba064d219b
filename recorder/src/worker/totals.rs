//! What one run saw: the recorder's stop line, and what tests check.

use std::fmt;

use ctrail_wire::{self as wire, counter};

#[derive(Debug, Default, Clone)]
pub struct Totals {
    /// Records received from the ring buffer, by kind: exec, fork, exit, cgroup move or
    /// cgroup dir, activity.
    pub received: [u64; 5],
    pub stored: u64,
    pub snapshot: u64,
    /// Records that could not be decoded (stored as `Undecodable` gaps).
    pub decode_errors: u64,
    pub store_failures: u64,
    /// The kernel's counters at the last poll.
    pub kernel: [u64; wire::COUNTERS],
    /// What `stored` holds, by event kind (the table's names).
    pub stored_by_kind: std::collections::BTreeMap<&'static str, u64>,
    /// Gaps stored, by reason.
    pub gaps_by_reason: std::collections::BTreeMap<&'static str, u64>,
    /// Wall ns of the last commit that succeeded.
    pub last_commit: u64,
    /// Seal requests on the control socket.
    pub seal_requests: u64,
    /// Containers whose runtime files were looked up, and lookups answered.
    pub metadata_asked: u64,
    pub metadata_answered: u64,
}

/// A gap's reason as a metric label: short, fixed names.
pub fn reason_label(r: &ctrail_model::GapReason) -> &'static str {
    use ctrail_model::GapReason::*;
    match r {
        RingBufferFull => "ring_buffer_full",
        StoreFailed(_) => "store_failed",
        RecorderDown { .. } => "recorder_down",
        Retention { .. } => "retention",
        SegmentLost { .. } => "segment_lost",
        Tampered { .. } => "tampered",
        Undecodable { .. } => "undecodable",
        Damaged { .. } => "damaged",
    }
}

impl fmt::Display for Totals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = |c: u32| self.kernel[c as usize];
        let r = &self.received;
        write!(
            f,
            "kernel emitted exec={} fork={} exit={} cgroup_move={} activity={}, lost exec={} fork={} exit={} \
             cgroup_move={} activity={}, filtered={}; received exec={} fork={} exit={} cgroup_move={} activity={}; \
             undecodable={}; snapshot={}; stored={} events; store failures={}",
            k(counter::EXEC),
            k(counter::FORK),
            k(counter::EXIT),
            k(counter::MOVE),
            k(counter::ACTIVITY),
            k(counter::LOST_EXEC),
            k(counter::LOST_FORK),
            k(counter::LOST_EXIT),
            k(counter::LOST_MOVE),
            k(counter::LOST_ACTIVITY),
            k(counter::FILTERED),
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            self.decode_errors,
            self.snapshot,
            self.stored,
            self.store_failures
        )
    }
}
