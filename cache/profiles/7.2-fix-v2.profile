# Debian's linux-source-7.2 (7.2.13) built with imasim's era-6.13 and fix-v2 patches (imasim
# kernel build --source debian:7.2 --patch fix-v2): the seed thread's v2 on the 6.13-7.0 IMA
# code, on 7.2's VFS and filesystems. Differs from fix-v2 only in what 7.1 carries besides
# the IMA change: tmpfs keeps SB_I_VERSION on remount, IMA's truncate hooks.
inherit: 7.1
name: 7.2-fix-v2
about: built: 7.2.13 with era-6.13 + fix-v2 (the seed's v2 on 7.2's VFS)
kernels: 7.2.13 .. 7.2.13
examples: imasim kernel build --source debian:7.2 --patch fix-v2
auto: false
collect: cookie-else-ctime    # fix-v2 patch on Linux v7.2.13: security/integrity/ima/ima_api.c:ima_collect_measurement (cookie and ctime)
stacked: getattr              # fix-v2 patch on Linux v7.2.13: include/linux/integrity.h:integrity_inode_attrs_changed (getattr: cookie, else ctime)
last-writer: cookie-else-ctime  # fix-v2 patch on Linux v7.2.13: security/integrity/ima/ima_main.c:ima_check_last_writer (cookie, else ctime, else changed)
