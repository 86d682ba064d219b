/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A task's namespaces: inode numbers, and its pid inside its own pid namespace.
 */
#ifndef CTRAIL_NS_H
#define CTRAIL_NS_H

#include "maps.h"
#include <bpf/bpf_core_read.h>

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

#endif
