/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The file an exec runs, read from the kernel's own objects rather than from the string
 * passed to exec: its path as the process sees it (a dentry and mount walk up to the
 * process's root, as d_path does, since bpf_d_path is refused in tracepoints), the cwd the
 * same way, the inode's identity and times, and where the file lives (overlayfs upper
 * layer, memfd, deleted).
 */
#ifndef CTRAIL_FILE_H
#define CTRAIL_FILE_H

#include "maps.h"
#include <bpf/bpf_core_read.h>

/* Where a path is built, backwards from the end: one slot per CPU. Components are written
 * at (pos & CT_PATH_MASK) with at most CT_NAME_MAX bytes, so every write stays inside.
 * The walk's state lives here too, and the walk is a bpf_loop callback (5.17+): an
 * open-coded loop keeps its counter and offsets exact, so every step is a new verifier
 * state, and two walks did not verify in a million instructions. */
#define CT_PATH_MASK (CT_PATH_MAX - 1)
struct path_buf {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u64 mnt_off;
	__u32 pos;
	__u32 done;    /* reached the root (else the depth ran out or the buffer is full) */
	char buf[CT_PATH_MAX + CT_NAME_MAX + 1];
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_buf);
} CT_PATH_BUF SEC(".maps");

/* One step up: cross a mount point to the parent mount, or prepend one component.
 * Returns 1 to stop the walk. */
static long path_step(__u64 i, void *unused)
{
	__u32 zero = 0;
	struct path_buf *w = bpf_map_lookup_elem(&CT_PATH_BUF, &zero);
	if (!w)
		return 1;
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	if (!dentry || (dentry == w->root_dentry && vfsmnt == w->root_mnt)) {
		w->done = 1;
		return 1;
	}
	if (dentry == BPF_CORE_READ(vfsmnt, mnt_root)) {
		struct mount *mnt = w->mnt;
		struct mount *parent = BPF_CORE_READ(mnt, mnt_parent);
		/* The top of the mount tree: a path outside the process's root reads from there. */
		if (!parent || parent == mnt) {
			w->done = 1;
			return 1;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = parent;
		w->vfsmnt = (void *)parent + w->mnt_off;
		return 0;
	}
	/* A component is at most NAME_MAX (255) bytes: the mask only tells the verifier. */
	__u32 nl = BPF_CORE_READ(dentry, d_name.len) & CT_NAME_MAX;
	__u32 pos = w->pos;
	if (pos < nl + 1 || pos > CT_PATH_MAX)
		return 1;
	pos -= nl;
	bpf_probe_read_kernel(w->buf + (pos & CT_PATH_MASK), nl, BPF_CORE_READ(dentry, d_name.name));
	pos -= 1;
	w->buf[pos & CT_PATH_MASK] = '/';
	w->pos = pos;
	struct dentry *up = BPF_CORE_READ(dentry, d_parent);
	/* The root of a tree mounted nowhere the walk can see (a memfd's). */
	if (up == dentry) {
		w->done = 1;
		return 1;
	}
	w->dentry = up;
	return 0;
}

/* Builds the path of (dentry, vfsmnt) as seen from `root` in this CPU's path slot and
 * returns where it starts; *len gets its length. Mount points are crossed to the parent
 * mount; the walk stops at the process's root, at the top of the mount tree (a path
 * outside a chroot then reads from the real root), or at the root of an internal mount (a
 * memfd: "/memfd:name"). Deeper than CT_PATH_DEPTH or longer than CT_PATH_MAX: the leaf
 * side is kept and `trunc` set in *flags. */
static __always_inline char *build_path(struct dentry *dentry, struct vfsmount *vfsmnt, const struct path *root,
					__u32 *len, __u32 *flags, __u32 trunc)
{
	__u32 zero = 0;
	struct path_buf *w = bpf_map_lookup_elem(&CT_PATH_BUF, &zero);
	*len = 0;
	if (!w)
		return 0;
	w->root_dentry = BPF_CORE_READ(root, dentry);
	w->root_mnt = BPF_CORE_READ(root, mnt);
	w->mnt_off = bpf_core_field_offset(struct mount, mnt);
	w->dentry = dentry;
	w->vfsmnt = vfsmnt;
	w->mnt = (void *)vfsmnt - w->mnt_off;
	w->pos = CT_PATH_MAX;
	w->done = 0;
	bpf_loop(CT_PATH_DEPTH, path_step, 0, 0);
	if (!w->done)
		*flags |= trunc;
	__u32 pos = w->pos;
	if (pos >= CT_PATH_MAX || pos == 0) {
		pos = CT_PATH_MAX - 1;
		w->buf[pos & CT_PATH_MASK] = '/';
	}
	*len = CT_PATH_MAX - pos;
	return w->buf + (pos & CT_PATH_MASK);
}

/* Copies the path of `p` as seen from `root` to buf[off...]; returns its length. */
static __always_inline __u32 put_path(char *buf, __u32 off, const struct path *p, const struct path *root, __u32 *flags,
				      __u32 trunc)
{
	__u32 len;
	char *src = build_path(BPF_CORE_READ(p, dentry), BPF_CORE_READ(p, mnt), root, &len, flags, trunc);
	if (!src || len == 0 || len > CT_PATH_MAX)
		return 0;
	if (bpf_probe_read_kernel(buf + (off & OFF_MASK), len & (CT_PATH_MAX * 2 - 1), src))
		return 0;
	return len;
}

/* struct inode's times moved: timespec64 i_mtime/i_ctime before 6.6, __i_ctime in 6.6,
 * __i_mtime/__i_ctime in 6.7-6.10, i_{m,c}time_{sec,nsec} since 6.11. */
struct inode___pre66 {
	struct timespec64 i_mtime;
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));
struct inode___v66 {
	struct timespec64 i_mtime;
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));
struct inode___v67 {
	struct timespec64 __i_mtime;
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

static __always_inline __s64 ts_ns(struct timespec64 *ts)
{
	__s64 sec = 0, nsec = 0;
	bpf_core_read(&sec, sizeof(sec), &ts->tv_sec);
	bpf_core_read(&nsec, sizeof(nsec), &ts->tv_nsec);
	return sec * 1000000000ll + nsec;
}

static __always_inline void inode_times(struct inode *ino, __s64 *mtime, __s64 *ctime)
{
	if (bpf_core_field_exists(ino->i_mtime_sec)) {
		*mtime = (__s64)BPF_CORE_READ(ino, i_mtime_sec) * 1000000000ll + BPF_CORE_READ(ino, i_mtime_nsec);
		*ctime = (__s64)BPF_CORE_READ(ino, i_ctime_sec) * 1000000000ll + BPF_CORE_READ(ino, i_ctime_nsec);
	} else if (bpf_core_field_exists(((struct inode___v67 *)ino)->__i_mtime)) {
		struct inode___v67 *i = (void *)ino;
		*mtime = ts_ns(&i->__i_mtime);
		*ctime = ts_ns(&i->__i_ctime);
	} else if (bpf_core_field_exists(((struct inode___v66 *)ino)->__i_ctime)) {
		struct inode___v66 *i = (void *)ino;
		*mtime = ts_ns(&i->i_mtime);
		*ctime = ts_ns(&i->__i_ctime);
	} else {
		struct inode___pre66 *i = (void *)ino;
		*mtime = ts_ns(&i->i_mtime);
		*ctime = ts_ns(&i->i_ctime);
	}
}

#define CT_OVERLAYFS_MAGIC 0x794c7630
#define CT_TMPFS_MAGIC 0x01021994
#define CT_HUGETLBFS_MAGIC 0x958458f6

/* The identity of the file an exec runs, and where it lives. */
static __always_inline void exe_file(struct ct_exec *e, struct file *f)
{
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	struct super_block *sb = BPF_CORE_READ(ino, i_sb);
	e->exe_ino = BPF_CORE_READ(ino, i_ino);
	e->exe_size = BPF_CORE_READ(ino, i_size);
	e->exe_dev = BPF_CORE_READ(sb, s_dev);
	e->exe_mode = BPF_CORE_READ(ino, i_mode);
	e->exe_uid = BPF_CORE_READ(ino, i_uid.val);
	e->exe_gid = BPF_CORE_READ(ino, i_gid.val);
	e->exe_nlink = BPF_CORE_READ(ino, __i_nlink);
	inode_times(ino, &e->exe_mtime_ns, &e->exe_ctime_ns);

	__u64 magic = BPF_CORE_READ(sb, s_magic);
	if (e->exe_nlink == 0)
		e->exe_flags |= CT_X_DELETED;
	if (magic == CT_OVERLAYFS_MAGIC) {
		e->exe_flags |= CT_X_OVERLAY;
		/* struct ovl_inode lives in the overlay module, whose BTF CO-RE does not see; its
		 * __upperdentry has followed the embedded vfs inode since 4.x (Falco reads it
		 * the same way). Set once the file was written (copied up) in the container. */
		struct dentry *upper = 0;
		bpf_probe_read_kernel(&upper, sizeof(upper), (void *)ino + bpf_core_type_size(struct inode));
		if (upper)
			e->exe_flags |= CT_X_UPPER;
	}
	if (magic == CT_TMPFS_MAGIC || magic == CT_HUGETLBFS_MAGIC) {
		char name[8] = {};
		bpf_probe_read_kernel(name, 6, BPF_CORE_READ(f, f_path.dentry, d_name.name));
		if (name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 'f' && name[4] == 'd' &&
		    name[5] == ':')
			e->exe_flags |= CT_X_MEMFD;
	}
}

#endif
