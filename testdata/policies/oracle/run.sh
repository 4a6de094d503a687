#!/bin/sh
# Asks a real kernel which rules of rules.txt its policy parser accepts:
# boots KERNEL under QEMU (TCG) with a busybox initramfs whose agent writes
# each rule to /sys/kernel/security/ima/policy with one write(2), then
# prints "N ok|fail" lines. Nothing is loaded (the agent ends with a bad
# rule, so the kernel drops the policy at close).
#
# With "match" it boots with ima_policy=tcb instead and reports which
# accesses on a fresh tmpfs (exec, root read) the built-in policy measured.
#
# With "custom" it loads custom-policy.txt and reports, for accesses as
# several users on a fresh tmpfs, what was measured (PCR, template) and
# audited.
#
# usage: run.sh KERNEL-IMAGE [match|custom] > linux-VERSION.txt
# needs: go, qemu-system-x86_64, busybox (static), cpio, gzip
set -eu
kernel=$1
mode=${2:-rules}
append="console=ttyS0 panic=-1 quiet"
if [ "$mode" = match ]; then
	append="$append ima_policy=tcb"
fi
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/bin" "$work/root/dev" "$work/root/proc" "$work/root/sys"
(cd "$here/agent" && CGO_ENABLED=0 GO111MODULE=off go build -o "$work/root/agent" main.go)
cp "$(command -v busybox)" "$work/root/bin/busybox"
cp "$here/rules.txt" "$work/root/rules.txt"
mknod "$work/root/dev/console" c 5 1
mknod "$work/root/dev/null" c 1 3
cat > "$work/root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
echo "ORACLE-KERNEL $(/bin/busybox uname -r)"
/agent $(/bin/busybox cat /mode)
/bin/busybox poweroff -f
INIT
chmod +x "$work/root/init"
case $mode in
match | custom) echo "$mode" > "$work/root/mode" ;;
*) : > "$work/root/mode" ;;
esac
cp "$here/custom-policy.txt" "$work/root/policy.txt"
mknod "$work/root/dev/kmsg" c 1 11
(cd "$work/root" && find . | cpio -o -H newc --quiet | gzip -1 > "$work/initrd.gz")
timeout 300 qemu-system-x86_64 -accel tcg -m 512 -kernel "$kernel" -initrd "$work/initrd.gz" \
	-append "$append" -nodefaults -display none -serial stdio -no-reboot \
	> "$work/out.txt" 2>&1 || true
if ! grep -q '^ORACLE-END' "$work/out.txt"; then
	echo "run.sh: the guest did not finish; its console said:" >&2
	tail -20 "$work/out.txt" >&2
	exit 1
fi
ver=$(sed -n 's/^ORACLE-KERNEL //p' "$work/out.txt" | tr -d '\r')
if [ "$mode" = custom ]; then
	echo "# $ver under QEMU (TCG) with custom-policy.txt: path, measured (pcr, template), audited"
	sed -n 's/^ORACLE-ACCESS //p' "$work/out.txt" | tr -d '\r'
	exit 0
fi
if [ "$mode" = match ]; then
	echo "# $ver under QEMU (TCG) with ima_policy=tcb: statfs magics, then measured or not"
	sed -n 's/^ORACLE-\(FS\|MEASURED\) /\1 /p' "$work/out.txt" | tr -d '\r'
	exit 0
fi
echo "# $ver under QEMU (TCG), rules.txt line -> ok|fail of its write(2) to ima/policy"
sed -n 's/^ORACLE \([0-9]\)/\1/p' "$work/out.txt" | tr -d '\r'
