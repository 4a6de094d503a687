#!/bin/sh
# imasim_model: imasim's model still predicts what the project's golden
# files pin, for every scenario and profile (a model regression test).
#
# For each golden file <scenario>.json (imasim scenario <scenario> --json,
# all built-in profiles) and each profile it lists, run
#   imasim scenario <scenario> --profile <profile> --json
# and compare that profile's result (audit records, measurements, steps with
# hook, evaluated, verdict, cause) with the golden one: TPASS when unchanged,
# TFAIL when it differs, TCONF when imasim cannot run it here. One test
# number per golden file.
#
# Environment: IMASIM (the binary; default imasim on PATH), IMASIM_GOLDEN_DIR
# (default: LTP's data dir $LTPROOT/testcases/data/imasim_model/golden/
# scenarios when installed, else testdata/golden/scenarios of the source
# tree this script is in).
#
# Runs from an LTP install (LTPROOT: LTP's tst_test.sh) or standalone with
# the tst_test.sh shim next to this script.

TST_TESTFUNC=do_test
TST_SETUP=setup
TST_NEEDS_TMPDIR=1
TST_NEEDS_CMDS="grep sed tr"

script_dir=$(cd "$(dirname "$0")" && pwd)

# A relative IMASIM (IMASIM=bin/imasim) must survive the cd into the test's
# temporary directory.
case ${IMASIM:-} in
/* | '') ;;
*/*) IMASIM="$(pwd)/$IMASIM" ;;
esac

golden_dir="$IMASIM_GOLDEN_DIR"
if [ -z "$golden_dir" ]; then
	if [ -n "$LTPROOT" ] && [ -d "$LTPROOT/testcases/data/imasim_model/golden/scenarios" ]; then
		golden_dir="$LTPROOT/testcases/data/imasim_model/golden/scenarios"
	else
		golden_dir="$script_dir/../testdata/golden/scenarios"
	fi
fi

# One test number per golden file (at least one, which then reports TCONF).
goldens=
for f in "$golden_dir"/*.json; do
	[ -f "$f" ] && goldens="$goldens $f"
done
TST_CNT=$(echo $goldens | wc -w)
[ "$TST_CNT" -gt 0 ] || TST_CNT=1

setup()
{
	imasim="${IMASIM:-imasim}"
	if ! command -v "$imasim" >/dev/null 2>&1; then
		tst_brk TCONF "'$imasim' not found (set IMASIM or put imasim on PATH)"
	fi
	[ -n "$goldens" ] || tst_brk TCONF "no golden files in $golden_dir"
	tst_res TINFO "imasim: $(command -v "$imasim"), goldens: $golden_dir"
}

# squash: JSON without whitespace, so formatting does not matter. (Spaces
# inside strings go too; both sides lose them alike.)
squash()
{
	tr -d ' \t\r\n'
}

# profiles FILE: the profile names a golden file lists, in order.
profiles()
{
	squash < "$1" | grep -o '"profile":"[^"]*"' | sed 's/^"profile":"//; s/"$//'
}

# result_of JSON: the text of the single element of "results" in a
# one-profile document (results is the last member).
result_of()
{
	squash | sed -n 's/^.*"results":\[\(.*\)\]}$/\1/p'
}

do_test()
{
	local f scenario p out res rc n=0
	f=$(echo $goldens | cut -d' ' -f"$1")
	scenario=$(basename "$f" .json)

	for p in $(profiles "$f"); do
		n=$((n + 1))
		out=$("$imasim" scenario "$scenario" --profile "$p" --json 2>"$TST_TMPDIR/stderr")
		rc=$?
		case $rc in
		0|1) ;;
		32) tst_res TCONF "$scenario/$p: imasim cannot run it here"; continue;;
		*)
			tst_res TFAIL "$scenario/$p: imasim scenario exited $rc: $(head -c 300 "$TST_TMPDIR/stderr" | tr '\n' ' ')"
			continue;;
		esac
		# printf, not echo: dash's echo turns the JSON's \n escapes into newlines.
		res=$(printf '%s\n' "$out" | result_of)
		if [ -z "$res" ]; then
			tst_res TFAIL "$scenario/$p: no result in imasim's JSON output"
		elif squash < "$f" | grep -qF -- "$res"; then
			tst_res TPASS "$scenario/$p: model matches golden"
		else
			tst_res TFAIL "$scenario/$p: model differs from $f"
			tst_res TINFO "$scenario/$p: got $(printf '%s\n' "$res" | head -c 400)"
		fi
	done
	[ "$n" -gt 0 ] || tst_res TBROK "$f lists no profiles"
}

if [ -n "$LTPROOT" ] && [ -f "$LTPROOT/testcases/bin/tst_test.sh" ]; then
	PATH="$LTPROOT/testcases/bin:$PATH"
else
	PATH="$script_dir:$PATH"
fi
. tst_test.sh
tst_run
