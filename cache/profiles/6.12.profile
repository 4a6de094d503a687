# 6.12.104 and later 6.12.y: IMA caches getattr's change_cookie; the stacked-fs check compares
# the real inode's i_version with it. XFS still reports the cookie, so overlays on XFS behave.
# 6.12.104 brought IMA's truncate hooks (Debian's first package with them is 6.12.105-1);
# 6.12-early is the same era without them.
name: 6.12
about: 6.12.104+: change_cookie cached, stacked check on the real inode, XFS reports the cookie
kernels: 6.12.104 .. 6.12
examples: Debian 6.12.107
evidence: kernel
collect: cookie               # Linux v6.12: security/integrity/ima/ima_api.c:ima_collect_measurement (vfs_getattr_nosec STATX_CHANGE_COOKIE)
commit.collect: db1d1e8b9867 IMA: use vfs_getattr_nosec to get the i_version  # read: cited as "Commit db1d1e8b9867" in mainline 18b44bc5a672 (stable queue "[ Upstream commit 18b44bc5a672... ]") and in the 7.1 IMA fix's message; Fixes: tag on linux-unionfs
stacked: iversion             # Linux v6.12: security/integrity/ima/ima_main.c:process_measurement, include/linux/integrity.h:integrity_inode_attrs_changed
last-writer: cookie           # Linux v6.12: security/integrity/ima/ima_main.c:ima_check_last_writer
evm-metadata: true            # Linux v6.12: security/integrity/evm/evm_main.c:evm_metadata_changed from ima_main.c:process_measurement
truncate-resets: true         # Linux v6.12.104 (stable; Debian changelog 6.12.105-1 "ima: Instantiate file_truncate and path_truncate hooks"): security/integrity/ima/ima_main.c:ima_file_truncate, ima_path_truncate
change-cookie: true           # Linux v6.3: include/linux/stat.h STATX_CHANGE_COOKIE
overlay-unverifiable: false   # Linux v6.12: fs/overlayfs/super.c:ovl_fill_super
fs.xfs: xfs                   # Linux v6.12: fs/xfs/xfs_iops.c:xfs_vn_getattr reports change_cookie (inode_query_iversion)
fs.ext4: ext4                 # Linux v6.12: fs/ext4/inode.c:ext4_getattr -> generic_fillattr
remount-clears-iversion: tmpfs  # Linux v6.12.107: mm/shmem.c:shmem_reconfigure (ext4's fix f2326fd14a22 is present since 6.12.44)
violations: once              # Linux v6.12.24 (stable; Debian changelog "ima: limit the number of ToMToU integrity violations"): ima_main.c:ima_rdwr_violation_check (IMA_MAY_EMIT_TOMTOU, IMA_EMITTED_OPENWRITERS)
feature.execve-check: 6.14 .. # Linux v6.14: fs/exec.c:do_execveat_common (AT_EXECVE_CHECK)
feature.backing-file: 6.7 ..  # Linux v6.12: fs/backing-file.c:backing_file_open (overlay's real file keeps its own f_path; 6.1 used open_with_fake_path)
feature.mmap-backing-file-hook: 6.12.95 .. 6.12.y  # Linux v6.12.95 (stable; Debian changelog 6.12.95-1 "lsm: add backing_file LSM hooks"): fs/backing-file.c:backing_file_mmap -> security_mmap_backing_file; only SELinux uses it, IMA does not
template: ima-sig             # Debian config: CONFIG_IMA_DEFAULT_TEMPLATE
hash: sha256                  # Debian config: CONFIG_IMA_DEFAULT_HASH
