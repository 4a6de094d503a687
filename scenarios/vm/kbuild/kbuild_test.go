package kbuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/vm"
)

// Every built-in scenario can run on a kernel built with the fragment:
// its filesystems and appraisal are built in, and so is what every guest
// needs.
func TestFragmentCoversCatalogue(t *testing.T) {
	frag := FragmentConfig()
	assert.Empty(t, Lacks(frag, GuestNeeds, false), "fragment lacks options every guest needs")
	names := scenarios.BuiltinNames()
	require.NotEmpty(t, names)
	fsSeen := map[string]bool{}
	for _, n := range names {
		s, err := scenarios.Load(n)
		require.NoError(t, err, n)
		need := ScenarioNeeds(s)
		assert.Empty(t, Lacks(frag, need, false), "scenario %s", n)
		for _, r := range s.Requires {
			if r.Kind == "fs" {
				fsSeen[r.Value] = true
				assert.NotEmpty(t, fsNeeds[r.Value], "scenario %s requires fs=%s, which has no CONFIG_ mapping", n, r.Value)
			}
		}
	}
	// The catalogue uses these filesystems; the mapping must know them.
	for _, fs := range []string{"xfs", "ext4", "btrfs", "overlay", "tmpfs"} {
		assert.True(t, fsSeen[fs], "no scenario requires fs=%s any more: update fsNeeds", fs)
	}
	// IMA as Debian configures it, plus what the issue lists.
	for k, v := range map[string]string{"CONFIG_IMA_DEFAULT_TEMPLATE": `"ima-sig"`, "CONFIG_IMA_DEFAULT_HASH": `"sha256"`,
		"CONFIG_IMA_WRITE_POLICY": "y", "CONFIG_EVM": "y", "CONFIG_IKCONFIG": "y", "CONFIG_FS_VERITY": "y", "CONFIG_BLK_DEV_LOOP": "y"} {
		assert.Equal(t, v, frag[k], k)
	}
	for k, v := range frag {
		assert.NotEqual(t, "m", v, "%s: the fragment builds everything in", k)
	}
}

func TestScenarioNeeds(t *testing.T) {
	s, err := scenarios.Parse(strings.NewReader("name: x\nrequires: root, fs=btrfs\npolicy: appraise func=BPRM_CHECK\nfs btrfs /m\noverlay /o lower=/m\n"), "x.scn")
	if err != nil {
		// Keep the test about the mapping, not about the overlay syntax.
		s, err = scenarios.Parse(strings.NewReader("name: x\nrequires: root, fs=btrfs\npolicy: appraise func=BPRM_CHECK\nfs btrfs /m\n"), "x.scn")
	}
	require.NoError(t, err)
	need := ScenarioNeeds(s)
	assert.Contains(t, need, "CONFIG_BTRFS_FS")
	assert.Contains(t, need, "CONFIG_IMA_APPRAISE")
	assert.NotContains(t, need, "CONFIG_XFS_FS")
	cfg := Config{"CONFIG_BTRFS_FS": "m", "CONFIG_IMA_APPRAISE": "y", "CONFIG_IMA_APPRAISE_BOOTPARAM": "y", "CONFIG_OVERLAY_FS": "y"}
	assert.Empty(t, Lacks(cfg, need, true))
	assert.Equal(t, []string{"CONFIG_BTRFS_FS"}, Lacks(cfg, need, false))
}

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig(strings.NewReader("# c\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_S=\"x y\"\n\n"))
	require.NoError(t, err)
	assert.Equal(t, Config{"CONFIG_A": "y", "CONFIG_S": `"x y"`}, c)
	_, err = ParseConfig(strings.NewReader("CONFIG_A=y\nA=y\n"))
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "2: "), err.Error())
	_, err = ParseConfig(strings.NewReader(strings.Repeat("CONFIG_A=y\n", MaxConfig/10)))
	require.Error(t, err, "bounded")
}

// The sum ignores comments and order, and changes with any setting.
func TestFragmentSum(t *testing.T) {
	a, _ := ParseConfig(strings.NewReader("CONFIG_A=y\nCONFIG_B=y\n"))
	b, _ := ParseConfig(strings.NewReader("# x\nCONFIG_B=y\nCONFIG_A=y\n"))
	c, _ := ParseConfig(strings.NewReader("CONFIG_A=y\nCONFIG_B=m\n"))
	assert.Equal(t, FragmentSum(a), FragmentSum(b))
	assert.NotEqual(t, FragmentSum(a), FragmentSum(c))
}

func TestBuiltinPatches(t *testing.T) {
	assert.Equal(t, []string{"era-6.13", "fix-v2"}, BuiltinPatches())
	for _, n := range BuiltinPatches() {
		p, err := LoadPatch(n)
		require.NoError(t, err)
		require.NoError(t, CheckPatch(p.Data), n)
		assert.True(t, p.Builtin)
		prof, err := cache.LoadProfile(p.Profile)
		require.NoError(t, err, "%s: Profile: %s", n, p.Profile)
		assert.False(t, prof.Auto, "%s: a patch profile is never picked by version alone", n)
	}
	v2, _ := LoadPatch("fix-v2")
	assert.Equal(t, "era-6.13", v2.Base)
	// The seed's v2 touches these five files.
	for _, f := range []string{"include/linux/integrity.h", "security/integrity/evm/evm_crypto.c", "security/integrity/evm/evm_main.c",
		"security/integrity/ima/ima_api.c", "security/integrity/ima/ima_main.c"} {
		assert.Contains(t, string(v2.Data), "+++ b/"+f)
	}
	_, err := LoadPatch("no-such-patch")
	assert.ErrorIs(t, err, vm.ErrUsage)
}

func TestCheckPatch(t *testing.T) {
	good := "hdr\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n"
	require.NoError(t, CheckPatch([]byte(good)))
	for _, bad := range []string{"", "just text\n", "--- a/f\n+++ b/f\n", "--- a/f\n+++ ../../etc/passwd\n@@ -1 +1 @@\n", "--- a\n+++ /etc/x\n@@ -1 +1 @@\n"} {
		err := CheckPatch([]byte(bad))
		require.Error(t, err, "%q", bad)
		assert.Regexp(t, `^[0-9]+: `, err.Error())
	}
}

func needPatch(t *testing.T) {
	if _, err := exec.LookPath("patch"); err != nil {
		t.Skip("patch(1) not installed (apt-get install patch)")
	}
}

// A patch that does not apply names the file and the hunk and leaves the
// tree as it was; the error is a usage error (exit 2).
func TestApplyFailureNamesHunk(t *testing.T) {
	needPatch(t)
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "security/ima"), 0o755))
	orig := "one\ntwo\nthree\nfour\nfive\nsix\nseven\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "security/ima/a.c"), []byte(orig), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.c"), []byte("x\n"), 0o644))
	p := &Patch{Name: "t.patch", Data: []byte("--- a/b.c\n+++ b/b.c\n@@ -1 +1 @@\n-x\n+y\n" +
		"--- a/security/ima/a.c\n+++ b/security/ima/a.c\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n@@ -5,3 +5,3 @@\n five\n-SIX\n+6\n seven\n")}
	err := Apply(context.Background(), dir, p)
	var pe *PatchError
	require.ErrorAs(t, err, &pe)
	assert.ErrorIs(t, err, vm.ErrUsage)
	assert.Contains(t, err.Error(), "security/ima/a.c: Hunk #2 FAILED at 5")
	b, _ := os.ReadFile(filepath.Join(dir, "security/ima/a.c"))
	assert.Equal(t, orig, string(b), "a failing patch leaves the tree untouched")
	b, _ = os.ReadFile(filepath.Join(dir, "b.c"))
	assert.Equal(t, "x\n", string(b))
}

// Applying through a hard link does not change the linked (pristine) file.
func TestApplyBreaksHardLinks(t *testing.T) {
	needPatch(t)
	pristine, tree := t.TempDir(), filepath.Join(t.TempDir(), "tree")
	require.NoError(t, os.WriteFile(filepath.Join(pristine, "f"), []byte("x\n"), 0o644))
	require.NoError(t, copyTree(context.Background(), pristine, tree, true))
	require.NoError(t, Apply(context.Background(), tree, &Patch{Name: "p", Data: []byte("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-x\n+y\n")}))
	b, _ := os.ReadFile(filepath.Join(pristine, "f"))
	assert.Equal(t, "x\n", string(b))
	b, _ = os.ReadFile(filepath.Join(tree, "f"))
	assert.Equal(t, "y\n", string(b))
}

func TestToolchainMissing(t *testing.T) {
	old := lookPath
	defer func() { lookPath = old }()
	lookPath = func(f string) (string, error) {
		if f == "flex" || f == "bison" {
			return "", exec.ErrNotFound
		}
		return old(f)
	}
	err := CheckToolchain()
	require.ErrorIs(t, err, vm.ErrCannotRun)
	assert.Contains(t, err.Error(), "apt-get install flex bison")
}

// fakeImage is a minimal x86 boot header with a version string, enough
// for vm.BzImageRelease.
func fakeImage(release string) []byte {
	b := make([]byte, 0x400)
	copy(b[0x202:], "HdrS")
	off := 0x300 - 0x200
	b[0x20E], b[0x20F] = byte(off), byte(off>>8)
	copy(b[0x300:], release+" (imasim@imasim) #1\x00")
	return b
}

// fakeTree is a "kernel tree" whose Makefile stands in for kbuild: it
// writes .config from the merged fragment, compiles one "object" per
// source file newer than it (counting into compiled.log) and produces a
// boot image. It exercises configure, compile, cache and stacking.
func fakeTree(t *testing.T) string {
	dir := t.TempDir()
	mk := `all:
tinyconfig:
	echo CONFIG_64BIT=y > .config
olddefconfig:
	true
bzImage: $(patsubst %.c,%.o,$(wildcard src/*.c))
	mkdir -p arch/x86/boot
	cp image.bin arch/x86/boot/bzImage
%.o: %.c
	@echo "  CC      $@"
	cp $< $@
	echo $@ >> compiled.log
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Makefile"), []byte(mk), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "scripts/kconfig"), 0o755))
	merge := "#!/bin/sh\n# -m -O DIR BASE FRAG\ncat \"$5\" >> \"$4\"\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "scripts/kconfig/merge_config.sh"), []byte(merge), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "image.bin"), fakeImage("7.2.13"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "src"), 0o755))
	for _, f := range []string{"a.c", "b.c", "c.c"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "src", f), []byte(f+"\n"), 0o644))
	}
	return dir
}

func needToolchain(t *testing.T) {
	if err := CheckToolchain(); err != nil {
		t.Skip(err)
	}
}

// Build, cache hit, stacked build reusing objects, failure with log tail.
func TestBuildCacheAndStacking(t *testing.T) {
	needToolchain(t)
	src := fakeTree(t)
	cacheDir := t.TempDir()
	frag := Config{"CONFIG_X": "y"}
	var log bytes.Buffer
	pa := &Patch{Name: "a.patch", Data: []byte("--- a/src/a.c\n+++ b/src/a.c\n@@ -1 +1 @@\n-a.c\n+A\n")}
	o := Options{Source: src, Fragment: frag, Name: "t1", Cache: cacheDir, Log: &log, Jobs: 1, Profile: "7.1"}
	m, err := Build(context.Background(), o)
	require.NoError(t, err, log.String())
	assert.Equal(t, "7.2.13", m.Release)
	assert.Equal(t, 3, m.Compiled)
	assert.FileExists(t, m.Image)
	assert.FileExists(t, filepath.Join(m.Dir, "config"))
	compiled := func(m *Meta) string {
		b, _ := os.ReadFile(filepath.Join(m.Dir, "tree", "compiled.log"))
		return string(b)
	}
	assert.Equal(t, "src/a.o\nsrc/b.o\nsrc/c.o\n", compiled(m))
	// The user's tree is never written to.
	assert.NoFileExists(t, filepath.Join(src, ".config"))
	assert.NoFileExists(t, filepath.Join(src, "src/a.o"))

	// Same inputs: found in the cache, nothing compiled.
	log.Reset()
	m2, err := Build(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, m.Key, m2.Key)
	assert.Contains(t, log.String(), "cached")
	assert.NotContains(t, log.String(), "compile")
	assert.Equal(t, "src/a.o\nsrc/b.o\nsrc/c.o\n", compiled(m2))
	got, err := Lookup(cacheDir, "t1")
	require.NoError(t, err)
	assert.Equal(t, m.Key, got.Key)
	assert.Equal(t, "7.1", got.Profile)
	assert.NotNil(t, ForImage(m.Image))

	// A different fragment is a different build.
	o2 := o
	o2.Fragment, o2.Name = Config{"CONFIG_X": "y", "CONFIG_Y": "y"}, "t2"
	m3, err := Build(context.Background(), o2)
	require.NoError(t, err)
	assert.NotEqual(t, m.Key, m3.Key)

	// A patch on top: the base's objects are reused, only a.c recompiles.
	o3 := o
	o3.Patches, o3.Name = []*Patch{pa}, "t3"
	log.Reset()
	m4, err := Build(context.Background(), o3)
	require.NoError(t, err, log.String())
	assert.Equal(t, m.Key, m4.Base)
	assert.Equal(t, 1, m4.Compiled)
	assert.Equal(t, "src/a.o\nsrc/b.o\nsrc/c.o\nsrc/a.o\n", compiled(m4))
	b, _ := os.ReadFile(filepath.Join(m4.Dir, "tree/src/a.o"))
	assert.Equal(t, "A\n", string(b))
	b, _ = os.ReadFile(filepath.Join(m.Dir, "tree/src/a.o"))
	assert.Equal(t, "a.c\n", string(b), "the base build's objects are not changed")
	b, _ = os.ReadFile(filepath.Join(src, "src/a.c"))
	assert.Equal(t, "a.c\n", string(b), "the user's tree is not patched")

	// A patch that does not apply: usage error naming the hunk.
	o4 := o
	o4.Patches, o4.Name = []*Patch{{Name: "bad.patch", Data: []byte("--- a/src/b.c\n+++ b/src/b.c\n@@ -1 +1 @@\n-nope\n+x\n")}}, "t4"
	_, err = Build(context.Background(), o4)
	assert.ErrorIs(t, err, vm.ErrUsage)
	assert.Contains(t, err.Error(), "src/b.c: Hunk #1 FAILED")

	// A compile error: the log's tail and its path.
	o5 := o
	o5.Patches, o5.Name = []*Patch{{Name: "break.patch", Data: []byte("--- a/Makefile\n+++ b/Makefile\n@@ -1 +1,2 @@\n all:\n+\tfalse\n")}}, "t5"
	o5.Patches[0].Data = []byte(strings.Replace(string(o5.Patches[0].Data), "all:\n+\tfalse", "all:\n+$(error imasim-test-broken)", 1))
	_, err = Build(context.Background(), o5)
	var be *BuildError
	require.ErrorAs(t, err, &be, "%v", err)
	assert.Contains(t, be.Tail, "imasim-test-broken")
	assert.FileExists(t, be.Log)
	entries, _ := filepath.Glob(filepath.Join(BuiltDir(cacheDir), "*.tmp"))
	assert.Empty(t, entries, "no half-built directories left")

	list, err := List(cacheDir)
	require.NoError(t, err)
	assert.Len(t, list, 3)
}

func TestBuildDebianUnknown(t *testing.T) {
	_, err := Build(context.Background(), Options{Source: "debian:9.9", Cache: t.TempDir(), Lock: []vm.LockEntry{{Name: "debian:7.2", Version: "7.2.13-1"}}})
	assert.ErrorIs(t, err, vm.ErrUsage)
	assert.Contains(t, err.Error(), "debian:7.2")
	_, err = Build(context.Background(), Options{Source: t.TempDir(), Cache: t.TempDir()})
	assert.ErrorIs(t, err, vm.ErrUsage)
	assert.Contains(t, err.Error(), "not a kernel tree")
}

func TestLookupRejects(t *testing.T) {
	for _, n := range []string{"../x", "", "a/b", ".hidden"} {
		_, err := Lookup(t.TempDir(), n)
		assert.True(t, errors.Is(err, vm.ErrUsage), n)
	}
}

// The real image built by CI (or by hand) carries its config.
func TestEmbeddedConfigOfBuiltKernel(t *testing.T) {
	m, err := Lookup(vm.DefaultCache(), "era-6.13")
	if err != nil {
		t.Skip("built:era-6.13 not in the kernel cache (imasim kernel build --source debian:7.2 --patch era-6.13)")
	}
	b, err := os.ReadFile(m.Image)
	require.NoError(t, err)
	c, err := EmbeddedConfig(b)
	require.NoError(t, err)
	assert.Empty(t, Missing(FragmentConfig(), c))
	_, err = EmbeddedConfig(fakeImage("7.2.13"))
	assert.ErrorIs(t, err, ErrNoConfig)
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(Fragment))
	f.Add([]byte("CONFIG_A=y\n# CONFIG_B is not set\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(bytes.NewReader(b))
		if err != nil {
			return
		}
		// Round trip: printing the settings and parsing them again gives
		// the same config and the same sum.
		var sb strings.Builder
		for k, v := range c {
			sb.WriteString(k + "=" + v + "\n")
		}
		c2, err := ParseConfig(strings.NewReader(sb.String()))
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if FragmentSum(c) != FragmentSum(c2) || len(c) != len(c2) {
			t.Fatalf("round trip changed the config")
		}
	})
}

func FuzzCheckPatch(f *testing.F) {
	p, _ := LoadPatch("fix-v2")
	f.Add(p.Data)
	f.Add([]byte("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := CheckPatch(b)
		if err == nil {
			// Accepted patches name files inside the tree.
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "+++ ") && strings.Contains("/"+strings.Fields(l[4:] + " x")[0]+"/", "/../") {
					t.Fatalf("accepted a path leaving the tree: %q", l)
				}
			}
			return
		}
		n := bytes.Count(b, []byte("\n")) + 1
		var ln int
		if _, e := fmt.Sscanf(err.Error(), "%d:", &ln); e != nil || ln < 1 || ln > n+1 {
			t.Fatalf("error without a line in range: %v", err)
		}
	})
}
