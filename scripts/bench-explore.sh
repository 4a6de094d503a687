#!/bin/sh
# `imasim explore --depth 7` (profile 7.1, the default world): simulated
# operations per CPU-second and peak memory, against the targets of
# 3 M ops per CPU-second and 100 MB. CPU time, not wall time: the
# machine may be shared; the median of RUNS runs (3). Usage:
# scripts/bench-explore.sh [bin/imasim].
set -eu
bin=${1:-bin/imasim}
depth=${DEPTH:-7}
if [ ! -x /usr/bin/time ]; then
	echo "SKIP explore bench: /usr/bin/time not installed (Debian: time)"
	exit 0
fi
runs=${RUNS:-3}
out=$(mktemp)
trap 'rm -f "$out" "$out.time"' EXIT INT TERM
: >"$out.time"
i=0
while [ "$i" -lt "$runs" ]; do
	/usr/bin/time -a -o "$out.time" -f '%U %S %M' "$bin" explore --depth "$depth" --json >"$out"
	i=$((i + 1))
done
ops=$(grep -m1 '"operations"' "$out" | tr -dc '0-9')
# Medians of $runs runs (the search is deterministic: same ops each run).
cpu=$(awk '{print $1+$2}' "$out.time" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
lo=$(awk '{print $1+$2}' "$out.time" | sort -n | head -1)
hi=$(awk '{print $1+$2}' "$out.time" | sort -n | tail -1)
kb=$(awk '{print $3}' "$out.time" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
awk -v ops="$ops" -v d="$depth" -v cpu="$cpu" -v lo="$lo" -v hi="$hi" -v kb="$kb" -v n="$runs" 'BEGIN{
	mb = kb / 1024
	# The clock counts in 10 ms steps: a shallow search may take none.
	if (lo < 0.01) lo = 0.01
	if (hi < 0.01) hi = 0.01
	if (cpu < 0.01) cpu = 0.01
	printf "imasim explore --depth %d: %d ops in %.1f CPU-s (median of %d; %.2f-%.2f M ops/CPU-s): %.2f M ops/CPU-s (target >= 3; ratio %.2f); peak RSS %.0f MB (target <= 100; ratio %.2f)\n",
		d, ops, cpu, n, ops / hi / 1e6, ops / lo / 1e6, ops / cpu / 1e6, ops / cpu / 3e6, mb, mb / 100
}'
