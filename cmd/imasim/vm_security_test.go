package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// evilDeb is a .deb whose data.tar has ./boot -> outside, then ./boot/x
// (issue 16 item 2).
func evilDeb(t *testing.T, outside string) string {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "./boot", Typeflag: tar.TypeSymlink, Linkname: outside}))
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "./boot/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5}))
	tw.Write([]byte("pwned"))
	require.NoError(t, tw.Close())
	var ar bytes.Buffer
	ar.WriteString("!<arch>\n")
	for _, m := range []struct {
		name string
		b    []byte
	}{{"debian-binary", []byte("2.0\n")}, {"data.tar", tb.Bytes()}} {
		fmt.Fprintf(&ar, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, 0, 0, 0, "100644", len(m.b))
		ar.Write(m.b)
		if len(m.b)%2 == 1 {
			ar.WriteByte('\n')
		}
	}
	p := filepath.Join(t.TempDir(), "evil.deb")
	require.NoError(t, os.WriteFile(p, ar.Bytes(), 0o644))
	return p
}

func TestVMEvilDeb(t *testing.T) {
	outside := t.TempDir()
	cache := t.TempDir()
	code, _, errs := imasim("vm", "--kernel", evilDeb(t, outside), "--cache", cache, "run", "vm_test.go")
	assert.Equal(t, exitUsage, code, errs)
	assert.Contains(t, errs, "lead out of the package")
	ents, err := os.ReadDir(outside)
	require.NoError(t, err)
	assert.Empty(t, ents, "the package wrote outside the cache")
	left, _ := filepath.Glob(filepath.Join(cache, "local", "*"))
	assert.Empty(t, left, "a failed unpack leaves its temporary directory behind")
}

// With HOME unset the kernel cache must not fall back to a predictable
// /tmp path another user could prepare (issue 16 item 9): refused.
func TestVMCacheWithoutHome(t *testing.T) {
	t.Setenv("HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	for _, args := range [][]string{
		{"vm", "--kernel", "debian:6.12", "run", "vm_test.go"},
		{"vm", "fetch", "debian:6.12"},
		{"vm", "--kernel", evilDeb(t, t.TempDir()), "run", "vm_test.go"},
	} {
		code, _, errs := imasim(args...)
		assert.Equal(t, exitUsage, code, errs)
		assert.Contains(t, errs, "--cache")
		assert.NotContains(t, errs, "/tmp/imasim")
	}
}
