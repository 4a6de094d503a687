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
func (r *repro) asUser(c scenarios.Creds, cmd string) (string, error) {
	if c.GID != c.UID {
		return "", fmt.Errorf("gid %d differs from uid %d: use the full harness", c.GID, c.UID)
	}
	if c.UID == 0 {
		return cmd, nil
	}
	r.as = true
	return "run_as " + strconv.FormatUint(uint64(c.UID), 10) + " " + cmd, nil
}

func octal(m uint32) string { return fmt.Sprintf("%04o", m) }

// step renders one typed step as shell commands. It is the one place the
// reproducer knows the operations; an op it does not know (held files,
// mappings, execveat, whatever comes later) needs the full harness.
func (r *repro) step(st scenarios.Step) ([]string, error) {
	one := func(c string, err error) ([]string, error) { return []string{c}, err }
	switch o := st.Op.(type) {
	case scenarios.FS:
		opts := strings.Join(o.Options, ",")
		if o.Type == "tmpfs" {
			if !plain.MatchString(o.Mount) {
				return nil, fmt.Errorf("mount point %q needs quoting: use the full harness", o.Mount)
			}
			r.mnt = true
			return one("mnt "+p(o.Mount)+" -t tmpfs "+ifOpts(opts)+"tmpfs", nil)
		}
		if o.Type != "xfs" && o.Type != "ext4" && o.Type != "btrfs" {
			return nil, fmt.Errorf("filesystem %s", o.Type)
		}
		r.img = true
		c := "img " + o.Type + " " + p(o.Mount)
		if opts != "" {
			c += " " + sq(opts)
		}
		return one(c, nil)
	case scenarios.Mkdir:
		return one("mkdir -p "+p(o.Path), nil)
	case scenarios.Overlay:
		if !plain.MatchString(o.Mount) {
			return nil, fmt.Errorf("mount point %q needs quoting: use the full harness", o.Mount)
		}
		var lows []string
		for _, l := range o.Lower {
			lows = append(lows, "$T"+path.Clean(l))
		}
		opt := "lowerdir=" + strings.Join(lows, ":")
		if o.Upper != "" {
			opt += ",upperdir=$T" + path.Clean(o.Upper) + ",workdir=$T" + path.Clean(o.Work)
		}
		if !plain.MatchString(strings.NewReplacer("$T", "", "=", "", ",", "", ":", "").Replace(opt)) {
			return nil, fmt.Errorf("overlay paths need quoting: use the full harness")
		}
		r.mnt = true
		return []string{"o=" + opt, "mnt " + p(o.Mount) + " -t overlay -o \"$o\" overlay"}, nil
	case scenarios.Write:
		if o.Handle != "" {
			break
		}
		var cmds []string
		def := uint32(0o644)
		if o.Mode&0o111 != 0 && !strings.HasPrefix(o.Data, "#!") {
			r.elf[path.Clean(o.Path)] = true
			c, err := r.asUser(o.Creds, `cp "$ELF" `+p(o.Path))
			if err != nil {
				return nil, err
			}
			c2, _ := r.printf(o.Creds, ">>", o.Data, o.Path)
			cmds, def = append(cmds, c, c2), 0o755
		} else {
			delete(r.elf, path.Clean(o.Path))
			c, err := r.printf(o.Creds, ">", o.Data, o.Path)
			if err != nil {
				return nil, err
			}
			cmds = append(cmds, c)
		}
		if o.Mode != def {
			cmds = append(cmds, "chmod "+octal(o.Mode)+" "+p(o.Path))
		}
		return cmds, nil
	case scenarios.Append:
		if o.Handle != "" {
			break
		}
		return one(r.printf(o.Creds, ">>", o.Data, o.Path))
	case scenarios.Overwrite:
		if o.Handle != "" {
			break
		}
		off := "0"
		if r.elf[path.Clean(o.Path)] {
			off = `"$(stat -c %s "$ELF")"`
		}
		return one(r.asUser(o.Creds, `sh -c 'printf %s "$1" | dd of="$2" bs=1 seek="$3" conv=notrunc 2>/dev/null' sh `+
			sq(o.Data)+" "+p(o.Path)+" "+off))
	case scenarios.Truncate:
		return one("truncate -s "+strconv.FormatInt(o.Size, 10)+" "+p(o.Path), nil)
	case scenarios.Copy:
		return []string{"cp " + p(o.Src) + " " + p(o.Dst), "chmod " + octal(o.Mode) + " " + p(o.Dst)}, nil
	case scenarios.Chmod:
		return one("chmod "+octal(o.Mode)+" "+p(o.Path), nil)
	case scenarios.Chown:
		own := strconv.FormatUint(uint64(o.UID), 10)
		if o.GIDSet {
			own += ":" + strconv.FormatUint(uint64(o.GID), 10)
		}
		return one("chown "+own+" "+p(o.Path), nil)
	case scenarios.Touch:
		return one("touch "+p(o.Path), nil)
	case scenarios.Setxattr:
		return one("setfattr -n "+sq(o.Attr)+" -v "+sq(o.Value)+" "+p(o.Path), nil)
	case scenarios.Exec:
		return one(r.asUser(o.Creds, p(o.Path)+" >/dev/null 2>&1"))
	case scenarios.Rename:
		return one("mv "+p(o.From)+" "+p(o.To), nil)
	case scenarios.Unlink:
		return one("rm -f "+p(o.Path), nil)
	case scenarios.Sync:
		return one("sync", nil)
	case scenarios.DropCaches:
		return one("sync && echo 3 >/proc/sys/vm/drop_caches", nil)
	case scenarios.Sleep:
		return one("sleep "+strconv.FormatFloat(float64(o.NS)/1e9, 'f', -1, 64), nil)
	case scenarios.Remount:
		return one("mount -o "+sq(strings.Join(append([]string{"remount"}, o.Options...), ","))+" "+p(o.Mount), nil)
	}
	return nil, fmt.Errorf("%s needs a held file or a syscall the shell lacks (imasim scenario export --sh writes the full harness)", opName(st))
}

func opName(st scenarios.Step) string {
	if st.Op == nil {
		return "step"
	}
	return st.Op.Name()
}

// printf writes content to file with redirection op, as the step's user.
func (r *repro) printf(c scenarios.Creds, op, content, file string) (string, error) {
	if c.UID == 0 && c.GID == 0 {
		return "printf %s " + sq(content) + " " + op + p(file), nil
	}
	return r.asUser(c, `sh -c 'printf %s "$1" `+op+`"$2"' sh `+sq(content)+" "+p(file))
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
