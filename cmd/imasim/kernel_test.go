package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/scenarios/vm"
	"github.com/imasim/imasim/scenarios/vm/kbuild"
)

func runCLI(args ...string) (int, string, string) {
	var o, e bytes.Buffer
	code := run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestKernelConfigPrintsFragment(t *testing.T) {
	code, o, _ := runCLI("kernel", "config")
	require.Equal(t, exitOK, code)
	c, err := kbuild.ParseConfig(strings.NewReader(o))
	require.NoError(t, err)
	assert.Equal(t, "y", c["CONFIG_IMA"])
	assert.Equal(t, kbuild.FragmentSum(kbuild.FragmentConfig()), kbuild.FragmentSum(c))
}

// A patch that does not apply to a tree: exit 2, naming file and hunk.
func TestKernelBuildPatchFailure(t *testing.T) {
	if err := kbuild.CheckToolchain(); err != nil {
		t.Skip(err)
	}
	tree := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(tree, "Makefile"), []byte("all:\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(tree, "security/integrity/ima"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(tree, "security/integrity/ima/ima_main.c"), []byte("int x;\n"), 0o644))
	code, o, e := runCLI("kernel", "build", "--source", tree, "--patch", "era-6.13", "--cache", t.TempDir())
	assert.Equal(t, exitUsage, code, e)
	assert.Empty(t, o)
	assert.Contains(t, e, "patch era-6.13 does not apply")
	assert.Contains(t, e, "security/integrity/ima/ima_main.c: Hunk #1 FAILED")
	assert.Contains(t, e, "security/integrity/ima/ima_api.c: ") // missing file
}

// fakeKernel writes an image with just an x86 boot header and version
// string, and a build's config beside it.
func fakeKernel(t *testing.T, config string) string {
	dir := t.TempDir()
	b := make([]byte, 0x400)
	copy(b[0x202:], "HdrS")
	b[0x20E], b[0x20F] = 0x00, 0x01 // version string at 0x300
	copy(b[0x300:], "7.2.13 (imasim@imasim) #1\x00")
	img := filepath.Join(dir, "bzImage")
	require.NoError(t, os.WriteFile(img, b, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o644))
	return img
}

// A kernel without what every guest needs is refused before boot, naming
// the options; one without btrfs makes only the btrfs scenario "cannot
// run here" (reported before any boot when it is the only scenario).
func TestVMRefusesKernelByConfig(t *testing.T) {
	frag := kbuild.Fragment
	noIMA := strings.Replace(strings.Replace(frag, "CONFIG_IMA=y\n", "", 1), "CONFIG_SECURITYFS=y\n", "", 1)
	img := fakeKernel(t, noIMA)
	code, _, e := runCLI("vm", "--kernel", img, "scenario", "xfs-overlay")
	assert.Equal(t, exitCannot, code, e)
	assert.Contains(t, e, "CONFIG_SECURITYFS, CONFIG_IMA")
	assert.Contains(t, e, "every imasim guest needs")
	assert.NotContains(t, e, "qemu")

	noBtrfs := strings.Replace(frag, "CONFIG_BTRFS_FS=y\n", "", 1)
	img = fakeKernel(t, noBtrfs)
	code, o, e := runCLI("vm", "--kernel", img, "scenario", "btrfs-write")
	assert.Equal(t, exitCannot, code, e)
	assert.Contains(t, o+e, "lacks CONFIG_BTRFS_FS")
}

func TestSaveName(t *testing.T) {
	for in, want := range map[string]string{"debian:6.12": "debian-6.12", "built:fix-v2": "built-fix-v2",
		"/a/b/bzImage": "b-bzImage", "../x/bzImage": "x-bzImage"} {
		assert.Equal(t, want, saveName(in), in)
	}
	assert.True(t, anyDeb([]string{"a.deb", "b.deb"}))
	assert.False(t, anyDeb([]string{"debian:7.2", "built:era-6.13", "/x/bzImage"}))
}

// The built kernels, when the machine has them (CI builds them before
// make test): built:NAME resolves, its profile is the one it stands for.
func TestBuiltKernelResolves(t *testing.T) {
	for name, prof := range map[string]string{"era-6.13": "7.2-era-6.13", "fix-v2": "7.2-fix-v2"} {
		k, err := kbuild.Built(context.Background(), "built:"+name, defaultCacheForTest())
		if err != nil {
			t.Skipf("built:%s not in the kernel cache (imasim kernel build --source debian:7.2 --patch %s): %v", name, name, err)
		}
		assert.Equal(t, prof, k.Profile)
		assert.Equal(t, "7.2.13", k.Version.String())
		p, _, err := pickProfile(context.Background(), "auto", k)
		require.NoError(t, err)
		assert.Equal(t, prof, p.Name)
	}
}

func defaultCacheForTest() string { return vm.DefaultCache() }

// With HOME and XDG_CACHE_HOME unset there is no safe default cache: build
// and list ask for --cache instead of falling back to a shared path.
func TestKernelBuildNeedsACache(t *testing.T) {
	t.Setenv("HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	code, _, errs := imasim("kernel", "build", "--source", "debian:7.2")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, "--cache DIR")
	code, _, _ = imasim("kernel", "list")
	assert.Equal(t, exitUsage, code)
}
