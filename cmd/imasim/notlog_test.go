package main

import (
	"bytes"
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

// Text output quoting a log shows control characters as \xNN: a forged
// log cannot send terminal escapes through imasim.
func TestAuditTextNoEscapes(t *testing.T) {
	f := filepath.Join(t.TempDir(), "log")
	log := "[    1.000000] imasim-step line=1 \x1b]0;owned\x07\x1b[2J\n" +
		"[    1.100000] audit: type=1805 audit(1700000000.001:1): file=\"/a\" hash=\"sha256:00\" res=1\n"
	require.NoError(t, os.WriteFile(f, []byte(log), 0o644))
	code, out, errs := imasim("audit", "--marker", "imasim-step", f)
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, `imasim-step line=1 \x1b]0;owned\x07\x1b[2J`)
	assert.NotContains(t, out, "\x1b")
	assert.NotContains(t, out, "\x07")
	var w bytes.Buffer
	n, err := safeWriter{&w}.Write([]byte("a\tb\nc\x00\x7f"))
	require.NoError(t, err)
	assert.Equal(t, 7, n)
	assert.Equal(t, "a\tb\nc\\x00\\x7f", w.String())
}
