#!/bin/sh
# Wall time of `imasim vm --kernel debian:7.2 matrix` (every built-in,
# one boot per policy group, NumCPU+1 boots at a time) against the
# issue's target of 45 s on an idle machine. A shared machine is never
# idle, so it also prints the load and the critical path from the run's
# own figures: the largest of three lower bounds on its wall time (the
# longest boot; all boots spread evenly over the same number of workers;
# the CPU it used over the cores). Boots stretch on a loaded machine, so
# these overstate an idle run.
# Usage: scripts/bench-matrix.sh [bin/imasim]. Skips without QEMU, swtpm
# or the cached Debian 7.2 kernel (make kernels).
set -eu
bin=${1:-bin/imasim}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/imasim/kernels
for t in qemu-system-x86_64 swtpm python3; do
	command -v "$t" >/dev/null 2>&1 || { echo "SKIP vm matrix bench: $t not installed"; exit 0; }
done
if ! ls -d "$cache"/7.2_*/root >/dev/null 2>&1; then
	echo "SKIP vm matrix bench: Debian 7.2 kernel not in $cache (make kernels)"
	exit 0
fi
out=$(mktemp)
trap 'rm -f "$out" "$out.time"' EXIT INT TERM
load0=$(cut -d' ' -f1 /proc/loadavg)
start=$(date +%s%N)
rc=0
if [ -x /usr/bin/time ]; then
	/usr/bin/time -o "$out.time" -f '%U %S' "$bin" vm --kernel debian:7.2 matrix --json >"$out" 2>/dev/null || rc=$?
else
	"$bin" vm --kernel debian:7.2 matrix --json >"$out" 2>/dev/null || rc=$?
fi
end=$(date +%s%N)
load1=$(cut -d' ' -f1 /proc/loadavg)
cpu=$(tail -n 1 "$out.time" 2>/dev/null | awk 'NF == 2 {printf "%.1f", $1+$2}')
[ -n "$cpu" ] || cpu="?"
python3 - "$out" "$(( (end - start) / 1000000 ))" "$load0" "$load1" "$cpu" "$rc" "$(nproc)" <<'EOF'
import json, sys
path, ms, load0, load1, cpu, rc, cores = sys.argv[1:]
wall, cores = int(ms) / 1000, int(cores)
runs = json.load(open(path))["runs"]
# The runs of one boot share its timing phases.
groups = {}
for r in runs:
    t = r.get("timing_s") or {}
    if "total" in t:
        groups.setdefault(tuple(sorted(t.items())), []).append(r["scenario"])
times = sorted((dict(k)["total"] for k in groups), reverse=True)
workers = cores + 1
longest = times[0] if times else 0.0
balanced = sum(times) / workers
cpu_bound = float(cpu) / cores if cpu != "?" else 0.0
bad = sum(1 for r in runs if r.get("error"))
print(f"vm --kernel debian:7.2 matrix: {wall:.1f} s wall (target <= 45 s idle; ratio {wall/45:.2f}), "
      f"load {load0} -> {load1}, exit {rc}, {len(runs)} scenarios in {len(groups)} boots, {bad} with errors")
crit = max(longest, balanced, cpu_bound)
print(f"  critical path {crit:.1f} s (ratio {crit/45:.2f}): the longest boot {longest:.1f} s; "
      f"the boots' {sum(times):.1f} s on {workers} workers, balanced: {balanced:.1f} s; "
      f"CPU {cpu} s (imasim, QEMU, swtpm) on {cores} cores: {cpu_bound:.1f} s")
EOF
