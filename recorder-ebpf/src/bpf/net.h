/* SPDX-License-Identifier: GPL-2.0 */
/*
 * TCP sockets behind descriptors, and the two ends of a connection.
 */
#ifndef CTRAIL_NET_H
#define CTRAIL_NET_H

#include "task.h"

#define CT_S_IFMT 0170000
#define CT_S_IFSOCK 0140000
#define CT_AF_INET 2
#define CT_AF_INET6 10
#define CT_SOCK_STREAM 1
#define CT_IPPROTO_TCP 6

/* The sock behind fd when it is a TCP socket over IPv4 or IPv6, else 0: connect and
 * accept are recorded for TCP only (a DNS lookup's UDP connect is not evidence). */
static __always_inline struct sock *tcp_sock_of_fd(struct task_struct *t, __u64 fd)
{
	struct file *f = file_of_fd(t, fd);
	if (!f)
		return 0;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & CT_S_IFMT) != CT_S_IFSOCK)
		return 0;
	struct socket *so = BPF_CORE_READ(f, private_data);
	if (!so || BPF_CORE_READ(so, type) != CT_SOCK_STREAM)
		return 0;
	struct sock *sk = BPF_CORE_READ(so, sk);
	if (!sk)
		return 0;
	__u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (fam != CT_AF_INET && fam != CT_AF_INET6)
		return 0;
	/* sk_protocol was a bitfield before 5.6; the probed read handles both layouts. */
	if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != CT_IPPROTO_TCP)
		return 0;
	return sk;
}

/* Ports on the wire are big-endian; the architectures built for (x86, arm64) are little-endian. */
static __always_inline __u16 be16(__u16 v)
{
	return __builtin_bswap16(v);
}

static __always_inline void local_end(struct sock *sk, struct ct_sockaddrs *n)
{
	n->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	n->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (n->family == CT_AF_INET)
		bpf_core_read(n->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
	else
		bpf_core_read(n->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
}

static __always_inline void remote_end(struct sock *sk, struct ct_sockaddrs *n)
{
	n->rport = be16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (n->family == CT_AF_INET)
		bpf_core_read(n->raddr, 4, &sk->__sk_common.skc_daddr);
	else
		bpf_core_read(n->raddr, 16, &sk->__sk_common.skc_v6_daddr);
}

/* The address connect() was asked for, from user memory; false when it is no TCP target
 * (AF_UNSPEC dissolves an association, for one). */
static __always_inline bool user_sockaddr(struct ct_sockaddrs *n, __u64 uaddr, __u64 len)
{
	/* Constant sizes only, chosen by the family: a length clamped from the caller's `len`
	 * loses its bounds on older verifiers (6.1 refuses the read when the compiler reloads
	 * the unclamped value), and no more than the caller passed is read. */
	__u8 raw[24] = {};
	__u16 fam = 0;
	if (!uaddr || len < 4 || bpf_probe_read_user(&fam, 2, (const void *)uaddr))
		return false;
	if (fam == CT_AF_INET && len >= 8) {
		if (bpf_probe_read_user(raw, 8, (const void *)uaddr))
			return false;
		__builtin_memcpy(n->raddr, raw + 4, 4);
	} else if (fam == CT_AF_INET6 && len >= 24) {
		if (bpf_probe_read_user(raw, 24, (const void *)uaddr))
			return false;
		__builtin_memcpy(n->raddr, raw + 8, 16);
	} else {
		return false;
	}
	n->family = fam;
	n->rport = be16(*(__u16 *)(raw + 2));
	return true;
}

#endif
