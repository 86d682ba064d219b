/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * The records the kernel side hands to userspace through the ring buffer.
 *
 * The structs are mirrored one for one by #[repr(C)] types in common/wire
 * (ctrail-wire), and every size and field offset is asserted against them at the
 * end of this file; change both together and bump ABI_VERSION there.
 *
 * Records are variable-size: a fixed part followed by a tail of byte strings
 * whose lengths sit in the fixed part (exec: exe, argv, cgroup paths; cgroup
 * move and cgroup dir: a path; activity: up to three strings).
 */
#ifndef CTRAIL_EVENTS_H
#define CTRAIL_EVENTS_H

/* Every constant (record kinds, ops, verdicts, scopes, counters, flags, namespace order,
 * limits, struct sizes) and the table of recorded syscalls come from the ctrail-wire crate,
 * generated into ct_consts.h by build.rs: one definition, for both sides. */
#include "ct_consts.h"

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
	__u32 exe_len;           /* tail: exe (as passed), argv, cg2 path, cg1 path, path, cwd */
	__u32 argv_len;          /* NUL-separated, as the process laid it out */
	__u32 argv_full_len;     /* arg_end - arg_start, even when truncated */
	__u32 cg2_len;
	__u32 cg1_len;
	char comm[CT_COMM_LEN];
	char comm_old[CT_COMM_LEN];
	/* The file the kernel executes (bprm->file), not the string passed to exec. */
	__u64 exe_ino;
	__u64 exe_size;
	__s64 exe_mtime_ns;      /* since the epoch */
	__s64 exe_ctime_ns;
	__u32 exe_dev;           /* the superblock's s_dev: major << 20 | minor */
	__u32 exe_mode;          /* type and permission bits, set-id included */
	__u32 exe_uid, exe_gid;
	__u32 exe_nlink;
	__u32 exe_flags;         /* CT_X_* */
	__u32 path_len;          /* tail, after cg1: the exe's path, then the cwd, as the process sees them */
	__u32 cwd_len;
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

#ifdef __bpf__
/* Every struct's size and every field's offset, asserted against ctrail-wire's #[repr(C)]
 * twins (generated by build.rs): a struct changed on one side only does not compile. */
#include "ct_layout_asserts.h"
#endif


#endif
