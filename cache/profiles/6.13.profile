# 6.13 to 6.17: same IMA code as 6.12, but XFS switched to multigrain timestamps and stopped
# reporting change_cookie, so IMA caches 0 for XFS files: the seed thread's regression.
# From 6.18 tmpfs keeps SB_I_VERSION on remount (mm/shmem.c:shmem_init_fs_context, present at
# v6.18): 6.18.y has its own profile; 6.19 and 7.0 have none (not read).
inherit: 6.12
name: 6.13
about: 6.13-6.17: multigrain XFS reports no change_cookie; IMA unchanged (the regression)
kernels: 6.13 .. 6.17
examples: upstream 6.13 - 6.17
evidence: source
truncate-resets: false        # Linux v6.13: security/integrity/ima/ima_main.c has no truncate hooks (added in 7.x, backported to 6.12.104)
fs.xfs: xfs-mg                # Linux v6.13: fs/xfs/xfs_iops.c:xfs_vn_getattr (1cf7e834a6fb, multigrain timestamps)
commit.fs.xfs: 1cf7e834a6fb xfs: switch to multigrain timestamps  # read: xfsprogs libxfs sync "Source kernel commit: 1cf7e834a6fb84de9d1e038d6cf4c5bd0d202ffa" (linux-xfs, 2024-12-06); the seed thread cites it
fs.ext4: ext4-mg              # Linux v6.13: fs/ext4/super.c (FS_MGTIME), getattr still fills change_cookie
fs.tmpfs: tmpfs-mg            # Linux v6.13: mm/shmem.c (FS_MGTIME)
fs.btrfs: btrfs-mg            # Linux v6.13: fs/btrfs/super.c (FS_MGTIME)
