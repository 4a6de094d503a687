// Package kbuild builds small IMA test kernels from source for imasim vm:
// Debian's linux-source-X.Y or a kernel tree, tinyconfig plus a shipped
// fragment, optional patches (built-in ones re-create kernel eras and
// patches under review), cached by inputs, stacked builds incremental.
package kbuild

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"

	"github.com/imasim/imasim/scenarios/vm"
)

//go:embed patches/*.patch
var patchFS embed.FS

// Patch is one patch to apply: a built-in name or a file.
type Patch struct {
	Name    string // built-in name, or the file's path
	Builtin bool
	Data    []byte
	// Base is the built-in patch this one applies on top of ("Base:"
	// header line); Profile the profile a kernel with it stands for.
	Base, Profile string
}

// Sum is the patch's content hash (the cache key part).
func (p *Patch) Sum() string {
	h := sha256.Sum256(p.Data)
	return hex.EncodeToString(h[:])
}

// MaxPatch bounds a patch file read from disk.
const MaxPatch = 16 << 20

// BuiltinPatches lists the shipped patch names.
func BuiltinPatches() []string {
	ents, _ := patchFS.ReadDir("patches")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".patch"))
	}
	sort.Strings(out)
	return out
}

// LoadPatch resolves a built-in name or reads a patch file.
func LoadPatch(nameOrPath string) (*Patch, error) {
	if !strings.Contains(nameOrPath, "/") {
		if b, err := patchFS.ReadFile("patches/" + nameOrPath + ".patch"); err == nil {
			p := &Patch{Name: nameOrPath, Builtin: true, Data: b}
			p.Base, p.Profile = header(b, "Base:"), header(b, "Profile:")
			return p, nil
		}
		if _, err := os.Stat(nameOrPath); err != nil {
			return nil, fmt.Errorf("%w: --patch %s: no such built-in patch (built-in: %s) or file", vm.ErrUsage, nameOrPath, strings.Join(BuiltinPatches(), ", "))
		}
	}
	fi, err := os.Stat(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("%w: --patch: %v", vm.ErrUsage, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: --patch %s: not a regular file", vm.ErrUsage, nameOrPath)
	}
	if fi.Size() > MaxPatch {
		return nil, fmt.Errorf("%w: --patch %s: %d bytes, more than %d", vm.ErrUsage, nameOrPath, fi.Size(), MaxPatch)
	}
	b, err := os.ReadFile(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("%w: --patch: %v", vm.ErrUsage, err)
	}
	if err := CheckPatch(b); err != nil {
		return nil, fmt.Errorf("%w: %s:%v", vm.ErrUsage, nameOrPath, err)
	}
	return &Patch{Name: nameOrPath, Data: b}, nil
}

// header returns the value of a "Key: value" line before the first diff.
func header(b []byte, key string) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "diff ") || strings.HasPrefix(l, "--- ") {
			break
		}
		if v, ok := strings.CutPrefix(l, key); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

var hunkRe = regexp.MustCompile(`^@@ -[0-9]+(,[0-9]+)? \+[0-9]+(,[0-9]+)? @@`)

// CheckPatch checks that b is a unified diff (or a git format-patch
// mail): at least one "--- "/"+++ " file pair followed by a hunk, and no
// file name that leaves the tree. Errors carry "LINE: ".
func CheckPatch(b []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	ln, files, hunks := 0, 0, 0
	prevMinus := false
	for sc.Scan() {
		ln++
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "--- "):
			prevMinus = true
			continue
		case strings.HasPrefix(l, "+++ ") && prevMinus:
			name := strings.Fields(strings.TrimPrefix(l, "+++ "))
			if len(name) == 0 {
				return fmt.Errorf("%d: +++ line without a file name", ln)
			}
			n := name[0]
			if strings.HasPrefix(n, "/") && n != "/dev/null" || strings.Contains("/"+n+"/", "/../") {
				return fmt.Errorf("%d: file name %q leaves the tree", ln, n)
			}
			files++
		case hunkRe.MatchString(l):
			if files == 0 {
				return fmt.Errorf("%d: hunk before any +++ file line", ln)
			}
			hunks++
		}
		prevMinus = false
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%d: %v", ln+1, err)
	}
	if files == 0 || hunks == 0 {
		return fmt.Errorf("1: not a unified diff (no ---/+++ file pair with a @@ hunk)")
	}
	return nil
}

// PatchError is a patch that does not apply: the file and hunks patch(1)
// reported.
type PatchError struct {
	Patch  string
	Failed []string // "FILE: hunk #N FAILED at L" lines
	Output string
}

func (e *PatchError) Error() string {
	return fmt.Sprintf("patch %s does not apply:\n  %s", e.Patch, strings.Join(e.Failed, "\n  "))
}

func (e *PatchError) Unwrap() error { return vm.ErrUsage }

// Apply applies p to the tree at dir with patch -p1 semantics: a dry run
// first, so a patch that fails leaves the tree untouched. GNU patch writes
// each file anew (rename), so hard links to a pristine tree are not
// modified through.
func Apply(ctx context.Context, dir string, p *Patch) error {
	args := []string{"-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-r", "-", "-d", dir}
	dry := exec.CommandContext(ctx, "patch", append(args, "--dry-run")...)
	dry.Stdin = bytes.NewReader(p.Data)
	out, err := dry.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &PatchError{Patch: p.Name, Failed: failedHunks(string(out)), Output: string(out)}
	}
	run := exec.CommandContext(ctx, "patch", append(args, "--quiet")...)
	run.Stdin = bytes.NewReader(p.Data)
	if out, err := run.CombinedOutput(); err != nil {
		return &PatchError{Patch: p.Name, Failed: failedHunks(string(out)), Output: string(out)}
	}
	return nil
}

// failedHunks turns patch(1)'s output into "FILE: Hunk #N FAILED at L."
// lines (also missing files and reversed patches).
func failedHunks(out string) []string {
	var res []string
	file, missing := "?", "?"
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "checking file "), strings.HasPrefix(l, "patching file "):
			file = l[strings.Index(l, "file ")+5:]
		case strings.HasPrefix(l, "|--- "), strings.HasPrefix(l, "|+++ ") && missing == "?":
			// The text patch quotes before "No file to patch".
			f := strings.Fields(l[5:])
			if len(f) > 0 && f[0] != "/dev/null" {
				_, missing, _ = strings.Cut(f[0], "/")
			}
		case strings.HasPrefix(l, "No file to patch"):
			res = append(res, missing+": no such file in the tree (its hunks ignored)")
			missing = "?"
		case strings.HasPrefix(l, "Hunk #") && strings.Contains(l, "FAILED"):
			res = append(res, file+": "+l)
		case strings.Contains(l, "Reversed (or previously applied)"), strings.HasPrefix(l, "patch: **** "):
			res = append(res, file+": "+l)
		}
	}
	if len(res) == 0 {
		res = append(res, strings.TrimSpace(out))
	}
	return res
}
