package derive

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/cache"
)

// trees are the kernel source trees on this machine: $IMASIM_DERIVE_TREES
// (colon-separated: a Debian linux-source-X tree, a git checkout, or a copy
// of just derive.Files) and the trees imasim kernel build caches.
func trees(t *testing.T) []string {
	var out []string
	for _, d := range filepath.SplitList(os.Getenv("IMASIM_DERIVE_TREES")) {
		if d != "" {
			out = append(out, d)
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		for _, g := range []string{"source/*/tree", "derive/*/tree"} { // imasim kernel build; make derive-trees
			m, _ := filepath.Glob(filepath.Join(home, ".cache/imasim/kernels", g))
			out = append(out, m...)
		}
	}
	var ok []string
	for _, d := range out {
		if _, err := os.Stat(filepath.Join(d, "security/integrity/ima/ima_main.c")); err == nil {
			ok = append(ok, d)
		}
	}
	if len(ok) == 0 {
		t.Skip("no kernel source tree: run make derive-trees, or set IMASIM_DERIVE_TREES=DIR[:DIR]")
	}
	return ok
}

// Derive reproduces the built-in profile of the tree's kernel, switch by
// switch (the test picks the profile by version; derive itself never does).
func TestDeriveMatchesBuiltins(t *testing.T) {
	for _, dir := range trees(t) {
		r, err := Derive(dir)
		require.NoError(t, err, dir)
		p, err := cache.ProfileFor(r.Version)
		if err != nil {
			t.Logf("%s: Linux %s has no built-in profile to compare with", dir, r.Version)
			continue
		}
		t.Logf("%s: Linux %s vs profile %s", dir, r.Version, p.Name)
		assert.Empty(t, Diff(r, p), "%s (Linux %s)", dir, r.Version)
		assert.Empty(t, r.Undecided(), dir)
		for _, f := range r.Findings {
			assert.NotEmpty(t, f.File, "%s: %s cites no file", dir, f.Key)
			if f.Line == 0 {
				assert.Regexp(t, `\bno\b`, f.Shape, "%s: %s=%s cites no line but is not an absence", dir, f.Key, f.Value)
			}
		}
		// The written profile parses and carries the same switches.
		var b bytes.Buffer
		require.NoError(t, r.WriteProfile(&b, "derived"))
		q, err := cache.ParseProfile(&b, "derived.profile", nil)
		require.NoError(t, err, b.String())
		assert.Empty(t, Diff(r, q), "written profile")
		assert.Equal(t, cache.EvidenceSource, q.Evidence)
	}
}

// Undoing one switch's code in a copy of a tree flips that switch or
// leaves it undecided.
func TestDeriveMutations(t *testing.T) {
	muts := []struct {
		key, file, re, repl string
		re2, repl2          string // a second edit in the same file
	}{
		{key: "truncate-resets", file: "security/integrity/ima/ima_main.c", re: `LSM_HOOK_INIT\((path|file)_truncate`, repl: "LSM_HOOK_INIT(path_chmod_x"},
		{key: "violations", file: "security/integrity/ima/ima_main.c", re: `IMA_MAY_EMIT_TOMTOU|IMA_EMITTED_OPENWRITERS`, repl: "IMA_NOT_A_FLAG"},
		{key: "collect", file: "security/integrity/ima/ima_api.c", re: `inode_peek_iversion`, repl: "inode_something"},
		{key: "collect", file: "security/integrity/ima/ima_api.c", re: `inode_query_iversion`, repl: "inode_something"},
		{key: "evm-metadata", file: "security/integrity/ima/ima_main.c", re: `evm_metadata_changed\(`, repl: "evm_other("},
		{key: "last-writer", file: "security/integrity/ima/ima_main.c", re: `ima_detect_file_change\(`, repl: "ima_other_change("},
		{key: "last-writer", file: "security/integrity/ima/ima_main.c", re: `IS_I_VERSION\(inode\) \|\|`, repl: "0 ||"},
		{key: "stacked", file: "security/integrity/ima/ima_main.c", re: `d_real_inode\(|backing_inode|real_inode`, repl: "some_inode"},
		{key: "fs.xfs", file: "fs/xfs/xfs_super.c", re: `FS_MGTIME`, repl: "0"},
		{key: "fs.tmpfs", file: "mm/shmem.c", re: `FS_MGTIME`, repl: "0"},
		// "tmpfs: preserve SB_I_VERSION on remount" undone: back into fill_super.
		{key: "remount-clears-iversion", file: "mm/shmem.c", re: `fc->sb_flags \|= SB_I_VERSION;`, repl: ";", re2: `sb->s_flags \|= SB_NOSEC;`, repl2: "sb->s_flags |= SB_NOSEC | SB_I_VERSION;"},
		{key: "change-cookie", file: "include/linux/stat.h", re: `#define\s+STATX_CHANGE_COOKIE`, repl: "#define STATX_OTHER"},
		{key: "feature.backing-file", file: "fs/backing-file.c", re: `(?s).*`, repl: ""},
		{key: "feature.mmap-backing-file-hook", file: "fs/backing-file.c", re: `security_mmap_backing_file\(`, repl: "security_other_hook("},
	}
	ran := 0
	for _, dir := range trees(t) {
		orig, err := Derive(dir)
		require.NoError(t, err)
		for _, m := range muts {
			src, err := os.ReadFile(filepath.Join(dir, m.file))
			if err != nil || !regexp.MustCompile(m.re).Match(src) {
				continue // this tree does not have the shape to undo
			}
			cp := copyTree(t, dir)
			p := filepath.Join(cp, m.file)
			if m.key == "feature.backing-file" {
				require.NoError(t, os.Remove(p))
			} else {
				out := regexp.MustCompile(m.re).ReplaceAll(src, []byte(m.repl))
				if m.re2 != "" {
					out = regexp.MustCompile(m.re2).ReplaceAll(out, []byte(m.repl2))
				}
				require.NoError(t, os.WriteFile(p, out, 0o644))
			}
			r, err := Derive(cp)
			require.NoError(t, err)
			before, after := orig.Value(m.key), r.Value(m.key)
			assert.NotEqual(t, before, after, "%s: undoing %q in %s left %s at %q", dir, m.re, m.file, m.key, after)
			// Nothing else moves.
			for _, f := range orig.Findings {
				// The hook lives in fs/backing-file.c: it goes with the file.
				follows := m.key == "feature.backing-file" && f.Key == "feature.mmap-backing-file-hook"
				if f.Key != m.key && !follows {
					assert.Equal(t, f.Value, r.Value(f.Key), "%s: undoing %s moved %s", dir, m.key, f.Key)
				}
			}
			ran++
		}
	}
	require.NotZero(t, ran, "no mutation applied to any tree")
}

// copyTree copies just the files derive reads.
func copyTree(t *testing.T, dir string) string {
	out := t.TempDir()
	for _, f := range Files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			continue
		}
		p := filepath.Join(out, f)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, b, 0o644))
	}
	return out
}

func TestFunc(t *testing.T) {
	src := "/* ima_check_last_writer(x) { */\nstatic void ima_check_last_writer(struct a *b,\n\t\tstruct file *f);\n" +
		"static void ima_check_last_writer(struct a *b,\n\t\tstruct file *f)\n{\n\tif (x) { y(\"}\"); }\n\t/* } */\n}\n" +
		"STATIC int\nxfs_vn_getattr(\n\tstruct kstat *s)\n{\n\treturn 0;\n}\n"
	start, body, ok := Func(src, "ima_check_last_writer")
	require.True(t, ok)
	assert.Equal(t, 4, lineOf(src, start), "the definition, not the comment or the prototype")
	assert.True(t, strings.HasPrefix(body, "{") && strings.HasSuffix(body, "}"))
	assert.Contains(t, body, `y("}")`)
	assert.Contains(t, body, "/* } */")
	_, body, ok = Func(src, "xfs_vn_getattr")
	require.True(t, ok)
	assert.Contains(t, body, "return 0;")
	_, _, ok = Func(src, "nope")
	assert.False(t, ok)
	_, _, ok = Func("int f(void)\n{\n\tif (a) {\n", "f")
	assert.False(t, ok, "unclosed")
}

func TestDeriveRefusesNonTrees(t *testing.T) {
	_, err := Derive(t.TempDir())
	assert.ErrorContains(t, err, "not a kernel tree")
	d := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(d, "Makefile"), []byte("VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 1\n"), 0o644))
	_, err = Derive(d)
	assert.ErrorContains(t, err, "ima_main.c")
	// A symlink out of the tree is not followed.
	require.NoError(t, os.MkdirAll(filepath.Join(d, "security/integrity/ima"), 0o755))
	require.NoError(t, os.Symlink("/etc/hostname", filepath.Join(d, "security/integrity/ima/ima_main.c")))
	_, err = Derive(d)
	assert.Error(t, err)
}

func FuzzFunc(f *testing.F) {
	f.Add("static int f(int a)\n{\n\treturn a;\n}\n", "f")
	f.Add("int g(void) { /* } */ \"}\" }", "g")
	f.Fuzz(func(t *testing.T, text, name string) {
		if name == "" || strings.ContainsAny(name, "\n") {
			return
		}
		start, body, ok := Func(text, name)
		if !ok {
			return
		}
		if start < 0 || start > len(text) || !strings.Contains(text[start:], body) {
			t.Fatalf("body not in text after start %d", start)
		}
		if !strings.HasPrefix(body, "{") || !strings.HasSuffix(body, "}") {
			t.Fatalf("body %q not braced", body)
		}
		if !strings.Contains(text[start:start+len(name)+strings.Index(text[start:], name)], name) {
			t.Fatalf("start %d does not lead to %q", start, name)
		}
	})
}

func FuzzMakefileVersion(f *testing.F) {
	f.Add("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 118\nEXTRAVERSION =\n")
	f.Add("VERSION = 7\nPATCHLEVEL = 2\n")
	f.Fuzz(func(t *testing.T, mk string) {
		v, err := makefileVersion(mk)
		if err != nil {
			return
		}
		for _, want := range []string{"VERSION", "PATCHLEVEL", "SUBLEVEL"} {
			if !strings.Contains(mk, want) {
				t.Fatalf("accepted %q without %s", mk, want)
			}
		}
		if v.Major > 1<<20 || v.Minor > 1<<20 || v.Patch > 1<<20 {
			t.Fatalf("unbounded %+v", v)
		}
	})
}

// The built-in patches imasim kernel build applies to linux-source-7.2
// (era-6.13, then fix-v2) give a tree with 6.13's and fix-v2's IMA code on
// 7.2's VFS: derive must find the IMA switches of those profiles; only
// what the 7.2 base changed elsewhere (the truncate hooks, tmpfs keeping
// SB_I_VERSION on remount, the backing-file LSM hook) may differ.
func TestDerivePatchedTrees(t *testing.T) {
	const patches = "../../scenarios/vm/kbuild/patches"
	if _, err := os.Stat(filepath.Join(patches, "era-6.13.patch")); err != nil {
		t.Skip("no built-in kernel patches in this checkout")
	}
	if _, err := exec.LookPath("patch"); err != nil {
		t.Skip("patch(1) not installed")
	}
	var base string
	for _, d := range trees(t) {
		if r, err := Derive(d); err == nil && r.Version.Major == 7 && r.Version.Minor == 2 {
			base = d
			break
		}
	}
	if base == "" {
		t.Skip("no linux-source-7.2 tree (make derive-trees)")
	}
	dir := copyTree(t, base)
	steps := []struct{ patch, profile string }{{"era-6.13", "6.13"}, {"fix-v2", "fix-v2"}}
	for _, s := range steps {
		p, err := filepath.Abs(filepath.Join(patches, s.patch+".patch"))
		require.NoError(t, err)
		// -f: hunks for files derive does not copy (evm) are skipped.
		cmd := exec.Command("patch", "-p1", "-f", "-s", "--no-backup-if-mismatch", "-r", "-", "-i", p)
		cmd.Dir = dir
		out, _ := cmd.CombinedOutput()
		r, err := Derive(dir)
		require.NoError(t, err, string(out))
		prof, err := cache.LoadProfile(s.profile)
		require.NoError(t, err)
		for _, d := range Diff(r, prof) {
			key, _, _ := strings.Cut(d, ":")
			assert.Contains(t, []string{"truncate-resets", "remount-clears-iversion", "feature.mmap-backing-file-hook"}, key, "after %s: %s", s.patch, d)
		}
	}
}
