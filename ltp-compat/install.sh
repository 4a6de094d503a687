#!/bin/sh
# install.sh LTPROOT: install imasim's LTP tests into an LTP install so kirk
# (kirk -f imasim) and LTP's own tst_test.sh run them:
#   $LTPROOT/testcases/bin/imasim_*.sh     the shell tests (no shim: LTP's
#                                          library is used there)
#   $LTPROOT/testcases/bin/imasim          the imasim binary
#   $LTPROOT/runtest/imasim                the runtest file
#   $LTPROOT/testcases/data/imasim_model/golden/scenarios/*.json
#                                          the model goldens (imasim_model)
# The binary comes from $IMASIM, else bin/imasim of this source tree, else
# imasim on PATH. DESTDIR is honoured.
set -eu

usage() {
	echo "usage: $0 LTPROOT" >&2
	exit 2
}

[ $# -eq 1 ] || usage
ltproot=$1
[ -n "$ltproot" ] || usage
dest="${DESTDIR:-}$ltproot"

src=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$src/.." && pwd)

bin="${IMASIM:-}"
if [ -z "$bin" ]; then
	if [ -x "$top/bin/imasim" ]; then
		bin="$top/bin/imasim"
	else
		bin=$(command -v imasim || true)
	fi
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "install.sh: no imasim binary: build it (make build) or set IMASIM" >&2
	exit 1
fi

if [ ! -f "$dest/testcases/bin/tst_test.sh" ]; then
	echo "install.sh: warning: $dest/testcases/bin/tst_test.sh missing; is $ltproot an LTP install?" >&2
fi

install -d "$dest/testcases/bin" "$dest/runtest" "$dest/testcases/data/imasim_model/golden/scenarios"
for t in "$src"/imasim_*.sh; do
	install -m 0755 "$t" "$dest/testcases/bin/"
done
install -m 0755 "$bin" "$dest/testcases/bin/imasim"
install -m 0644 "$src/runtest/imasim" "$dest/runtest/imasim"
for g in "$top"/testdata/golden/scenarios/*.json; do
	[ -f "$g" ] || continue
	install -m 0644 "$g" "$dest/testcases/data/imasim_model/golden/scenarios/"
done
echo "installed imasim LTP tests into $dest (run: kirk -f imasim)"
