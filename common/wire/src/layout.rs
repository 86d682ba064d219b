//! Every record struct's size and every field's offset as Rust lays them out, next to the
//! name of its C twin: the generated header asserts each of them against the C struct, so
//! the two cannot drift apart without the kernel side failing to compile.

use std::mem::{offset_of, size_of};

use crate::*;

/// One struct: its C name, its size and each field's offset.
#[derive(Debug, Clone)]
pub struct Layout {
    pub c_name: &'static str,
    /// The `CT_*_SIZE` define that names its size.
    pub size_define: &'static str,
    pub size: usize,
    pub fields: Vec<(&'static str, usize)>,
}

macro_rules! layouts {
    ($($rust:ident as $c:literal, $define:literal { $($field:ident),* $(,)? })*) => {
        /// The layout of every record struct.
        pub fn layouts() -> Vec<Layout> {
            vec![$(Layout {
                c_name: $c,
                size_define: $define,
                size: size_of::<$rust>(),
                fields: vec![$((stringify!($field), offset_of!($rust, $field))),*],
            }),*]
        }

        // Every field is listed: a field added to a struct but not here would leave its
        // offset unchecked, and this sum would then fall short of the struct's size.
        $(const _: () = assert!(0 $(+ size_of_field!($rust, $field))* == size_of::<$rust>());)*
    };
}

/// The size of one field of a struct, without an instance.
macro_rules! size_of_field {
    ($t:ty, $f:ident) => {{
        const fn size_of_pointee<T>(_: *const T) -> usize {
            size_of::<T>()
        }
        let u = std::mem::MaybeUninit::<$t>::uninit();
        // SAFETY: only the field's address is taken (addr_of!), nothing is read.
        size_of_pointee(unsafe { std::ptr::addr_of!((*u.as_ptr()).$f) })
    }};
}

layouts! {
    RawHdr as "ct_hdr", "CT_HDR_SIZE" {
        kind, size, ts_boot_ns, start_boot_ns, parent_start_boot_ns, cgroup_id, cg1_id, tgid, tid, ppid, verdict,
    }
    RawExec as "ct_exec", "CT_EXEC_SIZE" {
        h, caps, ns, ns_pid, old_tid, uid, gid, euid, egid, loginuid, flags, exe_len, argv_len, argv_full_len,
        cg2_len, cg1_len, comm, comm_old, exe_ino, exe_size, exe_mtime_ns, exe_ctime_ns, exe_dev, exe_mode, exe_uid,
        exe_gid, exe_nlink, exe_flags, path_len, cwd_len,
    }
    RawFork as "ct_fork", "CT_FORK_SIZE" { h, ns, ns_pid, comm }
    RawExit as "ct_exit", "CT_EXIT_SIZE" { h, exit_code, _pad, comm }
    RawCgroupMove as "ct_cgroup_move", "CT_CGROUP_MOVE_SIZE" { h, dst_id, hier, path_len }
    RawCgroupDir as "ct_cgroup_dir", "CT_CGROUP_DIR_SIZE" { h, id, hier, path_len, op, _pad }
    RawCreds as "ct_creds", "CT_CREDS_SIZE" { uid, euid, suid, fsuid, gid, egid, sgid, fsgid, cap_eff, cap_prm, cap_inh }
    RawSockaddrs as "ct_sockaddrs", "CT_SOCKADDRS_SIZE" { family, lport, rport, _pad, laddr, raddr }
    RawActivity as "ct_activity", "CT_ACTIVITY_SIZE" { h, op, ret, args, before, after, ns, str_len, net }
    CgKey as "ct_cg_key", "CT_CG_KEY_SIZE" { cg2_id, cg1_id }
}
