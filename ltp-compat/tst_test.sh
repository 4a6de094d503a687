#!/bin/sh
# imasim's stand-in for LTP's shell test library (old shell API), so the
# imasim_*.sh tests run without an LTP install. Written for imasim from the
# documented behaviour of LTP's testcases/lib/tst_test.sh; it shares no code
# with it. Inside an LTP install (LTPROOT set) the tests source LTP's own
# library instead; install.sh does not install this file.
#
# What it provides, with LTP's names and output:
#   tst_res TYPE MSG...   print "<TST_ID> <N> <TYPE>: MSG" on stderr and count
#   tst_brk TYPE MSG...   the same, then clean up and exit
#   tst_run               check requirements, TST_SETUP, TST_TESTFUNC x TST_CNT,
#                         TST_CLEANUP, Summary block on stderr, exit code
#   ROD, ROD_SILENT, EXPECT_PASS, EXPECT_FAIL, tst_require_root,
#   tst_require_cmds, tst_check_cmds, tst_cmd_available, tst_is_int
# Variables read: TST_TESTFUNC TST_CNT TST_SETUP TST_CLEANUP TST_NEEDS_ROOT
#   TST_NEEDS_CMDS TST_NEEDS_TMPDIR TST_NEEDS_KCONFIGS TST_NEEDS_KCONFIGS_IFS
#   TST_MIN_KVER TST_TIMEOUT, and from the environment TMPDIR LTP_TIMEOUT_MUL
#   LTP_COLORIZE_OUTPUT KCONFIG_PATH.
# Exit code: TFAIL 1 | TBROK 2 | TWARN 4 | TCONF 32 (only if nothing passed).

[ -n "$TST_LIB_LOADED" ] && return 0
TST_LIB_LOADED=1

TST_PASS=0
TST_FAIL=0
TST_BROK=0
TST_WARN=0
TST_CONF=0
TST_COUNT=1

if [ -z "$TST_ID" ]; then
	TST_ID=$(basename "$0")
	TST_ID=${TST_ID%%.*}
fi

# shim_color TYPE: the ANSI colour LTP uses for TYPE, when colours are on.
shim_color()
{
	case "$LTP_COLORIZE_OUTPUT" in
	y|Y|1) ;;
	*) return 0;;
	esac
	case "$1" in
	TPASS) printf '\033[1;32m';;
	TFAIL|TBROK) printf '\033[1;31m';;
	TCONF) printf '\033[1;33m';;
	TWARN) printf '\033[1;35m';;
	TINFO) printf '\033[1;34m';;
	esac
}

shim_reset()
{
	case "$LTP_COLORIZE_OUTPUT" in
	y|Y|1) printf '\033[0m';;
	esac
}

tst_res()
{
	local type="$1"
	shift
	case "$type" in
	TPASS) TST_PASS=$((TST_PASS + 1));;
	TFAIL) TST_FAIL=$((TST_FAIL + 1));;
	TBROK) TST_BROK=$((TST_BROK + 1));;
	TWARN) TST_WARN=$((TST_WARN + 1));;
	TCONF) TST_CONF=$((TST_CONF + 1));;
	TINFO) ;;
	*) tst_brk TBROK "Invalid res type '$type'"; return;;
	esac
	{
		printf '%s %s ' "$TST_ID" "$TST_COUNT"
		shim_color "$type"
		printf '%s' "$type"
		shim_reset
		printf ': %s\n' "$*"
	} >&2
}

tst_brk()
{
	local type="$1"
	shift
	# Inside cleanup a break cannot stop anything any more: warn.
	if [ "$SHIM_EXITING" = 1 ]; then
		tst_res TWARN "$@"
		return
	fi
	tst_res "$type" "$@"
	shim_exit
}

shim_exit()
{
	local code=0
	SHIM_EXITING=1
	trap - INT TERM

	if [ -n "$TST_CLEANUP" ] && [ "$SHIM_SETUP_DONE" = 1 ]; then
		if command -v "$TST_CLEANUP" >/dev/null 2>&1; then
			$TST_CLEANUP
		else
			tst_res TWARN "TST_CLEANUP=$TST_CLEANUP declared, but function not defined (or cmd not found)"
		fi
	fi
	if [ -n "$TST_TMPDIR" ] && [ "$TST_NEEDS_TMPDIR" = 1 ] && [ -d "$TST_TMPDIR" ]; then
		cd / && rm -rf "$TST_TMPDIR"
	fi
	if [ -n "$SHIM_TIMER_PID" ]; then
		# SIGKILL: a TERM can be lost while the forked timer still has
		# this shell's traps.
		kill -9 "$SHIM_TIMER_PID" 2>/dev/null
		wait "$SHIM_TIMER_PID" 2>/dev/null
	fi

	[ "$TST_FAIL" -gt 0 ] && code=$((code | 1))
	[ "$TST_BROK" -gt 0 ] && code=$((code | 2))
	[ "$TST_WARN" -gt 0 ] && code=$((code | 4))
	[ "$TST_CONF" -gt 0 ] && [ "$TST_PASS" -eq 0 ] && code=$((code | 32))

	printf '\nSummary:\npassed   %d\nfailed   %d\nbroken   %d\nskipped  %d\nwarnings %d\n' \
		"$TST_PASS" "$TST_FAIL" "$TST_BROK" "$TST_CONF" "$TST_WARN" >&2
	exit $code
}

tst_is_int()
{
	[ "$1" -eq "$1" ] 2>/dev/null
}

tst_cmd_available()
{
	command -v "$1" >/dev/null 2>&1
}

tst_require_cmds()
{
	local cmd
	for cmd in "$@"; do
		tst_cmd_available "$cmd" || tst_brk TCONF "'$cmd' not found"
	done
}

tst_check_cmds()
{
	local cmd
	for cmd in "$@"; do
		if ! tst_cmd_available "$cmd"; then
			tst_res TCONF "'$cmd' not found"
			return 1
		fi
	done
	return 0
}

tst_require_root()
{
	[ "$(id -ru)" = 0 ] || tst_brk TCONF "Must be super/root for this test!"
}

ROD_SILENT()
{
	local out
	out=$("$@" 2>&1) || { [ -n "$out" ] && echo "$out"; tst_brk TBROK "$* failed"; }
}

ROD()
{
	"$@" || tst_brk TBROK "$* failed"
}

EXPECT_PASS()
{
	if "$@"; then
		tst_res TPASS "$* passed as expected"
	else
		tst_res TFAIL "$* failed unexpectedly"
		return 1
	fi
}

EXPECT_FAIL()
{
	if "$@" 2>/dev/null; then
		tst_res TFAIL "$* passed unexpectedly"
		return 1
	fi
	tst_res TPASS "$* failed as expected"
}

# shim_kver_lt A B: whether kernel version A is older than B (numeric parts).
shim_kver_lt()
{
	local a b x y
	a=$(echo "$1" | sed 's/[^0-9.].*//')
	b=$(echo "$2" | sed 's/[^0-9.].*//')
	for i in 1 2 3; do
		x=$(echo "$a" | cut -d. -f$i)
		y=$(echo "$b" | cut -d. -f$i)
		x=${x:-0}
		y=${y:-0}
		[ "$x" -lt "$y" ] && return 0
		[ "$x" -gt "$y" ] && return 1
	done
	return 1
}

# shim_kconfig: print the running kernel's config, or fail.
shim_kconfig()
{
	if [ -n "$KCONFIG_PATH" ]; then
		case "$KCONFIG_PATH" in
		*.gz) zcat "$KCONFIG_PATH";;
		*) cat "$KCONFIG_PATH";;
		esac
	elif [ -r "/boot/config-$(uname -r)" ]; then
		cat "/boot/config-$(uname -r)"
	elif [ -r /proc/config.gz ]; then
		zcat /proc/config.gz
	else
		return 1
	fi
}

shim_check_kconfigs()
{
	local cfg item name missing=0 oldifs="$IFS"
	cfg=$(shim_kconfig) || tst_brk TBROK "Couldn't locate kernel config!"
	IFS="${TST_NEEDS_KCONFIGS_IFS:-,}"
	for item in $TST_NEEDS_KCONFIGS; do
		IFS="$oldifs"
		item=$(echo "$item" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
		case "$item" in
		*=*) echo "$cfg" | grep -qx "$item" || { tst_res TINFO "Constraint '$item' not satisfied!"; missing=1; };;
		*)
			name=$item
			echo "$cfg" | grep -qE "^$name=[ym]$" || { tst_res TINFO "Missing $name"; missing=1; };;
		esac
		IFS="${TST_NEEDS_KCONFIGS_IFS:-,}"
	done
	IFS="$oldifs"
	[ "$missing" = 0 ] || tst_brk TCONF "Aborting due to unsuitable kernel config, see above!"
}

shim_setup_timer()
{
	local sec="${TST_TIMEOUT:-300}" mul="${LTP_TIMEOUT_MUL:-1}"
	if [ "$sec" = -1 ]; then
		tst_res TINFO "Timeout per run is disabled"
		return
	fi
	tst_is_int "$sec" && [ "$sec" -ge 1 ] || tst_brk TBROK "TST_TIMEOUT must be int >= 1! ($sec)"
	echo "$mul" | grep -Eq '^[0-9]+(\.[0-9]*)?$' || tst_brk TBROK "LTP_TIMEOUT_MUL must be number >= 1! ($mul)"
	if ! tst_is_int "$mul"; then
		mul=$(( ${mul%%.*} + 1 ))
		tst_res TINFO "ceiling LTP_TIMEOUT_MUL to $mul"
	fi
	[ "$mul" -ge 1 ] || tst_brk TBROK "LTP_TIMEOUT_MUL must be number >= 1! ($mul)"
	sec=$((sec * mul))
	tst_res TINFO "timeout per run is $((sec / 3600))h $((sec / 60 % 60))m $((sec % 60))s"
	# The timer signals this shell; the USR1 trap reports and cleans up.
	# It sleeps in one-second steps so that killing it leaves at most a
	# one-second sleep behind, which holds none of our output pipes open.
	(
		left=$sec
		while [ "$left" -gt 0 ]; do
			sleep 1
			left=$((left - 1))
		done
		kill -USR1 $$
	) </dev/null >/dev/null 2>&1 &
	SHIM_TIMER_PID=$!
}

tst_run()
{
	local i fn

	trap 'tst_brk TBROK "test interrupted"' INT
	trap 'tst_brk TBROK "test terminated"' TERM
	trap 'SHIM_TIMER_PID=; tst_brk TBROK "test killed, timeout! If you are running on slow machine, try exporting LTP_TIMEOUT_MUL > 1"' USR1

	[ -n "$TST_TESTFUNC" ] || tst_brk TBROK "TST_TESTFUNC is not defined"
	if [ -n "$TST_CNT" ]; then
		tst_is_int "$TST_CNT" && [ "$TST_CNT" -gt 0 ] || tst_brk TBROK "TST_CNT must be integer > 0"
	fi

	[ "$TST_NEEDS_ROOT" = 1 ] && tst_require_root
	tst_require_cmds $TST_NEEDS_CMDS
	[ -n "$TST_NEEDS_KCONFIGS" ] && shim_check_kconfigs
	if [ -n "$TST_MIN_KVER" ] && shim_kver_lt "$(uname -r)" "$TST_MIN_KVER"; then
		tst_brk TCONF "test requires kernel $TST_MIN_KVER+"
	fi

	shim_setup_timer

	if [ "$TST_NEEDS_TMPDIR" = 1 ]; then
		TMPDIR="${TMPDIR:-/tmp}"
		export TMPDIR
		TST_TMPDIR=$(mktemp -d "$TMPDIR/LTP_$TST_ID.XXXXXXXXXX") ||
			tst_brk TBROK "cannot create a temporary directory in $TMPDIR"
		chmod 777 "$TST_TMPDIR"
		TST_STARTWD=$(pwd)
		cd "$TST_TMPDIR" || tst_brk TBROK "cd $TST_TMPDIR failed"
	fi

	if [ -n "$TST_SETUP" ]; then
		command -v "$TST_SETUP" >/dev/null 2>&1 ||
			tst_brk TBROK "TST_SETUP=$TST_SETUP declared, but function not defined (or cmd not found)"
		SHIM_SETUP_DONE=1
		$TST_SETUP
	fi
	SHIM_SETUP_DONE=1

	for i in $(seq "${TST_CNT:-1}"); do
		fn=$TST_TESTFUNC
		command -v "${TST_TESTFUNC}1" >/dev/null 2>&1 && fn="$TST_TESTFUNC$i"
		local before="$TST_PASS.$TST_FAIL.$TST_CONF.$TST_BROK"
		$fn "$i"
		[ "$before" = "$TST_PASS.$TST_FAIL.$TST_CONF.$TST_BROK" ] &&
			tst_brk TBROK "Test didn't report any results"
		TST_COUNT=$((TST_COUNT + 1))
	done
	shim_exit
}
