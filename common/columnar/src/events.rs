//! Events as Arrow record batches of [`crate::events_schema`], built a chunk at a time.
//! They arrive sorted by container and time (the store reads a segment a container at a
//! time), which engines use: they prune by the min/max statistics and bloom filters of
//! `container_id`.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, RecordBatch,
    builder::{BooleanBuilder, Int64Builder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder},
};
use ctrail_model::{Body, Container, Event};

use crate::{ColumnarError, events_schema};

/// What a file says beside each of its events: its boot (one per file).
#[derive(Clone, Copy)]
pub struct FileBoot<'a> {
    pub host: &'a str,
    pub boot_id: &'a str,
    pub machine_id: Option<&'a str>,
}

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// Rows of [`crate::events_schema`] being built, taken as a batch every [`Self::CHUNK`]
/// rows: a file is written a chunk at a time, so an export holds one chunk of columns,
/// never a segment's.
pub struct EventColumns {
    time: TimestampMicrosecondBuilder,
    time_ns: Int64Builder,
    host: StringBuilder,
    boot_id: StringBuilder,
    kind: StringBuilder,
    pid: Int64Builder,
    tid: Int64Builder,
    ppid: Int64Builder,
    start: Int64Builder,
    cid: StringBuilder,
    runtime: StringBuilder,
    cname: StringBuilder,
    image: StringBuilder,
    image_id: StringBuilder,
    pod_name: StringBuilder,
    pod_ns: StringBuilder,
    pod_uid: StringBuilder,
    exe: StringBuilder,
    filename: StringBuilder,
    cwd: StringBuilder,
    argv: ListBuilder<StringBuilder>,
    uid: Int64Builder,
    gid: Int64Builder,
    euid: Int64Builder,
    egid: Int64Builder,
    caps: StringBuilder,
    comm: StringBuilder,
    exit_code: Int64Builder,
    signal: Int64Builder,
    cgroup: StringBuilder,
    inode: Int64Builder,
    upper: BooleanBuilder,
    memfd: BooleanBuilder,
    deleted: BooleanBuilder,
    result: Int64Builder,
    detail: StringBuilder,
    machine_id: StringBuilder,
    rows: usize,
}

impl Default for EventColumns {
    fn default() -> Self {
        Self::new()
    }
}

impl EventColumns {
    /// Rows per batch handed to the Parquet writer: a multiple of its mini-batch (1,024
    /// rows, after each of which it checks the page sizes), and small enough that the
    /// columns being built stay in the caches.
    pub const CHUNK: usize = 8192;

    pub fn new() -> Self {
        let n = Self::CHUNK;
        // Sized for a chunk up front (grown by doubling, builders spent a tenth of an
        // export copying themselves).
        let s = |bytes: usize| StringBuilder::with_capacity(n, n * bytes);
        let i = || Int64Builder::with_capacity(n);
        let b = || BooleanBuilder::with_capacity(n);
        EventColumns {
            time: TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"),
            time_ns: i(),
            host: s(16),
            boot_id: s(36),
            kind: s(8),
            pid: i(),
            tid: i(),
            ppid: i(),
            start: i(),
            cid: s(64),
            runtime: s(10),
            cname: s(24),
            image: s(32),
            image_id: s(71),
            pod_name: s(32),
            pod_ns: s(16),
            pod_uid: s(36),
            exe: s(24),
            filename: s(24),
            cwd: s(16),
            argv: ListBuilder::with_capacity(StringBuilder::with_capacity(n * 3, n * 48), n),
            uid: i(),
            gid: i(),
            euid: i(),
            egid: i(),
            caps: s(16),
            comm: s(16),
            exit_code: i(),
            signal: i(),
            cgroup: s(48),
            inode: i(),
            upper: b(),
            memfd: b(),
            deleted: b(),
            result: i(),
            detail: s(16),
            machine_id: s(32),
            rows: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// One event, with the container record its segment holds for it.
    pub fn push(&mut self, e: &Event, c: Option<&Container>, file: FileBoot<'_>) {
        self.rows += 1;
        self.time.append_value((e.time / 1000) as i64);
        self.time_ns.append_value(e.time as i64);
        self.host.append_value(file.host);
        self.boot_id.append_value(file.boot_id);
        self.kind.append_value(e.body.kind().as_str());
        self.pid.append_value(i64::from(e.proc.tgid));
        self.tid.append_value(i64::from(e.tid));
        self.ppid.append_value(i64::from(e.ppid));
        self.start.append_value(e.proc.start as i64);
        self.cid.append_option(c.map(|c| c.id.as_str()));
        self.runtime.append_option(c.and_then(|c| c.runtime).map(|r| r.as_str()));
        self.cname.append_option(c.and_then(|c| c.name.as_deref()));
        self.image.append_option(c.and_then(|c| c.meta.image.as_deref()));
        self.image_id.append_option(c.and_then(|c| c.meta.image_id.as_deref()));
        self.pod_name.append_option(c.and_then(|c| c.meta.pod_name.as_deref()));
        self.pod_ns.append_option(c.and_then(|c| c.meta.pod_namespace.as_deref()));
        self.pod_uid.append_option(c.and_then(|c| c.pod_uid.as_deref()));
        let x = match &e.body {
            Body::Exec(x) => Some(x),
            _ => None,
        };
        self.exe.append_option(x.map(|x| lossy(&x.exe)));
        self.filename.append_option(x.filter(|x| !x.filename.is_empty()).map(|x| lossy(&x.filename)));
        self.cwd.append_option(x.and_then(|x| x.cwd.as_deref()).map(lossy));
        match x {
            Some(x) => {
                for a in &x.argv {
                    self.argv.values().append_value(lossy(a).as_ref());
                }
                self.argv.append(true);
            }
            None => self.argv.append(false),
        }
        self.uid.append_option(x.map(|x| i64::from(x.uid)));
        self.gid.append_option(x.map(|x| i64::from(x.gid)));
        self.euid.append_option(x.map(|x| i64::from(x.euid)));
        self.egid.append_option(x.map(|x| i64::from(x.egid)));
        match x {
            Some(x) => self.caps.append_value(std::str::from_utf8(&hex16(x.caps.effective)).unwrap_or_default()),
            None => self.caps.append_null(),
        }
        self.comm.append_option(match &e.body {
            Body::Exec(x) => Some(x.comm.as_str()),
            Body::Fork(f) => Some(f.comm.as_str()),
            _ => None,
        });
        let exit = match &e.body {
            Body::Exit(x) => Some(x),
            _ => None,
        };
        self.exit_code.append_option(exit.and_then(|x| x.code()).map(i64::from));
        self.signal.append_option(exit.and_then(|x| x.signal()).map(i64::from));
        self.cgroup.append_option(match &e.body {
            Body::Exec(x) => Some(x.cgroups.v2_path.as_str()),
            Body::CgroupMove(m) => Some(m.path.as_str()),
            Body::Container(c) => Some(c.cgroup.as_str()),
            _ => None,
        });
        let f = x.and_then(|x| x.file);
        self.inode.append_option(f.map(|f| f.inode as i64));
        self.upper.append_option(f.and_then(|f| f.upper_layer()));
        self.memfd.append_option(f.map(|f| f.memfd));
        self.deleted.append_option(f.map(|f| f.deleted));
        self.result.append_option(match &e.body {
            Body::Activity(a) => Some(a.result),
            _ => None,
        });
        // The line `ctrail events` shows for kinds other than exec (one wording, the
        // model's), written straight into the column.
        match ctrail_model::describe::write_summary(&e.body, &mut self.detail) {
            Ok(true) => self.detail.append_value(""),
            _ => self.detail.append_null(),
        }
        self.machine_id.append_option(file.machine_id);
    }

    /// The rows pushed since the last call, as one batch (the builders start again empty).
    pub fn take_batch(&mut self) -> Result<RecordBatch, ColumnarError> {
        self.rows = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.time_ns.finish()),
            Arc::new(self.host.finish()),
            Arc::new(self.boot_id.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.pid.finish()),
            Arc::new(self.tid.finish()),
            Arc::new(self.ppid.finish()),
            Arc::new(self.start.finish()),
            Arc::new(self.cid.finish()),
            Arc::new(self.runtime.finish()),
            Arc::new(self.cname.finish()),
            Arc::new(self.image.finish()),
            Arc::new(self.image_id.finish()),
            Arc::new(self.pod_name.finish()),
            Arc::new(self.pod_ns.finish()),
            Arc::new(self.pod_uid.finish()),
            Arc::new(self.exe.finish()),
            Arc::new(self.filename.finish()),
            Arc::new(self.cwd.finish()),
            Arc::new(self.argv.finish()),
            Arc::new(self.uid.finish()),
            Arc::new(self.gid.finish()),
            Arc::new(self.euid.finish()),
            Arc::new(self.egid.finish()),
            Arc::new(self.caps.finish()),
            Arc::new(self.comm.finish()),
            Arc::new(self.exit_code.finish()),
            Arc::new(self.signal.finish()),
            Arc::new(self.cgroup.finish()),
            Arc::new(self.inode.finish()),
            Arc::new(self.upper.finish()),
            Arc::new(self.memfd.finish()),
            Arc::new(self.deleted.finish()),
            Arc::new(self.result.finish()),
            Arc::new(self.detail.finish()),
            Arc::new(self.machine_id.finish()),
        ];
        Ok(RecordBatch::try_new(events_schema(), columns)?)
    }
}

/// A capability set as 16 lower-case hex digits, without the formatting machinery.
fn hex16(v: u64) -> [u8; 16] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 16];
    for (i, d) in out.iter_mut().enumerate() {
        *d = DIGITS[((v >> (60 - 4 * i)) & 0xf) as usize];
    }
    out
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
    fn events_become_typed_columns_in_the_order_pushed() {
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
        let file = FileBoot { host: "h", boot_id: "b", machine_id: None };
        let mut columns = EventColumns::new();
        columns.push(&b, None, file);
        columns.push(&a, None, file);
        assert_eq!(columns.len(), 2);
        let batch = columns.take_batch().unwrap();
        assert_eq!((batch.num_rows(), columns.len()), (2, 0), "taken, and the builders start again");
        let col = |name: &str| batch.column_by_name(name).unwrap().clone();
        let kinds = col("type");
        let kinds = kinds.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!((kinds.value(0), kinds.value(1)), ("exit", "exec"));
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
