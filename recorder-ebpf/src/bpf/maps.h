/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The maps and load-time constants every program shares.
 */
#ifndef CTRAIL_MAPS_H
#define CTRAIL_MAPS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "events.h"

/* Set by the loader (EbpfLoader::override_global); .rodata, so the verifier prunes on them. */
volatile const __u32 cfg_self_tgid = 0;   /* the recorder itself is never reported */
volatile const __u32 cfg_cg1_hier = 0;    /* v1 hierarchy id whose path is recorded; 0 = none */
volatile const __u32 cfg_argv_max = CT_ARGV_DEFAULT;
volatile const __u32 cfg_scope = CT_SCOPE_ALL;
volatile const __u32 cfg_activity = 0;      /* bit (1 << ct_op) per recorded syscall kind */

/* Scratch space for building a variable-size exec record; one slot per CPU
 * (an ARRAY indexed by CPU, because per-CPU values are capped at 32 KiB). */
/* 64 KiB of masked offsets, plus room for the largest write at the last one (a path). */
#define SCRATCH_SZ (65536 + 2 * CT_PATH_MAX)
#define OFF_MASK 0xFFFF
struct scratch {
	char buf[SCRATCH_SZ];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024); /* resized by the loader */
} CT_EVENTS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* set to the number of possible CPUs by the loader */
	__type(key, __u32);
	__type(value, struct scratch);
} CT_SCRATCH SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ct_cg_key);
	__type(value, __u32);
} CT_VERDICTS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CT_C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} CT_COUNTERS SEC(".maps");

/* Per hook that every syscall passes (raw sys_enter/sys_exit, __secure_computing): the ops
 * it records (ctrail_wire::hook_set), zero until the loader has chosen the rungs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CT_HOOKS_MAX);
	__type(key, __u32);
	__type(value, __u32);
} CT_HOOK_OPS SEC(".maps");

static __always_inline bool hook_records(__u32 set, __u32 op)
{
	__u32 *ops = bpf_map_lookup_elem(&CT_HOOK_OPS, &set);
	return ops && (*ops & (1u << op));
}

/* comm of a thread just before its exec, keyed by tid; consumed at sched_process_exec. */
struct comm_val {
	char comm[CT_COMM_LEN];
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct comm_val);
} CT_OLD_COMM SEC(".maps");

/* A syscall between its entry and its exit, by thread id. */
struct pending {
	__u32 op;
	__u32 _pad;
	__u64 args[6];
	struct ct_creds before;
	struct ct_sockaddrs net;
	/* Names only the kernel side can read: module (module_load tracepoint) or BPF program
	 * name in [0], the file a module came from in [1]. */
	char kstr[2][CT_KSTR_MAX];
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct pending);
} CT_PENDING SEC(".maps");

/* Where a pending entry is built: too big for the 512-byte BPF stack next to the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pending);
} CT_PENDING_SCRATCH SEC(".maps");

#endif
