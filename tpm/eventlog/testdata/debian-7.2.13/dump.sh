#!/bin/sh
# dump the guest's TPM event log and IMA list, base64
for f in /sys/kernel/security/tpm0/binary_bios_measurements /sys/kernel/security/ima/binary_runtime_measurements /sys/kernel/security/ima/ascii_runtime_measurements; do
  echo "== $f"
  if [ -r "$f" ]; then base64 "$f"; else echo "missing"; ls /sys/kernel/security/ /sys/kernel/security/tpm0 2>&1; fi
done
