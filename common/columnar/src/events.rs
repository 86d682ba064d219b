//! Events as one Arrow record batch of [`crate::events_schema`], sorted by container and
//! time (engines prune by the min/max statistics and bloom filters of `container_id`).

use std::sync::Arc;

use arrow_array::{
    ArrayRef, RecordBatch,
    builder::{BooleanBuilder, Int64Builder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder},
};
use ctrail_model::{Body, Container, Event};

use crate::{ColumnarError, events_schema};

/// One event with what the file says beside it.
#[derive(Clone, Copy)]
pub struct Row<'a> {
    pub event: &'a Event,
    pub container: Option<&'a Container>,
    pub host: &'a str,
    pub boot_id: &'a str,
    pub machine_id: Option<&'a str>,
}

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// The rows as one batch, sorted by (container ID, time); host rows (no container) first.
pub fn batch(rows: &mut [Row<'_>]) -> Result<RecordBatch, ColumnarError> {
    // Rows come in time order mostly; a stable sort on a small integer (the container's
    // rank by ID) then time costs no string comparison per pair.
    let mut ids: Vec<&str> = rows.iter().filter_map(|r| r.container.map(|c| c.id.as_str())).collect();
    ids.sort_unstable();
    ids.dedup();
    let rank = |r: &Row| r.container.map_or(0, |c| ids.binary_search(&c.id.as_str()).map_or(0, |i| i + 1));
    let mut keyed: Vec<(usize, u64, usize)> =
        rows.iter().enumerate().map(|(i, r)| (rank(r), r.event.time, i)).collect();
    keyed.sort_unstable();
    let sorted: Vec<Row> = keyed.into_iter().map(|(_, _, i)| rows[i]).collect();
    rows.copy_from_slice(&sorted);
    let n = rows.len();
    // Every builder sized for all rows up front: grown by doubling, they spent a tenth of
    // an export copying themselves (a generous guess costs nothing: pages never written
    // are never touched).
    let str_col = |bytes: usize| StringBuilder::with_capacity(n, n * bytes);
    let int_col = || Int64Builder::with_capacity(n);
    let bool_col = || BooleanBuilder::with_capacity(n);
    let mut time = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut time_ns = int_col();
    let longest = |f: fn(&Row) -> usize| rows.iter().map(f).max().unwrap_or(0);
    let (mut host, mut boot_id) = (str_col(longest(|r| r.host.len())), str_col(longest(|r| r.boot_id.len())));
    let mut kind = str_col(8);
    let (mut pid, mut tid, mut ppid, mut start) = (int_col(), int_col(), int_col(), int_col());
    let (mut cid, mut runtime, mut cname, mut image, mut image_id) =
        (str_col(64), str_col(10), str_col(24), str_col(32), str_col(71));
    let (mut pod_name, mut pod_ns, mut pod_uid) = (str_col(32), str_col(16), str_col(36));
    let (mut exe, mut filename, mut cwd) = (str_col(24), str_col(24), str_col(16));
    let mut argv = ListBuilder::with_capacity(StringBuilder::with_capacity(n * 3, n * 48), n);
    let (mut uid, mut gid, mut euid, mut egid) = (int_col(), int_col(), int_col(), int_col());
    let (mut caps, mut comm) = (str_col(16), str_col(16));
    let (mut exit_code, mut signal) = (int_col(), int_col());
    let mut cgroup = str_col(48);
    let mut inode = int_col();
    let (mut upper, mut memfd, mut deleted) = (bool_col(), bool_col(), bool_col());
    let mut result = int_col();
    let mut detail = str_col(16);
    let mut machine_id = str_col(32);

    for r in rows.iter() {
        let e = r.event;
        time.append_value((e.time / 1000) as i64);
        time_ns.append_value(e.time as i64);
        host.append_value(r.host);
        boot_id.append_value(r.boot_id);
        kind.append_value(e.body.kind().as_str());
        pid.append_value(i64::from(e.proc.tgid));
        tid.append_value(i64::from(e.tid));
        ppid.append_value(i64::from(e.ppid));
        start.append_value(e.proc.start as i64);
        let c = r.container;
        cid.append_option(c.map(|c| c.id.as_str()));
        runtime.append_option(c.and_then(|c| c.runtime).map(|r| r.as_str()));
        cname.append_option(c.and_then(|c| c.name.as_deref()));
        image.append_option(c.and_then(|c| c.meta.image.as_deref()));
        image_id.append_option(c.and_then(|c| c.meta.image_id.as_deref()));
        pod_name.append_option(c.and_then(|c| c.meta.pod_name.as_deref()));
        pod_ns.append_option(c.and_then(|c| c.meta.pod_namespace.as_deref()));
        pod_uid.append_option(c.and_then(|c| c.pod_uid.as_deref()));
        let x = match &e.body {
            Body::Exec(x) => Some(x),
            _ => None,
        };
        exe.append_option(x.map(|x| lossy(&x.exe)));
        filename.append_option(x.filter(|x| !x.filename.is_empty()).map(|x| lossy(&x.filename)));
        cwd.append_option(x.and_then(|x| x.cwd.as_deref()).map(lossy));
        match x {
            Some(x) => {
                for a in &x.argv {
                    argv.values().append_value(lossy(a).as_ref());
                }
                argv.append(true);
            }
            None => argv.append(false),
        }
        uid.append_option(x.map(|x| i64::from(x.uid)));
        gid.append_option(x.map(|x| i64::from(x.gid)));
        euid.append_option(x.map(|x| i64::from(x.euid)));
        egid.append_option(x.map(|x| i64::from(x.egid)));
        match x {
            Some(x) => {
                use std::fmt::Write;
                let _ = write!(caps, "{:016x}", x.caps.effective);
                caps.append_value("");
            }
            None => caps.append_null(),
        }
        comm.append_option(match &e.body {
            Body::Exec(x) => Some(x.comm.as_str()),
            Body::Fork(f) => Some(f.comm.as_str()),
            _ => None,
        });
        let exit = match &e.body {
            Body::Exit(x) => Some(x),
            _ => None,
        };
        exit_code.append_option(exit.and_then(|x| x.code()).map(i64::from));
        signal.append_option(exit.and_then(|x| x.signal()).map(i64::from));
        cgroup.append_option(match &e.body {
            Body::Exec(x) => Some(x.cgroups.v2_path.as_str()),
            Body::CgroupMove(m) => Some(m.path.as_str()),
            Body::Container(c) => Some(c.cgroup.as_str()),
            _ => None,
        });
        let f = x.and_then(|x| x.file);
        inode.append_option(f.map(|f| f.inode as i64));
        upper.append_option(f.and_then(|f| f.upper_layer()));
        memfd.append_option(f.map(|f| f.memfd));
        deleted.append_option(f.map(|f| f.deleted));
        result.append_option(match &e.body {
            Body::Activity(a) => Some(a.result),
            _ => None,
        });
        // The line `ctrail events` shows for kinds other than exec (one wording, the
        // model's), written straight into the column.
        match ctrail_model::describe::write_summary(&e.body, &mut detail) {
            Ok(true) => detail.append_value(""),
            _ => detail.append_null(),
        }
        machine_id.append_option(r.machine_id);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(time.finish()),
        Arc::new(time_ns.finish()),
        Arc::new(host.finish()),
        Arc::new(boot_id.finish()),
        Arc::new(kind.finish()),
        Arc::new(pid.finish()),
        Arc::new(tid.finish()),
        Arc::new(ppid.finish()),
        Arc::new(start.finish()),
        Arc::new(cid.finish()),
        Arc::new(runtime.finish()),
        Arc::new(cname.finish()),
        Arc::new(image.finish()),
        Arc::new(image_id.finish()),
        Arc::new(pod_name.finish()),
        Arc::new(pod_ns.finish()),
        Arc::new(pod_uid.finish()),
        Arc::new(exe.finish()),
        Arc::new(filename.finish()),
        Arc::new(cwd.finish()),
        Arc::new(argv.finish()),
        Arc::new(uid.finish()),
        Arc::new(gid.finish()),
        Arc::new(euid.finish()),
        Arc::new(egid.finish()),
        Arc::new(caps.finish()),
        Arc::new(comm.finish()),
        Arc::new(exit_code.finish()),
        Arc::new(signal.finish()),
        Arc::new(cgroup.finish()),
        Arc::new(inode.finish()),
        Arc::new(upper.finish()),
        Arc::new(memfd.finish()),
        Arc::new(deleted.finish()),
        Arc::new(result.finish()),
        Arc::new(detail.finish()),
        Arc::new(machine_id.finish()),
    ];
    Ok(RecordBatch::try_new(events_schema(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, StringArray};
    use ctrail_model::{Caps, Cgroups, Exec, Exit, Namespaces, ProcKey, Source};

    fn ev(time: u64, body: Body) -> Event {
        Event {
            time,
            boot_ns: time,
            proc: ProcKey::new(0, 7, 1_000_000_000),
            tid: 7,
            ppid: 1,
            parent_start: 0,
            container: None,
            body,
        }
    }

    #[test]
    fn rows_become_typed_columns_in_container_then_time_order() {
        let exec = Exec {
            source: Source::Kernel,
            ns_pid: 1,
            old_tid: 0,
            comm: "x".into(),
            comm_before: None,
            exe: b"/tmp/x".to_vec(),
            argv: vec![b"./x".to_vec(), vec![0xff, b'a']],
            argv_truncated: false,
            argv_bytes: 6,
            uid: 0,
            gid: 0,
            euid: 0,
            egid: 0,
            loginuid: u32::MAX,
            caps: Caps { effective: 0xa80425fb, ..Default::default() },
            ns: Namespaces::default(),
            cgroups: Cgroups::default(),
            filename: b"./x".to_vec(),
            cwd: Some(b"/tmp".to_vec()),
            file: None,
        };
        let (a, b) =
            (ev(2_000_001_000, Body::Exec(Box::new(exec))), ev(1_000_000_000, Body::Exit(Exit { status: 7 << 8 })));
        let mut rows = vec![
            Row { event: &a, container: None, host: "h", boot_id: "b", machine_id: None },
            Row { event: &b, container: None, host: "h", boot_id: "b", machine_id: None },
        ];
        let batch = batch(&mut rows).unwrap();
        assert_eq!(batch.num_rows(), 2);
        let col = |name: &str| batch.column_by_name(name).unwrap().clone();
        let kinds = col("type");
        let kinds = kinds.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!((kinds.value(0), kinds.value(1)), ("exit", "exec"), "sorted by time");
        let caps = col("cap_effective");
        let caps = caps.as_any().downcast_ref::<StringArray>().unwrap();
        assert!(caps.is_null(0));
        assert_eq!(caps.value(1), "00000000a80425fb");
        let exe = col("exe");
        let exe = exe.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!((exe.is_null(0), exe.value(1)), (true, "/tmp/x"));
        let argv = col("argv");
        let argv = argv.as_any().downcast_ref::<arrow_array::ListArray>().unwrap();
        let second = argv.value(1);
        let second = second.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!((second.value(0), second.value(1)), ("./x", "\u{fffd}a"));
        assert!(argv.is_null(0));
        let detail = col("detail");
        let detail = detail.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!((detail.value(0), detail.is_null(1)), ("exit 7", true));
    }
}
