package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/internal/input"
)

// writeLog writes n printk INTEGRITY_RULE records to a file.
func writeLog(t *testing.T, n int) (string, []byte) {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "[%5d.000000] audit: type=1805 audit(1763805600.%03d:%d): file=\"/usr/bin/p%d\" hash=\"sha256:00\" comm=\"sh\"\n", i, i%1000, i, i%7)
	}
	p := filepath.Join(t.TempDir(), "dmesg")
	require.NoError(t, os.WriteFile(p, b.Bytes(), 0o644))
	return p, b.Bytes()
}

// TestAuditMappedMatchesStdin: a regular file (mapped) and the same log
// on stdin (read through a buffer) give the same report.
func TestAuditMappedMatchesStdin(t *testing.T) {
	p, data := writeLog(t, 5000)
	for _, args := range [][]string{{"--summary"}, {}, {"--json"}} {
		mapped, _, code := runAudit(t, append(args, p)...)
		require.Equal(t, exitOK, code)
		r, w, err := os.Pipe()
		require.NoError(t, err)
		go func() { w.Write(data); w.Close() }()
		old := os.Stdin
		os.Stdin = r
		piped, _, code := runAudit(t, append(args, "-")...)
		os.Stdin = old
		r.Close()
		require.Equal(t, exitOK, code)
		piped = strings.NewReplacer("<stdin>", p, `\u003cstdin\u003e`, p).Replace(piped)
		assert.Equal(t, piped, mapped, "%v", args)
	}
}

// TestAuditMappedShrunk: a mapped log that shrinks while it is read is an
// error with the byte offset, not a crash.
func TestAuditMappedShrunk(t *testing.T) {
	p, data := writeLog(t, 2000)
	f, err := input.Open(context.Background(), p)
	require.NoError(t, err)
	defer f.Close()
	m := mapLog(context.Background(), f)
	require.NotNil(t, m)
	defer m.unmap()
	require.NoError(t, os.Truncate(p, 0))
	err = m.catchFault(func() error {
		sum := 0
		for _, c := range m.data[len(data)-10:] {
			sum += int(c)
		}
		return fmt.Errorf("read %d", sum)
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("cannot read byte offset %d: the file shrank", len(data)-10))
}

// TestAuditMappedCancel: the scan of a mapped log stops when the context
// ends (Ctrl-C): exit 3.
func TestAuditMappedCancel(t *testing.T) {
	p, _ := writeLog(t, 30000) // about 3 MB, past the first check (the parent process stays small: TestInputBounds measures its children)
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("stop")
	cancel(stop)
	var out, errb bytes.Buffer
	code := run(ctx, []string{"audit", "--summary", p}, &out, &errb)
	assert.Equal(t, exitInconcl, code)
	assert.Contains(t, errb.String(), "stop")
}
