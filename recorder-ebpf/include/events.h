/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * The records the kernel side hands to userspace through the ring buffer.
 *
 * This header is the single source of truth for the layout: `common/src/wire.rs`
 * mirrors every struct as #[repr(C)] and asserts size and offsets at compile
 * time, and the C side asserts the same sizes below. Change both together and
 * bump CT_ABI_VERSION.
 *
 * Records are variable-size: a fixed part followed by a tail of byte strings
 * whose lengths sit in the fixed part. Only exec records carry a tail.
 */
#ifndef CTRAIL_EVENTS_H
#define CTRAIL_EVENTS_H

#define CT_ABI_VERSION 2

#define CT_COMM_LEN 16
/* Upper bounds on the tail pieces, enforced in the kernel. */
#define CT_EXE_MAX 4096
#define CT_ARGV_MAX 32768        /* hard cap; the runtime limit is cfg_argv_max */
#define CT_ARGV_DEFAULT 16384
#define CT_CGPATH_MAX 4096
#define CT_CG_DEPTH 16           /* cgroup levels walked before a path is flagged truncated */
#define CT_CG_NAME_MAX 256

enum ct_kind {
	CT_EXEC = 1,
	CT_FORK = 2,
	CT_EXIT = 3,
	CT_CGROUP_MOVE = 4,
	CT_ACTIVITY = 5,
	CT_CGROUP_DIR = 6,
};

/* What a process did, from per-syscall tracepoints (enter + exit, paired by thread). */
enum ct_op {
	CT_OP_MOUNT = 1,
	CT_OP_UMOUNT = 2,
	CT_OP_SETNS = 3,
	CT_OP_UNSHARE = 4,
	CT_OP_CHROOT = 5,
	CT_OP_PIVOT_ROOT = 6,
	CT_OP_SETUID = 7,
	CT_OP_SETGID = 8,
	CT_OP_SETREUID = 9,
	CT_OP_SETREGID = 10,
	CT_OP_SETRESUID = 11,
	CT_OP_SETRESGID = 12,
	CT_OP_SETFSUID = 13,
	CT_OP_SETFSGID = 14,
	CT_OP_CAPSET = 15,
	CT_OP_PTRACE = 16,
	CT_OP_INIT_MODULE = 17,  /* module_load: name from the module:module_load tracepoint */
	CT_OP_FINIT_MODULE = 18,
	CT_OP_BPF_PROG_LOAD = 19, /* bpf(BPF_PROG_LOAD, ...) only; other bpf() commands are skipped */
	CT_OP_CONNECT = 20,      /* TCP sockets only (v4, v6) */
	CT_OP_ACCEPT = 21,       /* accept and accept4, TCP only; EAGAIN results are skipped */
	CT_OP_MAX = 22,
};

/* What userspace decided about a cgroup, written back into CT_VERDICTS. */
enum ct_verdict {
	CT_V_UNKNOWN = 0,
	CT_V_HOST = 1,
	CT_V_CONTAINER = 2,
};

/* The `--scope` filter, applied in the kernel against the cached verdict. */
enum ct_scope {
	CT_SCOPE_ALL = 0,
	CT_SCOPE_CONTAINERS = 1,
	CT_SCOPE_HOST = 2,
};

/* Per-CPU counters (CT_COUNTERS index). LOST_* are failed ring-buffer reservations. */
enum ct_counter {
	CT_C_EXEC = 0,
	CT_C_FORK = 1,
	CT_C_EXIT = 2,
	CT_C_LOST_EXEC = 3,
	CT_C_LOST_FORK = 4,
	CT_C_LOST_EXIT = 5,
	CT_C_FILTERED = 6,
	CT_C_THREADS = 7,
	CT_C_MOVE = 8,
	CT_C_LOST_MOVE = 9,
	CT_C_ACTIVITY = 10,
	CT_C_LOST_ACTIVITY = 11,
	CT_C_MAX = 12,
};

/* ct_exec.flags */
#define CT_F_ARGV_TRUNC (1u << 0)
#define CT_F_EXE_TRUNC (1u << 1)
#define CT_F_CG2_TRUNC (1u << 2)
#define CT_F_CG1_TRUNC (1u << 3)
#define CT_F_CG1_MISSING (1u << 4)   /* the chosen v1 hierarchy was not found for this task */
#define CT_F_OLD_COMM (1u << 5)      /* comm_old is the comm before exec (else unknown) */

/* Namespace inode numbers, in this order everywhere. */
enum ct_ns {
	CT_NS_PID = 0,
	CT_NS_MNT = 1,
	CT_NS_NET = 2,
	CT_NS_UTS = 3,
	CT_NS_IPC = 4,
	CT_NS_USER = 5,
	CT_NS_CGROUP = 6,
	CT_NS_MAX = 7,
};

/* Common to every record: who, when, and which cgroup. */
struct ct_hdr {
	__u32 kind;              /* enum ct_kind */
	__u32 size;              /* whole record, tail included */
	__u64 ts_boot_ns;        /* bpf_ktime_get_boot_ns() at the event */
	__u64 start_boot_ns;     /* task->group_leader->start_boottime */
	__u64 parent_start_boot_ns;
	__u64 cgroup_id;         /* cgroup v2 id (kernfs id of the dfl cgroup) */
	__u64 cg1_id;            /* kernfs id in the chosen v1 hierarchy, 0 if none */
	__u32 tgid;
	__u32 tid;               /* differs from tgid when a thread did it */
	__u32 ppid;              /* real_parent tgid */
	__u32 verdict;           /* enum ct_verdict cached for this cgroup at emission */
};

struct ct_exec {
	struct ct_hdr h;
	__u64 caps[5];           /* effective, permitted, inheritable, bounding, ambient */
	__u32 ns[CT_NS_MAX];     /* enum ct_ns order */
	__u32 ns_pid;            /* tgid inside its own pid namespace */
	__u32 old_tid;           /* tid that called exec (differs when a thread exec'd) */
	__u32 uid, gid, euid, egid;
	__u32 loginuid;
	__u32 flags;             /* CT_F_* */
	__u32 exe_len;           /* tail: exe, then argv, then cg2 path, then cg1 path */
	__u32 argv_len;          /* NUL-separated, as the process laid it out */
	__u32 argv_full_len;     /* arg_end - arg_start, even when truncated */
	__u32 cg2_len;
	__u32 cg1_len;
	char comm[CT_COMM_LEN];
	char comm_old[CT_COMM_LEN];
};

struct ct_fork {
	struct ct_hdr h;         /* the new process: h.ppid and h.parent_start_boot_ns name its parent */
	__u32 ns[CT_NS_MAX];     /* the child's namespaces (clone may have made new ones) */
	__u32 ns_pid;
	char comm[CT_COMM_LEN];
};

struct ct_exit {
	struct ct_hdr h;
	__u32 exit_code;         /* task->exit_code: wait-status encoded */
	__u32 _pad;
	char comm[CT_COMM_LEN];
};

/* A process joined another cgroup (a runtime moving `docker exec`'s process into the
 * container, say), in the v2 tree (hier 0) or the recorded v1 hierarchy.
 * Tail: the new cgroup's path, path_len bytes. */
struct ct_cgroup_move {
	struct ct_hdr h;
	__u64 dst_id;            /* kernfs id of the destination cgroup */
	__u32 hier;              /* 0 for cgroup v2, else the v1 hierarchy id */
	__u32 path_len;
};

/* A cgroup was created (op 1) or removed (op 2): how runtimes start and end containers.
 * Tail: the cgroup's path, path_len bytes. */
struct ct_cgroup_dir {
	struct ct_hdr h;
	__u64 id;                /* kernfs id of the cgroup */
	__u32 hier;              /* 0 for cgroup v2, else the v1 hierarchy id */
	__u32 path_len;
	__u32 op;
	__u32 _pad;
};

/* Credentials around a syscall (cred_change: before and after). */
struct ct_creds {
	__u32 uid, euid, suid, fsuid;
	__u32 gid, egid, sgid, fsgid;
	__u64 cap_eff, cap_prm, cap_inh;
};

#define CT_STR_MAX 1024
#define CT_KSTR_MAX 64           /* names copied in the kernel: module, BPF program, file */

/* Both ends of a TCP connection (connect, accept). Addresses in network byte order,
 * IPv4 in the first 4 bytes; ports in host order. For connect, the remote end is what the
 * caller asked for (read at entry, so a refused attempt still says where it went). */
struct ct_sockaddrs {
	__u16 family;            /* AF_INET or AF_INET6, 0 when not a connection */
	__u16 lport;
	__u16 rport;
	__u16 _pad;
	__u8 laddr[16];
	__u8 raddr[16];
};

/* One syscall of interest with its result. Tail: str_len[0..3] bytes of strings
 * (mount: source, target, fstype; umount, chroot: path; pivot_root: new, old;
 * init/finit_module: module name, file name, parameters; bpf: program name). */
struct ct_activity {
	struct ct_hdr h;
	__u32 op;                /* enum ct_op */
	__s32 ret;               /* the syscall's return: 0 or -errno */
	__u64 args[4];           /* its integer arguments (flags, fd, ns type, ids) */
	struct ct_creds before;  /* at entry */
	struct ct_creds after;   /* at exit */
	__u32 ns[CT_NS_MAX];     /* namespaces after the call */
	__u32 str_len[3];
	struct ct_sockaddrs net; /* connect and accept; zero otherwise */
};

/* Key of CT_VERDICTS: the (v2, chosen v1) cgroup pair a verdict was made for. A pair,
 * not one id, because on hybrid hosts a container may live only in v1 while its v2
 * cgroup is the root that every host process shares. */
struct ct_cg_key {
	__u64 cg2_id;
	__u64 cg1_id;
};

#define CT_HDR_SIZE 64
#define CT_EXEC_SIZE 216
#define CT_FORK_SIZE 112
#define CT_EXIT_SIZE 88
#define CT_CG_KEY_SIZE 16
#define CT_CGROUP_MOVE_SIZE 80
#define CT_CREDS_SIZE 56
#define CT_ACTIVITY_SIZE 296
#define CT_SOCKADDRS_SIZE 40
#define CT_CGROUP_DIR_SIZE 88

#ifdef __bpf__
_Static_assert(sizeof(struct ct_hdr) == CT_HDR_SIZE, "ct_hdr layout changed");
_Static_assert(sizeof(struct ct_exec) == CT_EXEC_SIZE, "ct_exec layout changed");
_Static_assert(sizeof(struct ct_fork) == CT_FORK_SIZE, "ct_fork layout changed");
_Static_assert(sizeof(struct ct_exit) == CT_EXIT_SIZE, "ct_exit layout changed");
_Static_assert(sizeof(struct ct_cg_key) == CT_CG_KEY_SIZE, "ct_cg_key layout changed");
_Static_assert(sizeof(struct ct_cgroup_move) == CT_CGROUP_MOVE_SIZE, "ct_cgroup_move layout changed");
_Static_assert(sizeof(struct ct_creds) == CT_CREDS_SIZE, "ct_creds layout changed");
_Static_assert(sizeof(struct ct_activity) == CT_ACTIVITY_SIZE, "ct_activity layout changed");
_Static_assert(sizeof(struct ct_sockaddrs) == CT_SOCKADDRS_SIZE, "ct_sockaddrs layout changed");
_Static_assert(sizeof(struct ct_cgroup_dir) == CT_CGROUP_DIR_SIZE, "ct_cgroup_dir layout changed");
#endif

#endif
