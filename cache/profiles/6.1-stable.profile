# Debian bookworm's 6.1.y and other 6.1.64+ / 5.10.202+ stable trees: the stacked-fs
# check was backported without the change_cookie plumbing it depends on.
name: 6.1-stable
about: 6.1.64+ stable: overlay check backported, collect still queries the overlay inode
kernels: 6.1.64 .. 6.1
examples: Debian 6.1.176
evidence: kernel
collect: query-file-inode     # Linux v6.1.64: security/integrity/ima/ima_api.c:ima_collect_measurement (inode_query_iversion(file_inode))
stacked: iversion             # Linux v6.1.64: security/integrity/ima/ima_main.c:process_measurement (b836c4d29f27 backport)
commit.stacked: b836c4d29f27 ima: detect changes to the backing overlay file  # read: mainline v6.7 merge list (b836c4d29f2744200b2af41e14bf50758dddc818, kernel.org post-receive revlist 2023-11-21); Debian 6.12 changelog by subject
last-writer: iversion         # Linux v6.1: security/integrity/ima/ima_main.c:ima_check_last_writer
evm-metadata: false           # Linux v6.1.176: no evm_metadata_changed (EVM has no stacked-file check)
truncate-resets: false        # Linux v6.1.176: security/integrity/ima/ima_main.c has no truncate hooks
change-cookie: false          # Linux v6.3: include/linux/stat.h adds STATX_CHANGE_COOKIE
overlay-unverifiable: false   # Linux v6.1: fs/overlayfs/super.c:ovl_fill_super sets no SB_I_IMA_UNVERIFIABLE_SIGNATURE
fs.xfs: xfs                   # Linux v6.1: fs/xfs/xfs_iops.c:xfs_vn_getattr (coarse ctime)
fs.ext4: ext4-6.1             # Linux v6.1: fs/inode.c:generic_update_time (bump only when QUERIED), no change_cookie
fs.tmpfs: tmpfs-6.1           # Linux v6.1: mm/shmem.c (generic_update_time; new inodes keep i_version 0)
remount-clears-iversion: tmpfs  # Linux v6.1.176: mm/shmem.c:shmem_reconfigure (ext4's fix f2326fd14a22 is in Debian 6.1)
violations: every             # Linux v6.1: security/integrity/ima/ima_main.c:ima_rdwr_violation_check (no rate limiting)
feature.execve-check: 6.14 .. # Linux v6.14: fs/exec.c:do_execveat_common (AT_EXECVE_CHECK)
# feature.mmap-backing-file-hook: absent in every 6.1 package up to 6.1.192-3 (no fs/backing-file.c, no FMODE_BACKING)
template: ima-sig             # Debian config: CONFIG_IMA_DEFAULT_TEMPLATE
hash: sha256                  # Debian config: CONFIG_IMA_DEFAULT_HASH
fallback-banks: sha384, sha512  # Debian 6.1.176 config: CONFIG_CRYPTO_SHA512=m, not loaded when security/integrity/ima/ima_crypto.c:ima_init_crypto runs (the captured 6.1.176 list replays so)
