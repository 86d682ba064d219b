// SPDX-License-Identifier: GPL-2.0
/*
 * ctrail's kernel side: an exec snapshot, fork and exit for every process.
 *
 * Everything the container verdict needs is read here, at the event, because a
 * process that lives a millisecond is gone before userspace could read /proc.
 * Userspace decides (classifier) and writes the verdict back per cgroup into
 * CT_VERDICTS; the kernel only filters by it (`--scope`).
 *
 * Each hook exists twice: as tp_btf (preferred, direct BTF pointer access)
 * and as raw_tp (fallback where tp_btf cannot load). The bodies use CO-RE
 * reads only, so one body serves both.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "events.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader (EbpfLoader::override_global); .rodata, so the verifier prunes on them. */
volatile const __u32 cfg_self_tgid = 0;   /* the recorder itself is never reported */
volatile const __u32 cfg_cg1_hier = 0;    /* v1 hierarchy id whose path is recorded; 0 = none */
volatile const __u32 cfg_argv_max = CT_ARGV_DEFAULT;
volatile const __u32 cfg_scope = CT_SCOPE_ALL;
volatile const __u32 cfg_activity = 0;      /* bit (1 << ct_op) per recorded syscall kind */

/* Scratch space for building a variable-size exec record; one slot per CPU
 * (an ARRAY indexed by CPU, because per-CPU values are capped at 32 KiB). */
#define SCRATCH_SZ (65536 + 512)
#define OFF_MASK 0xFFFF
struct scratch {
	char buf[SCRATCH_SZ];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024); /* resized by the loader */
} CT_EVENTS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* set to the number of possible CPUs by the loader */
	__type(key, __u32);
	__type(value, struct scratch);
} CT_SCRATCH SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ct_cg_key);
	__type(value, __u32);
} CT_VERDICTS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CT_C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} CT_COUNTERS SEC(".maps");

/* comm of a thread just before its exec, keyed by tid; consumed at sched_process_exec. */
struct comm_val {
	char comm[CT_COMM_LEN];
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct comm_val);
} CT_OLD_COMM SEC(".maps");

/* A syscall between its entry and its exit, by thread id. */
struct pending {
	__u32 op;
	__u32 _pad;
	__u64 args[6];
	struct ct_creds before;
	struct ct_sockaddrs net;
	/* Names only the kernel side can read: module (module_load tracepoint) or BPF program
	 * name in [0], the file a module came from in [1]. */
	char kstr[2][CT_KSTR_MAX];
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct pending);
} CT_PENDING SEC(".maps");

/* Where a pending entry is built: too big for the 512-byte BPF stack next to the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pending);
} CT_PENDING_SCRATCH SEC(".maps");

/* kernfs_node::parent became __parent in 6.15. */
struct kernfs_node___old {
	struct kernfs_node___old *parent;
} __attribute__((preserve_access_index));

/* Waking the reader for every record is a context switch per event on a busy host. The
 * reader drains on a short timer anyway, so wake it early only once the ring is an eighth
 * full, well before anything could be lost. */
static __always_inline __u64 wake_flags(void)
{
	__u64 avail = bpf_ringbuf_query(&CT_EVENTS, BPF_RB_AVAIL_DATA);
	__u64 size = bpf_ringbuf_query(&CT_EVENTS, BPF_RB_RING_SIZE);
	return avail > size / 8 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void bump(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&CT_COUNTERS, &idx);
	if (v)
		(*v)++;
}

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return (struct kernfs_node *)BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}

/* The cgroup of task in v1 hierarchy `hier`, found through css_set->cgrp_links
 * (works for named hierarchies such as name=systemd, which have no subsys id). */
static __always_inline struct cgroup *cgroup_in_hier(struct css_set *cset, __u32 hier)
{
	struct list_head *head = &cset->cgrp_links;
	struct list_head *pos = BPF_CORE_READ(cset, cgrp_links.next);
	/* cset->cgrp_links chains cgrp_cset_link.cgrp_link (not cset_link). */
	__u64 off = bpf_core_field_offset(struct cgrp_cset_link, cgrp_link);

	for (int i = 0; i < 16; i++) {
		if (!pos || pos == head)
			break;
		struct cgrp_cset_link *link = (void *)pos - off;
		struct cgroup *cg = BPF_CORE_READ(link, cgrp);
		if ((__u32)BPF_CORE_READ(cg, root, hierarchy_id) == hier)
			return cg;
		pos = BPF_CORE_READ(pos, next);
	}
	return 0;
}

/* Write "/a/b/c" for kernfs node kn at buf[base...]; returns the length written
 * (no NUL). A path deeper than CT_CG_DEPTH keeps its leaf-most levels (they name
 * the container); one longer than CT_CGPATH_MAX loses its leaf side. Both flagged. */
static __always_inline __u32 kn_path(char *buf, __u32 base, struct kernfs_node *kn, __u32 *flags,
				     __u32 trunc_flag)
{
	const char *names[CT_CG_DEPTH];
	int n = 0;

	for (int i = 0; i < CT_CG_DEPTH; i++) {
		if (!kn)
			break;
		struct kernfs_node *p = kn_parent(kn);
		if (!p) { /* the hierarchy root: its name is not part of the path */
			kn = 0;
			break;
		}
		names[i] = BPF_CORE_READ(kn, name);
		n = i + 1;
		kn = p;
	}
	if (kn)
		*flags |= trunc_flag;

	__u32 len = 0;
	for (int i = CT_CG_DEPTH - 1; i >= 0; i--) {
		if (i >= n)
			continue;
		if (len + CT_CG_NAME_MAX + 1 > CT_CGPATH_MAX) {
			*flags |= trunc_flag;
			break;
		}
		__u32 at = (base + len) & OFF_MASK;
		buf[at] = '/';
		at = (at + 1) & OFF_MASK;
		long r = bpf_probe_read_kernel_str(buf + at, CT_CG_NAME_MAX, names[i]);
		if (r <= 0)
			break;
		len += r; /* r counts the NUL, which the next '/' overwrites */
	}
	if (len == 0) {
		buf[base & OFF_MASK] = '/';
		return 1;
	}
	return len;
}

static __always_inline __u32 verdict_for(struct css_set *cset, __u64 *cg2, __u64 *cg1,
					 struct kernfs_node **cg1kn)
{
	*cg2 = BPF_CORE_READ(cset, dfl_cgrp, kn, id);
	*cg1 = 0;
	*cg1kn = 0;
	if (cfg_cg1_hier) {
		struct cgroup *c = cgroup_in_hier(cset, cfg_cg1_hier);
		if (c) {
			*cg1kn = BPF_CORE_READ(c, kn);
			*cg1 = BPF_CORE_READ(*cg1kn, id);
		}
	}
	struct ct_cg_key k = { .cg2_id = *cg2, .cg1_id = *cg1 };
	__u32 *v = bpf_map_lookup_elem(&CT_VERDICTS, &k);
	return v ? *v : CT_V_UNKNOWN;
}

/* The --scope filter; an unknown verdict always passes (userspace must see it to decide). */
static __always_inline bool filtered(__u32 verdict)
{
	if (cfg_scope == CT_SCOPE_CONTAINERS && verdict == CT_V_HOST)
		return true;
	if (cfg_scope == CT_SCOPE_HOST && verdict == CT_V_CONTAINER)
		return true;
	return false;
}

static __always_inline void fill_hdr(struct ct_hdr *h, struct task_struct *t, __u32 kind, __u64 cg2,
				     __u64 cg1, __u32 verdict)
{
	struct task_struct *parent = BPF_CORE_READ(t, real_parent);
	h->kind = kind;
	h->ts_boot_ns = bpf_ktime_get_boot_ns();
	h->start_boot_ns = BPF_CORE_READ(t, group_leader, start_boottime);
	h->parent_start_boot_ns = BPF_CORE_READ(parent, group_leader, start_boottime);
	h->cgroup_id = cg2;
	h->cg1_id = cg1;
	h->tgid = BPF_CORE_READ(t, tgid);
	h->tid = BPF_CORE_READ(t, pid);
	h->ppid = BPF_CORE_READ(parent, tgid);
	h->verdict = verdict;
}

static __always_inline __u32 pid_in_own_ns(struct task_struct *t, __u32 *pidns)
{
	struct pid *tp = BPF_CORE_READ(t, thread_pid);
	__u32 level = BPF_CORE_READ(tp, level);
	struct upid up = {};
	bpf_core_read(&up, sizeof(up), &tp->numbers[level & 31]);
	*pidns = BPF_CORE_READ(up.ns, ns.inum);
	return up.nr;
}

static __always_inline void read_ns(struct task_struct *t, __u32 *ns, __u32 *ns_pid)
{
	struct nsproxy *nsp = BPF_CORE_READ(t, nsproxy);
	*ns_pid = pid_in_own_ns(t, &ns[CT_NS_PID]);
	ns[CT_NS_MNT] = BPF_CORE_READ(nsp, mnt_ns, ns.inum);
	ns[CT_NS_NET] = BPF_CORE_READ(nsp, net_ns, ns.inum);
	ns[CT_NS_UTS] = BPF_CORE_READ(nsp, uts_ns, ns.inum);
	ns[CT_NS_IPC] = BPF_CORE_READ(nsp, ipc_ns, ns.inum);
	ns[CT_NS_USER] = BPF_CORE_READ(t, real_cred, user_ns, ns.inum);
	ns[CT_NS_CGROUP] = BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
}

static __always_inline int on_exec(struct task_struct *t, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(t, tgid);
	if (tgid == cfg_self_tgid)
		return 0;
	__u32 old_tid = old_pid;
	struct comm_val *old = bpf_map_lookup_elem(&CT_OLD_COMM, &old_tid);

	struct css_set *cset = BPF_CORE_READ(t, cgroups);
	__u64 cg2, cg1;
	struct kernfs_node *cg1kn;
	__u32 verdict = verdict_for(cset, &cg2, &cg1, &cg1kn);
	if (filtered(verdict)) {
		bump(CT_C_FILTERED);
		if (old)
			bpf_map_delete_elem(&CT_OLD_COMM, &old_tid);
		return 0;
	}

	__u32 cpu = bpf_get_smp_processor_id();
	struct scratch *s = bpf_map_lookup_elem(&CT_SCRATCH, &cpu);
	if (!s)
		return 0;
	char *buf = s->buf;
	struct ct_exec *e = (struct ct_exec *)buf;

	fill_hdr(&e->h, t, CT_EXEC, cg2, cg1, verdict);
	e->old_tid = old_tid;
	e->flags = 0;
	if (old) {
		__builtin_memcpy(e->comm_old, old->comm, CT_COMM_LEN);
		e->flags |= CT_F_OLD_COMM;
		bpf_map_delete_elem(&CT_OLD_COMM, &old_tid);
	} else {
		__builtin_memset(e->comm_old, 0, CT_COMM_LEN);
	}
	BPF_CORE_READ_STR_INTO(&e->comm, t, comm);

	const struct cred *cr = BPF_CORE_READ(t, real_cred);
	e->uid = BPF_CORE_READ(cr, uid.val);
	e->gid = BPF_CORE_READ(cr, gid.val);
	e->euid = BPF_CORE_READ(cr, euid.val);
	e->egid = BPF_CORE_READ(cr, egid.val);
	e->loginuid = (__u32)-1;
	if (bpf_core_field_exists(t->loginuid))
		e->loginuid = BPF_CORE_READ(t, loginuid.val);
	/* kernel_cap_t is { u64 val } since 6.3 and { u32 cap[2] } before: the same 8 bytes. */
	bpf_core_read(&e->caps[0], sizeof(__u64), &cr->cap_effective);
	bpf_core_read(&e->caps[1], sizeof(__u64), &cr->cap_permitted);
	bpf_core_read(&e->caps[2], sizeof(__u64), &cr->cap_inheritable);
	bpf_core_read(&e->caps[3], sizeof(__u64), &cr->cap_bset);
	bpf_core_read(&e->caps[4], sizeof(__u64), &cr->cap_ambient);
	read_ns(t, e->ns, &e->ns_pid);

	/* Tail: exe | argv | cg2 path | cg1 path, each at a masked offset so the
	 * verifier can bound every write inside SCRATCH_SZ. */
	__u32 off = CT_EXEC_SIZE;
	long r = bpf_probe_read_kernel_str(buf + off, CT_EXE_MAX, BPF_CORE_READ(bprm, filename));
	__u32 exe_len = r > 0 ? r - 1 : 0;
	if (exe_len >= CT_EXE_MAX - 1)
		e->flags |= CT_F_EXE_TRUNC;
	e->exe_len = exe_len;
	/* exe ends before 216 + 4096: a tight mask lets older verifiers (6.1) prove that the
	 * argv read (up to CT_ARGV_MAX) stays inside the scratch slot. */
	off = (off + exe_len) & 0x1FFF;

	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	unsigned long as = BPF_CORE_READ(mm, arg_start);
	unsigned long ae = BPF_CORE_READ(mm, arg_end);
	__u64 full = ae > as ? ae - as : 0;
	__u64 len = full;
	__u32 cap = cfg_argv_max;
	if (cap > CT_ARGV_MAX)
		cap = CT_ARGV_MAX;
	if (len > cap) {
		len = cap;
		e->flags |= CT_F_ARGV_TRUNC;
	}
	e->argv_full_len = full > 0xFFFFFFFFull ? 0xFFFFFFFF : (__u32)full;
	e->argv_len = 0;
	barrier_var(len);
	if (len > 0 && len <= CT_ARGV_MAX) {
		if (bpf_probe_read_user(buf + off, len, (void *)as) == 0)
			e->argv_len = len;
	}
	off = (off + e->argv_len) & OFF_MASK;

	e->cg2_len = kn_path(buf, off, BPF_CORE_READ(cset, dfl_cgrp, kn), &e->flags, CT_F_CG2_TRUNC);
	off = (off + e->cg2_len) & OFF_MASK;
	e->cg1_len = 0;
	if (cfg_cg1_hier) {
		if (cg1kn)
			e->cg1_len = kn_path(buf, off, cg1kn, &e->flags, CT_F_CG1_TRUNC);
		else
			e->flags |= CT_F_CG1_MISSING;
	}
	off = (off + e->cg1_len) & OFF_MASK;
	e->h.size = off;

	if (bpf_ringbuf_output(&CT_EVENTS, buf, off & OFF_MASK, wake_flags())) {
		bump(CT_C_LOST_EXEC);
		return 0;
	}
	bump(CT_C_EXEC);
	return 0;
}

/* The common start of a fixed-size record: the verdict of the task's cgroups, the
 * --scope filter, a ring-buffer reservation (counted when it fails) and the header.
 * `size` is a constant at every (inlined) call site, as bpf_ringbuf_reserve requires. */
static __always_inline void *reserve_fixed(struct task_struct *t, __u32 kind, __u32 size, __u32 lost)
{
	struct css_set *cset = BPF_CORE_READ(t, cgroups);
	__u64 cg2, cg1;
	struct kernfs_node *cg1kn;
	__u32 verdict = verdict_for(cset, &cg2, &cg1, &cg1kn);
	if (filtered(verdict)) {
		bump(CT_C_FILTERED);
		return 0;
	}
	struct ct_hdr *h = bpf_ringbuf_reserve(&CT_EVENTS, size, 0);
	if (!h) {
		bump(lost);
		return 0;
	}
	fill_hdr(h, t, kind, cg2, cg1, verdict);
	h->size = size;
	return h;
}

/* The common start of a variable-size record built in this CPU's scratch slot: the
 * verdict, the --scope filter, the slot, and the header. */
static __always_inline char *scratch_record(struct task_struct *t, __u32 kind)
{
	struct css_set *cset = BPF_CORE_READ(t, cgroups);
	__u64 cg2, cg1;
	struct kernfs_node *cg1kn;
	__u32 verdict = verdict_for(cset, &cg2, &cg1, &cg1kn);
	if (filtered(verdict)) {
		bump(CT_C_FILTERED);
		return 0;
	}
	__u32 cpu = bpf_get_smp_processor_id();
	struct scratch *s = bpf_map_lookup_elem(&CT_SCRATCH, &cpu);
	if (!s)
		return 0;
	fill_hdr((struct ct_hdr *)s->buf, t, kind, cg2, cg1, verdict);
	return s->buf;
}

static __always_inline int on_fork(struct task_struct *parent, struct task_struct *child)
{
	/* sched_process_fork fires for threads too; only new processes are recorded. */
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid)) {
		bump(CT_C_THREADS);
		return 0;
	}
	if (BPF_CORE_READ(parent, tgid) == cfg_self_tgid)
		return 0;
	struct ct_fork *e = reserve_fixed(child, CT_FORK, sizeof(struct ct_fork), CT_C_LOST_FORK);
	if (!e)
		return 0;
	read_ns(child, e->ns, &e->ns_pid);
	BPF_CORE_READ_STR_INTO(&e->comm, child, comm);
	bpf_ringbuf_submit(e, wake_flags());
	bump(CT_C_FORK);
	return 0;
}

static __always_inline int on_exit(struct task_struct *t)
{
	/* A process ends when its last thread does: signal->live has dropped to 0
	 * by the time this tracepoint fires (the leader may exit before its threads). */
	if (BPF_CORE_READ(t, signal, live.counter) != 0)
		return 0;
	if (BPF_CORE_READ(t, tgid) == cfg_self_tgid)
		return 0;
	struct ct_exit *e = reserve_fixed(t, CT_EXIT, sizeof(struct ct_exit), CT_C_LOST_EXIT);
	if (!e)
		return 0;
	e->exit_code = BPF_CORE_READ(t, exit_code);
	e->_pad = 0;
	BPF_CORE_READ_STR_INTO(&e->comm, t, comm);
	bpf_ringbuf_submit(e, wake_flags());
	bump(CT_C_EXIT);
	return 0;
}

static __always_inline int on_cgroup_attach(struct cgroup *dst, const char *path, struct task_struct *t,
					    bool threadgroup)
{
	__u32 hier = BPF_CORE_READ(dst, root, hierarchy_id);
	if (hier != 0 && hier != cfg_cg1_hier)
		return 0;
	/* A single thread moved on its own (v1 tasks file): not a process move. */
	if (!threadgroup && BPF_CORE_READ(t, pid) != BPF_CORE_READ(t, tgid))
		return 0;
	if (BPF_CORE_READ(t, tgid) == cfg_self_tgid)
		return 0;
	/* The verdict of the destination is what counts: an unknown one always passes. */
	char *buf = scratch_record(t, CT_CGROUP_MOVE);
	if (!buf)
		return 0;
	struct ct_cgroup_move *e = (struct ct_cgroup_move *)buf;
	e->dst_id = BPF_CORE_READ(dst, kn, id);
	e->hier = hier;
	long r = bpf_probe_read_kernel_str(buf + CT_CGROUP_MOVE_SIZE, CT_CGPATH_MAX, path);
	__u32 len = r > 0 ? r - 1 : 0;
	e->path_len = len;
	__u32 size = (CT_CGROUP_MOVE_SIZE + len) & OFF_MASK;
	e->h.size = size;
	if (bpf_ringbuf_output(&CT_EVENTS, buf, size, wake_flags())) {
		bump(CT_C_LOST_MOVE);
		return 0;
	}
	bump(CT_C_MOVE);
	return 0;
}

static __always_inline int remember_comm(void)
{
	struct comm_val v = {};
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_get_current_comm(&v.comm, sizeof(v.comm));
	bpf_map_update_elem(&CT_OLD_COMM, &tid, &v, BPF_ANY);
	return 0;
}

/* Per-syscall tracepoint contexts (the layout tracefs documents for sys_enter_* / sys_exit_*). */
struct sys_enter_ctx {
	__u64 common;
	__s32 nr;
	__u32 _pad;
	__u64 args[6];
};
struct sys_exit_ctx {
	__u64 common;
	__s32 nr;
	__u32 _pad;
	__s64 ret;
};

static __always_inline void read_creds(struct task_struct *t, struct ct_creds *c)
{
	const struct cred *cr = BPF_CORE_READ(t, real_cred);
	c->uid = BPF_CORE_READ(cr, uid.val);
	c->euid = BPF_CORE_READ(cr, euid.val);
	c->suid = BPF_CORE_READ(cr, suid.val);
	c->fsuid = BPF_CORE_READ(cr, fsuid.val);
	c->gid = BPF_CORE_READ(cr, gid.val);
	c->egid = BPF_CORE_READ(cr, egid.val);
	c->sgid = BPF_CORE_READ(cr, sgid.val);
	c->fsgid = BPF_CORE_READ(cr, fsgid.val);
	bpf_core_read(&c->cap_eff, sizeof(__u64), &cr->cap_effective);
	bpf_core_read(&c->cap_prm, sizeof(__u64), &cr->cap_permitted);
	bpf_core_read(&c->cap_inh, sizeof(__u64), &cr->cap_inheritable);
}

/* The open file behind descriptor fd of task t, or 0. */
static __always_inline struct file *file_of_fd(struct task_struct *t, __u64 fd)
{
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	__u32 max = BPF_CORE_READ(fdt, max_fds);
	if ((__s64)fd < 0 || fd >= max)
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

#define CT_S_IFMT 0170000
#define CT_S_IFSOCK 0140000
#define CT_AF_INET 2
#define CT_AF_INET6 10
#define CT_SOCK_STREAM 1
#define CT_IPPROTO_TCP 6

/* The sock behind fd when it is a TCP socket over IPv4 or IPv6, else 0: connect and
 * accept are recorded for TCP only (a DNS lookup's UDP connect is not evidence). */
static __always_inline struct sock *tcp_sock_of_fd(struct task_struct *t, __u64 fd)
{
	struct file *f = file_of_fd(t, fd);
	if (!f)
		return 0;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & CT_S_IFMT) != CT_S_IFSOCK)
		return 0;
	struct socket *so = BPF_CORE_READ(f, private_data);
	if (!so || BPF_CORE_READ(so, type) != CT_SOCK_STREAM)
		return 0;
	struct sock *sk = BPF_CORE_READ(so, sk);
	if (!sk)
		return 0;
	__u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (fam != CT_AF_INET && fam != CT_AF_INET6)
		return 0;
	/* sk_protocol was a bitfield before 5.6; the probed read handles both layouts. */
	if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != CT_IPPROTO_TCP)
		return 0;
	return sk;
}

/* Ports on the wire are big-endian; the architectures built for (x86, arm64) are little-endian. */
static __always_inline __u16 be16(__u16 v)
{
	return __builtin_bswap16(v);
}

static __always_inline void local_end(struct sock *sk, struct ct_sockaddrs *n)
{
	n->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	n->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (n->family == CT_AF_INET)
		bpf_core_read(n->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
	else
		bpf_core_read(n->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
}

static __always_inline void remote_end(struct sock *sk, struct ct_sockaddrs *n)
{
	n->rport = be16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (n->family == CT_AF_INET)
		bpf_core_read(n->raddr, 4, &sk->__sk_common.skc_daddr);
	else
		bpf_core_read(n->raddr, 16, &sk->__sk_common.skc_v6_daddr);
}

/* The address connect() was asked for, from user memory; false when it is no TCP target
 * (AF_UNSPEC dissolves an association, for one). */
static __always_inline bool user_sockaddr(struct ct_sockaddrs *n, __u64 uaddr, __u64 len)
{
	__u8 raw[32] = {};
	if (!uaddr || len < 4)
		return false;
	__u32 want = len > 28 ? 28 : (__u32)len;
	if (bpf_probe_read_user(raw, want & 31, (const void *)uaddr))
		return false;
	__u16 fam = *(__u16 *)raw;
	if (fam != CT_AF_INET && fam != CT_AF_INET6)
		return false;
	n->family = fam;
	n->rport = be16(*(__u16 *)(raw + 2));
	if (fam == CT_AF_INET)
		__builtin_memcpy(n->raddr, raw + 4, 4);
	else
		__builtin_memcpy(n->raddr, raw + 8, 16);
	return true;
}

/* union bpf_attr for BPF_PROG_LOAD: uapi, stable offsets. */
#define CT_BPF_PROG_LOAD 5
#define CT_ATTR_PROG_TYPE 0
#define CT_ATTR_INSN_CNT 4
#define CT_ATTR_PROG_NAME 48
#define CT_ATTR_ATTACH_TYPE 68

static __always_inline int stash(__u32 op, const __u64 *args)
{
	if (!(cfg_activity & (1u << op)))
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)(id >> 32) == cfg_self_tgid)
		return 0;
	/* bpf() is also map lookups and updates, by the thousand: only program loads count. */
	if (op == CT_OP_BPF_PROG_LOAD && args[0] != CT_BPF_PROG_LOAD)
		return 0;
	__u32 tid = (__u32)id;
	__u32 zero = 0;
	struct pending *p = bpf_map_lookup_elem(&CT_PENDING_SCRATCH, &zero);
	if (!p)
		return 0;
	__builtin_memset(p, 0, sizeof(*p));
	p->op = op;
	for (int i = 0; i < 6; i++)
		p->args[i] = args[i];
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	read_creds(t, &p->before);

	if (op == CT_OP_CONNECT) {
		struct sock *sk = tcp_sock_of_fd(t, args[0]);
		if (!sk || !user_sockaddr(&p->net, args[1], args[2]))
			return 0;
	} else if (op == CT_OP_ACCEPT) {
		struct sock *sk = tcp_sock_of_fd(t, args[0]);
		if (!sk)
			return 0;
		local_end(sk, &p->net); /* the listening end, kept if accept fails */
	} else if (op == CT_OP_BPF_PROG_LOAD) {
		__u64 attr = args[1], size = args[2];
		__u32 v = 0;
		bpf_probe_read_user(&v, 4, (const void *)(attr + CT_ATTR_PROG_TYPE));
		p->args[1] = v;
		v = 0;
		bpf_probe_read_user(&v, 4, (const void *)(attr + CT_ATTR_INSN_CNT));
		p->args[3] = v;
		/* Older callers pass a shorter attr: read only what they passed. */
		if (size >= CT_ATTR_PROG_NAME + 16)
			bpf_probe_read_user(p->kstr[0], 16, (const void *)(attr + CT_ATTR_PROG_NAME));
		p->kstr[0][16] = 0;
		v = 0;
		if (size >= CT_ATTR_ATTACH_TYPE + 4)
			bpf_probe_read_user(&v, 4, (const void *)(attr + CT_ATTR_ATTACH_TYPE));
		p->args[2] = v;
	} else if (op == CT_OP_FINIT_MODULE) {
		struct file *f = file_of_fd(t, args[0]);
		if (f)
			bpf_probe_read_kernel_str(p->kstr[1], CT_KSTR_MAX, BPF_CORE_READ(f, f_path.dentry, d_name.name));
	}
	bpf_map_update_elem(&CT_PENDING, &tid, p, BPF_ANY);
	return 0;
}

/* Reads exactly the syscall's own arguments: the kernel refuses to attach a program that
 * reads past the end of a tracepoint's record (perf_event_set_bpf_prog: EACCES), and each
 * sys_enter_* record holds only its syscall's arguments. Each is loaded from the context
 * at a constant offset (verifiers refuse a dereference through a pointer derived from ctx). */
static __always_inline int sys_enter(struct sys_enter_ctx *ctx, __u32 op, int nargs)
{
	__u64 args[6] = {};
	if (nargs > 0)
		args[0] = ctx->args[0];
	if (nargs > 1)
		args[1] = ctx->args[1];
	if (nargs > 2)
		args[2] = ctx->args[2];
	if (nargs > 3)
		args[3] = ctx->args[3];
	if (nargs > 4)
		args[4] = ctx->args[4];
	return stash(op, args);
}

/* Appends the string at `src` (user memory, or kernel memory when `kernel`) to the record
 * at `off`; returns its length. */
static __always_inline __u32 put_str(char *buf, __u32 off, __u64 src, bool kernel)
{
	if (!src)
		return 0;
	/* The tail starts at 296 and holds three strings of at most 1 KiB: 0xFFF bounds it. */
	long r = kernel ? bpf_probe_read_kernel_str(buf + (off & 0xFFF), CT_KSTR_MAX, (const void *)src)
			: bpf_probe_read_user_str(buf + (off & 0xFFF), CT_STR_MAX, (const void *)src);
	return r > 0 ? r - 1 : 0;
}

#define CT_EAGAIN 11

static __always_inline int emit_activity(__s64 ret, __u32 op)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending *p = bpf_map_lookup_elem(&CT_PENDING, &tid);
	if (!p || p->op != op)
		return 0;
	/* A non-blocking server's accept loop ends each round with EAGAIN: noise, not evidence. */
	if (op == CT_OP_ACCEPT && ret == -CT_EAGAIN) {
		bpf_map_delete_elem(&CT_PENDING, &tid);
		return 0;
	}
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	char *buf = scratch_record(t, CT_ACTIVITY);
	if (!buf) {
		bpf_map_delete_elem(&CT_PENDING, &tid);
		return 0;
	}
	struct ct_activity *e = (struct ct_activity *)buf;
	e->op = op;
	e->ret = (__s32)ret;
	for (int i = 0; i < 4; i++)
		e->args[i] = p->args[i];
	e->before = p->before;
	e->net = p->net;
	read_creds(t, &e->after);
	__u32 ns_pid;
	read_ns(t, e->ns, &ns_pid);
	if (op == CT_OP_CONNECT) {
		/* The local end exists once connect has bound the socket, even when it failed. */
		struct sock *sk = tcp_sock_of_fd(t, p->args[0]);
		if (sk) {
			__u16 fam = e->net.family;
			local_end(sk, &e->net);
			e->net.family = fam;
		}
	} else if (op == CT_OP_ACCEPT && ret >= 0) {
		struct sock *sk = tcp_sock_of_fd(t, (__u64)ret);
		if (sk) {
			local_end(sk, &e->net);
			remote_end(sk, &e->net);
		}
	}
	/* Which arguments are strings, per syscall; the rest were copied as integers. */
	__u64 strs[3] = {};
	bool kern[3] = {};
	if (op == CT_OP_MOUNT) {
		strs[0] = p->args[0];
		strs[1] = p->args[1];
		strs[2] = p->args[2];
	} else if (op == CT_OP_UMOUNT || op == CT_OP_CHROOT) {
		strs[0] = p->args[0];
	} else if (op == CT_OP_PIVOT_ROOT) {
		strs[0] = p->args[0];
		strs[1] = p->args[1];
	} else if (op == CT_OP_INIT_MODULE || op == CT_OP_FINIT_MODULE) {
		strs[0] = (__u64)p->kstr[0];
		kern[0] = true;
		strs[1] = (__u64)p->kstr[1];
		kern[1] = true;
		strs[2] = op == CT_OP_INIT_MODULE ? p->args[2] : p->args[1];
	} else if (op == CT_OP_BPF_PROG_LOAD) {
		strs[0] = (__u64)p->kstr[0];
		kern[0] = true;
	}
	__u32 off = CT_ACTIVITY_SIZE;
	for (int i = 0; i < 3; i++) {
		__u32 n = put_str(buf, off, strs[i], kern[i]);
		e->str_len[i] = n;
		off = (off + n) & OFF_MASK;
	}
	/* Only now: the strings above may live in the pending entry itself. */
	bpf_map_delete_elem(&CT_PENDING, &tid);
	e->h.size = off;
	if (bpf_ringbuf_output(&CT_EVENTS, buf, off & OFF_MASK, wake_flags())) {
		bump(CT_C_LOST_ACTIVITY);
		return 0;
	}
	bump(CT_C_ACTIVITY);
	return 0;
}

/* A module is being loaded by this thread's init_module/finit_module: its name is known
 * only here, inside the syscall. Only successful loads get this far. */
static __always_inline int on_module_load(struct module *mod)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending *p = bpf_map_lookup_elem(&CT_PENDING, &tid);
	if (!p || (p->op != CT_OP_INIT_MODULE && p->op != CT_OP_FINIT_MODULE))
		return 0;
	bpf_probe_read_kernel_str(p->kstr[0], CT_KSTR_MAX, __builtin_preserve_access_index(&mod->name));
	return 0;
}

SEC("tp_btf/module_load")
int BPF_PROG(ct_module_load_btf, struct module *mod)
{
	return on_module_load(mod);
}

SEC("raw_tp/module_load")
int BPF_PROG(ct_module_load_raw, struct module *mod)
{
	return on_module_load(mod);
}

/* A syscall's arguments from the user registers saved at its entry. */
static __always_inline void regs_args(struct pt_regs *regs, __u64 *args)
{
	args[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
	args[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
	args[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
	args[3] = PT_REGS_PARM4_CORE_SYSCALL(regs);
	args[4] = PT_REGS_PARM5_CORE_SYSCALL(regs);
	args[5] = 0;
}

static __always_inline int sys_exit(struct sys_exit_ctx *ctx, __u32 op)
{
	/* A syscall that seccomp refused (docker's default profile refuses mount, unshare,
	 * bpf, ...) never reaches the entry tracepoint, only this one: a refused attempt is
	 * evidence, so build its entry here from the saved registers (its creds did not change). */
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	if (ctx->ret < 0 && !bpf_map_lookup_elem(&CT_PENDING, &tid)) {
		__u64 args[6];
		regs_args((struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf()), args);
		stash(op, args);
	}
	return emit_activity(ctx->ret, op);
}

#define SYSCALL_PAIR(name, op, nargs)                                            \
	SEC("tracepoint/syscalls/sys_enter_" #name)                              \
	int ct_enter_##name(struct sys_enter_ctx *ctx) { return sys_enter(ctx, op, nargs); } \
	SEC("tracepoint/syscalls/sys_exit_" #name)                               \
	int ct_exit_##name(struct sys_exit_ctx *ctx) { return sys_exit(ctx, op); }

/* The fallback where per-syscall tracepoints cannot attach: raw sys_enter/sys_exit, which
 * fire for every syscall, so they dispatch on the syscall number first and return at once
 * for the others. Numbers are per architecture. */
static __always_inline __u32 op_of(long nr)
{
#if defined(__TARGET_ARCH_x86)
	switch (nr) {
	case 165: return CT_OP_MOUNT;
	case 166: return CT_OP_UMOUNT;
	case 308: return CT_OP_SETNS;
	case 272: return CT_OP_UNSHARE;
	case 161: return CT_OP_CHROOT;
	case 155: return CT_OP_PIVOT_ROOT;
	case 105: return CT_OP_SETUID;
	case 106: return CT_OP_SETGID;
	case 113: return CT_OP_SETREUID;
	case 114: return CT_OP_SETREGID;
	case 117: return CT_OP_SETRESUID;
	case 119: return CT_OP_SETRESGID;
	case 122: return CT_OP_SETFSUID;
	case 123: return CT_OP_SETFSGID;
	case 126: return CT_OP_CAPSET;
	case 101: return CT_OP_PTRACE;
	case 175: return CT_OP_INIT_MODULE;
	case 313: return CT_OP_FINIT_MODULE;
	case 321: return CT_OP_BPF_PROG_LOAD;
	case 42: return CT_OP_CONNECT;
	case 43: return CT_OP_ACCEPT;
	case 288: return CT_OP_ACCEPT;
	}
#elif defined(__TARGET_ARCH_arm64)
	switch (nr) {
	case 40: return CT_OP_MOUNT;
	case 39: return CT_OP_UMOUNT;
	case 268: return CT_OP_SETNS;
	case 97: return CT_OP_UNSHARE;
	case 51: return CT_OP_CHROOT;
	case 41: return CT_OP_PIVOT_ROOT;
	case 146: return CT_OP_SETUID;
	case 144: return CT_OP_SETGID;
	case 145: return CT_OP_SETREUID;
	case 143: return CT_OP_SETREGID;
	case 147: return CT_OP_SETRESUID;
	case 149: return CT_OP_SETRESGID;
	case 151: return CT_OP_SETFSUID;
	case 152: return CT_OP_SETFSGID;
	case 91: return CT_OP_CAPSET;
	case 117: return CT_OP_PTRACE;
	case 105: return CT_OP_INIT_MODULE;
	case 273: return CT_OP_FINIT_MODULE;
	case 280: return CT_OP_BPF_PROG_LOAD;
	case 203: return CT_OP_CONNECT;
	case 202: return CT_OP_ACCEPT;
	case 242: return CT_OP_ACCEPT;
	}
#endif
	return 0;
}

SEC("raw_tp/sys_enter")
int BPF_PROG(ct_sys_enter_raw, struct pt_regs *regs, long nr)
{
	__u32 op = op_of(nr);
	if (!op)
		return 0;
	__u64 args[6];
	regs_args(regs, args);
	return stash(op, args);
}

/* The syscall number a task entered with (what op_of dispatches on). */
struct pt_regs___ct_arm64 {
	__s32 syscallno;
} __attribute__((preserve_access_index));

static __always_inline long syscall_nr(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return BPF_CORE_READ(regs, orig_ax);
#elif defined(__TARGET_ARCH_arm64)
	return BPF_CORE_READ((struct pt_regs___ct_arm64 *)regs, syscallno);
#else
	return -1;
#endif
}

SEC("raw_tp/sys_exit")
int BPF_PROG(ct_sys_exit_raw, struct pt_regs *regs, long ret)
{
	/* A thread is in one syscall at a time: a pending entry is this syscall's. */
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending *p = bpf_map_lookup_elem(&CT_PENDING, &tid);
	if (p)
		return emit_activity(ret, p->op);
	/* No entry: refused by seccomp before sys_enter ran (see sys_exit). Failures only, so
	 * the common successful syscall pays nothing more than the lookup above. */
	if (ret >= 0)
		return 0;
	__u32 op = op_of(syscall_nr(regs));
	if (!op)
		return 0;
	__u64 args[6];
	regs_args(regs, args);
	stash(op, args);
	return emit_activity(ret, op);
}

SYSCALL_PAIR(mount, CT_OP_MOUNT, 5)
SYSCALL_PAIR(umount, CT_OP_UMOUNT, 2)
SYSCALL_PAIR(setns, CT_OP_SETNS, 2)
SYSCALL_PAIR(unshare, CT_OP_UNSHARE, 1)
SYSCALL_PAIR(chroot, CT_OP_CHROOT, 1)
SYSCALL_PAIR(pivot_root, CT_OP_PIVOT_ROOT, 2)
SYSCALL_PAIR(setuid, CT_OP_SETUID, 1)
SYSCALL_PAIR(setgid, CT_OP_SETGID, 1)
SYSCALL_PAIR(setreuid, CT_OP_SETREUID, 2)
SYSCALL_PAIR(setregid, CT_OP_SETREGID, 2)
SYSCALL_PAIR(setresuid, CT_OP_SETRESUID, 3)
SYSCALL_PAIR(setresgid, CT_OP_SETRESGID, 3)
SYSCALL_PAIR(setfsuid, CT_OP_SETFSUID, 1)
SYSCALL_PAIR(setfsgid, CT_OP_SETFSGID, 1)
SYSCALL_PAIR(capset, CT_OP_CAPSET, 2)
SYSCALL_PAIR(ptrace, CT_OP_PTRACE, 4)
SYSCALL_PAIR(init_module, CT_OP_INIT_MODULE, 3)
SYSCALL_PAIR(finit_module, CT_OP_FINIT_MODULE, 3)
SYSCALL_PAIR(bpf, CT_OP_BPF_PROG_LOAD, 3)
SYSCALL_PAIR(connect, CT_OP_CONNECT, 3)
SYSCALL_PAIR(accept, CT_OP_ACCEPT, 3)
SYSCALL_PAIR(accept4, CT_OP_ACCEPT, 4)

SEC("tp_btf/sched_process_exec")
int BPF_PROG(ct_exec_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(p, old_pid, bprm);
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(ct_exec_raw, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(p, old_pid, bprm);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(ct_fork_btf, struct task_struct *parent, struct task_struct *child)
{
	return on_fork(parent, child);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(ct_fork_raw, struct task_struct *parent, struct task_struct *child)
{
	return on_fork(parent, child);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(ct_exit_btf, struct task_struct *p)
{
	return on_exit(p);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(ct_exit_raw, struct task_struct *p)
{
	return on_exit(p);
}

/* cgroup creation and removal, where runtimes start and end containers. */
static __always_inline int on_cgroup_dir(struct cgroup *cgrp, const char *path, __u32 op)
{
	__u32 hier = BPF_CORE_READ(cgrp, root, hierarchy_id);
	if (hier != 0 && hier != cfg_cg1_hier)
		return 0;
	char *buf = scratch_record((struct task_struct *)bpf_get_current_task(), CT_CGROUP_DIR);
	if (!buf)
		return 0;
	struct ct_cgroup_dir *e = (struct ct_cgroup_dir *)buf;
	e->id = BPF_CORE_READ(cgrp, kn, id);
	e->hier = hier;
	e->op = op;
	e->_pad = 0;
	long r = bpf_probe_read_kernel_str(buf + CT_CGROUP_DIR_SIZE, CT_CGPATH_MAX, path);
	__u32 len = r > 0 ? r - 1 : 0;
	e->path_len = len;
	__u32 size = (CT_CGROUP_DIR_SIZE + len) & OFF_MASK;
	e->h.size = size;
	if (bpf_ringbuf_output(&CT_EVENTS, buf, size, wake_flags())) {
		bump(CT_C_LOST_MOVE);
		return 0;
	}
	bump(CT_C_MOVE);
	return 0;
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(ct_cgroup_mkdir_btf, struct cgroup *cgrp, const char *path)
{
	return on_cgroup_dir(cgrp, path, 1);
}

SEC("raw_tp/cgroup_mkdir")
int BPF_PROG(ct_cgroup_mkdir_raw, struct cgroup *cgrp, const char *path)
{
	return on_cgroup_dir(cgrp, path, 1);
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(ct_cgroup_rmdir_btf, struct cgroup *cgrp, const char *path)
{
	return on_cgroup_dir(cgrp, path, 2);
}

SEC("raw_tp/cgroup_rmdir")
int BPF_PROG(ct_cgroup_rmdir_raw, struct cgroup *cgrp, const char *path)
{
	return on_cgroup_dir(cgrp, path, 2);
}

SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(ct_cgroup_attach_btf, struct cgroup *dst, const char *path, struct task_struct *t, bool threadgroup)
{
	return on_cgroup_attach(dst, path, t, threadgroup);
}

SEC("raw_tp/cgroup_attach_task")
int BPF_PROG(ct_cgroup_attach_raw, struct cgroup *dst, const char *path, struct task_struct *t, bool threadgroup)
{
	return on_cgroup_attach(dst, path, t, threadgroup);
}

/* Comm before exec. sched_prepare_exec (6.10+) fires before exec renames the
 * task; older kernels fall back to the execve/execveat syscall tracepoints. */
SEC("tp_btf/sched_prepare_exec")
int BPF_PROG(ct_prepare_exec_btf, struct task_struct *p, struct linux_binprm *bprm)
{
	return remember_comm();
}

SEC("raw_tp/sched_prepare_exec")
int BPF_PROG(ct_prepare_exec_raw, struct task_struct *p, struct linux_binprm *bprm)
{
	return remember_comm();
}

SEC("tracepoint/syscalls/sys_enter_execve")
int ct_enter_execve(void *ctx)
{
	return remember_comm();
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int ct_enter_execveat(void *ctx)
{
	return remember_comm();
}
