/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What processes do, one syscall at a time: the entry stashes the arguments and the
 * credentials by thread id, the exit emits one record with the result, the strings, the
 * credentials and namespaces after. A syscall that seccomp refused reaches only the exit,
 * which builds the missing entry from the saved registers.
 */
#ifndef CTRAIL_ACTIVITY_H
#define CTRAIL_ACTIVITY_H

#include "emit.h"
#include "net.h"
#include "ns.h"
#include "syscalls.h"

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
	return send_scratch(buf, off, CT_C_ACTIVITY, CT_C_LOST_ACTIVITY);
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

static __always_inline int sys_exit(struct sys_exit_ctx *ctx, __u32 op)
{
	/* A syscall that seccomp refused (docker's default profile refuses mount, unshare,
	 * bpf, ...) never reaches the entry tracepoint, only this one: a refused attempt is
	 * evidence, so build its entry here from the saved registers (its creds did not change). */
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	if (ctx->ret < 0 && !bpf_map_lookup_elem(&CT_PENDING, &tid)) {
		__u64 args[6];
		regs_args(current_regs(), args);
		stash(op, args);
	}
	return emit_activity(ctx->ret, op);
}

/* The entry of a syscall function (`__x64_sys_X`, from fentry or kprobe): its one argument
 * is the user registers, which hold the call's arguments as the tracepoints see them. */
static __always_inline int func_enter(struct pt_regs *regs, __u32 op)
{
	__u64 args[6];
	regs_args(regs, args);
	return stash(op, args);
}

/* A syscall seen only at its end (seccomp refused it before any entry hook ran): its entry
 * is rebuilt from the saved registers, if the hook set `set` records its op. */
static __always_inline int emit_unentered(struct pt_regs *regs, __s64 ret, __u32 set)
{
	__u32 op = op_of(syscall_nr(regs));
	if (!op || !hook_records(set, op))
		return 0;
	func_enter(regs, op);
	return emit_activity(ret, op);
}

/* The end of __secure_computing, for the function hooks: a call seccomp refused (-1: skip
 * it) never reaches its syscall function, so nothing else on those rungs sees it. The
 * filter already wrote the call's result (-errno) into the registers. This runs only for
 * the syscalls of tasks under a seccomp filter (containers, sandboxes), never for others. */
static __always_inline int seccomp_refused(long skip)
{
	if (skip != -1)
		return 0;
	struct pt_regs *regs = current_regs();
	return emit_unentered(regs, PT_REGS_RC_CORE(regs), CT_HOOKS_SECCOMP);
}

#endif
