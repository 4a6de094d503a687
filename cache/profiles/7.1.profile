# 7.1 onwards: "ima: fallback to using i_version to detect file change" as it landed.
# collect peeks the real inode's i_version when getattr has no cookie.
inherit: 6.13
name: 7.1
about: 7.1+: change_cookie, else peeked i_version of the real inode (as landed)
kernels: 7.1 ..
examples: Debian 7.2.13
evidence: kernel
collect: cookie-else-peek          # Linux v7.1: security/integrity/ima/ima_api.c:ima_collect_measurement (inode_peek_iversion)
commit.collect: ima: fallback to using i_version to detect file change  # read: linux-integrity thread and next-integrity pushes; the branch was rebased (0824f861605d, 01baa39cf55f, ...), so the id in v7.1 is not given
truncate-resets: true              # Linux v7.2.13: security/integrity/ima/ima_main.c:ima_reset_action_flags
last-writer: detect-file-change    # Linux v7.1: security/integrity/ima/ima_main.c:ima_detect_file_change
commit.last-writer: ima: fallback to using i_version to detect file change  # read: as commit.collect (same patch; id not given)
remount-clears-iversion: none      # Linux v7.2.13: mm/shmem.c:shmem_init_fs_context ("tmpfs: preserve SB_I_VERSION on remount")
feature.mmap-backing-file-hook: 7.1 ..  # Linux v7.1-rc1 (6af36aeb147a "lsm: add backing_file LSM hooks"); read in v7.2.13: fs/backing-file.c:backing_file_mmap -> security_mmap_backing_file (SELinux only; IMA registers no such hook)
