# 5.10.202 and later 5.10.y (Debian bullseye's 5.10.0-NN): the stacked-fs check of b836c4d29f27
# backported in 5.10.202 (it also dropped overlayfs' SB_I_IMA_UNVERIFIABLE_SIGNATURE of
# 5.10.195), collect still queries the overlay inode. Before 6.0/6.1 neither tmpfs nor ext4 (without
# -o iversion) has SB_I_VERSION, so IMA re-evaluates after every write there. Read in Debian's
# linux-source-5.10 5.10.262-1 (changelog: 5.10.195 "ovl: Always reevaluate the file signature for
# IMA", 5.10.202 "ima: detect changes to the backing overlay file"). Not run on a real kernel: Debian's
# 5.10 builds (cloud and generic, 5.10.262-1) have CONFIG_IMA unset.
name: 5.10
about: 5.10.202+ stable: stacked check backported, collect queries the overlay inode; tmpfs and ext4 have no i_version
kernels: 5.10.202 .. 5.10.262
examples: Debian 5.10.262 (bullseye-security)
evidence: source
collect: query-file-inode     # Linux v5.10.262: security/integrity/ima/ima_api.c:242 ima_collect_measurement (inode_query_iversion(file_inode))
stacked: iversion             # Linux v5.10.262: security/integrity/ima/ima_main.c:276 process_measurement (backing_inode, 5.10.202 backport)
last-writer: iversion         # Linux v5.10.262: security/integrity/ima/ima_main.c:151 ima_check_last_writer (!IS_I_VERSION || !inode_eq_iversion)
violations: every             # Linux v5.10.262: security/integrity/ima/ima_main.c:111 ima_rdwr_violation_check (no IMA_MAY_EMIT_TOMTOU)
evm-metadata: false           # Linux v5.10.262: security/integrity/ima/ima_main.c:process_measurement has no evm_metadata_changed
truncate-resets: false        # Linux v5.10.262: security/integrity/ima/ima_main.c has no truncate hooks
change-cookie: false          # Linux v5.10.262: include/linux/stat.h has no STATX_CHANGE_COOKIE (6.3)
overlay-unverifiable: false   # Linux v5.10.262: fs/overlayfs/ sets no SB_I_IMA_UNVERIFIABLE_SIGNATURE (removed by the 5.10.202 backport)
fs.xfs: xfs                   # Linux v5.10.262: fs/xfs/xfs_super.c:1549 SB_I_VERSION (v5 sb); fs/xfs/xfs_iops.c:1063 xfs_vn_update_time bumps only when queried
fs.ext4: ext4-5.10            # Linux v5.10.262: fs/ext4/super.c:2148 handle_mount_opt sets SB_I_VERSION only for -o iversion
fs.tmpfs: tmpfs-5.10          # Linux v5.10.262: mm/shmem.c:3733 shmem_fill_super sets no SB_I_VERSION
remount-clears-iversion: none # Linux v5.10.262: ext4 and tmpfs have no SB_I_VERSION to drop; fs/xfs/xfs_super.c:1801 keeps it
feature.execve-check: 6.14 .. # Linux v6.14: fs/exec.c:do_execveat_common (AT_EXECVE_CHECK); absent in 5.10.262 fs/exec.c:1869
template: ima-sig             # Debian config: CONFIG_IMA_DEFAULT_TEMPLATE
hash: sha256                  # Debian config: CONFIG_IMA_DEFAULT_HASH
