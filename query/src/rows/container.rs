//! A container in every output format: one typed row serves JSON, CSV and the table.

use std::collections::BTreeMap;

use ctrail_model::Container;
use serde::Serialize;

use crate::{
    output::{
        csv_row::{CsvCell, CsvRow, Time, csv_row},
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
    image: Option<&'a str>,
    image_id: Option<&'a str>,
    image_digest: Option<&'a str>,
    pod_name: Option<&'a str>,
    pod_namespace: Option<&'a str>,
    pod_uid: Option<&'a str>,
    container_name: Option<&'a str>,
    labels: Map<'a>,
    sandbox: Option<bool>,
    outer_container_id: Option<&'a str>,
    #[serde(serialize_with = "rfc3339_ser")]
    first_seen: Time,
    #[serde(serialize_with = "rfc3339_ser")]
    last_seen: Time,
    processes: u64,
    events: u64,
    reason: &'a str,
    cgroup: Option<&'a str>,
    metadata_source: Map<'a>,
}
}

/// Labels, or which file each fact came from: an object in JSON, the same object as JSON
/// text in a CSV cell (escaped like every cell).
#[derive(Serialize)]
#[serde(transparent)]
pub struct Map<'a>(pub &'a BTreeMap<String, String>);

impl CsvCell for Map<'_> {
    fn push(&self, row: &mut CsvRow) {
        row.push(serde_json::to_string(self.0).unwrap_or_default().as_bytes());
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
            image: c.meta.image.as_deref(),
            image_id: c.meta.image_id.as_deref(),
            image_digest: c.meta.image_digest.as_deref(),
            pod_name: c.meta.pod_name.as_deref(),
            pod_namespace: c.meta.pod_namespace.as_deref(),
            pod_uid: c.pod_uid.as_deref(),
            container_name: c.meta.container_name.as_deref(),
            labels: Map(&c.meta.labels),
            sandbox: c.meta.sandbox,
            outer_container_id: c.outer_id.as_deref(),
            first_seen: Time(c.first_seen),
            last_seen: Time(c.last_seen),
            processes: c.processes,
            events: c.events,
            reason: &c.reason,
            cgroup: c.cgroup.as_deref(),
            metadata_source: Map(&c.meta.sources),
        }
    }

    /// `NAMESPACE/NAME` of the pod (`(sandbox)` after the pod's pause container), else its UID.
    fn pod(&self) -> Option<String> {
        let pod = match (self.pod_namespace, self.pod_name) {
            (Some(ns), Some(n)) => format!("{ns}/{n}"),
            (None, Some(n)) => n.to_string(),
            _ => self.pod_uid?.to_string(),
        };
        Some(if self.sandbox == Some(true) { format!("{pod} (sandbox)") } else { pod })
    }

    pub const TABLE: &'static [&'static str] =
        &["CONTAINER", "RUNTIME", "NAME", "IMAGE", "POD", "FIRST SEEN", "LAST SEEN", "PROCS", "EVENTS"];

    pub fn table(&self) -> Vec<Vec<u8>> {
        vec![
            short_id(self.container_id).into_bytes(),
            self.runtime.unwrap_or("-").into(),
            self.name.or(self.container_name).unwrap_or("-").into(),
            self.image.unwrap_or("-").into(),
            self.pod().unwrap_or_else(|| "-".into()).into_bytes(),
            crate::time::shown(self.first_seen.0).into_bytes(),
            crate::time::shown(self.last_seen.0).into_bytes(),
            self.processes.to_string().into_bytes(),
            self.events.to_string().into_bytes(),
        ]
    }
}
