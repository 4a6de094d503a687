# 6.18.y, the long-term line of the regression era: the same IMA code as 6.13-7.0 (multigrain XFS
# reports no change_cookie, so IMA caches 0 for XFS files) and none of 7.1's fix: read at v6.18
# and v6.18.35 (leftymods/linux-6.18.y, tags v6.18 .. v6.18.35 = upstream stable updates): between
# them security/integrity/ima/ima_api.c is unchanged and ima_main.c changed only for CREDS_CHECK
# (v6.18.2). Unlike 6.13-6.17, tmpfs keeps SB_I_VERSION on remount. Run on Debian's 6.18.15.
inherit: 6.13
name: 6.18
about: 6.18-6.18.35: the 6.13 regression, no fix backported; tmpfs keeps i_version on remount
kernels: 6.18 .. 6.18.35
examples: Debian 6.18.15 (trixie-backports), Linux 6.18.35
evidence: kernel
collect: cookie               # Linux v6.18.35: security/integrity/ima/ima_api.c:275 ima_collect_measurement (STATX_CHANGE_COOKIE only, no inode_peek_iversion fallback)
stacked: iversion             # Linux v6.18.35: security/integrity/ima/ima_main.c:331 process_measurement (integrity_inode_attrs_changed)
last-writer: cookie           # Linux v6.18.35: security/integrity/ima/ima_main.c:202 ima_check_last_writer (no ima_detect_file_change)
evm-metadata: true            # Linux v6.18.35: security/integrity/ima/ima_main.c:342 evm_metadata_changed
violations: once              # Linux v6.18.35: security/integrity/ima/ima_main.c:154 ima_rdwr_violation_check (IMA_MAY_EMIT_TOMTOU)
truncate-resets: false        # Linux v6.18.35: security/integrity/ima/ima_main.c has no truncate hooks
change-cookie: true           # Linux v6.18.35: fs/stat.c generic_fillattr STATX_CHANGE_COOKIE
fs.xfs: xfs-mg                # Linux v6.18.35: fs/xfs/xfs_iops.c:xfs_vn_getattr reports no change_cookie; fs/xfs/xfs_super.c:2307 FS_MGTIME
fs.ext4: ext4-mg              # Linux v6.18.35: fs/ext4/super.c:7421 FS_MGTIME
fs.tmpfs: tmpfs-mg            # Linux v6.18.35: mm/shmem.c:5376 FS_MGTIME
remount-clears-iversion: none # Linux v6.18.35: mm/shmem.c:5363 shmem_init_fs_context and fs/ext4/super.c:2014 ext4_init_fs_context set SB_I_VERSION for remounts too
