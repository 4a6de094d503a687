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
	// CreateStale: the filesystem never initialises i_version for a new
	// inode, so a recycled inode object keeps a stale value (0 only for a
	// fresh slab object). The model assumes 0 and flags decisions that
	// depend on it as indeterminate.
	CreateStale bool
	// WriteForces: a data write that changes mtime/ctime forces an
	// i_version bump (generic inode_update_timestamps); false means the
	// bump happens only when QUERIED (XFS logs XFS_ILOG_TIMESTAMP).
	WriteForces bool
	// WriteAlwaysForces: every data write forces a bump (btrfs).
	WriteAlwaysForces bool
	// WritebackForces: writeback of a size-extending write forces a bump
	// (XFS logs the core inode when it updates the on-disk size).
	WritebackForces bool
	// SetattrForces: chmod/chown/utimes force a bump.
	SetattrForces bool
	// TruncateForces: truncate forces a bump; TruncateBumps how many
	// (0 means 1).
	TruncateForces bool
	TruncateBumps  int
	// RenameForces: rename forces a bump of the moved inode.
	RenameForces bool
	// XattrForces: setxattr forces a bump.
	XattrForces bool
	// NoUserXattrs: user.* xattrs are refused (tmpfs before 6.6).
	NoUserXattrs bool
	// AtimeBumpsQueried: an atime-only update bumps i_version when QUERIED.
	AtimeBumpsQueried bool
	// RemountClearsIVersion: this fs type's remount code can drop
	// SB_I_VERSION; whether a kernel still does is the profile's call.
	RemountClearsIVersion bool
	// Overlay: this is overlayfs (a stacking filesystem).
	Overlay bool
	// OnDisk: inodes can be evicted and read back (not tmpfs).
	OnDisk bool
	// ReadQueried: an inode read from disk starts with QUERIED set.
	ReadQueried bool
}

// Models lists every built-in filesystem model by name.
func Models() map[string]*Model {
	ms := []*Model{
		{
			Name: "xfs", OnDisk: true, ReadQueried: true, Type: "xfs", Magic: MagicXFS,
			About: "XFS before 6.13: getattr reports change_cookie, coarse ctime",
			// Linux v6.12: fs/xfs/xfs_super.c:xfs_fs_fill_super sets SB_I_VERSION.
			IVersion: true,
			// Linux v6.12: fs/xfs/xfs_iops.c:xfs_vn_getattr -> generic_fillattr.
			Cookie: true, GetattrQueries: true,
			// Linux v6.12: fs/xfs/libxfs/xfs_inode_util.c:xfs_icreate sets 1, then the
			// create transaction logs the core inode: a forced bump to 2.
			CreateIVersion: 2,
			// Linux v6.12: fs/xfs/libxfs/xfs_trans_inode.c:xfs_trans_log_inode:
			// inode_maybe_inc_iversion(inode, flags & XFS_ILOG_CORE).
			WriteForces: false, WritebackForces: true,
			SetattrForces: true, TruncateForces: true, TruncateBumps: 2, RenameForces: true, XattrForces: true,
			AtimeBumpsQueried: true,
		},
		{
			Name: "xfs-mg", OnDisk: true, ReadQueried: true, Type: "xfs", Magic: MagicXFS,
			About:    "XFS since 6.13: multigrain ctime, getattr no longer reports change_cookie",
			IVersion: true,
			// Linux v6.13: fs/xfs/xfs_iops.c:xfs_vn_getattr drops
			// STATX_CHANGE_COOKIE (1cf7e834a6fb "xfs: switch to multigrain timestamps").
			Cookie: false, GetattrQueries: false,
			Multigrain:     true,
			CreateIVersion: 2,
			WriteForces:    false, WritebackForces: true,
			SetattrForces: true, TruncateForces: true, TruncateBumps: 2, RenameForces: true, XattrForces: true,
			AtimeBumpsQueried: true,
		},
		{
			Name: "ext4-5.10", OnDisk: true, ReadQueried: true, Type: "ext4", Magic: MagicExt4,
			About: "ext4 before 6.1 mounted without -o iversion: no SB_I_VERSION, IMA cannot trust i_version",
			// Linux v5.10.262: fs/ext4/super.c:handle_mount_opt sets SB_I_VERSION only for
			// Opt_i_version; 6.1 made it unconditional (ext4_init_fs_context).
			IVersion: false, CreateIVersion: 1,
			WriteForces: false, SetattrForces: true, TruncateForces: true, XattrForces: true,
		},
		{
			Name: "tmpfs-5.10", Type: "tmpfs", Magic: MagicTmpfs,
			About: "tmpfs before 6.0: no SB_I_VERSION",
			// Linux v5.10.262: mm/shmem.c:shmem_fill_super sets no SB_I_VERSION.
			IVersion: false,
			// Linux v5.10.262: mm/shmem.c:shmem_xattr_handlers has no user handler.
			NoUserXattrs: true,
		},
		{
			Name: "ext4-6.1", OnDisk: true, ReadQueried: true, Type: "ext4", Magic: MagicExt4,
			About: "ext4 in 6.1: i_version always on, no change_cookie yet, writes bump only when QUERIED",
			// Linux v6.1: fs/ext4/super.c:ext4_init_fs_context sets SB_I_VERSION (kept on remount).
			IVersion: true,
			// Linux v6.1: fs/ext4/super.c:ext4_alloc_inode sets i_version 1.
			CreateIVersion: 1,
			// Linux v6.1: fs/inode.c:generic_update_time bumps only with S_VERSION (QUERIED).
			WriteForces: false,
			// Linux v6.1: fs/ext4/inode.c:ext4_setattr forces inode_inc_iversion.
			SetattrForces: true, TruncateForces: true, XattrForces: true,
		},
		{
			Name: "ext4", OnDisk: true, ReadQueried: true, Type: "ext4", Magic: MagicExt4,
			About:    "ext4 6.3-6.12: generic change_cookie, writes force a bump when c/mtime change",
			IVersion: true, CreateIVersion: 1,
			// Linux v6.12: fs/ext4/inode.c:ext4_getattr -> generic_fillattr (query).
			Cookie: true, GetattrQueries: true,
			// Linux v6.12: fs/inode.c:inode_update_timestamps forces the bump
			// when mtime/ctime changed.
			WriteForces: true, SetattrForces: true, TruncateForces: true, XattrForces: true,
		},
		{
			Name: "ext4-mg", OnDisk: true, ReadQueried: true, Type: "ext4", Magic: MagicExt4,
			About:    "ext4 since 6.13: multigrain ctime, generic change_cookie",
			IVersion: true, CreateIVersion: 1, Cookie: true, GetattrQueries: true, Multigrain: true,
			// Linux v7.2: fs/inode.c:inode_update_cmtime forces unless lazytime-only.
			WriteForces: true, SetattrForces: true, TruncateForces: true, XattrForces: true,
		},
		{
			Name: "tmpfs-6.1", Type: "tmpfs", Magic: MagicTmpfs,
			About: "tmpfs in 6.1: SB_I_VERSION, no change_cookie yet, writes bump only when QUERIED",
			// Linux v6.1: mm/shmem.c:shmem_fill_super sets SB_I_VERSION; new inodes keep 0.
			IVersion: true,
			// Linux v6.1: fs/inode.c:generic_update_time (QUERIED only).
			WriteForces: false,
			// Linux v6.1: mm/shmem.c:shmem_setattr, shmem_truncate_range: inode_inc_iversion.
			SetattrForces: true, TruncateForces: true, XattrForces: true,
			// Linux v6.1: mm/shmem.c has no inode_set_iversion; fs/inode.c:
			// inode_init_always does not reset i_version.
			CreateStale: true,
			// Linux v6.1: mm/shmem.c:shmem_reconfigure drops SB_I_VERSION (MS_RMT_MASK).
			RemountClearsIVersion: true,
			// Linux v6.1: mm/shmem.c:shmem_xattr_handlers has no user handler (6.6 added it).
			NoUserXattrs: true,
		},
		{
			Name: "tmpfs", Type: "tmpfs", Magic: MagicTmpfs,
			About:    "tmpfs 6.3+: SB_I_VERSION, generic change_cookie, writes force a bump when c/mtime change",
			IVersion: true, Cookie: true, GetattrQueries: true,
			// Linux v6.12: mm/shmem.c:shmem_file_write_iter -> file_update_time (forced on change).
			WriteForces: true, SetattrForces: true, TruncateForces: true, XattrForces: true,
			// Linux v6.12: mm/shmem.c never sets i_version for a new inode.
			CreateStale: true,
			// Linux v6.12: mm/shmem.c:shmem_reconfigure still drops SB_I_VERSION; fixed
			// by "tmpfs: preserve SB_I_VERSION on remount" (in 7.2.13). The profile decides.
			RemountClearsIVersion: true,
		},
		{
			Name: "tmpfs-mg", Type: "tmpfs", Magic: MagicTmpfs,
			About:    "tmpfs since 6.13: multigrain ctime, generic change_cookie",
			IVersion: true, Cookie: true, GetattrQueries: true, Multigrain: true,
			// Linux v7.2: mm/shmem.c: shmem_fs_type has FS_MGTIME.
			WriteForces: true, SetattrForces: true, TruncateForces: true, XattrForces: true,
			CreateStale: true, RemountClearsIVersion: true,
		},
		{
			Name: "btrfs-mg", OnDisk: true, ReadQueried: true, Type: "btrfs", Magic: MagicBtrfs,
			About:    "btrfs since 6.13: multigrain ctime, every write forces a bump",
			IVersion: true, Cookie: true, GetattrQueries: true, Multigrain: true,
			// Linux v7.2: fs/btrfs/super.c: btrfs_fs_type has FS_MGTIME.
			WriteForces: true, WriteAlwaysForces: true, SetattrForces: true, TruncateForces: true, XattrForces: true,
		},
		{
			Name: "btrfs", OnDisk: true, ReadQueried: true, Type: "btrfs", Magic: MagicBtrfs,
			About: "btrfs: SB_I_VERSION, generic change_cookie, every write forces a bump",
			// Linux v6.12: fs/btrfs/super.c:btrfs_init_fs_context sets SB_I_VERSION;
			// fs/btrfs/inode.c:btrfs_getattr -> generic_fillattr.
			IVersion: true, Cookie: true, GetattrQueries: true,
			// Linux v6.12: fs/btrfs/file.c:update_time_for_write, btrfs_setattr: inode_inc_iversion.
			WriteForces: true, WriteAlwaysForces: true, SetattrForces: true, TruncateForces: true, XattrForces: true,
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
