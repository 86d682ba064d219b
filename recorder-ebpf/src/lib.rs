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
    /// A tracepoint's two programs, `ct_<name>_btf` on `tp_btf/<tp>` and `ct_<name>_raw` on
    /// `raw_tp/<tp>` (what `CT_TRACEPOINT` in the C source makes).
    #[derive(Debug, Clone, Copy)]
    pub struct Tracepoint {
        pub tp: &'static str,
        pub btf: &'static str,
        pub raw: &'static str,
    }

    macro_rules! tracepoint {
        ($name:literal, $tp:literal) => {
            Tracepoint { tp: $tp, btf: concat!("ct_", $name, "_btf"), raw: concat!("ct_", $name, "_raw") }
        };
    }

    pub const EXEC: Tracepoint = tracepoint!("exec", "sched_process_exec");
    pub const FORK: Tracepoint = tracepoint!("fork", "sched_process_fork");
    pub const EXIT: Tracepoint = tracepoint!("exit", "sched_process_exit");
    pub const PREPARE_EXEC: Tracepoint = tracepoint!("prepare_exec", "sched_prepare_exec");
    pub const CGROUP_ATTACH: Tracepoint = tracepoint!("cgroup_attach", "cgroup_attach_task");
    pub const CGROUP_MKDIR: Tracepoint = tracepoint!("cgroup_mkdir", "cgroup_mkdir");
    pub const CGROUP_RMDIR: Tracepoint = tracepoint!("cgroup_rmdir", "cgroup_rmdir");
    pub const MODULE_LOAD: Tracepoint = tracepoint!("module_load", "module_load");

    /// The exec without its path walks (raw_tp): kernels without bpf_loop (before 5.17),
    /// and `--resolve-exe off`.
    pub const EXEC_NO_WALK: &str = "ct_exec_nowalk_raw";

    /// The comm before exec on kernels without sched_prepare_exec, on the exec syscalls'
    /// functions (`CT_COMM_ON`: `ct_{fentry,kprobe}_comm_<syscall>`).
    pub fn comm_on_function(hook: &str, syscall: &str) -> String {
        format!("ct_{hook}_comm_{syscall}")
    }

    /// The same on their tracepoints, where the functions cannot be hooked.
    pub const ENTER_EXECVE: &str = "ct_enter_execve";
    pub const ENTER_EXECVEAT: &str = "ct_enter_execveat";

    /// The raw fallback of the activity syscalls.
    pub const SYS_ENTER_RAW: &str = "ct_sys_enter_raw";
    pub const SYS_EXIT_RAW: &str = "ct_sys_exit_raw";

    /// The programs of one activity syscall (every name in `ctrail_wire::SYSCALLS`; the
    /// kernel side generates them from the same table).
    pub fn enter(syscall: &str) -> String {
        format!("ct_enter_{syscall}")
    }

    pub fn exit(syscall: &str) -> String {
        format!("ct_exit_{syscall}")
    }

    /// The programs of one activity syscall on its function (`CT_SYSCALL_FUNCS`):
    /// `ct_{fentry,fexit,kprobe,kretprobe}_<name>`.
    pub fn on_function(hook: &str, syscall: &str) -> String {
        format!("ct_{hook}_{syscall}")
    }

    /// The kernel function a syscall enters through on this architecture.
    pub fn syscall_function(syscall: &str) -> String {
        let prefix = if cfg!(target_arch = "aarch64") { "__arm64_sys_" } else { "__x64_sys_" };
        format!("{prefix}{syscall}")
    }

    /// The seccomp verdict, where the function rungs see what seccomp refused.
    pub const SECCOMP_FUNCTION: &str = "__secure_computing";
    pub const FEXIT_SECCOMP: &str = "ct_fexit_seccomp";
    pub const KRETPROBE_SECCOMP: &str = "ct_kretprobe_seccomp";
}

/// Names of the maps in [`object`].
pub mod maps {
    pub const EVENTS: &str = "CT_EVENTS";
    pub const SCRATCH: &str = "CT_SCRATCH";
    pub const VERDICTS: &str = "CT_VERDICTS";
    pub const COUNTERS: &str = "CT_COUNTERS";
    pub const HOOK_OPS: &str = "CT_HOOK_OPS";
}

/// Names of the load-time constants in [`object`].
pub mod globals {
    pub const SELF_TGID: &str = "cfg_self_tgid";
    pub const CG1_HIER: &str = "cfg_cg1_hier";
    pub const ARGV_MAX: &str = "cfg_argv_max";
    pub const SCOPE: &str = "cfg_scope";
    pub const ACTIVITY: &str = "cfg_activity";
}
