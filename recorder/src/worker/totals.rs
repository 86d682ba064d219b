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
