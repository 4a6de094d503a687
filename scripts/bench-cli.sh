#!/bin/sh
# Whole-process timing of `imasim scenario xfs-overlay` (all built-in profiles).
# Target from the Core issue: well under 50 ms.
set -eu
bin=${1:-bin/imasim}
n=${N:-20}
"$bin" scenario xfs-overlay >/dev/null
start=$(date +%s%N)
i=0
while [ "$i" -lt "$n" ]; do
	"$bin" scenario xfs-overlay >/dev/null
	i=$((i + 1))
done
end=$(date +%s%N)
ms=$(( (end - start) / n / 1000000 ))
echo "imasim scenario xfs-overlay, all profiles, whole process: ${ms} ms/run (target < 50 ms; ratio $(awk "BEGIN{printf \"%.2f\", $ms/50}") of target)"
