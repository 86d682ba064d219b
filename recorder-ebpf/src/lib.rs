//! The compiled kernel object, embedded so that `ctrail-recorder` is one file.
//!
//! The bytes come from `build.rs` (clang, CO-RE). aya parses ELF in place and needs
//! the buffer aligned like the ELF header wants it, which `include_bytes!` does not
//! promise; the wrapper below forces it.

#[repr(C, align(32))]
struct Aligned<T: ?Sized>(T);

static OBJECT: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/recorder.bpf.o")));

/// The BPF ELF object holding every program and map of the recorder.
pub fn object() -> &'static [u8] {
    &OBJECT.0
}

/// Names of the programs in [`object`], so that the loader and the object cannot drift.
pub mod programs {
    pub const EXEC_BTF: &str = "ct_exec_btf";
    pub const EXEC_RAW: &str = "ct_exec_raw";
    pub const FORK_BTF: &str = "ct_fork_btf";
    pub const FORK_RAW: &str = "ct_fork_raw";
    pub const EXIT_BTF: &str = "ct_exit_btf";
    pub const EXIT_RAW: &str = "ct_exit_raw";
    pub const PREPARE_EXEC_BTF: &str = "ct_prepare_exec_btf";
    pub const PREPARE_EXEC_RAW: &str = "ct_prepare_exec_raw";
    pub const ENTER_EXECVE: &str = "ct_enter_execve";
    pub const ENTER_EXECVEAT: &str = "ct_enter_execveat";
    pub const CGROUP_ATTACH_BTF: &str = "ct_cgroup_attach_btf";
    pub const CGROUP_ATTACH_RAW: &str = "ct_cgroup_attach_raw";

    pub const SYS_ENTER_RAW: &str = "ct_sys_enter_raw";
    pub const SYS_EXIT_RAW: &str = "ct_sys_exit_raw";

    /// The syscalls recorded as activity: (tracepoint name, op number). Their programs are
    /// `ct_enter_<name>` and `ct_exit_<name>` on `syscalls/sys_{enter,exit}_<name>`.
    pub const CGROUP_MKDIR_BTF: &str = "ct_cgroup_mkdir_btf";
    pub const CGROUP_MKDIR_RAW: &str = "ct_cgroup_mkdir_raw";
    pub const CGROUP_RMDIR_BTF: &str = "ct_cgroup_rmdir_btf";
    pub const CGROUP_RMDIR_RAW: &str = "ct_cgroup_rmdir_raw";

    pub const MODULE_LOAD_BTF: &str = "ct_module_load_btf";
    pub const MODULE_LOAD_RAW: &str = "ct_module_load_raw";

    pub const SYSCALLS: [(&str, u32); 22] = [
        ("mount", 1),
        ("umount", 2),
        ("setns", 3),
        ("unshare", 4),
        ("chroot", 5),
        ("pivot_root", 6),
        ("setuid", 7),
        ("setgid", 8),
        ("setreuid", 9),
        ("setregid", 10),
        ("setresuid", 11),
        ("setresgid", 12),
        ("setfsuid", 13),
        ("setfsgid", 14),
        ("capset", 15),
        ("ptrace", 16),
        ("init_module", 17),
        ("finit_module", 18),
        ("bpf", 19),
        ("connect", 20),
        ("accept", 21),
        ("accept4", 21),
    ];
}

/// Names of the maps in [`object`].
pub mod maps {
    pub const EVENTS: &str = "CT_EVENTS";
    pub const SCRATCH: &str = "CT_SCRATCH";
    pub const VERDICTS: &str = "CT_VERDICTS";
    pub const COUNTERS: &str = "CT_COUNTERS";
}

/// Names of the load-time constants in [`object`].
pub mod globals {
    pub const SELF_TGID: &str = "cfg_self_tgid";
    pub const CG1_HIER: &str = "cfg_cg1_hier";
    pub const ARGV_MAX: &str = "cfg_argv_max";
    pub const SCOPE: &str = "cfg_scope";
    pub const ACTIVITY: &str = "cfg_activity";
}
