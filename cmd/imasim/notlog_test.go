package main

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Random bytes given as a log are "not an IMA log" (exit 2), not a model
// defect (compare used to exit 1) or an empty log (audit used to exit 0).
func TestGarbageIsNotALog(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 16))
	dir := t.TempDir()
	for i := 0; i < 10; i++ {
		b := make([]byte, 64<<10)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		f := filepath.Join(dir, "random")
		require.NoError(t, os.WriteFile(f, b, 0o644))
		code, _, errs := imasim("audit", "--summary", f)
		assert.Equal(t, exitUsage, code, errs)
		assert.Contains(t, errs, "not an IMA log")
		code, _, errs = imasim("compare", "xfs-write", "--log", f)
		assert.Equal(t, exitUsage, code, errs)
		assert.Contains(t, errs, "not an IMA log")
	}
	// A real log without one IMA record is a log with 0 records.
	f := filepath.Join(dir, "quiet")
	require.NoError(t, os.WriteFile(f, []byte("[    0.000000] Linux version 6.12.107 (x) #1 SMP\n[    1.5] EXT4-fs (vda): mounted filesystem\n"), 0o644))
	code, out, errs := imasim("audit", "--summary", f)
	assert.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "records: 0 integrity")
}

// An empty binary list given to compare is not a list.
func TestCompareEmptyList(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "binary_runtime_measurements")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	code, _, errs := imasim("compare", "xfs-write", "--log", dmesgLog(t, "7.2.13", "/mnt/test_prog", 1, nil), "--list", empty)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, "not an IMA list: empty input")
}

// A scenario file names built-in profiles only: `profiles: /etc/passwd`
// used to make imasim read that file and quote its first line.
func TestScenarioProfilesBuiltinOnly(t *testing.T) {
	scn := filepath.Join(t.TempDir(), "p.scn")
	require.NoError(t, os.WriteFile(scn, []byte("name: p\nprofiles: /etc/passwd\nfs tmpfs /t\nwrite /t/f x\n"), 0o644))
	code, _, errs := imasim("scenario", scn)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, `"/etc/passwd" is not a built-in profile`)
	assert.NotContains(t, errs, "root:")
	// The user's own --profile PATH is trusted.
	code, _, errs = imasim("scenario", scn, "--profile", "6.12")
	assert.Equal(t, exitOK, code, errs)
}
