/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The exec snapshot: everything a verdict needs, read at the exec, because a process that
 * lives a millisecond is gone before userspace could read /proc.
 */
#ifndef CTRAIL_EXEC_H
#define CTRAIL_EXEC_H

#include "emit.h"
#include "ns.h"
#include "file.h"

/* `walk`: resolve the exe's path and the cwd in the kernel (a constant at each call site). */
static __always_inline int on_exec(struct task_struct *t, pid_t old_pid, struct linux_binprm *bprm, bool walk)
{
	__u32 tgid = BPF_CORE_READ(t, tgid);
	if (tgid == cfg_self_tgid)
		return 0;
	__u32 old_tid = old_pid;
	struct comm_val *old = bpf_map_lookup_elem(&CT_OLD_COMM, &old_tid);

	struct css_set *cset = BPF_CORE_READ(t, cgroups);
	__u64 cg2, cg1;
	struct kernfs_node *cg1kn;
	__u32 verdict;
	if (!in_scope(cset, &cg2, &cg1, &cg1kn, &verdict)) {
		if (old)
			bpf_map_delete_elem(&CT_OLD_COMM, &old_tid);
		return 0;
	}
	char *buf = scratch_slot();
	if (!buf)
		return 0;
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

	/* Tail: exe | argv | cg2 path | cg1 path | resolved exe path | cwd, each at a masked offset so the
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

	/* The file the kernel runs and the cwd, each as the process sees it. */
	e->exe_flags = 0;
	struct file *f = BPF_CORE_READ(bprm, file);
	struct fs_struct *fs = BPF_CORE_READ(t, fs);
	e->path_len = 0;
	e->cwd_len = 0;
	if (f) {
		exe_file(e, f);
		e->exe_flags |= CT_X_FILE;
		if (walk && fs)
			e->path_len = put_path(buf, off, &f->f_path, &fs->root, &e->exe_flags, CT_X_PATH_TRUNC);
	} else {
		e->exe_ino = e->exe_size = 0;
		e->exe_mtime_ns = e->exe_ctime_ns = 0;
		e->exe_dev = e->exe_mode = e->exe_uid = e->exe_gid = e->exe_nlink = 0;
	}
	off = (off + e->path_len) & OFF_MASK;
	if (walk && fs)
		e->cwd_len = put_path(buf, off, &fs->pwd, &fs->root, &e->exe_flags, CT_X_CWD_TRUNC);
	off = (off + e->cwd_len) & OFF_MASK;
	return send_scratch(buf, off, CT_C_EXEC, CT_C_LOST_EXEC);
}

#endif
