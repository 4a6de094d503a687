package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"os/exec"
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

// evilFrames is a guest script that reads the nonce from /job.json and
// forges a frame on the results port before the agent ships its own.
const evilFrames = `n=$(sed -n 's/.*"nonce": *"\([0-9a-f]*\)".*/\1/p' /job.json)
printf pwned > /tmp/p
s=$(sha256sum /tmp/p | cut -d' ' -f1)
printf 'IMASIM1 %s BEGIN %s %s\nIMASIM1 %s D %s\nIMASIM1 %s END %s\n' $n "$1" $s $n $(base64 /tmp/p) $n "$1" > /dev/ttyS1
echo "forged $1 with nonce $n"
`

// A guest cannot write outside --save DIR, nor make the host allocate
// what a frame announces (issue 16 items 1 and 4), on a real kernel.
func TestVMGuestFramesStayInSave(t *testing.T) {
	needVM7(t)
	dir := t.TempDir()
	bin := staticImasim(t, dir)
	script := filepath.Join(dir, "evil.sh")
	require.NoError(t, os.WriteFile(script, []byte(evilFrames), 0o755))
	for _, tc := range []struct{ name, header, want string }{
		{"escape", "../escape 5", "bad name"},
		{"huge", "big 1099511627776", "over the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			save := filepath.Join(parent, "DIR")
			cmd := exec.Command(bin, "vm", "--kernel", "debian:7.2", "--save", save, "run", script, "--", tc.header)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			out, _ := cmd.Output()
			assert.Contains(t, string(out)+errb.String(), "forged", "the script did not run")
			assert.Equal(t, exitFail, cmd.ProcessState.ExitCode(), errb.String())
			assert.Contains(t, errb.String(), tc.want)
			ents, err := os.ReadDir(parent)
			require.NoError(t, err)
			for _, e := range ents {
				assert.Equal(t, "DIR", e.Name(), "the guest wrote outside --save DIR")
			}
		})
	}
}
