/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Syscalls as the activity hooks see them: the per-syscall tracepoint contexts, the
 * arguments saved in a task's registers, and the syscall numbers of the raw sys_enter
 * fallback (generated from ctrail_wire::SYSCALLS, like the list of per-syscall programs).
 */
#ifndef CTRAIL_SYSCALLS_H
#define CTRAIL_SYSCALLS_H

#include "maps.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

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

/* The op a syscall number records, or 0: the raw sys_enter/sys_exit fallback fires for every
 * syscall and returns at once for the others. */
static __always_inline __u32 op_of(long nr)
{
#define CT_NR_CASE(number, op) case number: return op;
	switch (nr) {
#if defined(__TARGET_ARCH_x86)
	CT_SYSCALL_NRS_X86(CT_NR_CASE)
#elif defined(__TARGET_ARCH_arm64)
	CT_SYSCALL_NRS_ARM64(CT_NR_CASE)
#endif
	}
#undef CT_NR_CASE
	return 0;
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

/* The user registers a task entered the kernel with, where every syscall hook finds the
 * call's number and arguments (and, once seccomp refused it, its result). bpf_task_pt_regs
 * (5.15) needs the BTF task pointer of bpf_get_current_task_btf (5.11); older kernels
 * (5.10: Debian 11, Amazon Linux 2) get the address the kernel's own task_pt_regs()
 * computes on x86-64 and arm64: the top of the task's 16 KiB stack (THREAD_SIZE without
 * KASAN; neither pads the stack's top) less one pt_regs. A CO-RE relocation decides the
 * branch at load, so a kernel without the helper never sees its call. */
#define CT_THREAD_SIZE 16384

static __always_inline struct pt_regs *current_regs(void)
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs))
		return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	__u64 stack = (__u64)BPF_CORE_READ(t, stack);
	return (struct pt_regs *)(stack + CT_THREAD_SIZE - bpf_core_type_size(struct pt_regs));
}

#endif
