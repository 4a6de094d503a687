package scenarios

import (
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// ExportOptions tune the shell reproducer.
type ExportOptions struct {
	// Predictions are comment lines with the model's result per profile
	// (e.g. "6.12 (6.7 .. 6.12): ok, audit /ovl/test_prog=1"), so a reader
	// of a mailing-list report sees what imasim expects of each kernel era.
	Predictions []string
}

// Image sizes for the loop-device filesystems: XFS needs ≥300 MB since
// xfsprogs 5.19 (mkfs.xfs refuses smaller data devices); the files are sparse.
var imageSize = map[string]string{"xfs": "512M", "ext4": "128M", "btrfs": "256M"}

// ExportShell writes s as a standalone POSIX shell script that reproduces
// the scenario on a real machine (run as root): loop-device filesystems,
// tmpfs and overlay mounts under a private work directory, the steps,
// then the expect lines checked against the kernel's INTEGRITY_RULE
// records (audit.log when auditd runs, else the kernel log with
// printk_ratelimit=0), the measurement list and the violation counter.
// The IMA policy is written only when the script is run with
// --load-policy. It fails for steps the script cannot express.
func ExportShell(w io.Writer, s *Scenario, o ExportOptions) error {
	e := &exporter{s: s, handles: map[string]int{}}
	if err := e.body(); err != nil {
		return err
	}
	ew := &errWriter{w: w}
	ew.printf("#!/bin/sh\n")
	ew.printf("# %s: standalone reproducer exported by imasim (imasim scenario export %s --sh).\n", s.Name, s.Name)
	for _, l := range wrap(s.About, 96) {
		ew.printf("# %s\n", strings.TrimSpace(l))
	}
	if s.Source != "" {
		for i, l := range wrap("Source: "+s.Source, 96) {
			l = strings.TrimSpace(l)
			if i > 0 {
				l = "  " + l
			}
			ew.printf("# %s\n", l)
		}
	}
	ew.printf("#\n# Run as root: sh %s.sh [--load-policy]\n", s.Name)
	ew.printf("#   --load-policy  write the scenario's rules to /sys/kernel/security/ima/policy. This changes\n")
	ew.printf("#                  the machine's IMA policy until reboot (often allowed once per boot); without\n")
	ew.printf("#                  it the host policy is left alone and must already contain the rules.\n")
	ew.printf("# Everything is created under a fresh directory in ${TMPDIR:-/tmp} and removed on exit.\n")
	ew.printf("# Exit: 0 every expect line holds, 1 one failed, 2 usage, 32 cannot run here (TCONF).\n")
	ew.printf("#\n# IMA policy of the scenario:\n")
	for _, p := range s.Policy {
		ew.printf("#   %s\n", p.Rule)
	}
	if len(o.Predictions) > 0 {
		ew.printf("#\n# What imasim's model predicts per kernel era:\n")
		for _, p := range o.Predictions {
			ew.printf("#   %s\n", p)
		}
	}
	ew.printf("\n# Programs for sh -c and python3 are single-quoted on purpose (SC2016, SC2089, SC2090);\n")
	ew.printf("# the helpers are reached through traps and steps (SC2317).\n")
	ew.printf("# shellcheck disable=SC2016,SC2089,SC2090,SC2317\n")
	ew.printf("\nSCENARIO=%s\n", sq(s.Name))
	ew.printf("POLICY=%s\n", sq(e.policyText()))
	ew.printf("NEEDS=%s\n", sq(strings.Join(e.needs(), " ")))
	ew.printf("%s", shellPrelude)
	ew.printf("\n# ---- steps ----\n")
	ew.printf("%s", e.out.String())
	ew.printf("\n# ---- expectations ----\n")
	ew.printf("settle\n")
	for _, x := range s.Expects {
		ew.printf("%s\n", e.expect(x))
	}
	ew.printf("finish\n")
	return ew.err
}

type exporter struct {
	s       *Scenario
	out     strings.Builder
	handles map[string]int // open handle -> index
	nextH   int
	nextD   int
	fsTypes []string
	uses    map[string]bool
}

func (e *exporter) line(f string, a ...any) { fmt.Fprintf(&e.out, f+"\n", a...) }

func (e *exporter) use(what string) {
	if e.uses == nil {
		e.uses = map[string]bool{}
	}
	e.uses[what] = true
}

// needs lists the tools and kernel filesystems the script checks first.
func (e *exporter) needs() []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, t := range e.fsTypes {
		add("fs:" + t)
		if t != "tmpfs" && t != "overlay" {
			add("mkfs." + t)
			add("losetup")
		}
	}
	for _, u := range []string{"setfattr", "python3", "setpriv"} {
		if e.uses[u] {
			add(u)
		}
	}
	return out
}

func (e *exporter) policyText() string {
	var b strings.Builder
	for _, p := range e.s.Policy {
		b.WriteString(p.Rule + "\n")
	}
	return b.String()
}

var plainPath = regexp.MustCompile(`^[A-Za-z0-9/._+-]+$`)

// p maps a scenario path into the script's private root "$R".
func p(scenarioPath string) string {
	c := path.Clean(scenarioPath)
	if plainPath.MatchString(c) {
		return `"$R` + c + `"`
	}
	return `"$R"` + sq(c)
}

// sq quotes s for the shell with single quotes.
func sq(s string) string {
	if s != "" && plainPath.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (e *exporter) ids(c Creds) (string, string) {
	u, g := strconv.FormatUint(uint64(c.UID), 10), strconv.FormatUint(uint64(c.GID), 10)
	if u != "0" || g != "0" {
		e.use("setpriv")
	}
	return u, g
}

// data stores content in a file under the work directory (it may hold any
// bytes) and returns the shell expression naming it.
func (e *exporter) data(content string) string {
	e.nextD++
	name := fmt.Sprintf(`"$W/d%d"`, e.nextD)
	e.line("printf '%%s' %s >%s", sq(content), name)
	return name
}

func (e *exporter) body() error {
	for _, st := range e.s.Steps {
		e.line("step %s", sq(fmt.Sprintf("line %d: %s", st.Line, st.Text)))
		if err := st.Visit(e); err != nil {
			return &Error{e.s.File, st.Line, fmt.Sprintf("export %s: %v", st.Op.Name(), err)}
		}
	}
	for h := range e.handles {
		return &Error{e.s.File, e.s.Steps[len(e.s.Steps)-1].Line, fmt.Sprintf("export: handle %s is never closed", h)}
	}
	return nil
}

// The exporter's Visitor: each op as a line of the script.

func (e *exporter) FS(o FS) error {
	t := o.Type
	if _, ok := imageSize[t]; !ok && t != "tmpfs" {
		return fmt.Errorf("filesystem %q: the script knows xfs, ext4, btrfs and tmpfs", t)
	}
	e.addFS(t)
	opts := strings.Join(o.Options, ",")
	if t == "tmpfs" {
		e.line("mount_tmpfs %s %s", p(o.Mount), sq(opts))
	} else {
		e.line("mount_image %s %s %s %s", t, imageSize[t], p(o.Mount), sq(opts))
	}
	return nil
}

func (e *exporter) Mkdir(o Mkdir) error { e.line("mkdir -p %s", p(o.Path)); return nil }

func (e *exporter) Overlay(o Overlay) error {
	e.addFS("overlay")
	var lows []string
	for _, l := range o.Lower {
		lows = append(lows, p(l))
	}
	up, wk := `""`, `""`
	if o.Upper != "" {
		up, wk = p(o.Upper), p(o.Work)
	}
	e.line("mount_overlay %s %s %s %s", p(o.Mount), up, wk, strings.Join(lows, " "))
	return nil
}

// handleWrite writes through an open handle; false when t names none.
func (e *exporter) handleWrite(t, data string) bool {
	h, ok := e.handles[t]
	if ok {
		e.line("h_cmd %d write %s", h, e.data(data))
	}
	return ok
}

func (e *exporter) Write(o Write) error {
	u, g := e.ids(o.Creds)
	if e.handleWrite(o.Path+o.Handle, o.Data) {
		return nil
	}
	d := e.data(o.Data)
	mode := octal(o.Mode)
	// An executable gets a real ELF in front of the scenario's
	// content (cp of true(1), created with its mode: no chmod
	// afterwards); a script (#!) or data file is written as is.
	if o.Mode&0o111 != 0 && !strings.HasPrefix(o.Data, "#!") {
		e.line("write_exec %s %s %s %s %s", u, g, mode, p(o.Path), d)
	} else {
		e.line("write_file %s %s %s %s %s", u, g, mode, p(o.Path), d)
	}
	return nil
}

func (e *exporter) Append(o Append) error {
	u, g := e.ids(o.Creds)
	if !e.handleWrite(o.Path+o.Handle, o.Data) {
		e.line("as_user %s %s sh -c 'cat \"$1\" >>\"$2\"' sh %s %s", u, g, e.data(o.Data), p(o.Path))
	}
	return nil
}

func (e *exporter) Overwrite(o Overwrite) error {
	u, g := e.ids(o.Creds)
	if !e.handleWrite(o.Path+o.Handle, o.Data) {
		d := e.data(o.Data)
		e.line("overwrite_file %s %s %s %s", u, g, p(o.Path), d)
	}
	return nil
}

func (e *exporter) Truncate(o Truncate) error {
	e.line("truncate -s %d %s", o.Size, p(o.Path))
	return nil
}

func (e *exporter) Copy(o Copy) error {
	e.line("write_file 0 0 %s %s %s", octal(o.Mode), p(o.Dst), p(o.Src))
	return nil
}

func (e *exporter) Chmod(o Chmod) error {
	e.line("chmod %s %s", octal(o.Mode), p(o.Path))
	return nil
}

func (e *exporter) Chown(o Chown) error {
	owner := strconv.FormatUint(uint64(o.UID), 10)
	if o.GIDSet {
		owner += ":" + strconv.FormatUint(uint64(o.GID), 10)
	}
	e.line("chown %s %s", owner, p(o.Path))
	return nil
}

func (e *exporter) Touch(o Touch) error { e.line("touch %s", p(o.Path)); return nil }

func (e *exporter) Setxattr(o Setxattr) error {
	e.use("setfattr")
	e.line("setfattr -n %s -v %s %s", sq(o.Attr), sq(o.Value), p(o.Path))
	return nil
}

func (e *exporter) Open(o Open) error {
	u, g := e.ids(o.Creds)
	e.nextH++
	e.handles[o.Handle] = e.nextH
	e.line("h_open %d %s %s %s %s", e.nextH, o.Mode, u, g, p(o.Path))
	return nil
}

func (e *exporter) Read(o Read) error { e.line("h_cmd %d read", e.handles[o.Handle]); return nil }

func (e *exporter) Mmap(o Mmap) error {
	e.use("python3")
	prot := "read"
	if o.Exec {
		prot = "exec"
	}
	e.line("h_cmd %d mmap_%s", e.handles[o.Handle], prot)
	return nil
}

func (e *exporter) Mprotect(o Mprotect) error {
	e.use("python3")
	e.line("h_cmd %d mprotect", e.handles[o.Handle])
	return nil
}

func (e *exporter) Close(o Close) error {
	e.line("h_close %d", e.handles[o.Handle])
	delete(e.handles, o.Handle)
	return nil
}

func (e *exporter) Exec(o Exec) error {
	u, g := e.ids(o.Creds)
	e.line("as_user %s %s %s >/dev/null 2>&1 || true", u, g, p(o.Path))
	return nil
}

func (e *exporter) Execveat(o Execveat) error {
	u, g := e.ids(o.Creds)
	e.use("python3")
	e.line("execve_check %s %s %s", u, g, p(o.Path))
	return nil
}

func (e *exporter) Rename(o Rename) error { e.line("mv %s %s", p(o.From), p(o.To)); return nil }
func (e *exporter) Unlink(o Unlink) error { e.line("rm -f %s", p(o.Path)); return nil }
func (e *exporter) Sync(Sync) error       { e.line("sync"); return nil }

func (e *exporter) DropCaches(DropCaches) error {
	// Host-wide, as on a real machine: evicts clean inodes (and their iints).
	e.line("sync && echo 3 >/proc/sys/vm/drop_caches")
	return nil
}

func (e *exporter) Sleep(o Sleep) error { e.line("sleep_ns %d", o.NS); return nil }

func (e *exporter) Remount(o Remount) error {
	opts := append([]string{"remount"}, o.Options...)
	e.line("mount -o %s %s", sq(strings.Join(opts, ",")), p(o.Mount))
	return nil
}

// octal writes a mode as scenarios do (0755).
func octal(m uint32) string { return fmt.Sprintf("%04o", m) }

func (e *exporter) addFS(t string) {
	for _, x := range e.fsTypes {
		if x == t {
			return
		}
	}
	e.fsTypes = append(e.fsTypes, t)
}

func (e *exporter) expect(x Expect) string {
	t := sq(x.Text)
	switch x.Kind {
	case "audit":
		return fmt.Sprintf("expect_audit %s %s %d", t, p(x.Path), x.N)
	case "measure":
		return fmt.Sprintf("expect_measure %s %s %d", t, p(x.Path), x.N)
	case "measurements":
		return fmt.Sprintf("expect_count %s measurements %d", t, x.N)
	case "violations":
		return fmt.Sprintf("expect_count %s violations %d", t, x.N)
	default:
		return fmt.Sprintf("expect_model %s", t)
	}
}

// shellPrelude is the fixed part of every exported script: helpers,
// checks, cleanup. It is POSIX sh (dash, busybox ash, bash).
const shellPrelude = `
LOAD_POLICY=0
for arg in "$@"; do
	case $arg in
	--load-policy) LOAD_POLICY=1 ;;
	-h | --help)
		sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	*)
		echo "usage: $0 [--load-policy]" >&2
		exit 2
		;;
	esac
done

umask 022
set -f # no pathname expansion: policy rules and paths are split on blanks only
IMA=/sys/kernel/security/ima
W=
R=
MOUNTS=
LOOPS=
PIDS=
SECFS=
RATELIMIT=
IMA_OK=1
CONF_WHY=
FAILED=0

say() { printf '%s: %s\n' "$SCENARIO" "$*"; }
conf() {
	say "TCONF: $*"
	exit 32
}
skip_counts() {
	IMA_OK=0
	CONF_WHY=$*
	say "TCONF: $* -- running the filesystem steps only, no counts"
}

cleanup() {
	set +e
	for pid in $PIDS; do kill "$pid" 2>/dev/null; done
	for m in $MOUNTS; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "cannot unmount $m"
	done
	for l in $LOOPS; do losetup -d "$l" 2>/dev/null || say "cannot detach $l"; done
	if [ -n "$RATELIMIT" ]; then echo "$RATELIMIT" >/proc/sys/kernel/printk_ratelimit; fi
	if [ -n "$SECFS" ]; then umount "$SECFS" 2>/dev/null; fi
	if [ -n "$W" ] && [ -d "$W" ]; then
		if grep -q " $W/" /proc/mounts; then
			say "leaving $W: something is still mounted below it"
		else
			rm -rf "$W"
		fi
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

[ "$(id -u)" = 0 ] || conf "needs root"

for need in $NEEDS; do
	case $need in
	fs:*)
		t=${need#fs:}
		grep -qw "$t" /proc/filesystems || modprobe -q "$t" 2>/dev/null
		grep -qw "$t" /proc/filesystems || conf "Cannot mount $t type, missing driver?"
		;;
	*) command -v "$need" >/dev/null 2>&1 || conf "needs $need" ;;
	esac
done

W=$(mktemp -d "${TMPDIR:-/tmp}/imasim-$SCENARIO.XXXXXX") || conf "cannot create a work directory"
chmod 0755 "$W"
R=$W/root
mkdir -p "$R"
# A runnable ELF to copy: true(1) as a file. "command -v true" names the
# shell's builtin, and busybox's /bin/true is busybox itself.
ELF=
for c in /usr/bin/true /bin/true; do
	if [ -x "$c" ] && [ ! -L "$c" ]; then
		ELF=$c
		break
	fi
done
[ -n "$ELF" ] || ELF=$(readlink -f /bin/true)

# as_user UID GID CMD...: run CMD with those ids (root runs it directly).
as_user() {
	u=$1 g=$2
	shift 2
	if [ "$u" = 0 ] && [ "$g" = 0 ]; then
		"$@"
	else
		setpriv --reuid="$u" --regid="$g" --clear-groups -- "$@"
	fi
}
push_mount() { MOUNTS="$1 $MOUNTS"; }
mount_tmpfs() {
	mkdir -p "$1"
	mount -t tmpfs ${2:+-o "$2"} imasim "$1" || exit 1
	push_mount "$1"
	chmod 0755 "$1"
}
# mount_image TYPE SIZE MOUNTPOINT OPTIONS: mkfs on a sparse file on a loop device.
mount_image() {
	img=$W/$1.$(echo "$LOOPS" | wc -w).img
	truncate -s "$2" "$img" || exit 1
	dev=$(losetup -f --show "$img") || conf "no free loop device"
	LOOPS="$LOOPS $dev"
	case $1 in
	xfs) mkfs.xfs -q -f "$dev" ;;
	ext4) mkfs.ext4 -q -F "$dev" ;;
	btrfs) mkfs.btrfs -q -f "$dev" >/dev/null ;;
	esac || exit 1
	mkdir -p "$3"
	mount -t "$1" ${4:+-o "$4"} "$dev" "$3" || exit 1
	push_mount "$3"
}
# mount_overlay MOUNTPOINT UPPER WORK LOWER...
mount_overlay() {
	m=$1 up=$2 wk=$3
	shift 3
	lower=
	for l in "$@"; do lower=${lower:+$lower:}$l; done
	mkdir -p "$m"
	if [ -n "$up" ]; then
		mount -t overlay imasim -o "lowerdir=$lower,upperdir=$up,workdir=$wk" "$m" || exit 1
	else
		mount -t overlay imasim -o "lowerdir=$lower" "$m" || exit 1
	fi
	push_mount "$m"
}
# write_exec UID GID MODE FILE DATA: a runnable ELF (cp of true(1), created
# with its mode by the copy) followed by the scenario's content, which the
# loader ignores; chmod only when MODE is not what the copy gave.
write_exec() {
	umask_for=$(printf '%03o' $((0777 & ~0$3)))
	(umask "$umask_for" && as_user "$1" "$2" sh -c 'cp "$1" "$2" && cat "$3" >>"$2"' sh "$ELF" "$4" "$5") || exit 1
	[ "$(stat -c %a "$4")" = "$(printf '%o' $((0$3)))" ] || chmod "$3" "$4"
}
# write_file UID GID MODE FILE DATA: one open(O_CREAT|O_TRUNC), one write.
write_file() {
	umask_for=$(printf '%03o' $((0777 & ~0$3)))
	(umask "$umask_for" && as_user "$1" "$2" sh -c 'cat "$1" >"$2"' sh "$5" "$4") || exit 1
	[ "$(stat -c %a "$4")" = "$(printf '%o' $((0$3)))" ] || chmod "$3" "$4"
}
# overwrite_file UID GID FILE DATA: in place, one open without O_TRUNC. In a
# file made by write_exec the scenario's content starts after the ELF.
overwrite_file() {
	off=0
	n=$(stat -c %s "$ELF")
	if [ "$(stat -c %s "$3")" -gt "$n" ] && cmp -s -n "$n" "$ELF" "$3"; then off=$n; fi
	as_user "$1" "$2" dd if="$4" of="$3" bs=1 seek="$off" conv=notrunc status=none || exit 1
}
sleep_ns() {
	s=$(($1 / 1000000000))
	frac=$(printf '%09d' $(($1 % 1000000000)))
	sleep "$s.$frac" 2>/dev/null || sleep $((s + 1))
}

# Held-open files: a helper process per handle, running as the opener's
# uid, holds the file on fd 3 and serves read/write/mmap/close commands
# over two FIFOs, one command at a time.
HELPER='
mode=$1 f=$2 in=$3 out=$4
case $mode in
r) exec 3<"$f" ;;
rw | w) exec 3<>"$f" ;; # POSIX sh has no O_WRONLY without O_TRUNC: "w" opens O_RDWR
a) exec 3>>"$f" ;;
trunc) exec 3>"$f" ;;
esac || { echo fail >"$out"; exit 1; }
echo "ok $$" >"$out"
while :; do
	IFS= read -r cmd <"$in" || exit 1
	case $cmd in
	read) cat <&3 >/dev/null ;;
	"write "*) cat "${cmd#write }" >&3 ;;
	mmap_read | mmap_exec) python3 -c "$MMAP" "${cmd#mmap_}" ;;
	mprotect) python3 -c "$MPROTECT" ;;
	close) exec 3>&-; echo ok >"$out"; exit 0 ;;
	esac
	echo ok >"$out"
done'
MMAP='
import mmap, sys
prot = mmap.PROT_READ | (mmap.PROT_EXEC if sys.argv[1] == "exec" else 0)
mmap.mmap(3, 0, flags=mmap.MAP_PRIVATE, prot=prot).close()
'
# A PROT_READ mapping made executable with mprotect(2) (python's mmap
# module has no mprotect).
MPROTECT='
import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
addr = libc.mmap(None, 4096, mmap.PROT_READ, mmap.MAP_PRIVATE, 3, 0)
if addr is None or addr == ctypes.c_void_p(-1).value:
    sys.exit("mmap: " + os.strerror(ctypes.get_errno()))
if libc.mprotect(addr, 4096, mmap.PROT_READ | mmap.PROT_EXEC) != 0:
    print("mprotect(PROT_EXEC) denied:", os.strerror(ctypes.get_errno()), file=sys.stderr)
'
export MMAP MPROTECT
h_open() {
	mkfifo -m 0666 "$W/h$1.in" "$W/h$1.out" || exit 1
	as_user "$3" "$4" sh -c "$HELPER" sh "$2" "$5" "$W/h$1.in" "$W/h$1.out" &
	read -r ack hpid <"$W/h$1.out"
	[ "$ack" = ok ] || { say "open $5 ($2) failed"; exit 1; }
	PIDS="$PIDS $hpid"
}
h_cmd() {
	h=$1
	shift
	echo "$*" >"$W/h$h.in"
	read -r ack <"$W/h$h.out"
}
h_close() { h_cmd "$1" close; }
EXECVE_CHECK='
import ctypes, os, platform, sys
nr = {"x86_64": 322, "aarch64": 281, "riscv64": 281, "ppc64le": 362, "s390x": 354}[platform.machine()]
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_CLOEXEC)
argv = (ctypes.c_char_p * 2)(sys.argv[1].encode(), None)
envp = (ctypes.c_char_p * 1)(None)
libc = ctypes.CDLL(None, use_errno=True)
if libc.syscall(nr, fd, b"", argv, envp, 0x1000 | 0x10000) != 0:  # AT_EMPTY_PATH|AT_EXECVE_CHECK
    err = ctypes.get_errno()
    print(os.strerror(err))
    sys.exit(3 if err == 22 else 1)
'
# execve_check UID GID FILE: execveat(fd, "", AT_EMPTY_PATH|AT_EXECVE_CHECK).
execve_check() {
	as_user "$1" "$2" python3 -c "$EXECVE_CHECK" "$3"
	case $? in
	0) ;;
	3) conf "the kernel rejects AT_EXECVE_CHECK (needs 6.14+)" ;;
	*) say "AT_EXECVE_CHECK denied $3" ;;
	esac
}
step() { say "$1"; }

# ---- IMA, policy and the audit source ----
if [ ! -d /sys/kernel/security ] || ! grep -q " /sys/kernel/security securityfs" /proc/mounts; then
	mount -t securityfs securityfs /sys/kernel/security 2>/dev/null && SECFS=/sys/kernel/security
fi
if [ ! -d "$IMA" ]; then
	skip_counts "IMA not enabled in kernel ($(uname -r) has no $IMA)"
elif [ "$LOAD_POLICY" = 1 ]; then
	printf '%s' "$POLICY" >"$IMA/policy" 2>/dev/null ||
		conf "IMA policy already loaded and kernel not configured to enable multiple writes to it (need CONFIG_IMA_WRITE_POLICY=y)"
	say "loaded the scenario's IMA policy"
elif [ -r "$IMA/policy" ]; then
	# Compare rules as sets of words: the kernel prints its own order and a trailing blank.
	loaded=$(while IFS= read -r rule; do
		# shellcheck disable=SC2086
		printf '%s\n' $rule | sort | tr '\n' ' '
		echo
	done <"$IMA/policy")
	missing=$(printf '%s' "$POLICY" | while IFS= read -r rule; do
		# shellcheck disable=SC2086
		want=$(printf '%s\n' $rule | sort | tr '\n' ' ')
		printf '%s\n' "$loaded" | grep -qxF "$want" || echo "$rule"
	done)
	[ -z "$missing" ] || skip_counts "missing required policy ($missing); rerun with --load-policy (changes the IMA policy until reboot)"
else
	say "cannot read $IMA/policy (CONFIG_IMA_READ_POLICY): assuming the scenario's rules are loaded"
fi
if [ "$IMA_OK" = 1 ]; then
	COUNT0=$(cat "$IMA/runtime_measurements_count")
	VIOL0=$(cat "$IMA/violations")
	LIST0=$(wc -l <"$IMA/ascii_runtime_measurements")
	if [ -s /var/log/audit/audit.log ] && pgrep -x auditd >/dev/null 2>&1; then
		AUDIT_SRC=/var/log/audit/audit.log
		AUDIT_OFF=$(wc -c <"$AUDIT_SRC")
	else
		AUDIT_SRC=kmsg
		RATELIMIT=$(cat /proc/sys/kernel/printk_ratelimit)
		echo 0 >/proc/sys/kernel/printk_ratelimit
		MARK="imasim-start-$SCENARIO-$$"
		echo "$MARK" >/dev/kmsg
	fi
	say "counting INTEGRITY_RULE records from $AUDIT_SRC"
fi

audit_lines() {
	if [ "$AUDIT_SRC" = kmsg ]; then
		dmesg | sed -n "/$MARK/,\$p"
	else
		tail -c +$((AUDIT_OFF + 1)) "$AUDIT_SRC"
	fi
}
settle() { [ "$IMA_OK" = 1 ] && sleep 1; }
verdict() {
	if [ "$2" = "$3" ]; then
		say "PASS: $1 (got $2)"
	else
		say "FAIL: $1 (got $2)"
		FAILED=1
	fi
}
expect_audit() {
	[ "$IMA_OK" = 1 ] || { say "TCONF: $1"; return; }
	n=$(audit_lines | grep -E 'type=(1805|INTEGRITY_RULE)' | grep -cF "file=\"$2\"")
	verdict "$1" "$n" "$3"
}
expect_measure() {
	[ "$IMA_OK" = 1 ] || { say "TCONF: $1"; return; }
	n=$(tail -n +$((LIST0 + 1)) "$IMA/ascii_runtime_measurements" | awk -v f="$2" '$NF == f && $2 !~ /^0+$/ { n++ } END { print n + 0 }')
	verdict "$1" "$n" "$3"
}
expect_count() {
	[ "$IMA_OK" = 1 ] || { say "TCONF: $1"; return; }
	case $2 in
	measurements) n=$(($(cat "$IMA/runtime_measurements_count") - COUNT0)) ;;
	violations) n=$(($(cat "$IMA/violations") - VIOL0)) ;;
	esac
	verdict "$1" "$n" "$3"
}
expect_model() { say "INFO: $1: judged by imasim's classifier (imasim compare), not by this script"; }
finish() {
	if [ "$IMA_OK" != 1 ]; then
		say "TCONF: $CONF_WHY (filesystem steps ran)"
		exit 32
	fi
	if [ "$FAILED" = 0 ]; then say "PASS"; else say "FAIL"; fi
	exit "$FAILED"
}
`
