#!/bin/bash
# Boot a kernel under QEMU (TCG is fine) with swtpm and the capture /init,
# and store the kernel's measurement lists and TPM PCRs in OUTDIR.
# Usage: capture.sh VMLINUZ OUTDIR [extra kernel args...]
# Needs: go, qemu-system-x86_64, swtpm, swtpm_setup, cpio. Run as root.
set -euo pipefail
kernel=$1 out=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'kill $swtpm_pid 2>/dev/null || true; rm -rf "$work"' EXIT

mkdir -p "$work/root" "$work/tpm" "$out"
(cd "$here" && CGO_ENABLED=0 go build -o "$work/root/init" .)
(cd "$work/root" && echo init | cpio -o -H newc --quiet >"$work/initrd")

swtpm_setup --tpm2 --tpmstate "$work/tpm" --pcr-banks sha1,sha256,sha384,sha512 >/dev/null
swtpm socket --tpm2 --tpmstate dir="$work/tpm" --ctrl type=unixio,path="$work/tpm/sock" \
	--flags startup-clear &
swtpm_pid=$!
for _ in $(seq 50); do [ -S "$work/tpm/sock" ] && break; sleep 0.1; done

timeout 600 qemu-system-x86_64 -machine q35 -m 768 -smp 1 -nographic -no-reboot \
	-kernel "$kernel" -initrd "$work/initrd" \
	-append "console=ttyS0 panic=-1 quiet cryptomgr.notests ima_policy=critical_data $*" \
	-chardev socket,id=chrtpm,path="$work/tpm/sock" \
	-tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0 \
	</dev/null >"$work/console" 2>&1 || true

# Keep the console for the record, without the base64 payloads.
awk '/^=====BEGIN /{skip=1} !skip{print} /^=====END /{skip=0}' "$work/console" |
	sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' -e 's/\r//g' >"$out/console.txt"
# Split the console into files: =====BEGIN name===== base64 =====END name=====
awk -v dir="$out" '
	/^=====BEGIN / { name = $0; sub(/^=====BEGIN /, "", name); sub(/=====\r?$/, "", name); f = dir "/" name ".b64"; printf "" > f; next }
	/^=====END / { close(f); f = ""; next }
	f != "" { sub(/\r$/, ""); print >> f }
' "$work/console"
for b in "$out"/*.b64; do base64 -d "$b" >"${b%.b64}" && rm "$b"; done
grep '^capture:' "$work/console" || true
ls "$out"
