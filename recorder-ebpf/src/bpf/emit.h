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

#endif
