// Package scenarios holds the scenario format (docs/scenarios.md), the
// built-in catalogue, the engine that runs a scenario through the IMA
// cache model under a kernel profile, and the classifier that judges each
// IMA hook call against ground truth.
package scenarios

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Scenario is a parsed scenario file.
type Scenario struct {
	Name     string
	About    string
	Source   string
	File     string // where it was read from
	Policy   []PolicyLine
	Profiles []string
	Requires []Require
	Steps    []Step
	Expects  []Expect
}

// PolicyLine is one policy rule with its location.
type PolicyLine struct {
	Line int
	Rule string
}

// Require is a `requires:` item: root, fs=TYPE, feature=NAME, kernel>=V.
type Require struct {
	Kind, Value string
	Line        int
}

// Step is one operation: its line, its text and the typed op (step.go).
type Step struct {
	Line int
	Op   Op
	Text string
}

// Expect is one `expect` line, stating correct IMA behaviour.
type Expect struct {
	Line int
	Kind string // audit, measurements, violations, no-missed, no-excessive
	Path string
	N    int
	Text string
}

// Error locates a scenario error.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// opSpec: positional argument counts and allowed key=value options.
type opSpec struct {
	min, max int
	opts     []string
	usage    string
}

var ops = map[string]opSpec{
	"fs":          {2, 6, nil, "fs TYPE MOUNTPOINT [MOUNT-OPTION...]"},
	"mkdir":       {1, 1, nil, "mkdir PATH"},
	"overlay":     {1, 1, []string{"lower", "upper", "work"}, "overlay MOUNTPOINT lower=DIR[:DIR] [upper=DIR work=DIR]"},
	"write":       {2, 2, []string{"mode", "uid", "gid"}, "write PATH|%H CONTENT [mode=0755] [uid=N]"},
	"append":      {2, 2, []string{"uid", "gid"}, "append PATH|%H CONTENT [uid=N]"},
	"overwrite":   {2, 2, []string{"uid", "gid"}, "overwrite PATH|%H CONTENT (same size, in place)"},
	"truncate":    {2, 2, nil, "truncate PATH SIZE"},
	"copy":        {2, 2, []string{"mode"}, "copy SRC DST [mode=0755]"},
	"chmod":       {2, 2, nil, "chmod PATH MODE"},
	"chown":       {2, 2, nil, "chown PATH UID[:GID]"},
	"touch":       {1, 1, nil, "touch PATH"},
	"setxattr":    {3, 3, nil, "setxattr PATH NAME VALUE"},
	"open":        {3, 3, []string{"uid", "gid"}, "open %H PATH r|w|rw|a|trunc [uid=N]"},
	"read":        {1, 1, nil, "read %H"},
	"mmap":        {2, 2, nil, "mmap %H read|exec"},
	"mprotect":    {1, 1, nil, "mprotect %H (map it PROT_READ, then mprotect to add PROT_EXEC)"},
	"close":       {1, 1, nil, "close %H"},
	"exec":        {1, 1, []string{"uid", "gid"}, "exec PATH [uid=N] [gid=N]"},
	"execveat":    {2, 2, []string{"uid", "gid"}, "execveat PATH AT_EXECVE_CHECK [uid=N]"},
	"rename":      {2, 2, nil, "rename FROM TO"},
	"unlink":      {1, 1, nil, "unlink PATH"},
	"sync":        {0, 0, nil, "sync"},
	"drop_caches": {0, 0, nil, "drop_caches"},
	"sleep":       {1, 1, nil, "sleep DURATION (e.g. 10ms, 31s)"},
	"remount":     {1, 5, nil, "remount MOUNTPOINT [MOUNT-OPTION...]"},
}

// OpNames lists the step operations, sorted.
func OpNames() []string {
	var out []string
	for k := range ops {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// maxLine bounds one line of a scenario file.
const maxLine = 1 << 20

// Parse reads a scenario file; name is used in error locations.
func Parse(r io.Reader, name string) (*Scenario, error) {
	s := &Scenario{File: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxLine)
	ln := 0
	handles := map[string]string{} // open handles: their mode
	var about, source []string     // joined once at the end (repeated lines)
	fail := func(f string, a ...any) error { return &Error{name, ln, fmt.Sprintf(f, a...)} }
	for sc.Scan() {
		ln++
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if key, val, ok := headerLine(line); ok {
			switch key {
			case "name":
				s.Name = val
			case "about":
				about = append(about, val)
			case "source":
				source = append(source, val)
			case "policy":
				if val == "" {
					return nil, fail("policy: empty rule")
				}
				s.Policy = append(s.Policy, PolicyLine{ln, val})
			case "profiles":
				s.Profiles = append(s.Profiles, splitComma(val)...)
			case "requires":
				for _, it := range splitComma(val) {
					rq, err := parseRequire(it)
					if err != nil {
						return nil, fail("requires: %v", err)
					}
					rq.Line = ln
					s.Requires = append(s.Requires, rq)
				}
			default:
				return nil, fail("unknown header %q (want name, about, source, policy, profiles, requires)", key)
			}
			continue
		}
		toks, err := tokenize(line)
		if err != nil {
			return nil, fail("%v", err)
		}
		if toks[0] == "expect" {
			e, err := parseExpect(toks[1:])
			if err != nil {
				return nil, fail("%v", err)
			}
			e.Line, e.Text = ln, line
			s.Expects = append(s.Expects, e)
			continue
		}
		spec, ok := ops[toks[0]]
		if !ok {
			return nil, fail("unknown operation %q (want one of %s, or expect)", toks[0], strings.Join(OpNames(), " "))
		}
		name := toks[0]
		var args []string
		opts := map[string]string{}
		for _, t := range toks[1:] {
			if k, v, ok := strings.Cut(t, "="); ok && isOptKey(k) {
				if !slices.Contains(spec.opts, k) {
					return nil, fail("%s: unknown option %q (usage: %s)", name, k, spec.usage)
				}
				if _, dup := opts[k]; dup {
					return nil, fail("%s: option %s given twice", name, k)
				}
				opts[k] = v
				continue
			}
			args = append(args, t)
		}
		if len(args) < spec.min || len(args) > spec.max {
			return nil, fail("%s: want %d..%d arguments, got %d (usage: %s)", name, spec.min, spec.max, len(args), spec.usage)
		}
		st := Step{Line: ln, Op: builders[name](args, opts), Text: line}
		if err := checkStep(st, args, opts, handles); err != nil {
			return nil, fail("%s: %v", name, err)
		}
		s.Steps = append(s.Steps, st)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			ln++
			return nil, fail("line longer than the limit of %d MiB", maxLine>>20)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.About, s.Source = strings.Join(about, " "), strings.Join(source, " ")
	if s.Name == "" {
		return nil, &Error{name, 1, "missing name: header"}
	}
	if len(s.Steps) == 0 {
		return nil, &Error{name, ln, "no steps"}
	}
	return s, nil
}

func headerLine(line string) (key, val string, ok bool) {
	k, v, found := strings.Cut(line, ":")
	if !found || k == "" {
		return "", "", false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c == '-') {
			return "", "", false
		}
	}
	return k, strings.TrimSpace(v), true
}

func isOptKey(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// tokenize splits on blanks; "double quoted" tokens use Go escapes.
func tokenize(line string) ([]string, error) {
	var out []string
	for i := 0; i < len(line); {
		switch {
		case line[i] == ' ' || line[i] == '\t':
			i++
		case line[i] == '"':
			j := i + 1
			for ; j < len(line); j++ {
				if line[j] == '\\' {
					j++
					continue
				}
				if line[j] == '"' {
					break
				}
			}
			if j >= len(line) {
				return nil, fmt.Errorf("unterminated quote at column %d", i+1)
			}
			s, err := strconv.Unquote(line[i : j+1])
			if err != nil {
				return nil, fmt.Errorf("bad quoted string at column %d: %v", i+1, err)
			}
			out = append(out, s)
			i = j + 1
		default:
			j := i
			for j < len(line) && line[j] != ' ' && line[j] != '\t' {
				j++
			}
			out = append(out, line[i:j])
			i = j
		}
	}
	return out, nil
}

// checkStep checks a step's arguments (a, opts as written) and its typed
// op; handles tracks the open handles across steps.
func checkStep(st Step, a []string, opts map[string]string, handles map[string]string) error {
	for _, k := range []string{"uid", "gid"} {
		if v, ok := opts[k]; ok {
			if _, err := strconv.ParseUint(v, 10, 32); err != nil {
				return fmt.Errorf("%s=%q is not a number", k, v)
			}
		}
	}
	if v, ok := opts["mode"]; ok {
		if _, err := strconv.ParseUint(v, 8, 32); err != nil {
			return fmt.Errorf("mode=%q is not an octal mode", v)
		}
	}
	for _, p := range st.Touches().Paths {
		if err := CheckPath(p); err != nil {
			return err
		}
	}
	for _, k := range []string{"lower", "upper", "work"} {
		for _, d := range strings.Split(opts[k], ":") {
			if d == "" {
				continue
			}
			if err := CheckPath(d); err != nil {
				return fmt.Errorf("%s=%w", k, err)
			}
		}
	}
	var mountOpts []string
	switch o := st.Op.(type) {
	case FS:
		mountOpts = o.Options
	case Remount:
		mountOpts = o.Options
	}
	for _, o := range mountOpts {
		if err := CheckMountOption(o); err != nil {
			return err
		}
	}
	isH := IsHandle
	op := st.Op.Name()
	switch op {
	case "open":
		h := a[0]
		if !isH(h) {
			return fmt.Errorf("handle name must start with %%, got %q", h)
		}
		if handles[h] != "" {
			return fmt.Errorf("handle %s is already open", h)
		}
		if !slices.Contains([]string{"r", "w", "rw", "a", "trunc"}, a[2]) {
			return fmt.Errorf("mode %q: want r, w, rw, a or trunc", a[2])
		}
		handles[h] = a[2]
	case "read", "mmap", "mprotect", "close":
		if !isH(a[0]) || handles[a[0]] == "" {
			return fmt.Errorf("%q is not an open handle", a[0])
		}
		if m := handles[a[0]]; op == "mprotect" && m != "r" && m != "rw" {
			return fmt.Errorf("%s is not open for reading (mprotect maps it PROT_READ first)", a[0])
		}
		if op == "close" {
			delete(handles, a[0])
		}
		if op == "mmap" && !slices.Contains([]string{"read", "exec"}, a[1]) {
			return fmt.Errorf("want read or exec, got %q", a[1])
		}
	case "write", "append", "overwrite":
		if isH(a[0]) && handles[a[0]] == "" {
			return fmt.Errorf("%q is not an open handle", a[0])
		}
	case "execveat":
		if a[1] != "AT_EXECVE_CHECK" {
			return fmt.Errorf("only AT_EXECVE_CHECK is modelled, got %q", a[1])
		}
	case "truncate":
		n, err := strconv.ParseInt(a[1], 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("size %q is not a number of bytes", a[1])
		}
		if n > MaxFileSize {
			return fmt.Errorf("size %d is over the limit of %d MiB for one file (the model holds file contents in memory)", n, MaxFileSize>>20)
		}
	case "chmod":
		if _, err := strconv.ParseUint(a[1], 8, 32); err != nil {
			return fmt.Errorf("mode %q is not octal", a[1])
		}
	case "chown":
		u, g, _ := strings.Cut(a[1], ":")
		if _, err := strconv.ParseUint(u, 10, 32); err != nil {
			return fmt.Errorf("uid %q is not a number", u)
		}
		if g != "" {
			if _, err := strconv.ParseUint(g, 10, 32); err != nil {
				return fmt.Errorf("gid %q is not a number", g)
			}
		}
	case "sleep":
		if _, err := ParseDuration(a[0]); err != nil {
			return err
		}
	case "overlay":
		if opts["lower"] == "" {
			return fmt.Errorf("lower= is required")
		}
		if (opts["upper"] == "") != (opts["work"] == "") {
			return fmt.Errorf("upper= and work= go together")
		}
	}
	if op == "fs" && !slices.Contains(FSTypes, a[0]) {
		return fmt.Errorf("unknown filesystem type %q (want one of %s; overlayfs has its own step)", a[0], strings.Join(FSTypes, ", "))
	}
	return nil
}

// CheckPath checks a scenario path: absolute, no ".." component, and no
// character that mount options give a meaning to (',' separates options,
// ':' overlay layers, '\\' escapes them) or control character. Scenario
// paths are mapped under the executor's root (scenarios/real) and some go
// into overlayfs mount options verbatim.
func CheckPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("%q: paths must be absolute", p)
	}
	for _, c := range p {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%q: control character in a path", p)
		}
	}
	if strings.ContainsAny(p, ",:\\") {
		return fmt.Errorf("%q: a path cannot carry ',', ':' or '\\' (they are mount-option syntax)", p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return fmt.Errorf("%q: paths cannot contain \"..\"", p)
		}
	}
	return nil
}

// MountFlagOptions are the mount options that are mount(2) flags.
var MountFlagOptions = []string{"noatime", "strictatime", "relatime", "iversion", "noiversion", "ro", "rw", "defaults"}

// MountDataOptions are the filesystem options a scenario may pass to a
// real mount (KEY or KEY=VALUE, VALUE of letters, digits and ._+-).
// Options naming other devices or paths (xfs logdev=/rtdev=, ext4
// journal_path=/journal_dev=, btrfs device=, overlay's dirs) are not among
// them: a scenario file must not reach outside its own filesystems.
var MountDataOptions = []string{"size", "nr_inodes", "nr_blocks", "mode", "uid", "gid", "huge", "inode64", "inode32",
	"noswap", "nouuid", "noquota", "largeio", "nolargeio", "discard", "nodiscard", "data", "commit", "delalloc",
	"nodelalloc", "barrier", "nobarrier", "user_xattr", "acl", "noacl", "compress", "compress-force",
	"space_cache", "ssd", "nossd", "autodefrag", "noautodefrag", "datacow", "nodatacow", "datasum", "nodatasum",
	"max_inline", "flushoncommit", "noflushoncommit", "dax", "i_version"}

// CheckMountOption checks one fs/remount option against the flags and
// MountDataOptions.
func CheckMountOption(o string) error {
	if slices.Contains(MountFlagOptions, o) {
		return nil
	}
	k, v, hasV := strings.Cut(o, "=")
	ok := slices.Contains(MountDataOptions, k) && (!hasV || v != "")
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._+-", c)) {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("mount option %q is not one a scenario may give (flags: %s; filesystem options: %s, with values of letters, digits and ._+-)",
			o, strings.Join(MountFlagOptions, " "), strings.Join(MountDataOptions, " "))
	}
	return nil
}

// MaxFileSize bounds a truncate step's size.
const MaxFileSize = 16 << 20

// FSTypes are the filesystems a scenario can create with `fs`.
var FSTypes = []string{"xfs", "ext4", "tmpfs", "btrfs"}

func parseExpect(t []string) (Expect, error) {
	bad := fmt.Errorf("expect: want 'expect audit PATH N', 'expect measurements N', 'expect measure PATH N', 'expect violations N', 'expect no missed' or 'expect no excessive'")
	if len(t) == 0 {
		return Expect{}, bad
	}
	num := func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("expect: %q is not a count", s)
		}
		return n, nil
	}
	switch t[0] {
	case "audit", "measure":
		if len(t) != 3 {
			return Expect{}, bad
		}
		n, err := num(t[2])
		return Expect{Kind: t[0], Path: t[1], N: n}, err
	case "measurements", "violations":
		if len(t) != 2 {
			return Expect{}, bad
		}
		n, err := num(t[1])
		return Expect{Kind: t[0], N: n}, err
	case "no":
		if len(t) == 2 && (t[1] == "missed" || t[1] == "excessive") {
			return Expect{Kind: "no-" + t[1]}, nil
		}
	}
	return Expect{}, bad
}

func parseRequire(s string) (Require, error) {
	switch {
	case s == "root":
		return Require{Kind: "root"}, nil
	case strings.HasPrefix(s, "fs="):
		return Require{Kind: "fs", Value: strings.TrimPrefix(s, "fs=")}, nil
	case strings.HasPrefix(s, "feature="):
		return Require{Kind: "feature", Value: strings.TrimPrefix(s, "feature=")}, nil
	case strings.HasPrefix(s, "kernel>="):
		return Require{Kind: "kernel", Value: strings.TrimPrefix(s, "kernel>=")}, nil
	}
	return Require{}, fmt.Errorf("unknown requirement %q (want root, fs=TYPE, feature=NAME or kernel>=VERSION)", s)
}

// MaxSleep bounds a duration in nanoseconds (24 hours; the built-ins
// sleep 31 s at most). Larger values used to overflow int64 silently.
const MaxSleep = int64(24 * time.Hour)

// ParseDuration reads 10ms, 31s, 2m, 500us, 100ns.
func ParseDuration(s string) (int64, error) {
	units := []struct {
		suf string
		mul int64
	}{{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}}
	for _, u := range units {
		if strings.HasSuffix(s, u.suf) {
			n, err := strconv.ParseInt(strings.TrimSuffix(s, u.suf), 10, 64)
			if err == nil && n >= 0 {
				if n > MaxSleep/u.mul {
					return 0, fmt.Errorf("duration %q is over the limit of %s", s, time.Duration(MaxSleep))
				}
				return n * u.mul, nil
			}
		}
	}
	return 0, fmt.Errorf("bad duration %q (want e.g. 10ms, 31s, 2m)", s)
}

func splitComma(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
