#!/bin/sh
# `imasim explore --depth 7` (profile 7.1, the default world): simulated
# operations per CPU-second and peak memory, against the targets of
# 3 M ops per CPU-second and 100 MB. CPU time, not wall time: the
# machine may be shared. Usage: scripts/bench-explore.sh [bin/imasim].
set -eu
bin=${1:-bin/imasim}
depth=${DEPTH:-7}
if [ ! -x /usr/bin/time ]; then
	echo "SKIP explore bench: /usr/bin/time not installed (Debian: time)"
	exit 0
fi
out=$(mktemp)
trap 'rm -f "$out" "$out.time"' EXIT INT TERM
/usr/bin/time -o "$out.time" -f '%U %S %M' "$bin" explore --depth "$depth" --json >"$out"
ops=$(grep -m1 '"operations"' "$out" | tr -dc '0-9')
tail -n 1 "$out.time" | awk -v ops="$ops" -v d="$depth" '{
	cpu = $1 + $2; mb = $3 / 1024
	printf "imasim explore --depth %d: %d ops in %.1f CPU-s: %.2f M ops/CPU-s (target >= 3; ratio %.2f); peak RSS %.0f MB (target <= 100; ratio %.2f)\n",
		d, ops, cpu, ops / cpu / 1e6, ops / cpu / 3e6, mb, mb / 100
}'
