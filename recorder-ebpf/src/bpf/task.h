/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading a task: its header fields (ids, start times), credentials, open files.
 */
#ifndef CTRAIL_TASK_H
#define CTRAIL_TASK_H

#include "maps.h"
#include <bpf/bpf_core_read.h>

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

#endif
