package vfs

import (
	"fmt"
	"sort"
)

// Filesystem magics (Linux: include/uapi/linux/magic.h).
const (
	MagicXFS     = 0x58465342
	MagicExt4    = 0xEF53
	MagicTmpfs   = 0x01021994
	MagicBtrfs   = 0x9123683E
	MagicOverlay = 0x794c7630
)

// Model is the behaviour of one filesystem type in one kernel era: what
// its superblock flags are, what getattr reports and when i_version moves.
// Fields name the kernel code they follow.
type Model struct {
	Name  string // model name, e.g. "xfs-mg"
	Type  string // filesystem type as mount(8) names it
	Magic uint64
	About string

	// IVersion: the superblock has SB_I_VERSION, so IS_I_VERSION() holds.
	IVersion bool
	// Cookie: getattr reports STATX_CHANGE_COOKIE when asked
	// (Linux v6.3+: fs/stat.c:generic_fillattr).
	Cookie bool
	// GetattrQueries: a getattr that asks for the cookie runs
	// inode_query_iversion (setting QUERIED) even when the cookie is not
	// reported back.
	GetattrQueries bool
	// Multigrain: ctime is multigrain (Linux v6.13: fs/inode.c:
	// inode_set_ctime_current): once queried, the next change takes a
	// fine-grained, strictly later time.
	Multigrain bool
	// CreateIVersion and CreateQueried: i_version at inode creation.
	CreateIVersion uint64
	CreateQueried  bool
	// WriteForces: a data write that changes mtime/ctime forces an
	// i_version bump (generic inode_update_timestamps); false means the
	// bump happens only when QUERIED (XFS logs XFS_ILOG_TIMESTAMP).
	WriteForces bool
	// WritebackForces: writeback of a size-extending write forces a bump
	// (XFS logs the core inode when it updates the on-disk size).
	WritebackForces bool
	// SetattrForces: chmod/chown/utimes force a bump.
	SetattrForces bool
	// TruncateForces: truncate forces a bump.
	TruncateForces bool
	// XattrForces: setxattr forces a bump.
	XattrForces bool
	// AtimeBumpsQueried: an atime-only update bumps i_version when QUERIED.
	AtimeBumpsQueried bool
	// RemountClearsIVersion: remount drops SB_I_VERSION.
	RemountClearsIVersion bool
	// Overlay: this is overlayfs (a stacking filesystem).
	Overlay bool
}

// Models lists every built-in filesystem model by name.
func Models() map[string]*Model {
	ms := []*Model{
		{
			Name: "xfs", Type: "xfs", Magic: MagicXFS,
			About: "XFS before 6.13: getattr reports change_cookie, coarse ctime",
			// Linux v6.12: fs/xfs/xfs_super.c:xfs_fs_fill_super sets SB_I_VERSION.
			IVersion: true,
			// Linux v6.12: fs/xfs/xfs_iops.c:xfs_vn_getattr -> generic_fillattr.
			Cookie: true, GetattrQueries: true,
			// Linux v6.12: fs/xfs/libxfs/xfs_inode_util.c:xfs_inode_init sets 1 (core logged).
			CreateIVersion: 1,
			// Linux v6.12: fs/xfs/libxfs/xfs_trans_inode.c:xfs_trans_log_inode:
			// inode_maybe_inc_iversion(inode, flags & XFS_ILOG_CORE).
			WriteForces: false, WritebackForces: true,
			SetattrForces: true, TruncateForces: true, XattrForces: true,
			AtimeBumpsQueried: true,
		},
		{
			Name: "xfs-mg", Type: "xfs", Magic: MagicXFS,
			About:    "XFS since 6.13: multigrain ctime, getattr no longer reports change_cookie",
			IVersion: true,
			// Linux v6.13: fs/xfs/xfs_iops.c:xfs_vn_getattr drops
			// STATX_CHANGE_COOKIE (1cf7e834a6fb "xfs: switch to multigrain timestamps").
			Cookie: false, GetattrQueries: false,
			Multigrain:     true,
			CreateIVersion: 1,
			WriteForces:    false, WritebackForces: true,
			SetattrForces: true, TruncateForces: true, XattrForces: true,
			AtimeBumpsQueried: true,
		},
		{
			Name: "ext4", Type: "ext4", Magic: MagicExt4,
			About: "ext4 since 6.1: i_version always on, generic change_cookie",
			// Linux v6.1: fs/ext4/super.c:__ext4_fill_super sets SB_I_VERSION unconditionally.
			IVersion: true, Cookie: true, GetattrQueries: true,
			// Linux v6.12: fs/inode.c:inode_update_timestamps forces the bump
			// when mtime/ctime changed.
			WriteForces: true, SetattrForces: true, TruncateForces: true, XattrForces: true,
			// Linux v6.1..v6.16: fs/ext4/super.c:ext4_reconfigure clears SB_I_VERSION on
			// remount unless fixed (f2326fd14a22); the profile decides.
			RemountClearsIVersion: true,
		},
		{
			Name: "ext4-mg", Type: "ext4", Magic: MagicExt4,
			About:    "ext4 since 6.13: multigrain ctime, generic change_cookie",
			IVersion: true, Cookie: true, GetattrQueries: true, Multigrain: true,
			WriteForces: true, SetattrForces: true, TruncateForces: true, XattrForces: true,
		},
		{
			Name: "tmpfs", Type: "tmpfs", Magic: MagicTmpfs,
			About: "tmpfs since 6.1: SB_I_VERSION, generic change_cookie",
			// Linux v6.1: mm/shmem.c:shmem_fill_super sets SB_I_VERSION.
			IVersion: true, Cookie: true, GetattrQueries: true,
			// Linux v6.12: mm/shmem.c:shmem_setattr calls inode_inc_iversion.
			WriteForces: true, SetattrForces: true, TruncateForces: true, XattrForces: true,
			// Linux: mm/shmem.c:shmem_reconfigure dropped SB_I_VERSION until
			// "tmpfs: preserve SB_I_VERSION on remount"; the profile decides.
			RemountClearsIVersion: true,
		},
		{
			Name: "btrfs", Type: "btrfs", Magic: MagicBtrfs,
			About: "btrfs: SB_I_VERSION, generic change_cookie, forced bumps in its own update paths",
			// Linux v6.12: fs/btrfs/super.c:btrfs_fill_super sets SB_I_VERSION;
			// fs/btrfs/inode.c:btrfs_getattr -> generic_fillattr.
			IVersion: true, Cookie: true, GetattrQueries: true,
			// Linux v6.12: fs/btrfs/file.c:update_time_for_write and
			// inode.c:btrfs_setattr call inode_inc_iversion (forced).
			WriteForces: true, SetattrForces: true, TruncateForces: true, XattrForces: true,
		},
		{
			Name: "overlay", Type: "overlay", Magic: MagicOverlay, Overlay: true,
			About: "overlayfs: no i_version of its own; getattr forwards to the real inode",
			// Linux v6.12: fs/overlayfs/super.c:ovl_fill_super does not set SB_I_VERSION.
			IVersion: false,
		},
	}
	out := map[string]*Model{}
	for _, m := range ms {
		out[m.Name] = m
	}
	return out
}

// ModelNames lists the built-in model names, sorted.
func ModelNames() []string {
	var ns []string
	for n := range Models() {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// LookupModel finds a built-in model by name.
func LookupModel(name string) (*Model, error) {
	m, ok := Models()[name]
	if !ok {
		return nil, fmt.Errorf("unknown filesystem model %q (have %v)", name, ModelNames())
	}
	return m, nil
}
