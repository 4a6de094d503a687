#!/bin/sh
# Compare measurement list replay with evmctl ima_measurement on the same
# 200,000-entry ima-ng list (sha1 + sha256 banks): times, peak memory, ratio.
# Usage: measure/bench.sh   (from the repository root; the lead's `make bench`
# can call it). Needs evmctl (Debian: ima-evm-utils); /usr/bin/time (Debian:
# time) for evmctl's peak memory.
set -eu
cd "$(dirname "$0")/.."
if ! command -v evmctl >/dev/null 2>&1; then
	echo "SKIP measure/bench.sh: evmctl not installed (apt-get install ima-evm-utils)"
	exit 0
fi
IMASIM_BENCH=1 ${GO:-go} test -count=1 -run '^TestEvmctlBench$' -v ./measure/ |
	grep -v -e '^=== RUN' -e '^--- PASS' -e '^PASS' -e '^ok'
${GO:-go} test -run '^$' -bench 'Replay200k|Read200k' -benchmem ./measure/ | grep '^Benchmark'
# Two cores against one (issue 25: >= 1.6x): the same replay at -cpu 1 and
# 2, alternating, median of 5 each (wall time: a busy machine lowers it).
${GO:-go} test -run '^$' -bench 'Replay200kVerify$' -benchtime 5x -count 5 -cpu 1,2 ./measure/ |
	awk '/^BenchmarkReplay200kVerify/ { cpu = ($1 ~ /-2$/) ? 2 : 1; v[cpu] = v[cpu] " " $3 }
	function med(s,   a, n, i, j, t) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }; return a[int((n + 1) / 2)] }
	END { one = med(v[1]); two = med(v[2]); printf "list replay 200k ima-ng, sha1+sha256, verify: GOMAXPROCS=1 %.3f s, 2 cores %.3f s: %.2fx faster with 2 cores (target >= 1.6)\n", one / 1e9, two / 1e9, one / two }'
