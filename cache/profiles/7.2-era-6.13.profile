# Debian's linux-source-7.2 (7.2.13) built with imasim's era-6.13 patch (imasim kernel build
# --source debian:7.2 --patch era-6.13): the 7.1 IMA change reverted, so IMA detects changes
# as 6.13-7.0 did, on 7.2's VFS and filesystems. Differs from 6.13 only in what 7.1 carries
# besides that change: tmpfs keeps SB_I_VERSION on remount, IMA's truncate hooks.
inherit: 7.1
name: 7.2-era-6.13
about: built: 7.2.13 with era-6.13 (6.13-7.0 IMA change detection on 7.2's VFS)
kernels: 7.2.13 .. 7.2.13
examples: imasim kernel build --source debian:7.2 --patch era-6.13
auto: false
collect: cookie               # era-6.13 patch on Linux v7.2.13: security/integrity/ima/ima_api.c:ima_collect_measurement (cookie only, 0 without)
last-writer: cookie           # era-6.13 patch on Linux v7.2.13: security/integrity/ima/ima_main.c:ima_check_last_writer (no cookie -> changed)
