/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading cgroups in the kernel: a task's paths in the v2 tree and in one v1 hierarchy,
 * and the cached verdict of its cgroup pair.
 */
#ifndef CTRAIL_CGROUP_H
#define CTRAIL_CGROUP_H

#include "maps.h"
#include <bpf/bpf_core_read.h>

/* kernfs_node::parent became __parent in 6.15. */
struct kernfs_node___old {
	struct kernfs_node___old *parent;
} __attribute__((preserve_access_index));

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

#endif
