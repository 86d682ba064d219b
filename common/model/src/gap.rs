//! Windows in which events were lost, and why: loss is stored, never silent.

use serde::{Deserialize, Serialize};

/// A window in which events were lost, and how many of each kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub start: u64,
    pub end: u64,
    pub lost_exec: u64,
    pub lost_fork: u64,
    pub lost_exit: u64,
    /// Every other kind (cgroup moves, ...).
    pub lost_other: u64,
    pub reason: GapReason,
}

impl Gap {
    pub fn lost(&self) -> u64 {
        self.lost_exec + self.lost_fork + self.lost_exit + self.lost_other
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GapReason {
    /// The kernel could not reserve ring-buffer space.
    RingBufferFull,
    /// Events reached userspace but could not be stored (disk full, I/O error).
    StoreFailed(String),
    /// The recorder was not running between two runs: stopped, or crashed (`kill -9`,
    /// power loss), in which case its last segment was recovered at the next start.
    RecorderDown { crashed: bool },
    /// Retention deleted a whole segment holding `events` events (`--retain`, `--max-size`).
    Retention { segment: String, events: u64 },
    // New variants go last: stored gaps name variants by position.
    /// A segment was removed or replaced behind the recorder (the active one while it ran,
    /// or a sealed one the store's chain has, found missing at its next start): the `events`
    /// it held are gone from this store (someone with root did it; the rest was kept).
    SegmentLost { segment: String, events: u64 },
    /// Something else in the data directory was changed under the running recorder (its lock
    /// file removed, say); nothing was lost, but the store says it happened.
    Tampered { detail: String },
    /// Kernel records reached the recorder but could not be decoded (the kernel object and
    /// the recorder out of step, or a bug): `records` of them, the first failing as said.
    Undecodable { records: u64, first_error: String },
    /// A sealed segment (or the active one a crash left) no longer opened and was moved to
    /// `corrupt/` so queries stop tripping over it: the `events` it held (0 when unknown)
    /// are gone from answers; `detail` says what was wrong.
    Damaged { segment: String, events: u64, detail: String },
}
