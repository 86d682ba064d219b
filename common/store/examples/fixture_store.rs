//! Writes a small store holding one event of every kind this version knows, for the
//! compatibility fixtures in `fixtures/stores/` (see its README): the fixture of a version is
//! written by that version's code, and every later version must read it the same.
//!
//! `cargo run -p ctrail-store --example fixture_store -- DIR`
//!
//! The lines between the `// BEGIN since` and `// END since` comment lines are kinds added
//! later; `fixtures/stores/make.sh --strip-since` cuts them out to build this at an older commit.

use std::path::PathBuf;

use ctrail_model::Runtime;
use ctrail_model::*;
use ctrail_store::{Batch, Options, StoreWriter};

const SEC: u64 = 1_000_000_000;
/// 2026-11-01T00:00:00Z: fixed, so the fixture is the same whenever it is written.
const T0: u64 = 1_793_491_200 * SEC;
const ID: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: fixture_store DIR"));
    let (mut w, _) = StoreWriter::open(&dir, Options::default(), T0).expect("create the store");
    let boot = w
        .add_boot(&BootInfo {
            boot_id: "5f8a7c1e-0000-4000-8000-000000000001".into(),
            hostname: "fixture-host".into(),
            kernel: "6.1.0-fixture".into(),
            ctrail_version: env!("CARGO_PKG_VERSION").into(),
            wall_offset_ns: T0 as i64,
            // BEGIN since (format 5: the machine ID)
            machine_id: Some("0123456789abcdef0123456789abcdef".into()),
            // END since
        })
        .unwrap();
    let c = w.container(Container {
        id: ID.into(),
        runtime: Some(Runtime::Docker),
        name: None,
        pod_uid: None,
        outer_id: None,
        cgroup: Some(format!("/docker/{ID}")),
        reason: "fixture".into(),
        first_seen: T0,
        last_seen: T0,
        processes: 0,
        events: 0,
        // BEGIN since 0.1.0+16
        meta: Default::default(),
        // END since
    });
    // BEGIN since 0.1.0+16
    let mut meta = ctrail_model::Metadata {
        image: Some("shop/api:1.4.2".into()),
        image_id: Some("sha256:5e1d2c3b4a5968778695a4b3c2d1e0f5e1d2c3b4a5968778695a4b3c2d1e0f".into()),
        image_digest: Some("shop/api@sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9".into()),
        pod_name: Some("api-7f9c".into()),
        pod_namespace: Some("payments".into()),
        container_name: Some("api".into()),
        sandbox: Some(false),
        ..Default::default()
    };
    meta.labels.insert("team".into(), "pay".into());
    meta.sources.insert("image".into(), format!("/var/lib/docker/containers/{ID}/config.v2.json"));
    w.describe(ID, Some("web-1".into()), Some("0b8e4f7a-1c2d-4e5f-9a8b-7c6d5e4f3a2b".into()), None, meta);
    // END since
    let ns = Namespaces {
        pid: 4026532001,
        mnt: 4026532002,
        net: 4026532003,
        uts: 4026532004,
        ipc: 4026532005,
        user: 4026531837,
        cgroup: 4026532006,
    };
    let creds = |uid: u32| Creds {
        uid,
        euid: uid,
        suid: uid,
        fsuid: uid,
        gid: uid,
        egid: uid,
        sgid: uid,
        fsgid: uid,
        cap_effective: if uid == 0 { 0x1ff_ffff_ffff } else { 0 },
        cap_permitted: if uid == 0 { 0x1ff_ffff_ffff } else { 0 },
        cap_inheritable: 0,
    };
    let key = ProcKey::new(boot, 4242, 5 * SEC);
    let mut n = 0u64;
    let mut ev = |body: Body, container: Option<u32>| {
        n += 1;
        Event {
            time: T0 + n * SEC,
            boot_ns: 5 * SEC + n * SEC,
            proc: key,
            tid: key.tgid,
            ppid: 4000,
            parent_start: 4 * SEC,
            container,
            body,
        }
    };
    let act = |action: Action, result: i64| {
        Body::Activity(Box::new(Activity { action, result, before: creds(0), after: creds(0), ns }))
    };
    let events = vec![
        ev(Body::Container(ContainerLife { started: true, cgroup: format!("/docker/{ID}") }), Some(c)),
        ev(Body::Fork(Fork { ns_pid: 1, comm: "containerd-shim".into(), ns, cgroup_v2_id: 77 }), Some(c)),
        ev(
            Body::Exec(Box::new(Exec {
                source: Source::Kernel,
                ns_pid: 1,
                old_tid: 4242,
                comm: "sh".into(),
                comm_before: Some("runc:[2:INIT]".into()),
                exe: b"/bin/sh".to_vec(),
                argv: vec![b"/bin/sh".to_vec(), b"-c".to_vec(), b"echo fixture && sleep 1".to_vec(), vec![0xff]],
                argv_truncated: false,
                argv_bytes: 38,
                uid: 0,
                gid: 0,
                euid: 0,
                egid: 0,
                loginuid: u32::MAX,
                caps: Caps {
                    effective: 0xa80425fb,
                    permitted: 0xa80425fb,
                    inheritable: 0,
                    bounding: 0xa80425fb,
                    ambient: 0,
                },
                ns,
                cgroups: Cgroups {
                    v2_path: format!("/docker/{ID}"),
                    v2_id: 77,
                    v1_path: Some(format!("/docker/{ID}")),
                    v1_id: 78,
                    v1_hierarchy: Some("name=systemd".into()),
                    truncated: false,
                },
                // BEGIN since (format 4: the executed file)
                filename: b"sh".to_vec(),
                cwd: Some(b"/tmp".to_vec()),
                file: Some(ExeFile {
                    dev_major: 0,
                    dev_minor: 61,
                    inode: 1_048_602,
                    size: 125_640,
                    mode: 0o104755,
                    uid: 0,
                    gid: 0,
                    nlink: 1,
                    mtime_ns: 1_700_000_000_123_456_789,
                    ctime_ns: 1_793_491_201_000_000_000,
                    overlay: true,
                    upper_layer: true,
                    memfd: false,
                    deleted: false,
                    path_truncated: false,
                    cwd_truncated: false,
                }),
                // END since
            })),
            Some(c),
        ),
        ev(Body::CgroupMove(CgroupMove { hierarchy: None, path: format!("/docker/{ID}/sub"), cgroup_id: 79 }), Some(c)),
        ev(
            act(Action::Mount { source: "none".into(), target: "/mnt".into(), fstype: "tmpfs".into(), flags: 2 }, 0),
            Some(c),
        ),
        ev(
            act(
                Action::Mount { source: "/dev/sda1".into(), target: "/host".into(), fstype: "ext4".into(), flags: 0 },
                -1,
            ),
            Some(c),
        ),
        ev(act(Action::Umount { target: "/mnt".into(), flags: 0 }, 0), Some(c)),
        ev(act(Action::Setns { fd: 3, nstype: 0x0002_0000 }, 0), Some(c)),
        ev(act(Action::Unshare { flags: 0x2002_0000 }, 0), Some(c)),
        ev(act(Action::Chroot { path: "/newroot".into() }, 0), Some(c)),
        ev(act(Action::PivotRoot { new_root: "/new".into(), put_old: "/new/old".into() }, -22), Some(c)),
        ev(
            Body::Activity(Box::new(Activity {
                action: Action::CredChange { call: "setresuid".into(), args: vec![1000, 1000, 1000] },
                result: 0,
                before: creds(0),
                after: creds(1000),
                ns,
            })),
            Some(c),
        ),
        ev(act(Action::Ptrace { request: 16, target_pid: 4100, target_container: Some(ID.into()) }, 0), Some(c)),
        // BEGIN since 0.1.0+a125b58: module and BPF loads, TCP connect and accept
        ev(
            act(
                Action::ModuleLoad {
                    call: "finit_module".into(),
                    name: "dummy".into(),
                    file: "dummy.ko".into(),
                    params: "numdummies=2".into(),
                },
                0,
            ),
            Some(c),
        ),
        ev(act(Action::BpfLoad { prog_type: 1, name: "fixture_prog".into(), attach_type: 0, insns: 2 }, 5), Some(c)),
        ev(
            act(
                Action::Connect(Connection {
                    local: "10.0.0.2:40000".parse().unwrap(),
                    remote: "93.184.216.34:443".parse().unwrap(),
                }),
                -111,
            ),
            Some(c),
        ),
        ev(
            act(
                Action::Accept(Connection {
                    local: "[::1]:8080".parse().unwrap(),
                    remote: "[::1]:50000".parse().unwrap(),
                }),
                4,
            ),
            Some(c),
        ),
        // END since
        ev(Body::Container(ContainerLife { started: false, cgroup: format!("/docker/{ID}") }), Some(c)),
        ev(Body::Exit(Exit { status: 3 << 8 }), Some(c)),
    ];
    let gap = Gap {
        start: T0 + 30 * SEC,
        end: T0 + 31 * SEC,
        lost_exec: 1,
        lost_fork: 2,
        lost_exit: 3,
        lost_other: 4,
        reason: GapReason::RingBufferFull,
    };
    #[allow(unused_mut)]
    let mut gaps = vec![gap];
    // BEGIN since 0.1.0+13: files removed or changed under a running recorder
    gaps.push(Gap {
        start: T0 + 32 * SEC,
        end: T0 + 33 * SEC,
        lost_exec: 5,
        lost_fork: 1,
        lost_exit: 1,
        lost_other: 0,
        reason: GapReason::SegmentLost { segment: "0000000007.active.redb".into(), events: 7 },
    });
    gaps.push(Gap {
        start: T0 + 34 * SEC,
        end: T0 + 34 * SEC,
        lost_exec: 0,
        lost_fork: 0,
        lost_exit: 0,
        lost_other: 0,
        reason: GapReason::Tampered { detail: "the lock file was removed under the running recorder".into() },
    });
    // END since
    // BEGIN since 0.1.0+14: records that did not decode
    gaps.push(Gap {
        start: T0 + 35 * SEC,
        end: T0 + 36 * SEC,
        lost_exec: 0,
        lost_fork: 0,
        lost_exit: 0,
        lost_other: 2,
        reason: GapReason::Undecodable { records: 2, first_error: "record kind 99 is unknown".into() },
    });
    // END since
    // BEGIN since 0.1.0+15: segments set aside as damaged, and format 2
    gaps.push(Gap {
        start: T0 + 36 * SEC,
        end: T0 + 37 * SEC,
        lost_exec: 0,
        lost_fork: 0,
        lost_exit: 0,
        lost_other: 0,
        reason: GapReason::Damaged {
            segment: "0000000003-1-2.seg".into(),
            events: 5,
            detail: "the directory does not match its checksum".into(),
        },
    });
    // END since
    let last = events.last().map_or(T0, |e| e.time);
    w.commit(&Batch { events, gaps }, last).unwrap();
    w.close(last + SEC).unwrap();
}
