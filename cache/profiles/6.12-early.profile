# 6.12.44 to 6.12.103: the 6.12 era before IMA's truncate hooks (6.12.104). A truncate(2) by path
# opens no file, so nothing clears IMA's flags: the next exec of a truncated program is not
# re-evaluated. Seen on Debian's 6.12.101 (testdata/vm/debian-6.12.101). Below 6.12.44 ext4's
# remount still dropped SB_I_VERSION, below 6.12.24 violations were emitted on every open: those
# sublevels have no profile.
inherit: 6.12
name: 6.12-early
about: 6.12.44-6.12.103: as 6.12, but truncate(2) does not reset IMA's flags (no truncate hooks yet)
kernels: 6.12.44 .. 6.12.103
examples: Debian 6.12.100, 6.12.101 (bookworm-security)
evidence: kernel
truncate-resets: false        # Linux v6.12.101: security/integrity/ima/ima_main.c has no ima_path_truncate/ima_file_truncate (they came in 6.12.104); Debian 6.12.101 capture
