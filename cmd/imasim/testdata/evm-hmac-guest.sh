#!/bin/sh
# Runs in a guest (imasim vm run): imasim's EVM HMACs against the kernel's
# (TestEVMHMACKernel).
# $1 is the keyctl payload that loads /evm/evm-key as the encrypted key
# evm-key under the user key kmk (/evm/master); $2 a UUID for the
# filesystem, given to imasim where the kernel has no FS_IOC_GETFSUUID
# (before 6.5).
set -u
rc=0
res() { echo "== result $1 $2"; [ "$2" = ok ] || rc=1; }
expect_ok() { name=$1; shift; if "$@"; then res "$name" ok; else res "$name" FAIL; fi; }
expect_fail() { name=$1; shift; if "$@"; then res "$name" FAIL; else res "$name" ok; fi; }
ima() { setfattr -n security.ima -v "0x0404$(sha256sum "$1" | cut -c1-64)" "$1"; }

dd if=/dev/zero of=/tmp/evm.img bs=1M count=32 2>/dev/null
dev=$(losetup -f --show /tmp/evm.img) || { echo "no loop device"; exit 32; }
mkfs.ext4 -q -F -U "$2" "$dev" || exit 32
mkdir -p /mnt/evm && mount "$dev" /mnt/evm || exit 32
cd /mnt/evm || exit 32
for f in a b c d; do echo "file $f" > $f; ima $f || exit 32; done
evm=/sys/kernel/security/evm
[ -e $evm ] || evm=/sys/kernel/security/integrity/evm/evm

# Before EVM has its key, with EVM_ALLOW_METADATA_WRITES (4): only then
# may user space write HMACs (evm_inode_setxattr); imasim writes them.
echo 4 > $evm || { res allow-metadata-writes FAIL; exit 1; }
u=auto
if ! /imasim attest sign a --evm-key /evm/evm-key 2>/tmp/sign.err; then
	cat /tmp/sign.err
	grep -q FS_IOC_GETFSUUID /tmp/sign.err || exit 1
	echo "no FS_IOC_GETFSUUID here: --fsuuid $2"
	u=$2
	/imasim attest sign a --evm-key /evm/evm-key --fsuuid "$u" || rc=1
fi
/imasim attest sign b --evm-key /evm/wrong-key --fsuuid "$u" || rc=1
/imasim attest sign c --evm-key /evm/evm-key --fsuuid none || rc=1
/imasim attest sign d --evm-key /evm/evm-key --fsuuid "$u" || rc=1

keyctl padd user kmk @u < /evm/master >/dev/null || { echo "keyctl user"; exit 32; }
keyctl add encrypted evm-key "$1" @u >/dev/null || { res load-encrypted-key FAIL; exit 1; }
res load-encrypted-key ok
echo 1 > $evm || { res evm-init FAIL; exit 1; }
echo "evm: $(cat $evm)"
dmesg | grep -i "evm" | tail -2

# The kernel checks the HMAC before a chmod (evm_inode_setattr) and before
# a protected xattr changes (evm_protect_xattr): imasim's with the right
# key passes, the others are refused.
expect_ok kernel-accepts-imasim-hmac-chmod chmod 700 a
# shellcheck disable=SC2317 # called through expect_ok
rewrite_d() { echo "more" >> d && ima d; }
expect_ok kernel-accepts-imasim-hmac-setxattr rewrite_d
expect_fail kernel-refuses-wrong-key chmod 700 b
expect_fail kernel-refuses-wrong-key-setxattr setfattr -n security.ima -v 0x04040000000000000000000000000000000000000000000000000000000000000000 b
expect_fail kernel-refuses-hmac-without-uuid chmod 700 c

# The kernel rewrote a's HMAC after the chmod and d's after the new
# security.ima (imasim's no longer match either): imasim verifies both.
for f in a d; do
	getfattr -d -m security -e hex $f
	expect_ok imasim-verifies-kernel-hmac-$f /imasim attest xattrs $f --evm-key /evm/evm-key --fsuuid "$u"
	expect_fail imasim-refuses-wrong-key-$f /imasim attest xattrs $f --evm-key /evm/wrong-key --fsuuid "$u"
	expect_fail imasim-refuses-without-uuid-$f /imasim attest xattrs $f --evm-key /evm/evm-key --fsuuid none
done
cd / && umount /mnt/evm && losetup -d "$dev"
exit $rc
