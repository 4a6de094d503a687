# The ctime fallback posted in the seed thread (v2): use change_cookie, else ctime.
# Never merged; kept to review the patch against mainline.
inherit: 6.13
name: fix-v2
about: seed thread v2 (not merged): change_cookie, else ctime
kernels: 6.13 .. 7.0
examples: patch series v2 on 6.13
evidence: source
auto: false
collect: cookie-else-ctime         # patch v2: security/integrity/ima/ima_api.c:ima_collect_measurement
stacked: getattr                   # patch v2: include/linux/integrity.h:integrity_inode_attrs_changed via getattr
last-writer: cookie-else-ctime     # patch v2: security/integrity/ima/ima_main.c:ima_check_last_writer
