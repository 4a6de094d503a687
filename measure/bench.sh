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
