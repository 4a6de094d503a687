package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maxRSS is the limit issue 16 sets for endless or huge inputs.
const maxRSS = 64 << 20

// runBounded runs `imasim ARGS` as a child fed by feed (nil: no stdin)
// and returns its exit status, stderr and peak RSS in bytes.
func runBounded(t *testing.T, feed func(io.Writer), args ...string) (int, string, int64) {
	t.Helper()
	var stdin *os.File
	var pw *os.File
	if feed != nil {
		pr, w, err := os.Pipe()
		require.NoError(t, err)
		stdin, pw = pr, w
	}
	cmd, stderr := startMain(t, stdin, args...)
	if stdin != nil {
		stdin.Close()
		go func() {
			feed(pw)
			pw.Close()
		}()
	}
	code := waitCode(t, cmd, 60*time.Second)
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	return code, stderr.String(), rss
}

// Endless and huge inputs end with exit 2 in bounded memory.
func TestInputBounds(t *testing.T) {
	if testing.Short() {
		t.Skip("streams tens of megabytes")
	}
	longLine := func(prefix string, n int) func(io.Writer) {
		return func(w io.Writer) {
			io.WriteString(w, prefix)
			chunk := bytes.Repeat([]byte("a"), 1<<20)
			for i := 0; i < n; i++ {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			io.WriteString(w, "\n")
		}
	}
	cases := []struct {
		name string
		feed func(io.Writer)
		args []string
		msg  string
	}{
		{"scenario /dev/zero", nil, []string{"scenario", "/dev/zero"}, "longer than the limit of 4 MiB"},
		{"scenario show /dev/zero", nil, []string{"scenario", "show", "/dev/zero"}, "longer than the limit of 4 MiB"},
		{"policy check /dev/zero", nil, []string{"policy", "check", "/dev/zero"}, "line longer than the limit of 64 KiB"},
		{"policy 100 MB line", longLine("measure func=FILE_CHECK fowner=", 100), []string{"policy", "check", "-"}, "-:1:65537: line longer than the limit of 64 KiB"},
		{"profile show /dev/zero", nil, []string{"profile", "show", "/dev/zero"}, "longer than the limit of 1 MiB"},
		{"list show /dev/zero", nil, []string{"list", "show", "/dev/zero"}, "cannot detect byte order"},
		{"list verify --state /dev/zero", nil, []string{"list", "verify", "../../testdata/lists/sample.bin", "--state", "/dev/zero"}, "longer than the limit of 1 MiB"},
		{"list verify --pcrs /dev/zero", nil, []string{"list", "verify", "../../testdata/lists/sample.bin", "--pcrs", "/dev/zero"}, "longer than the limit of 1 MiB"},
		{"audit /dev/zero", nil, []string{"audit", "/dev/zero"}, "not an IMA log: binary data at byte offset 0"},
		{"audit 100 MB line", longLine("", 100), []string{"audit", "-"}, "not an IMA log: none of its 1 lines"},
		{"compare --log /dev/zero", nil, []string{"compare", "xfs-write", "--log", "/dev/zero"}, "not an IMA log: binary data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, errs, rss := runBounded(t, c.feed, c.args...)
			assert.Equal(t, exitUsage, code, errs)
			assert.Contains(t, errs, c.msg)
			assert.LessOrEqual(t, rss, int64(maxRSS), "peak RSS %d MiB", rss>>20)
		})
	}
}

// A large real log through a pipe keeps working in bounded memory: the
// limits are per line, not per input.
func TestLargeLogStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 128 MB")
	}
	const records = 400_000 // about 128 MB
	feed := func(w io.Writer) {
		var b strings.Builder
		for i := 1; i <= records; i++ {
			fmt.Fprintf(&b, "[%8d.%06d] audit: type=1805 audit(1700000000.%03d:%d): file=\"/data/f%d\" hash=\"sha256:%064x\" ppid=1 pid=%d auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm=\"cat\" exe=\"/usr/bin/cat\" res=1\n",
				i/1000, i%1000, i%1000, i, i%1000, i, 100+i%30000)
			if b.Len() > 1<<20 {
				if _, err := io.WriteString(w, b.String()); err != nil {
					return
				}
				b.Reset()
			}
		}
		io.WriteString(w, b.String())
	}
	code, errs, rss := runBounded(t, feed, "audit", "--summary", "-")
	require.Equal(t, exitOK, code, errs)
	assert.LessOrEqual(t, rss, int64(maxRSS), "peak RSS %d MiB", rss>>20)
}

// compare --list streams the list (issue 16: a 5M-entry list grew to
// 1.5 GB while show and verify stayed at 7 MB). 400 000 entries here.
func TestCompareListStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 48 MB list")
	}
	one, err := os.ReadFile("../../testdata/lists/sample.bin")
	require.NoError(t, err)
	big := filepath.Join(t.TempDir(), "binary_runtime_measurements")
	f, err := os.Create(big)
	require.NoError(t, err)
	chunk := bytes.Repeat(one, 1000)
	for i := 0; i < 80; i++ {
		_, err := f.Write(chunk)
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())
	log := dmesgLog(t, "7.2.13", "/mnt/test_prog", 1, nil)
	code, errs, rss := runBounded(t, nil, "compare", "xfs-write", "--log", log, "--list", big, "--format", "json")
	require.NotEqual(t, exitUsage, code, errs)
	assert.LessOrEqual(t, rss, int64(maxRSS), "peak RSS %d MiB", rss>>20)
}
