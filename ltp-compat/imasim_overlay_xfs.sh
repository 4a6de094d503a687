#!/bin/sh
# imasim_overlay_xfs: IMA must audit a program on an overlay with an XFS
# lower layer once, however often it runs unchanged.
#
# The regression (Linux 6.13..7.0, XFS multigrain timestamps): XFS getattr
# gives no STATX_CHANGE_COOKIE, so IMA caches i_version 0 for the overlay
# file; process_measurement's stacked-filesystem check then compares the real
# inode's i_version with 0 on every exec, finds it "changed", clears the
# cached result and audits again. Expected: one INTEGRITY_RULE (type 1805)
# audit record for N=3 executions as uid 65534.
#
# Setup: an XFS image on a loop device as lower layer, tmpfs as upper,
# policy "measure/audit func=BPRM_CHECK uid=65534" (written only with
# LTP_IMA_LOAD_POLICY=1), a program copied to the lower layer and run
# through the overlay with setpriv (or su) as nobody. Records are counted
# in the audit log when auditd runs, else in the kernel log with
# kernel.printk_ratelimit=0, with up to 3 one-second retries.
#
# Environment (besides LTP's): IMA_SECURITYFS (IMA's securityfs directory,
# default /sys/kernel/security/ima), IMASIM_AUDIT_LOG (a file to count
# records in instead of audit.log/dmesg), IMASIM_PROG (program to copy,
# default true(1)), IMASIM_EXECS (how many executions, default 3).
#
# Runs from an LTP install (LTPROOT: LTP's tst_test.sh) or standalone with
# the tst_test.sh shim next to this script.

TST_TESTFUNC=do_test
TST_SETUP=setup
TST_CLEANUP=cleanup
TST_NEEDS_ROOT=1
TST_NEEDS_TMPDIR=1
TST_NEEDS_CMDS="mount umount losetup mkfs.xfs truncate grep cp"
TST_CNT=1

POLICY_AUDIT="audit func=BPRM_CHECK uid=65534"
POLICY_MEASURE="measure func=BPRM_CHECK uid=65534"

ima_dir=
securityfs_mounted=
lower_dev=
mounted=
old_ratelimit=

have_policy_rule()
{
	# The kernel prints rules back with the same keywords (and maybe more).
	grep -Eq "^audit .*func=BPRM_CHECK.*uid=65534( |$)" "$ima_dir/policy" 2>/dev/null
}

policy_writable()
{
	# securityfs drops the owner write bit (or the file) once a policy is
	# loaded without CONFIG_IMA_WRITE_POLICY; root's [ -w ] ignores mode bits.
	[ -e "$ima_dir/policy" ] && [ -n "$(find "$ima_dir/policy" -prune -perm -u=w 2>/dev/null)" ]
}

setup_policy()
{
	if [ -r "$ima_dir/policy" ] && have_policy_rule; then
		tst_res TINFO "IMA policy has '$POLICY_AUDIT'"
		return
	fi
	if [ "$LTP_IMA_LOAD_POLICY" != 1 ]; then
		tst_brk TCONF "missing required policy, example policy can be loaded with LTP_IMA_LOAD_POLICY=1"
	fi
	if ! policy_writable; then
		tst_brk TCONF "IMA policy already loaded and kernel not configured to enable multiple writes to it (need CONFIG_IMA_WRITE_POLICY=y)"
	fi
	tst_res TINFO "loading IMA policy: '$POLICY_MEASURE', '$POLICY_AUDIT'"
	printf '%s\n%s\n' "$POLICY_MEASURE" "$POLICY_AUDIT" > "$ima_dir/policy" ||
		tst_brk TBROK "writing IMA policy to $ima_dir/policy failed"
}

setup_log()
{
	if [ -n "$IMASIM_AUDIT_LOG" ]; then
		log_file="$IMASIM_AUDIT_LOG"
	elif [ -f /var/log/audit/audit.log ] && pgrep -x auditd >/dev/null 2>&1; then
		log_file=/var/log/audit/audit.log
	elif command -v dmesg >/dev/null 2>&1; then
		log_file=dmesg
		old_ratelimit=$(cat /proc/sys/kernel/printk_ratelimit 2>/dev/null)
		if [ -n "$old_ratelimit" ]; then
			echo 0 > /proc/sys/kernel/printk_ratelimit ||
				tst_brk TBROK "cannot set kernel.printk_ratelimit=0"
		fi
	else
		tst_brk TCONF "log file not found, install auditd"
	fi
	tst_res TINFO "counting INTEGRITY_RULE records in $log_file"
}

setup()
{
	ima_dir="${IMA_SECURITYFS:-/sys/kernel/security/ima}"
	if [ -z "$IMA_SECURITYFS" ] && [ ! -d "$ima_dir" ] && [ -d /sys/kernel/security ] &&
	   ! grep -q ' /sys/kernel/security securityfs ' /proc/mounts; then
		mount -t securityfs securityfs /sys/kernel/security 2>/dev/null &&
			securityfs_mounted=1
	fi
	[ -d "$ima_dir" ] || tst_brk TCONF "IMA not enabled in kernel"

	grep -qw xfs /proc/filesystems || modprobe xfs 2>/dev/null
	grep -qw xfs /proc/filesystems || tst_brk TCONF "Cannot mount xfs type, missing driver?"
	grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null
	grep -qw overlay /proc/filesystems || tst_brk TCONF "Cannot mount overlay type, missing driver?"

	# util-linux setpriv, else su (busybox's setpriv cannot change uids).
	if setpriv --reuid=0 --regid=0 --clear-groups -- true 2>/dev/null; then
		run_as_nobody="setpriv --reuid=65534 --regid=65534 --clear-groups --"
	elif command -v su >/dev/null 2>&1; then
		run_as_nobody="su_nobody"
	else
		tst_brk TCONF "'setpriv' not found"
	fi

	setup_policy
	setup_log

	mkdir lower t ovl || tst_brk TBROK "mkdir in $PWD failed"
	ROD truncate -s 320M xfs.img
	ROD_SILENT mkfs.xfs -f -q xfs.img
	# util-linux has --show; busybox's losetup needs two steps.
	lower_dev=$(losetup -f --show xfs.img 2>/dev/null) ||
		{ lower_dev=$(losetup -f) && losetup "$lower_dev" xfs.img; } ||
		{ lower_dev=; tst_brk TBROK "losetup -f xfs.img failed"; }
	mount -t xfs "$lower_dev" lower || tst_brk TBROK "mounting $lower_dev (xfs) failed"
	mounted="lower"
	ROD mount -t tmpfs tmpfs t
	mounted="t $mounted"
	mkdir t/upper t/work || tst_brk TBROK "mkdir t/upper t/work failed"
	# true(1) as a file: "command -v true" names the shell's builtin in dash
	# and busybox sh, and busybox's /bin/true is a link to busybox itself.
	prog_src="$IMASIM_PROG"
	if [ -z "$prog_src" ]; then
		for c in /usr/bin/true /bin/true; do
			if [ -x "$c" ] && [ ! -L "$c" ]; then
				prog_src=$c
				break
			fi
		done
		[ -n "$prog_src" ] || tst_brk TCONF "no true(1) program file (set IMASIM_PROG)"
	fi
	ROD cp "$prog_src" lower/imasim_prog
	ROD chmod 755 lower/imasim_prog
	mount -t overlay overlay -o "lowerdir=$PWD/lower,upperdir=$PWD/t/upper,workdir=$PWD/t/work" ovl ||
		tst_brk TCONF "Cannot mount overlay type, missing driver?"
	mounted="ovl $mounted"
	prog="$PWD/ovl/imasim_prog"
	tst_res TINFO "lower: xfs on $lower_dev, upper: tmpfs, program: $prog"
}

cleanup()
{
	local m
	for m in $mounted; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null ||
			tst_res TWARN "umount $m failed"
	done
	mounted=
	if [ -n "$lower_dev" ]; then
		losetup -d "$lower_dev" 2>/dev/null || tst_res TWARN "losetup -d $lower_dev failed"
		lower_dev=
	fi
	if [ -n "$old_ratelimit" ]; then
		echo "$old_ratelimit" > /proc/sys/kernel/printk_ratelimit
	fi
	if [ "$securityfs_mounted" = 1 ]; then
		umount /sys/kernel/security 2>/dev/null
	fi
}

su_nobody()
{
	su nobody -s /bin/sh -c "$1"
}

# count_records: INTEGRITY_RULE (audit type 1805) records naming $prog.
count_records()
{
	local text
	if [ "$log_file" = dmesg ]; then
		text=$(dmesg)
	else
		text=$(cat "$log_file" 2>/dev/null)
	fi
	printf '%s\n' "$text" | grep -E 'type=(1805|INTEGRITY_RULE)' | grep -cF "file=\"$prog\""
}

do_test()
{
	local i n=${IMASIM_EXECS:-3} count try=0 measured=0

	for i in $(seq "$n"); do
		$run_as_nobody "$prog" || tst_brk TBROK "executing $prog as uid 65534 failed (run $i)"
	done

	# Records may come late: up to 3 one-second retries while none is seen.
	sleep 1
	count=$(count_records)
	while [ "$count" -eq 0 ] && [ $try -lt 3 ]; do
		sleep 1
		try=$((try + 1))
		count=$(count_records)
	done
	if [ -r "$ima_dir/ascii_runtime_measurements" ]; then
		measured=$(grep -cF " $prog" "$ima_dir/ascii_runtime_measurements")
		tst_res TINFO "$measured measurement entries for $prog"
	fi

	if [ "$count" -eq 1 ]; then
		tst_res TPASS "1 INTEGRITY_RULE record for $n executions of an unchanged program on overlay over xfs"
	else
		tst_res TFAIL "$count INTEGRITY_RULE records for $n executions of an unchanged program on overlay over xfs, expected 1"
	fi
}

if [ -n "$LTPROOT" ] && [ -f "$LTPROOT/testcases/bin/tst_test.sh" ]; then
	PATH="$LTPROOT/testcases/bin:$PATH"
else
	PATH="$(cd "$(dirname "$0")" && pwd):$PATH"
fi
. tst_test.sh
tst_run
