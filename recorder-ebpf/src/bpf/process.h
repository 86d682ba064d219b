/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A process's life besides its exec: fork, exit, cgroup moves and cgroup creation and
 * removal (how runtimes start and end containers), and the comm before exec.
 */
#ifndef CTRAIL_PROCESS_H
#define CTRAIL_PROCESS_H

#include "emit.h"
#include "ns.h"

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
	return send_with_path(buf, CT_CGROUP_MOVE_SIZE, path, &e->path_len);
}

static __always_inline int remember_comm(void)
{
	struct comm_val v = {};
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_get_current_comm(&v.comm, sizeof(v.comm));
	bpf_map_update_elem(&CT_OLD_COMM, &tid, &v, BPF_ANY);
	return 0;
}

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
	return send_with_path(buf, CT_CGROUP_DIR_SIZE, path, &e->path_len);
}

#endif
