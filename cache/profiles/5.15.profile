# 5.15.y as read at 5.15.148 and 5.15.167 (Ubuntu 22.04's line): the same IMA as 5.10.202+, the
# stacked-fs check backported, collect querying the overlay inode; no STATX_CHANGE_COOKIE, and
# neither tmpfs nor ext4 (without -o iversion) has SB_I_VERSION. Read from the upstream files as
# kept unmodified in two public research trees (realcedriccheng/linux-5.15.148_2024-6-28 fb45e8d63,
# derrickgreenspan/PMO-for-Linux-5.15.167 linux-5.15.167-PMO/, whose IMA, VFS and filesystem
# files are as imported); `imasim profile derive` gives these switches on both. Sublevels outside
# 5.15.148-5.15.167 are not claimed.
inherit: 5.10
name: 5.15
about: 5.15.148-5.15.167: stacked check backported, collect queries the overlay inode; tmpfs and ext4 have no i_version
kernels: 5.15.148 .. 5.15.167
examples: Linux 5.15.148, 5.15.167
evidence: source
collect: query-file-inode     # Linux v5.15.167: security/integrity/ima/ima_api.c:246 ima_collect_measurement (inode_query_iversion(inode))
stacked: iversion             # Linux v5.15.167: security/integrity/ima/ima_main.c:286 process_measurement (backing_inode dev/ino, inode_eq_iversion)
last-writer: iversion         # Linux v5.15.167: security/integrity/ima/ima_main.c:156 ima_check_last_writer (!IS_I_VERSION || !inode_eq_iversion)
violations: every             # Linux v5.15.167: security/integrity/ima/ima_main.c:116 ima_rdwr_violation_check (no IMA_MAY_EMIT_TOMTOU)
evm-metadata: false           # Linux v5.15.167: security/integrity/ima/ima_main.c:202 process_measurement has no evm_metadata_changed
truncate-resets: false        # Linux v5.15.167: security/integrity/ima/ima_main.c has no truncate hooks
change-cookie: false          # Linux v5.15.167: include/linux/stat.h has no STATX_CHANGE_COOKIE
overlay-unverifiable: false   # Linux v5.15.167: fs/overlayfs/super.c sets no SB_I_IMA_UNVERIFIABLE_SIGNATURE
fs.xfs: xfs                   # Linux v5.15.167: fs/xfs/xfs_super.c:1620 SB_I_VERSION (v5 sb); fs/xfs/xfs_iops.c:551 xfs_vn_getattr, no change_cookie
fs.ext4: ext4-5.10            # Linux v5.15.167: fs/ext4/super.c:2149 SB_I_VERSION only for Opt_i_version
fs.tmpfs: tmpfs-5.10          # Linux v5.15.167: mm/shmem.c:3677 shmem_fill_super sets no SB_I_VERSION
remount-clears-iversion: none # Linux v5.15.167: ext4 and tmpfs have no SB_I_VERSION to drop; fs/xfs/xfs_super.c:1868 keeps it
