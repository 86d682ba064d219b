//! A container as the store keeps it.

use serde::{Deserialize, Serialize};

use crate::Runtime;

/// A container as first and last seen, with the classifier's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub runtime: Option<Runtime>,
    pub name: Option<String>,
    pub pod_uid: Option<String>,
    pub outer_id: Option<String>,
    pub cgroup: Option<String>,
    pub reason: String,
    pub first_seen: u64,
    pub last_seen: u64,
    pub processes: u64,
    pub events: u64,
}
