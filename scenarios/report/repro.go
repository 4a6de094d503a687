package report

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/imasim/imasim/scenarios"
)

// MaxReproLines bounds the minimal reproducer: a person reads it whole.
const MaxReproLines = 60

// NoReproError says why a scenario has no minimal reproducer (a step the
// plain shell cannot do); the full harness (scenario export --sh) can.
type NoReproError struct {
	Line int
	Why  string
}

func (e *NoReproError) Error() string {
	if e.Line == 0 {
		return e.Why
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Why)
}

// Reproducer writes s as a short POSIX sh script in the style of a
// mailing-list test.sh: the filesystems it needs on loop devices under a
// fresh directory, the scenario's IMA policy, its steps as plain
// commands, and the counts its expect lines check, each printed PASS or
// FAIL (exit 0, 1; 32 when it cannot set up). It is not the harness
// scenario export --sh writes: no policy comparison, no held files.
func Reproducer(s *scenarios.Scenario) (string, error) {
	r := &repro{elf: map[string]bool{}}
	if len(s.Policy) == 0 {
		return "", &NoReproError{0, "no policy: nothing for IMA to do"}
	}
	for _, st := range s.Steps {
		cmd, err := r.step(st)
		if err != nil {
			return "", &NoReproError{st.Line, err.Error()}
		}
		if j := strings.Join(cmd, " && "); len(cmd) > 1 && len(j) <= 60 {
			cmd = []string{j}
		}
		cmd[len(cmd)-1] += " # line " + strconv.Itoa(st.Line)
		r.body = append(r.body, cmd...)
	}
	var checks []string
	for _, x := range s.Expects {
		if c, ok := r.expect(x); ok {
			checks = append(checks, c)
		}
	}

	var b strings.Builder
	w := func(l string) { b.WriteString(l + "\n") }
	w("#!/bin/sh")
	for _, l := range wrap(s.Name+": "+s.About, 70) {
		w("# " + l)
	}
	w("# Run as root on a test machine (it writes the IMA policy).")
	w("# Exit 0 PASS, 1 FAIL, 32 cannot run here. From: imasim report")
	w("umask 022; IMA=/sys/kernel/security/ima; T=$(mktemp -d) || exit 32")
	w("M='' L='' rc=0 RL=$(cat /proc/sys/kernel/printk_ratelimit)")
	w("# shellcheck disable=SC2317 # cleanup runs from the trap")
	w("cleanup() {")
	w("\tfor m in $M; do umount \"$m\"; done")
	w("\tfor l in $L; do losetup -d \"$l\"; done")
	w("\techo \"$RL\" >/proc/sys/kernel/printk_ratelimit; rm -rf \"$T\"")
	w("}")
	w("trap cleanup EXIT")
	if r.mnt || r.img {
		w("mnt() { # mnt DIR MOUNT-ARGS...: mounted on DIR until the exit")
		w("\tmkdir -p \"$1\" || exit 32")
		w("\td=$1; shift")
		w("\tmount \"$@\" \"$d\" || exit 32")
		w("\tM=\"$d $M\"")
		w("}")
	}
	if r.img {
		w("img() { # img TYPE DIR [OPTIONS]: a new filesystem on a loop device")
		w("\ttruncate -s 512M \"$2.img\" || exit 32")
		w("\tdev=$(losetup -f --show \"$2.img\") || exit 32")
		w("\tL=\"$L $dev\"")
		w("\tmkfs.\"$1\" -q \"$dev\" >/dev/null || exit 32")
		w("\tmnt \"$2\" -t \"$1\" ${3:+-o \"$3\"} \"$dev\"")
		w("}")
	}
	if r.as {
		w("run_as() { u=$1; shift # run_as UID CMD...: with that uid and gid")
		w("\tsetpriv --reuid=\"$u\" --regid=\"$u\" --clear-groups \"$@\"; }")
	}
	if len(r.elf) > 0 {
		w("for ELF in /usr/bin/true /bin/true; do [ -f \"$ELF\" ] && break; done")
	}
	w("[ -d $IMA ] || mount -t securityfs securityfs /sys/kernel/security")
	if r.counts {
		w("C0=$(cat $IMA/runtime_measurements_count) V0=$(cat $IMA/violations)")
	}
	w("echo 0 >/proc/sys/kernel/printk_ratelimit")
	// echo only for one plain rule: dash's echo reads backslashes.
	if one := "echo " + sq(s.Policy[0].Rule) + " >$IMA/policy || exit 32"; len(s.Policy) == 1 && len(one) <= Width && !strings.Contains(one, `\`) {
		w(one)
	} else {
		w("printf '%s\\n' \\")
		for _, p := range s.Policy {
			w("\t" + sq(p.Rule) + " \\")
		}
		w("\t>$IMA/policy || exit 32")
	}
	for _, l := range r.body {
		w(l)
	}
	w("sleep 1 # let the kernel log the records")
	if r.audits {
		w("audits() { # INTEGRITY_RULE records of file $1")
		w("\tif [ -e /run/auditd.pid ]; then cat /var/log/audit/audit.log")
		w("\telse dmesg; fi | grep -E 'type=(1805|INTEGRITY_RULE)' |")
		w("\t\tgrep -cF \"file=\\\"$1\\\"\"")
		w("}")
	}
	if r.measure {
		w("measured() { # entries of file $1 in the measurement list")
		w("\tawk -v f=\"$1\" '$NF == f && $2 !~ /^0+$/' \\")
		w("\t\t$IMA/ascii_runtime_measurements | wc -l")
		w("}")
	}
	w("check() { # check WHAT GOT WANT")
	w("\tif [ \"$2\" = \"$3\" ]; then echo \"PASS: $1 (got $2)\"")
	w("\telse echo \"FAIL: $1 (got $2)\" && rc=1; fi")
	w("}")
	for _, c := range checks {
		w(c)
	}
	w("exit $rc")
	out := b.String()
	if n := strings.Count(out, "\n"); n > MaxReproLines {
		return "", &NoReproError{0, fmt.Sprintf("%d lines, over %d: too many steps for a minimal reproducer", n, MaxReproLines)}
	}
	return out, nil
}

type repro struct {
	body                                  []string
	img, mnt, as, counts, audits, measure bool
	elf                                   map[string]bool // written as a copy of true(1)
}

var plain = regexp.MustCompile(`^[A-Za-z0-9/._+-]+$`)

// sq quotes s for the shell.
func sq(s string) string {
	if s != "" && plain.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// p maps a scenario path under the script's directory "$T".
func p(sp string) string {
	c := path.Clean(sp)
	if plain.MatchString(c) {
		return `"$T` + c + `"`
	}
	return `"$T"` + sq(c)
}

// asUser prefixes cmd with the step's uid when it is not root (the
// reproducer's run_as runs with gid = uid, as the scenarios use them).
func (r *repro) asUser(st scenarios.Step, cmd string) (string, error) {
	u := st.Opts["uid"]
	if g := st.Opts["gid"]; g != "" && g != u {
		return "", fmt.Errorf("gid %s differs from uid: use the full harness", g)
	}
	if u == "" || u == "0" {
		return cmd, nil
	}
	r.as = true
	return "run_as " + u + " " + cmd, nil
}

// step renders one scenario step as shell commands. It is the one place
// the reproducer knows the operations (it can move onto typed steps).
func (r *repro) step(st scenarios.Step) ([]string, error) {
	a := st.Args
	one := func(c string, err error) ([]string, error) { return []string{c}, err }
	switch st.Op {
	case "fs":
		opts := strings.Join(a[2:], ",")
		if a[0] == "tmpfs" {
			if !plain.MatchString(a[1]) {
				return nil, fmt.Errorf("mount point %q needs quoting: use the full harness", a[1])
			}
			r.mnt = true
			return one("mnt "+p(a[1])+" -t tmpfs "+ifOpts(opts)+"tmpfs", nil)
		}
		if a[0] != "xfs" && a[0] != "ext4" && a[0] != "btrfs" {
			return nil, fmt.Errorf("filesystem %s", a[0])
		}
		r.img = true
		c := "img " + a[0] + " " + p(a[1])
		if opts != "" {
			c += " " + sq(opts)
		}
		return one(c, nil)
	case "mkdir":
		return one("mkdir -p "+p(a[0]), nil)
	case "overlay":
		if !plain.MatchString(a[0]) {
			return nil, fmt.Errorf("mount point %q needs quoting: use the full harness", a[0])
		}
		var lows []string
		for _, l := range strings.Split(st.Opts["lower"], ":") {
			lows = append(lows, "$T"+path.Clean(l))
		}
		o := "lowerdir=" + strings.Join(lows, ":")
		if st.Opts["upper"] != "" {
			o += ",upperdir=$T" + path.Clean(st.Opts["upper"]) + ",workdir=$T" + path.Clean(st.Opts["work"])
		}
		if !plain.MatchString(strings.NewReplacer("$T", "", "=", "", ",", "", ":", "").Replace(o)) {
			return nil, fmt.Errorf("overlay paths need quoting: use the full harness")
		}
		r.mnt = true
		return []string{"o=" + o, "mnt " + p(a[0]) + " -t overlay -o \"$o\" overlay"}, nil
	case "write":
		mode := st.Opts["mode"]
		if mode == "" {
			mode = "0644"
		}
		m, _ := strconv.ParseUint(mode, 8, 32)
		var cmds []string
		def := "0644"
		if m&0o111 != 0 && !strings.HasPrefix(a[1], "#!") {
			r.elf[path.Clean(a[0])] = true
			c, err := r.asUser(st, `cp "$ELF" `+p(a[0]))
			if err != nil {
				return nil, err
			}
			cmds = append(cmds, c)
			c, _ = r.printf(st, ">>", a[1], a[0])
			cmds = append(cmds, c)
			def = "0755"
		} else {
			delete(r.elf, path.Clean(a[0]))
			c, err := r.printf(st, ">", a[1], a[0])
			if err != nil {
				return nil, err
			}
			cmds = append(cmds, c)
		}
		if m != mustOctal(def) {
			cmds = append(cmds, "chmod "+mode+" "+p(a[0]))
		}
		return cmds, nil
	case "append":
		return one(r.printf(st, ">>", a[1], a[0]))
	case "overwrite":
		off := "0"
		if r.elf[path.Clean(a[0])] {
			off = `"$(stat -c %s "$ELF")"`
		}
		return one(r.asUser(st, `sh -c 'printf %s "$1" | dd of="$2" bs=1 seek="$3" conv=notrunc 2>/dev/null' sh `+
			sq(a[1])+" "+p(a[0])+" "+off))
	case "truncate":
		return one("truncate -s "+a[1]+" "+p(a[0]), nil)
	case "copy":
		cmds := []string{"cp " + p(a[0]) + " " + p(a[1])}
		if m := st.Opts["mode"]; m != "" {
			cmds = append(cmds, "chmod "+m+" "+p(a[1]))
		}
		return cmds, nil
	case "chmod":
		return one("chmod "+a[1]+" "+p(a[0]), nil)
	case "chown":
		return one("chown "+a[1]+" "+p(a[0]), nil)
	case "touch":
		return one("touch "+p(a[0]), nil)
	case "setxattr":
		return one("setfattr -n "+sq(a[1])+" -v "+sq(a[2])+" "+p(a[0]), nil)
	case "exec":
		return one(r.asUser(st, p(a[0])+" >/dev/null 2>&1"))
	case "rename":
		return one("mv "+p(a[0])+" "+p(a[1]), nil)
	case "unlink":
		return one("rm -f "+p(a[0]), nil)
	case "sync":
		return one("sync", nil)
	case "drop_caches":
		return one("sync && echo 3 >/proc/sys/vm/drop_caches", nil)
	case "sleep":
		ns, err := scenarios.ParseDuration(a[0])
		if err != nil {
			return nil, err
		}
		return one(fmt.Sprintf("sleep %s", strconv.FormatFloat(float64(ns)/1e9, 'f', -1, 64)), nil)
	case "remount":
		return one("mount -o "+sq(strings.Join(append([]string{"remount"}, a[1:]...), ","))+" "+p(a[0]), nil)
	}
	return nil, fmt.Errorf("%s needs a held file or a syscall the shell lacks (imasim scenario export --sh writes the full harness)", st.Op)
}

// printf writes content to file with redirection op, as the step's user.
func (r *repro) printf(st scenarios.Step, op, content, file string) (string, error) {
	if u := st.Opts["uid"]; u == "" || u == "0" {
		return "printf %s " + sq(content) + " " + op + p(file), nil
	}
	return r.asUser(st, `sh -c 'printf %s "$1" `+op+`"$2"' sh `+sq(content)+" "+p(file))
}

func ifOpts(o string) string {
	if o == "" {
		return ""
	}
	return "-o " + sq(o) + " "
}

func mustOctal(s string) uint64 {
	n, _ := strconv.ParseUint(s, 8, 32)
	return n
}

// expect renders a count check; false for what only imasim judges.
func (r *repro) expect(x scenarios.Expect) (string, bool) {
	t := sq(ascii(x.Text))
	switch x.Kind {
	case "audit":
		r.audits = true
		return fmt.Sprintf(`check %s "$(audits %s)" %d`, t, p(x.Path), x.N), true
	case "measure":
		r.measure = true
		return fmt.Sprintf(`check %s "$(measured %s)" %d`, t, p(x.Path), x.N), true
	case "measurements":
		r.counts = true
		return fmt.Sprintf(`check %s $(($(cat $IMA/runtime_measurements_count) - C0)) %d`, t, x.N), true
	case "violations":
		r.counts = true
		return fmt.Sprintf(`check %s $(($(cat $IMA/violations) - V0)) %d`, t, x.N), true
	}
	return "", false
}
