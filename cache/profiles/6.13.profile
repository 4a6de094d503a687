# 6.13 to 7.0: same IMA code as 6.12, but XFS switched to multigrain timestamps and stopped
# reporting change_cookie, so IMA caches 0 for XFS files: the seed thread's regression.
inherit: 6.12
name: 6.13
about: 6.13-7.0: multigrain XFS reports no change_cookie; IMA unchanged (the regression)
kernels: 6.13 .. 7.0
examples: upstream 6.13 - 7.0
truncate-resets: false        # Linux v6.13: security/integrity/ima/ima_main.c has no truncate hooks (added in 7.x, backported to 6.12.105)
fs.xfs: xfs-mg                # Linux v6.13: fs/xfs/xfs_iops.c:xfs_vn_getattr (1cf7e834a6fb, multigrain timestamps)
fs.ext4: ext4-mg              # Linux v6.13: fs/ext4/super.c (FS_MGTIME), getattr still fills change_cookie
fs.tmpfs: tmpfs-mg            # Linux v6.13: mm/shmem.c (FS_MGTIME)
fs.btrfs: btrfs-mg            # Linux v6.13: fs/btrfs/super.c (FS_MGTIME)
