//! The `containers` and `gaps` tables as Arrow batches ([`crate::containers_schema`],
//! [`crate::gaps_schema`]).

use std::sync::Arc;

use arrow_array::{
    ArrayRef, RecordBatch,
    builder::{BooleanBuilder, Int64Builder, MapBuilder, StringBuilder, TimestampMicrosecondBuilder},
};
use ctrail_model::{BootInfo, Container, Gap};

use crate::{ColumnarError, containers_schema, gaps_schema};

fn micros() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("UTC")
}

/// The containers of one file, by ID.
pub fn containers_batch(list: &[&Container], boot: &BootInfo) -> Result<RecordBatch, ColumnarError> {
    let (host, boot_id) = (boot.hostname.as_str(), boot.boot_id.as_str());
    let mut list = list.to_vec();
    list.sort_by(|a, b| a.id.cmp(&b.id));
    let s = StringBuilder::new;
    let (mut id, mut hosts, mut boots, mut runtime, mut name) = (s(), s(), s(), s(), s());
    let (mut image, mut image_id, mut digest, mut pod_name, mut pod_ns, mut pod_uid) = (s(), s(), s(), s(), s(), s());
    let mut sandbox = BooleanBuilder::new();
    let (mut cgroup, mut outer, mut reason) = (s(), s(), s());
    let (mut first, mut last) = (micros(), micros());
    let (mut first_ns, mut last_ns, mut events, mut procs) =
        (Int64Builder::new(), Int64Builder::new(), Int64Builder::new(), Int64Builder::new());
    let mut labels = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    let mut machine = s();
    for c in list {
        id.append_value(&c.id);
        hosts.append_value(host);
        boots.append_value(boot_id);
        runtime.append_option(c.runtime.map(|r| r.as_str()));
        // The pod's name for its container where there is one, as `ctrail containers` shows.
        name.append_option(c.meta.container_name.as_deref().or(c.name.as_deref()));
        image.append_option(c.meta.image.as_deref());
        image_id.append_option(c.meta.image_id.as_deref());
        digest.append_option(c.meta.image_digest.as_deref());
        pod_name.append_option(c.meta.pod_name.as_deref());
        pod_ns.append_option(c.meta.pod_namespace.as_deref());
        pod_uid.append_option(c.pod_uid.as_deref());
        sandbox.append_option(c.meta.sandbox);
        cgroup.append_option(c.cgroup.as_deref());
        outer.append_option(c.outer_id.as_deref());
        reason.append_value(&c.reason);
        first.append_value((c.first_seen / 1000) as i64);
        last.append_value((c.last_seen / 1000) as i64);
        first_ns.append_value(c.first_seen as i64);
        last_ns.append_value(c.last_seen as i64);
        events.append_value(c.events as i64);
        procs.append_value(c.processes as i64);
        for (k, v) in &c.meta.labels {
            labels.keys().append_value(k);
            labels.values().append_value(v);
        }
        labels.append(true)?;
        machine.append_option(boot.machine_id.as_deref());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(hosts.finish()),
        Arc::new(boots.finish()),
        Arc::new(runtime.finish()),
        Arc::new(name.finish()),
        Arc::new(image.finish()),
        Arc::new(image_id.finish()),
        Arc::new(digest.finish()),
        Arc::new(pod_name.finish()),
        Arc::new(pod_ns.finish()),
        Arc::new(pod_uid.finish()),
        Arc::new(sandbox.finish()),
        Arc::new(cgroup.finish()),
        Arc::new(outer.finish()),
        Arc::new(reason.finish()),
        Arc::new(first.finish()),
        Arc::new(last.finish()),
        Arc::new(first_ns.finish()),
        Arc::new(last_ns.finish()),
        Arc::new(events.finish()),
        Arc::new(procs.finish()),
        Arc::new(labels.finish()),
        Arc::new(machine.finish()),
    ];
    Ok(RecordBatch::try_new(containers_schema(), columns)?)
}

/// The gaps of one file, in time order.
pub fn gaps_batch(list: &[&Gap], boot: &BootInfo) -> Result<RecordBatch, ColumnarError> {
    let (host, boot_id) = (boot.hostname.as_str(), boot.boot_id.as_str());
    let mut list = list.to_vec();
    list.sort_by_key(|g| (g.start, g.end));
    let (mut start, mut end) = (micros(), micros());
    let i = Int64Builder::new;
    let (mut start_ns, mut end_ns, mut lost, mut exec, mut fork, mut exit, mut other) =
        (i(), i(), i(), i(), i(), i(), i());
    let (mut hosts, mut boots, mut reason) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    let mut machine = StringBuilder::new();
    for g in list {
        start.append_value((g.start / 1000) as i64);
        end.append_value((g.end / 1000) as i64);
        start_ns.append_value(g.start as i64);
        end_ns.append_value(g.end as i64);
        hosts.append_value(host);
        boots.append_value(boot_id);
        lost.append_value(g.lost() as i64);
        exec.append_value(g.lost_exec as i64);
        fork.append_value(g.lost_fork as i64);
        exit.append_value(g.lost_exit as i64);
        other.append_value(g.lost_other as i64);
        reason.append_value(ctrail_model::describe::gap_reason(g));
        machine.append_option(boot.machine_id.as_deref());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(start.finish()),
        Arc::new(end.finish()),
        Arc::new(start_ns.finish()),
        Arc::new(end_ns.finish()),
        Arc::new(hosts.finish()),
        Arc::new(boots.finish()),
        Arc::new(lost.finish()),
        Arc::new(exec.finish()),
        Arc::new(fork.finish()),
        Arc::new(exit.finish()),
        Arc::new(other.finish()),
        Arc::new(reason.finish()),
        Arc::new(machine.finish()),
    ];
    Ok(RecordBatch::try_new(gaps_schema(), columns)?)
}
