// Package derive reads a kernel source tree (security/, fs/, mm/, include/)
// and writes a profile: for every switch the code shape it found there and
// its file:line, or "undecided" when no known shape matches. It goes by code
// shapes only, never by the tree's version.
package derive

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/imasim/imasim/cache"
)

// MaxFile bounds one source file read (the largest file derive reads,
// mm/shmem.c, is about 150 KiB).
const MaxFile = 4 << 20

// Files are the files derive reads, relative to the tree (all of them
// under security/, fs/, mm/ and include/, plus the Makefile).
var Files = []string{
	"Makefile",
	imaMain, imaAPI,
	"security/security.c",
	"include/linux/integrity.h", "include/linux/stat.h", "include/uapi/linux/stat.h", "include/uapi/linux/fcntl.h",
	"fs/overlayfs/super.c", "fs/xfs/xfs_super.c", "fs/xfs/xfs_iops.c", "fs/ext4/super.c",
	"fs/inode.c", "fs/exec.c", "fs/backing-file.c", "mm/shmem.c",
}

// Finding is one switch as read from the tree.
type Finding struct {
	Key   string `json:"key"`             // profile key: collect, stacked, fs.xfs, ...
	Value string `json:"value,omitempty"` // "" when undecided
	Shape string `json:"shape"`           // the code shape found, or why undecided
	File  string `json:"file,omitempty"`  // relative to the tree
	Line  int    `json:"line,omitempty"`
}

// Result is a derived profile.
type Result struct {
	Root     string              `json:"root"`
	Version  cache.KernelVersion `json:"version"`
	Findings []Finding           `json:"findings"`
}

// Value is the derived value of key, "" when undecided or absent.
func (r *Result) Value(key string) string {
	for _, f := range r.Findings {
		if f.Key == key {
			return f.Value
		}
	}
	return ""
}

// Undecided lists the keys derive could not decide.
func (r *Result) Undecided() []string {
	var out []string
	for _, f := range r.Findings {
		if f.Value == "" {
			out = append(out, f.Key)
		}
	}
	return out
}

// tree reads files below root, refusing paths (and symlinks) that leave it.
type tree struct {
	root  string
	cache map[string]*src
}

type src struct {
	text string
	err  error
}

func (t *tree) read(rel string) (string, error) {
	if s, ok := t.cache[rel]; ok {
		return s.text, s.err
	}
	text, err := t.load(rel)
	t.cache[rel] = &src{text, err}
	return text, err
}

func (t *tree) load(rel string) (string, error) {
	p := filepath.Join(t.root, filepath.FromSlash(rel))
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	if r, err := filepath.Rel(t.root, real); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s: leaves the tree", rel)
	}
	f, err := os.Open(real)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > MaxFile {
		return "", fmt.Errorf("%s: larger than %d bytes", rel, MaxFile)
	}
	return string(b), nil
}

func (t *tree) exists(rel string) bool {
	_, err := t.read(rel)
	return err == nil
}

// lineOf is the 1-based line of byte offset off in text.
func lineOf(text string, off int) int { return strings.Count(text[:off], "\n") + 1 }

// Func finds the body of C function name in text: the offset of its
// definition line and the body from "{" to the matching "}" (comments and
// string literals are skipped when matching braces). ok is false when
// there is no definition or its braces do not close.
func Func(text, name string) (start int, body string, ok bool) {
	if !reIdent.MatchString(name) {
		return 0, "", false
	}
	re := regexp.MustCompile(`(?m)^(?:[A-Za-z_][^;{}()\n=]*[\s*])?` + regexp.QuoteMeta(name) + `\s*\(`)
	for _, m := range re.FindAllStringIndex(text, -1) {
		// the parameter list, then "{" (a prototype ends in ";")
		i := m[1]
		depth := 1
		for i < len(text) && depth > 0 {
			switch text[i] {
			case '(':
				depth++
			case ')':
				depth--
			}
			i++
		}
		j := i
		for j < len(text) && (text[j] == ' ' || text[j] == '\t' || text[j] == '\n' || text[j] == '\r') {
			j++
		}
		if j >= len(text) || text[j] != '{' {
			continue
		}
		end, closed := matchBrace(text, j)
		if !closed {
			return 0, "", false
		}
		return m[0], text[j : end+1], true
	}
	return 0, "", false
}

// matchBrace returns the offset of the "}" closing the "{" at open.
func matchBrace(text string, open int) (int, bool) {
	depth := 0
	for i := open; i < len(text); i++ {
		switch c := text[i]; {
		case c == '/' && i+1 < len(text) && text[i+1] == '*':
			k := strings.Index(text[i+2:], "*/")
			if k < 0 {
				return 0, false
			}
			i += k + 3
		case c == '/' && i+1 < len(text) && text[i+1] == '/':
			k := strings.IndexByte(text[i:], '\n')
			if k < 0 {
				return 0, false
			}
			i += k
		case c == '"' || c == '\'':
			for i++; i < len(text) && text[i] != c; i++ {
				if text[i] == '\\' {
					i++
				}
			}
		case c == '{':
			depth++
		case c == '}':
			depth--
			if depth == 0 {
				return i, true
			}
		}
	}
	return 0, false
}

// stripComments blanks C comments (keeping newlines), so shapes are
// matched in code only.
func stripComments(s string) string {
	b := []byte(s)
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '/' && b[i+1] == '*' {
			j := bytes.Index(b[i+2:], []byte("*/"))
			end := len(b)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			for k := i; k < end; k++ {
				if b[k] != '\n' {
					b[k] = ' '
				}
			}
			i = end - 1
		} else if b[i] == '/' && b[i+1] == '/' {
			for ; i < len(b) && b[i] != '\n'; i++ {
				b[i] = ' '
			}
		}
	}
	return string(b)
}

// fn is a located function: its file, first line and comment-free body.
type fn struct {
	file string
	line int
	body string
	off  int // byte offset of the body in the file
}

func (t *tree) fn(file, name string) (*fn, error) {
	text, err := t.read(file)
	if err != nil {
		return nil, err
	}
	start, body, ok := Func(text, name)
	if !ok {
		return nil, fmt.Errorf("%s: no function %s", file, name)
	}
	off := strings.Index(text[start:], body) + start
	return &fn{file: file, line: lineOf(text, start), body: stripComments(body), off: off}, nil
}

// at is the file:line of the first match of re in f's body (the
// function's line when there is none).
func (f *fn) at(text string, re string) int {
	loc := regexp.MustCompile(re).FindStringIndex(f.body)
	if loc == nil {
		return f.line
	}
	return lineOf(text, f.off+loc[0])
}

func has(s, re string) bool { return regexp.MustCompile(re).MatchString(s) }

// Derive reads the tree at root.
func Derive(root string) (*Result, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, err
	}
	t := &tree{root: abs, cache: map[string]*src{}}
	mk, err := t.read("Makefile")
	if err != nil {
		return nil, fmt.Errorf("%s: not a kernel tree: %w", root, err)
	}
	v, err := makefileVersion(mk)
	if err != nil {
		return nil, fmt.Errorf("%s/Makefile: %w", root, err)
	}
	if !t.exists("security/integrity/ima/ima_main.c") {
		return nil, fmt.Errorf("%s: no security/integrity/ima/ima_main.c", root)
	}
	r := &Result{Root: root, Version: v}
	for _, rule := range rules {
		f := rule.derive(t)
		f.Key = rule.key
		r.Findings = append(r.Findings, f)
	}
	return r, nil
}

var reIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var reMakeVar = regexp.MustCompile(`(?m)^(VERSION|PATCHLEVEL|SUBLEVEL)\s*=\s*(\d+)\s*$`)

func makefileVersion(mk string) (cache.KernelVersion, error) {
	var v [3]int
	seen := 0
	for _, m := range reMakeVar.FindAllStringSubmatch(mk, 3) {
		n, err := strconv.Atoi(m[2])
		if err != nil || n > 1<<20 {
			return cache.KernelVersion{}, fmt.Errorf("bad %s", m[1])
		}
		switch m[1] {
		case "VERSION":
			v[0] = n
		case "PATCHLEVEL":
			v[1] = n
		case "SUBLEVEL":
			v[2] = n
		}
		seen++
	}
	if seen < 3 {
		return cache.KernelVersion{}, errors.New("no VERSION, PATCHLEVEL and SUBLEVEL")
	}
	return cache.KernelVersion{Major: v[0], Minor: v[1], Patch: v[2]}, nil
}

// WriteProfile writes r as a profile file (docs/profiles.md): every
// decided switch with its shape and file:line as the citation, every
// undecided one as a comment, so the profile still parses and the reader
// sees what to check by hand.
func (r *Result) WriteProfile(w io.Writer, name string) error {
	var b strings.Builder
	v := r.Version
	ver := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	fmt.Fprintf(&b, "# Derived by imasim profile derive from %s (Linux %s): code shapes only.\n", r.Root, ver)
	fmt.Fprintf(&b, "# Not derived (kernel config, not source): template, hash.\n")
	if u := r.Undecided(); len(u) > 0 {
		fmt.Fprintf(&b, "# UNDECIDED, check by hand: %s\n", strings.Join(u, ", "))
	}
	fmt.Fprintf(&b, "name: %s\nabout: derived from the source of Linux %s\nkernels: %s .. %s\nevidence: source\n", name, ver, ver, ver)
	for _, f := range r.Findings {
		where := f.File
		if f.Line > 0 {
			where += ":" + strconv.Itoa(f.Line)
		}
		cite := fmt.Sprintf("Linux v%s: %s (%s)", ver, where, f.Shape)
		switch {
		case f.Value == "":
			fmt.Fprintf(&b, "# %s: UNDECIDED  # %s\n", f.Key, cite)
		case f.Value == Absent:
			fmt.Fprintf(&b, "# %s: absent  # %s\n", f.Key, cite)
		case strings.HasPrefix(f.Key, "feature."):
			fmt.Fprintf(&b, "%s: %s ..  # %s (present in this tree; when it arrived is not derived)\n", f.Key, ver, cite)
		default:
			fmt.Fprintf(&b, "%s: %s  # %s\n", f.Key, f.Value, cite)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Diff lists where r disagrees with profile p for a kernel of r's
// version: "key: derived X, profile Y" (undecided keys included).
func Diff(r *Result, p *cache.Profile) []string {
	var out []string
	for _, f := range r.Findings {
		var want string
		switch k := f.Key; {
		case k == "collect":
			want = p.Collect
		case k == "stacked":
			want = p.Stacked
		case k == "last-writer":
			want = p.LastWriter
		case k == "violations":
			want = p.Violations
		case k == "overlay-unverifiable":
			want = strconv.FormatBool(p.OverlayUnverifiable)
		case k == "truncate-resets":
			want = strconv.FormatBool(p.TruncateResets)
		case k == "evm-metadata":
			want = strconv.FormatBool(p.EVMMetadata)
		case k == "change-cookie":
			want = strconv.FormatBool(p.ChangeCookie)
		case strings.HasPrefix(k, "fs."):
			want = p.FSModel(strings.TrimPrefix(k, "fs."))
		case k == "remount-clears-iversion":
			var ts []string
			for t := range p.RemountClearsIVersion {
				ts = append(ts, t)
			}
			want = remountValue(ts)
		case strings.HasPrefix(k, "feature."):
			want = Absent
			if rg, ok := p.Features[strings.TrimPrefix(k, "feature.")]; ok && rg.Contains(r.Version) {
				want = "present"
			}
		}
		got := f.Value
		if k := f.Key; k == "remount-clears-iversion" && got != "" {
			got = remountValue(strings.Split(got, ","))
		}
		if got != want {
			if got == "" {
				got = "UNDECIDED"
			}
			out = append(out, fmt.Sprintf("%s: derived %s, profile %s has %s", f.Key, got, p.Name, want))
		}
	}
	return out
}

// remountValue is a sorted comma list, or "none".
func remountValue(ts []string) string {
	var keep []string
	for _, t := range ts {
		if t != "" && t != "none" {
			keep = append(keep, t)
		}
	}
	if len(keep) == 0 {
		return "none"
	}
	sort.Strings(keep)
	return strings.Join(keep, ",")
}
