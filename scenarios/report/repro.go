package report

import (
	"encoding/hex"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
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
// mailing-list test.sh: the filesystems it needs (loop-mounted images)
// under a fresh directory, the scenario's IMA policy, its steps as plain
// commands, and the counts its expect lines check, each printed PASS or
// FAIL (exit 0, 1; 32 when it cannot set up). Held files are the shell's
// own descriptors (exec 3<file ... exec 3<&-), opened by a uid's shell
// when the step names one. It is not the harness scenario export --sh
// writes: no policy comparison, no mappings, no execveat.
func Reproducer(s *scenarios.Scenario) (string, error) {
	r := &repro{elf: map[string]bool{}, fds: map[string]*fd{}}
	if len(s.Policy) == 0 {
		return "", &NoReproError{0, "no policy: nothing for IMA to do"}
	}
	for _, p := range s.Policy {
		r.mask = r.mask || strings.Contains(p.Rule, "mask=")
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
		r.emit(cmd)
	}
	if len(r.fds) > 0 {
		h := slices.Sorted(maps.Keys(r.fds))[0]
		return "", &NoReproError{0, "handle " + h + " is never closed"}
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
	if r.blocks {
		w("# shellcheck disable=SC2016 # $T expands in the uid's sh -c")
	}
	for _, l := range wrap(s.Name+" (imasim report): "+s.About, 70) {
		w("# " + l)
	}
	w("# Run as root on a test machine. Exit 0 PASS, 1 FAIL, 32 cannot run.")
	w(`umask 022; T=$(mktemp -d) && chmod 755 "$T" || exit 32 # uids reach in`)
	w("IMA=/sys/kernel/security/ima P=/proc/sys/kernel/printk_ratelimit")
	exp := ""
	if r.blocks {
		exp = "export T; " // for the uid shells that hold files
	}
	w(exp + "M='' rc=0 RL=$(cat $P)")
	// Mounts come off newest first (an overlay before its layers); a
	// loop device set up by mount -o loop goes with its filesystem.
	w(`trap '[ -z "$M" ] || umount $M; echo "$RL" >$P; rm -rf "$T"' EXIT`)
	if r.mnt || r.img {
		w(`mnt() { d=$1; shift # mnt DIR MOUNT-ARGS...: mounted on DIR until exit`)
		w("\tmkdir -p \"$d\" && mount \"$@\" \"$d\" || exit 32; M=\"$d $M\"; }")
	}
	if r.img {
		w("img() { f=$2.img # img TYPE DIR [OPTS]: new filesystem on a loop device")
		w("\ttruncate -s 512M \"$f\" && mkfs.\"$1\" -q \"$f\" >/dev/null || exit 32")
		w("\tmnt \"$2\" -t \"$1\" -o \"loop${3:+,$3}\" \"$f\"; }")
	}
	if r.as {
		w("run_as() { u=$1; shift # run_as UID CMD...: with that uid and gid")
		w("\tsetpriv --reuid=\"$u\" --regid=\"$u\" --clear-groups \"$@\"; }")
	}
	if r.ow {
		w("ow() { # ow OFFSET FILE: stdin over FILE's bytes at OFFSET, in place")
		w("\tdd of=\"$2\" bs=1 seek=\"$1\" conv=notrunc 2>/dev/null; }")
	}
	if len(r.elf) > 0 || r.elfUsed {
		w("for ELF in /usr/bin/true /bin/true; do [ -f \"$ELF\" ] && break; done")
	}
	if r.elfUsed {
		w("E=$(stat -c %s \"$ELF\") # the program: data goes after it")
	}
	w("[ -d $IMA ] || mount -t securityfs securityfs /sys/kernel/security")
	var c0 []string
	if r.counts {
		c0 = append(c0, "C0=$(cat $IMA/runtime_measurements_count)")
	}
	if r.viols {
		c0 = append(c0, "V0=$(cat $IMA/violations)")
	}
	if len(c0) > 0 {
		w(strings.Join(c0, " "))
	}
	w("echo 0 >$P # every audit record in the kernel log")
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
		w("\tgrep -cF \"file=\\\"$T$1\\\"\"; }")
	}
	if r.measure {
		w("measured() { # entries of file $1 in the measurement list")
		w("\tawk -v f=\"$T$1\" '$NF == f && $2 !~ /^0+$/' \\")
		w("\t\t$IMA/ascii_runtime_measurements | wc -l; }")
	}
	w(`check() { r=PASS; [ "$2" = "$3" ] || r=FAIL rc=1 # check WHAT GOT WANT`)
	w("\techo \"$r: $1 (got $2)\"; }")
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
	body                                         []string
	img, mnt, as, counts, viols, audits, measure bool
	elf                                          map[string]bool // written as a copy of true(1)
	elfUsed                                      bool            // $E, the program's size, named in a step
	ow                                           bool            // ow() overwrites in place
	mask                                         bool            // a policy rule has mask=
	fds                                          map[string]*fd  // open handles
	blk                                          *holder         // a uid's shell holding files
	blocks                                       bool            // a uid's shell is used: T is exported
}

// fd is an open handle: the shell's descriptor N, opened by blk (nil for
// the script's own shell).
type fd struct {
	n    int
	app  bool // O_APPEND: a write goes to the end, as the model's
	read bool // read once: the shell's offset is at the end
	w    bool // opened for writing only
	blk  *holder
}

// holder is a run of steps a uid's shell runs while it holds files: IMA
// matches uid= rules on the opener's creds, and only that shell can
// close what it opened.
type holder struct {
	uid   uint32
	lines []string
}

// emit adds a step's commands to the script, or to the holder's shell,
// which goes into the script when its last file is closed.
func (r *repro) emit(cmd []string) {
	if r.blk == nil {
		r.body = append(r.body, cmd...)
		return
	}
	r.blk.lines = append(r.blk.lines, cmd...)
	for _, f := range r.fds {
		if f.blk == r.blk {
			return
		}
	}
	// Its last file is closed: one sh -c, a line per command.
	b := r.blk
	r.blk = nil
	for i, l := range b.lines {
		l = strings.ReplaceAll(l, "'", `'\''`)
		switch {
		case i == 0:
			l = "run_as " + strconv.FormatUint(uint64(b.uid), 10) + " sh -c '" + l
		default:
			l = "\t" + l
		}
		if i == len(b.lines)-1 {
			// The step's "# line N" goes after the quote.
			k := strings.LastIndex(l, " # line ")
			l = l[:k] + "'" + l[k:]
		}
		r.body = append(r.body, l)
	}
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
	if r.blk != nil {
		if c.UID != r.blk.uid {
			return "", fmt.Errorf("uid %d while uid %d holds files: use the full harness", c.UID, r.blk.uid)
		}
		return cmd, nil
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
	if r.blk != nil {
		// A uid's shell holds files: it runs what that uid can.
		switch o := st.Op.(type) {
		case scenarios.Open, scenarios.Read, scenarios.Close, scenarios.Exec, scenarios.Sleep, scenarios.Sync:
		case scenarios.Write, scenarios.Append, scenarios.Overwrite:
			if t := st.Touches(); len(t.Files) > 0 {
				return nil, fmt.Errorf("%s by root while uid %d holds files: use the full harness", o.Name(), r.blk.uid)
			}
		case scenarios.Mmap, scenarios.Mprotect, scenarios.Execveat:
			// No sh form at all: said below.
		default:
			return nil, fmt.Errorf("%s by root while uid %d holds files: use the full harness", o.Name(), r.blk.uid)
		}
	}
	switch o := st.Op.(type) {
	case scenarios.Open:
		return one(r.open(o))
	case scenarios.Read:
		f := r.fds[o.Handle]
		if f == nil || f.read {
			return nil, fmt.Errorf("read %s again: sh reads on from its offset, the model from the start (use the full harness)", o.Handle)
		}
		f.read = true
		return one("cat <&"+strconv.Itoa(f.n)+" >/dev/null", nil)
	case scenarios.Close:
		f := r.fds[o.Handle]
		if f == nil || f.blk != r.blk {
			return nil, fmt.Errorf("close %s, which another process holds: use the full harness", o.Handle)
		}
		delete(r.fds, o.Handle)
		if f.w {
			return one("exec "+strconv.Itoa(f.n)+">&-", nil)
		}
		return one("exec "+strconv.Itoa(f.n)+"<&-", nil)
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
			return one(r.handleWrite(o.Handle, o.Data))
		}
		var cmds []string
		def := uint32(0o644)
		if o.Mode&0o111 != 0 && !strings.HasPrefix(o.Data, "#!") {
			r.elf[path.Clean(o.Path)] = true
			c, err := r.asUser(o.Creds, `cp "$ELF" `+p(o.Path))
			if err != nil {
				return nil, err
			}
			c2, err := r.printf(o.Creds, ">>", o.Data, o.Path)
			if err != nil {
				return nil, err
			}
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
			return one(r.handleWrite(o.Handle, o.Data))
		}
		return one(r.printf(o.Creds, ">>", o.Data, o.Path))
	case scenarios.Overwrite:
		if o.Handle != "" {
			return one(r.handleWrite(o.Handle, o.Data))
		}
		off := "0"
		if r.elf[path.Clean(o.Path)] {
			off, r.elfUsed = "$E", true // after the program
		}
		if o.UID == 0 && o.GID == 0 {
			r.ow = true
			return one("printf "+pf(o.Data)+" | ow \""+off+"\" "+p(o.Path), nil)
		}
		c, err := r.asUser(o.Creds, "dd of="+p(o.Path)+" bs=1 seek="+off+" conv=notrunc 2>/dev/null")
		return one("printf "+pf(o.Data)+" | "+c, err)
	case scenarios.Truncate:
		n := strconv.FormatInt(o.Size, 10)
		if r.elf[path.Clean(o.Path)] {
			// After the program, as the harness truncates.
			n, r.elfUsed = "$((E + "+n+"))", true
		}
		return one("truncate -s "+n+" "+p(o.Path), nil)
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
		// setfattr reads a value starting 0x, 0s or " as encoded.
		v := o.Value
		if v == "" || !printable(v) || strings.HasPrefix(v, "0") || strings.HasPrefix(v, `"`) {
			return []string{"v=0x" + hex.EncodeToString([]byte(v)), "setfattr -n " + sq(o.Attr) + ` -v "$v" ` + p(o.Path)}, nil
		}
		return one("setfattr -n "+sq(o.Attr)+" -v "+sq(v)+" "+p(o.Path), nil)
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
	return nil, fmt.Errorf("%s needs a syscall the shell lacks (imasim scenario export --sh writes the full harness)", opName(st))
}

// open holds a file on the shell's next free descriptor (3 to 9, what
// POSIX sh redirects). Each mode is one sh redirection: r <, rw <> and
// a >> open as the harness does (O_CREAT on an existing file changes
// nothing IMA sees: Linux v7.1 fs/namei.c:do_open passes op->acc_mode,
// which O_CREAT does not set); trunc > unless the file is a program (the
// harness keeps the program). w has no sh form: >> adds O_APPEND, which
// IMA sees only as MAY_APPEND in a mask= rule (Linux v7.1:
// ima_main.c:ima_file_check, ima_policy.c:ima_match_rules) and in where
// the handle's writes go (refused below).
func (r *repro) open(o scenarios.Open) (string, error) {
	n := 3
	for _, f := range r.fds {
		n = max(n, f.n+1) // not reused: each handle keeps its number
	}
	if n > 9 {
		return "", fmt.Errorf("more than 7 files open: use the full harness")
	}
	redir := map[scenarios.OpenMode]string{scenarios.OpenRead: "<", scenarios.OpenReadWrite: "<>",
		scenarios.OpenAppend: ">>", scenarios.OpenTrunc: ">", scenarios.OpenWrite: ">>"}[o.Mode]
	switch {
	case redir == "":
		return "", fmt.Errorf("open mode %q", o.Mode)
	case o.Mode == scenarios.OpenTrunc && r.elf[path.Clean(o.Path)]:
		return "", fmt.Errorf("open trunc of a program: use the full harness")
	case o.Mode == scenarios.OpenWrite && r.mask:
		return "", fmt.Errorf("open w (O_WRONLY) and a mask= rule: sh has only >> and >, use the full harness")
	}
	f := &fd{n: n, app: o.Mode == scenarios.OpenAppend, w: strings.HasPrefix(redir, ">")}
	if o.UID != 0 || o.GID != 0 {
		if o.GID != o.UID {
			return "", fmt.Errorf("gid %d differs from uid %d: use the full harness", o.GID, o.UID)
		}
		if r.blk == nil {
			r.blk, r.as, r.blocks = &holder{uid: o.UID}, true, true
		} else if r.blk.uid != o.UID {
			return "", fmt.Errorf("uid %d opens while uid %d holds files: use the full harness", o.UID, r.blk.uid)
		}
	} else if r.blk != nil {
		return "", fmt.Errorf("root opens while uid %d holds files: use the full harness", r.blk.uid)
	}
	f.blk = r.blk
	r.fds[o.Handle] = f
	c := "exec " + strconv.Itoa(n) + redir + p(o.Path)
	if o.Mode == scenarios.OpenWrite {
		c += " # w, plus O_APPEND"
	}
	return c, nil
}

// handleWrite writes through an O_APPEND handle, at the end as the
// harness does; on another handle the harness writes at a fixed offset,
// which sh cannot.
func (r *repro) handleWrite(h, data string) (string, error) {
	f := r.fds[h]
	if f == nil || !f.app {
		return "", fmt.Errorf("write through %s at an offset: use the full harness", h)
	}
	return "printf %s " + sq(data) + " >&" + strconv.Itoa(f.n), nil
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
		return "printf " + pf(content) + " " + op + p(file), nil
	}
	if !printable(content) {
		return "", fmt.Errorf("binary data written as uid %d: use the full harness", c.UID)
	}
	return r.asUser(c, `sh -c 'printf %s "$1" `+op+`"$2"' sh `+sq(content)+" "+p(file))
}

func printable(s string) bool {
	for _, c := range []byte(s) {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// pf is printf's arguments for data: %s and the data, or for bytes a
// line cannot hold a format of octal escapes.
func pf(data string) string {
	if printable(data) {
		return "%s " + sq(data)
	}
	var b strings.Builder
	for _, c := range []byte(data) {
		switch {
		case c == '%':
			b.WriteString("%%")
		case c == '\\':
			b.WriteString(`\\`)
		case c < 0x20 || c > 0x7e:
			fmt.Fprintf(&b, `\%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	return sq(b.String())
}

func ifOpts(o string) string {
	if o == "" {
		return ""
	}
	return "-o " + sq(o) + " "
}

// expect renders a count check; false for what only imasim judges.
func (r *repro) expect(x scenarios.Expect) (string, bool) {
	t := sq(ascii(x.Text))
	switch x.Kind {
	case "audit":
		r.audits = true
		return fmt.Sprintf(`check %s "$(audits %s)" %d`, t, sq(path.Clean(x.Path)), x.N), true
	case "measure":
		r.measure = true
		return fmt.Sprintf(`check %s "$(measured %s)" %d`, t, sq(path.Clean(x.Path)), x.N), true
	case "measurements":
		r.counts = true
		return fmt.Sprintf(`check %s $(($(cat $IMA/runtime_measurements_count) - C0)) %d`, t, x.N), true
	case "violations":
		r.viols = true
		return fmt.Sprintf(`check %s $(($(cat $IMA/violations) - V0)) %d`, t, x.N), true
	}
	return "", false
}
