// SPDX-License-Identifier: GPL-2.0
/*
 * ctrail's kernel side: the programs. What they do lives in the headers under bpf/, one concern each
 * (maps, cgroup and task reading, namespaces, network, syscalls, emitting records, exec,
 * the rest of a process's life, activity); this file only binds them to hooks.
 *
 * Everything the container verdict needs is read here, at the event, because a process
 * that lives a millisecond is gone before userspace could read /proc. Userspace decides
 * (classifier) and writes the verdict back per cgroup pair into CT_VERDICTS; the kernel
 * only filters by it (`--scope`).
 *
 * Each tracepoint hook exists twice, as tp_btf (preferred, direct BTF pointer access) and
 * as raw_tp (the fallback where tp_btf cannot load): CT_TRACEPOINT makes both from one
 * body, which uses CO-RE reads only. The activity syscalls get a sys_enter/sys_exit pair
 * each (CT_SYSCALLS, generated from ctrail_wire::SYSCALLS), with raw sys_enter/sys_exit
 * as their fallback. Where the kernel allows it, the activity hooks the syscall functions
 * instead (fentry/fexit, else kprobes: CT_SYSCALL_FUNCS), which tax no other syscall.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "events.h"
#include "bpf/maps.h"
#include "bpf/exec.h"
#include "bpf/process.h"
#include "bpf/activity.h"

char LICENSE[] SEC("license") = "GPL";

/* ct_<name>_btf on tp_btf/<tp> and ct_<name>_raw on raw_tp/<tp>, both returning `call`. */
#define CT_TRACEPOINT(tp, name, call, ...)                                    \
	SEC("tp_btf/" #tp)                                                     \
	int BPF_PROG(ct_##name##_btf, __VA_ARGS__) { return call; }            \
	SEC("raw_tp/" #tp)                                                     \
	int BPF_PROG(ct_##name##_raw, __VA_ARGS__) { return call; }

CT_TRACEPOINT(sched_process_exec, exec, on_exec(p, old_pid, bprm, true), struct task_struct *p, pid_t old_pid,
	      struct linux_binprm *bprm)
/* The exec without the path walks (its bpf_loop needs 5.17): for older kernels, and for
 * `--resolve-exe off`. The file's stat is still read. */
SEC("raw_tp/sched_process_exec")
int BPF_PROG(ct_exec_nowalk_raw, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(p, old_pid, bprm, false);
}
CT_TRACEPOINT(sched_process_fork, fork, on_fork(parent, child), struct task_struct *parent,
	      struct task_struct *child)
CT_TRACEPOINT(sched_process_exit, exit, on_exit(p), struct task_struct *p)
CT_TRACEPOINT(cgroup_attach_task, cgroup_attach, on_cgroup_attach(dst, path, t, threadgroup), struct cgroup *dst,
	      const char *path, struct task_struct *t, bool threadgroup)
CT_TRACEPOINT(cgroup_mkdir, cgroup_mkdir, on_cgroup_dir(cgrp, path, CT_CGDIR_CREATED), struct cgroup *cgrp,
	      const char *path)
CT_TRACEPOINT(cgroup_rmdir, cgroup_rmdir, on_cgroup_dir(cgrp, path, CT_CGDIR_REMOVED), struct cgroup *cgrp,
	      const char *path)
CT_TRACEPOINT(module_load, module_load, on_module_load(mod), struct module *mod)
/* Comm before exec: sched_prepare_exec (6.10+) fires before exec renames the task; older
 * kernels fall back to the execve/execveat syscall tracepoints below. */
CT_TRACEPOINT(sched_prepare_exec, prepare_exec, remember_comm(), struct task_struct *p, struct linux_binprm *bprm)

/* The comm before exec on kernels before 6.10, from the exec syscalls' functions (cheap)
 * or, last, their tracepoints (which tax every syscall). */
#define CT_COMM_ON(hook, syscall)                                             \
	SEC(#hook "/" #syscall)                                                 \
	int ct_##hook##_comm_##syscall(void *ctx) { return remember_comm(); }
CT_COMM_ON(fentry, execve)
CT_COMM_ON(fentry, execveat)
CT_COMM_ON(kprobe, execve)
CT_COMM_ON(kprobe, execveat)

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

/* ct_enter_<name> and ct_exit_<name> on syscalls/sys_{enter,exit}_<name>. */
#define CT_SYSCALL_PAIR(name, op, nargs)                                       \
	SEC("tracepoint/syscalls/sys_enter_" #name)                             \
	int ct_enter_##name(struct sys_enter_ctx *ctx) { return sys_enter(ctx, op, nargs); } \
	SEC("tracepoint/syscalls/sys_exit_" #name)                              \
	int ct_exit_##name(struct sys_exit_ctx *ctx) { return sys_exit(ctx, op); }

CT_SYSCALLS(CT_SYSCALL_PAIR)

/* The cheap rungs: the syscall's own function (`__x64_sys_<name>`, `__arm64_sys_<name>`;
 * the loader names the target), which costs nothing while other syscalls run. fentry/fexit
 * where the kernel allows them, kprobe/kretprobe where it has those. fentry/fexit never
 * read the function's argument (the user registers): 5.10's BTF has `struct pt_regs` only
 * as a forward declaration there, and its verifier refuses the access; the same registers
 * are the task's own (current_regs). */
#define CT_SYSCALL_FUNCS(name, op, nargs)                                      \
	SEC("fentry/" #name)                                                    \
	int ct_fentry_##name(__u64 *ctx) { return func_enter(current_regs(), op); } \
	SEC("fexit/" #name)                                                     \
	int ct_fexit_##name(__u64 *ctx) { return emit_activity((long)ctx[1], op); } \
	SEC("kprobe/" #name)                                                    \
	int ct_kprobe_##name(struct pt_regs *ctx)                               \
	{                                                                      \
		return func_enter((struct pt_regs *)PT_REGS_PARM1(ctx), op);   \
	}                                                                      \
	SEC("kretprobe/" #name)                                                 \
	int ct_kretprobe_##name(struct pt_regs *ctx) { return emit_activity(PT_REGS_RC(ctx), op); }

CT_SYSCALLS(CT_SYSCALL_FUNCS)

/* What seccomp refused, for the function rungs (see seccomp_refused). */
SEC("fexit/__secure_computing")
int BPF_PROG(ct_fexit_seccomp, const struct seccomp_data *sd, int skip)
{
	return seccomp_refused(skip);
}

SEC("kretprobe/__secure_computing")
int ct_kretprobe_seccomp(struct pt_regs *ctx)
{
	return seccomp_refused((int)PT_REGS_RC(ctx));
}

SEC("raw_tp/sys_enter")
int BPF_PROG(ct_sys_enter_raw, struct pt_regs *regs, long nr)
{
	__u32 op = op_of(nr);
	if (!op || !hook_records(CT_HOOKS_RAW, op))
		return 0;
	__u64 args[6];
	regs_args(regs, args);
	return stash(op, args);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(ct_sys_exit_raw, struct pt_regs *regs, long ret)
{
	/* A thread is in one syscall at a time: a pending entry is this syscall's. */
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending *p = bpf_map_lookup_elem(&CT_PENDING, &tid);
	if (p && hook_records(CT_HOOKS_RAW, p->op))
		return emit_activity(ret, p->op);
	/* No entry: refused by seccomp before sys_enter ran (see sys_exit). Failures only, so
	 * the common successful syscall pays nothing more than the lookup above. */
	if (ret >= 0)
		return 0;
	return emit_unentered(regs, ret, CT_HOOKS_RAW);
}
