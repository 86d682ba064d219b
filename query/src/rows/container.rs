//! A container in every output format: one typed row serves JSON, CSV and the table.

use ctrail_model::Container;
use serde::Serialize;

use crate::{
    output::{
        csv_row::{Time, csv_row},
        table::short_id,
    },
    time::rfc3339,
};

csv_row! {
/// `ctrail containers` and an exported case's containers.csv: one row per container.
#[derive(Serialize)]
pub struct ContainerRow<'a> {
    container_id: &'a str,
    runtime: Option<&'static str>,
    name: Option<&'a str>,
    pod_uid: Option<&'a str>,
    outer_container_id: Option<&'a str>,
    #[serde(serialize_with = "rfc3339_ser")]
    first_seen: Time,
    #[serde(serialize_with = "rfc3339_ser")]
    last_seen: Time,
    processes: u64,
    events: u64,
    reason: &'a str,
    cgroup: Option<&'a str>,
}
}

fn rfc3339_ser<S: serde::Serializer>(t: &Time, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(t.0))
}

impl<'a> ContainerRow<'a> {
    pub fn new(c: &'a Container) -> Self {
        ContainerRow {
            container_id: &c.id,
            runtime: c.runtime.map(|r| r.as_str()),
            name: c.name.as_deref(),
            pod_uid: c.pod_uid.as_deref(),
            outer_container_id: c.outer_id.as_deref(),
            first_seen: Time(c.first_seen),
            last_seen: Time(c.last_seen),
            processes: c.processes,
            events: c.events,
            reason: &c.reason,
            cgroup: c.cgroup.as_deref(),
        }
    }

    pub const TABLE: &'static [&'static str] =
        &["CONTAINER", "RUNTIME", "NAME", "FIRST SEEN", "LAST SEEN", "PROCS", "EVENTS"];

    pub fn table(&self) -> Vec<Vec<u8>> {
        vec![
            short_id(self.container_id).into_bytes(),
            self.runtime.unwrap_or("-").into(),
            self.name.or(self.pod_uid).unwrap_or("-").into(),
            rfc3339(self.first_seen.0).into_bytes(),
            rfc3339(self.last_seen.0).into_bytes(),
            self.processes.to_string().into_bytes(),
            self.events.to_string().into_bytes(),
        ]
    }
}
