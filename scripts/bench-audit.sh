#!/bin/sh
# `imasim audit` speed and memory on generated logs (issue 25), CPU time
# (user+sys) and peak memory from /usr/bin/time, median of $RUNS runs:
#   --summary MB/s per CPU-second and its CPU against `grep -c type=1805`
#   (targets: >= 1000 MB/s, <= 3x grep; the INTEGRITY_RULE counts must agree),
#   peak memory per distinct path (target <= 100 B) and with repeating
#   paths (target <= 64 MB), text output MB/s per CPU-second (>= 300).
# The logs (AUDIT_MB MiB each, default 480: about 1.3 M records, the size
# issue 25 measured) are made in a temp dir and removed.
set -eu
bin=${1:-bin/imasim}
mb=${AUDIT_MB:-480}
runs=${RUNS:-3}
if [ ! -x /usr/bin/time ]; then
	echo "SKIP scripts/bench-audit.sh: /usr/bin/time not installed (apt-get install time)"
	exit 0
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT INT TERM
${GO:-go} run ./scripts/auditgen -mb "$mb" -distinct >"$dir/distinct" 2>"$dir/distinct.n"
${GO:-go} run ./scripts/auditgen -mb "$mb" >"$dir/repeat" 2>"$dir/repeat.n"
bytes=$(wc -c <"$dir/distinct")
# Write the new logs out first: the kernel flushing a gigabyte of dirty
# pages would otherwise run on the same cores as the first measurements.
sync

# measure NAME CMD...: runs CMD $runs times; sets the medians cpu (user+sys,
# s), sys (s), peak (KiB) and faults (minor page faults).
measure() {
	name=$1
	shift
	: >"$dir/$name.t"
	i=0
	while [ "$i" -lt "$runs" ]; do
		/usr/bin/time -f '%U %S %M %R' -a -o "$dir/$name.t" "$@" >"$dir/$name.out"
		i=$((i + 1))
	done
	cpu=$(median '$1+$2' "$dir/$name.t")
	sys=$(median '$2' "$dir/$name.t")
	peak=$(median '$3' "$dir/$name.t")
	faults=$(median '$4' "$dir/$name.t")
}
# median EXPR FILE: the median of the awk expression over FILE's lines.
median() { awk "{print $1}" "$2" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
rate() { awk -v b="$bytes" -v s="$1" 'BEGIN{ if (s < 0.01) s = 0.01; printf "%.0f", b/1e6/s }'; }
rules() { sed -n 's/.*INTEGRITY_RULE \([0-9]*\).*/\1/p' "$1" | head -1; }
files() { sed -n 's/.*records per file: \([0-9]*\) files.*/\1/p' "$1"; }

measure grep grep -c type=1805 "$dir/distinct"
gcpu=$cpu
gcount=$(cat "$dir/grep.out")
measure sum "$bin" audit --summary "$dir/distinct"
scount=$(rules "$dir/sum.out")
same="same counts"
[ "$scount" = "$gcount" ] && [ "$scount" = "$(cat "$dir/distinct.n")" ] || same="COUNTS DIFFER (imasim $scount, grep $gcount)"
echo "imasim audit --summary, ${mb} MiB dmesg, $gcount records: $(rate "$cpu") MB/s per CPU-second (target >= 1000), CPU ${cpu} s vs grep -c type=1805 ${gcpu} s: ratio $(awk -v a="$cpu" -v b="$gcpu" 'BEGIN{ if (b < 0.01) b = 0.01; printf "%.1f", a/b}') (target <= 3; grep's CPU is near the clock's 10 ms grain), $same"
# The same per-file counts from a shell pipeline, for scale (one run):
# grep -c only counts the records, --summary also counts and sorts paths.
pcpu=$( { /usr/bin/time -f '%U %S' sh -c "grep -o 'file=\"[^\"]*\"' '$dir/distinct' | LC_ALL=C sort | uniq -c >'$dir/pipe.out'"; } 2>&1 | awk '{print $1+$2}')
echo "per-file counts, every path distinct: imasim audit --summary ${cpu} CPU-s, grep -o 'file=...' | sort | uniq -c ${pcpu} CPU-s: $(awk -v a="$pcpu" -v b="$cpu" 'BEGIN{ if (b < 0.01) b = 0.01; printf "%.1f", a/b}')x less CPU, $(files "$dir/sum.out") files, $( [ "$(files "$dir/sum.out")" = "$(wc -l <"$dir/pipe.out" | tr -d ' ')" ] && echo same || echo "PIPELINE DIFFERS: $(wc -l <"$dir/pipe.out")")"
scpu=$cpu
ssys=$sys
sfaults=$faults
measure sumrep "$bin" audit --summary "$dir/repeat"
rcpu=$cpu
rsys=$sys
measure greprep grep -c type=1805 "$dir/repeat"
echo "imasim audit --summary, paths repeating: $(rate "$rcpu") MB/s per CPU-second, CPU ${rcpu} s vs grep ${cpu} s: ratio $(awk -v a="$rcpu" -v b="$cpu" 'BEGIN{ if (b < 0.01) b = 0.01; printf "%.1f", a/b}')"
# Where the every-path-distinct CPU goes: the scan costs what it costs on
# the repeating log (same size and records), writing the listing what cat
# takes to write it; the rest counts, sorts and formats the distinct paths.
measure cat cat "$dir/sum.out"
csys=$sys
awk -v s="$scpu" -v r="$rcpu" -v c="$cpu" -v g="$gcpu" -v mb="$(wc -c <"$dir/sum.out")" -v n="$(files "$dir/sum.out")" 'BEGIN{
	if (g < 0.01) g = 0.01
	printf "  every path distinct, %.1fx grep: the scan (as with paths repeating) %.2f s = %.1fx, writing the %.0f MB listing (cat) %.2f s = %.1fx, counting, sorting and formatting %d paths %.2f s = %.1fx\n",
		s/g, r, r/g, mb/1e6, c, c/g, n, s-r-c, (s-r-c)/g }'
# Of the last part, the kernel's time (beyond what the scan and writing
# take there) is mostly zeroing and mapping the pages that hold the
# distinct paths, the table and the sort keys (about 90 B a path; the
# path bytes alone are 2/3 of it). The scan, the writing and this kernel
# time are a floor for the ratio on this machine, before any user-space
# counting, sorting or formatting.
awk -v ss="$ssys" -v rs="$rsys" -v cs="$csys" -v f="$sfaults" -v r="$rcpu" -v c="$cpu" -v g="$gcpu" 'BEGIN{
	if (g < 0.01) g = 0.01
	k = ss - rs - cs
	if (k < 0) k = 0
	printf "  of which kernel time for the memory of the distinct paths %.2f s = %.1fx (%d page faults in all); the scan, the writing and that, before counting in user space: %.1fx grep\n",
		k, k/g, f, (r+c+k)/g }'
measure sum "$bin" audit --summary "$dir/distinct"
distinct=$(files "$dir/sum.out")
echo "imasim audit --summary memory, $distinct distinct paths: peak $((peak / 1024)) MiB = $(awk -v k="$peak" -v n="$distinct" 'BEGIN{printf "%.0f", k*1024/n}') B per distinct path (target <= 100)"
measure rep "$bin" audit "$dir/repeat"
echo "imasim audit memory, paths repeating ($(cat "$dir/repeat.n") records, 500 paths): peak $((peak / 1024)) MiB (target <= 64)"
measure text "$bin" audit "$dir/distinct"
echo "imasim audit text output, every path distinct: $(rate "$cpu") MB/s per CPU-second (target >= 300), peak $((peak / 1024)) MiB = $(awk -v k="$peak" -v n="$distinct" 'BEGIN{printf "%.0f", k*1024/n}') B per distinct path"
measure textrep "$bin" audit "$dir/repeat"
echo "imasim audit text output, paths repeating: $(rate "$cpu") MB/s per CPU-second (target >= 300)"
