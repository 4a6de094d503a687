# Debian 6.1.55 to 6.1.63 carried "ovl: Always reevaluate the file signature for IMA": overlayfs set
# SB_I_IMA_UNVERIFIABLE_SIGNATURE, so every access through an overlay was re-evaluated. 6.1.64
# replaced it with the (partial) stacked check of 6.1-stable.
inherit: 6.1-stable
name: 6.1-interim
about: 6.1.55-6.1.63: overlayfs marked unverifiable, every overlay access re-evaluated
kernels: 6.1.55 .. 6.1.63
examples: Debian 6.1.55 - 6.1.63
evidence: kernel              # testdata/vm/built-6.1-interim: linux-source-6.1 (6.1.176) with 6.1.64's two changes undone (imasim kernel build --patch 6.1-interim)
collect: query-file-inode     # Linux v6.1.55: security/integrity/ima/ima_api.c:ima_collect_measurement (inode_query_iversion(file_inode))
stacked: none                 # Linux v6.1.55: security/integrity/ima/ima_main.c:process_measurement (no stacked check yet)
overlay-unverifiable: true    # Linux v6.1.55: fs/overlayfs/super.c:ovl_fill_super sets SB_I_IMA_UNVERIFIABLE_SIGNATURE (changelog 6.1.55)
commit.overlay-unverifiable: 18b44bc5a672 ovl: Always reevaluate the file signature for IMA  # read: mainline 6.5-rc4 bisect log on linux-kernel ("good: [18b44bc5a67275641fb26f2c54ba7eef80ac5950]"); 6.1.55 backport in Debian changelog by subject
