/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Emitting records and counting them: the --scope filter, ring-buffer reservations
 * and scratch slots (counted when they fail), and when to wake the reader.
 */
#ifndef CTRAIL_EMIT_H
#define CTRAIL_EMIT_H

#include "maps.h"
#include "cgroup.h"
#include "task.h"

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

/* The --scope filter; an unknown verdict always passes (userspace must see it to decide). */
static __always_inline bool filtered(__u32 verdict)
{
	if (cfg_scope == CT_SCOPE_CONTAINERS && verdict == CT_V_HOST)
		return true;
	if (cfg_scope == CT_SCOPE_HOST && verdict == CT_V_CONTAINER)
		return true;
	return false;
}

/* The verdict of the cgroup pair of a task whose css_set is `cset`; false when --scope
 * drops the task's records (counted as filtered). */
static __always_inline bool in_scope(struct css_set *cset, __u64 *cg2, __u64 *cg1, struct kernfs_node **cg1kn,
				     __u32 *verdict)
{
	*verdict = verdict_for(cset, cg2, cg1, cg1kn);
	if (filtered(*verdict)) {
		bump(CT_C_FILTERED);
		return false;
	}
	return true;
}

/* The common start of a fixed-size record: the verdict of the task's cgroups, the
 * --scope filter, a ring-buffer reservation (counted when it fails) and the header.
 * `size` is a constant at every (inlined) call site, as bpf_ringbuf_reserve requires. */
static __always_inline void *reserve_fixed(struct task_struct *t, __u32 kind, __u32 size, __u32 lost)
{
	__u64 cg2, cg1;
	struct kernfs_node *cg1kn;
	__u32 verdict;
	if (!in_scope(BPF_CORE_READ(t, cgroups), &cg2, &cg1, &cg1kn, &verdict))
		return 0;
	struct ct_hdr *h = bpf_ringbuf_reserve(&CT_EVENTS, size, 0);
	if (!h) {
		bump(lost);
		return 0;
	}
	fill_hdr(h, t, kind, cg2, cg1, verdict);
	h->size = size;
	return h;
}

/* This CPU's scratch slot, where a variable-size record is built, or 0. */
static __always_inline char *scratch_slot(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct scratch *s = bpf_map_lookup_elem(&CT_SCRATCH, &cpu);
	return s ? s->buf : 0;
}

/* The common start of a variable-size record built in this CPU's scratch slot: the
 * verdict, the --scope filter, the slot, and the header. */
static __always_inline char *scratch_record(struct task_struct *t, __u32 kind)
{
	__u64 cg2, cg1;
	struct kernfs_node *cg1kn;
	__u32 verdict;
	if (!in_scope(BPF_CORE_READ(t, cgroups), &cg2, &cg1, &cg1kn, &verdict))
		return 0;
	char *buf = scratch_slot();
	if (!buf)
		return 0;
	fill_hdr((struct ct_hdr *)buf, t, kind, cg2, cg1, verdict);
	return buf;
}

/* Sends the `size` bytes built in a scratch slot, counted as `sent`, or as `lost` when the
 * ring buffer has no room. */
static __always_inline int send_scratch(char *buf, __u32 size, __u32 sent, __u32 lost)
{
	((struct ct_hdr *)buf)->size = size;
	if (bpf_ringbuf_output(&CT_EVENTS, buf, size & OFF_MASK, wake_flags())) {
		bump(lost);
		return 0;
	}
	bump(sent);
	return 0;
}

/* Sends a record whose tail is one kernel string (a cgroup path) after its `fixed` bytes;
 * `len` gets the string's length. Counted as a cgroup move (or its loss). */
static __always_inline int send_with_path(char *buf, __u32 fixed, const char *path, __u32 *len)
{
	long r = bpf_probe_read_kernel_str(buf + fixed, CT_CGPATH_MAX, path);
	*len = r > 0 ? r - 1 : 0;
	return send_scratch(buf, (fixed + *len) & OFF_MASK, CT_C_MOVE, CT_C_LOST_MOVE);
}

#endif
