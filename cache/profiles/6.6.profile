# 6.6.y as read at 6.6.63: change_cookie cached and compared by the last writer, stacked check on
# the real inode (like 6.12), but violations on every open, no EVM metadata check, no truncate hooks,
# no backing files, and ext4's remount still drops SB_I_VERSION. Only 6.6.63 was read (the tree of
# OpenNuvoton/MA35D1_linux-6.6.y a4595a4ca, "Initial porting to Linux 6.6.63"): other 6.6.y
# sublevels are not claimed; pass --profile 6.6 to use it for them.
inherit: 6.12
name: 6.6
about: 6.6.63: change_cookie cached, stacked check on the real inode; violations every open, no truncate hooks
kernels: 6.6.63 .. 6.6.63
examples: Linux 6.6.63
evidence: source
collect: cookie               # Linux v6.6.63: security/integrity/ima/ima_api.c:272 ima_collect_measurement (vfs_getattr_nosec STATX_CHANGE_COOKIE)
stacked: iversion             # Linux v6.6.63: security/integrity/ima/ima_main.c:289 process_measurement (d_real_inode, inode_eq_iversion)
last-writer: cookie           # Linux v6.6.63: security/integrity/ima/ima_main.c:170 ima_check_last_writer (change_cookie != iint->version)
violations: every             # Linux v6.6.63: security/integrity/ima/ima_main.c:116 ima_rdwr_violation_check (no IMA_MAY_EMIT_TOMTOU)
evm-metadata: false           # Linux v6.6.63: security/integrity/ima/ima_main.c:207 process_measurement has no evm_metadata_changed
truncate-resets: false        # Linux v6.6.63: security/integrity/ima/ima_main.c has no ima_path_truncate/ima_file_truncate
change-cookie: true           # Linux v6.6.63: fs/stat.c:66 generic_fillattr fills STATX_CHANGE_COOKIE
overlay-unverifiable: false   # Linux v6.6.63: fs/overlayfs/ sets no SB_I_IMA_UNVERIFIABLE_SIGNATURE
fs.xfs: xfs                   # Linux v6.6.63: fs/xfs/xfs_iops.c:587 xfs_vn_getattr reports change_cookie
fs.ext4: ext4                 # Linux v6.6.63: fs/ext4/super.c:5295 SB_I_VERSION; fs/inode.c:1940 inode_maybe_inc_iversion(inode, updated)
fs.tmpfs: tmpfs               # Linux v6.6.63: mm/shmem.c:4318 SB_I_VERSION, mm/shmem.c:3730 user xattrs
remount-clears-iversion: tmpfs,ext4  # Linux v6.6.63: mm/shmem.c:4120 shmem_reconfigure and fs/ext4/super.c ext4_reconfigure do not keep SB_I_VERSION (ext4's f2326fd14a22 not in 6.6.63)
feature.backing-file: 6.7 ..  # Linux v6.7: fs/backing-file.c (absent in 6.6.63; overlay uses open_with_fake_path)
