#!/bin/sh
# The kirk-json writer against the LTP writer (issue 25: same order of time
# and memory) on a 1000-case report: BenchmarkWrite, 5 runs each, alternating;
# time is the best run (the least disturbed on a shared machine).
set -eu
cd "$(dirname "$0")/.."
${GO:-go} test -run '^$' -bench 'Write/(ltp|kirk-json)$' -benchmem -count 5 ./ltp-compat/ |
	awk '/^BenchmarkWrite\// { f = ($1 ~ /kirk/) ? "kirk" : "ltp"; t[f] = t[f] " " $3; m[f] = m[f] " " $5 }
	function med(s,   a, n, i, j, x) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { x = a[i]; a[i] = a[j]; a[j] = x }; return a[int((n + 1) / 2)] }
	function least(s,   a, n, i, x) { n = split(s, a, " "); x = a[1]; for (i = 2; i <= n; i++) if (a[i] + 0 < x + 0) x = a[i]; return x }
	END { kt = least(t["kirk"]); lt = least(t["ltp"]); km = med(m["kirk"]); lm = med(m["ltp"])
		printf "kirk-json writer, 1000 cases: %.1f ms, %.2f MB allocated; LTP writer %.1f ms, %.2f MB: ratio time %.1fx, memory %.1fx (target: same order; best of 5)\n", kt / 1e6, km / 1e6, lt / 1e6, lm / 1e6, kt / lt, km / lm }'
