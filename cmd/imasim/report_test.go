package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// docs/reports is what imasim report writes from the captures committed
// under testdata/vm (Debian 6.1.176, 6.12.107, 6.18.15, 7.2.13 and the
// kernels built from linux-source with era-6.13, fix-v2, 6.1-interim).
// go test ./cmd/imasim -run TestReportDocs -update rewrites them.
func TestReportDocs(t *testing.T) {
	for _, c := range []struct{ file, format string }{
		{"xfs-write.txt", "text"},
		{"xfs-write.md", "markdown"},
	} {
		code, out, errs := imasim("report", "xfs-write", "--from", "../../testdata/vm", "--format", c.format)
		require.Equal(t, exitOK, code, errs)
		path := filepath.Join("../../docs/reports", c.file)
		if *updateCLI {
			require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, string(want), out, "%s is stale: regenerate with -update", path)
	}
}

func TestReportUsage(t *testing.T) {
	for _, args := range [][]string{
		{"report"},
		{"report", "xfs-write", "--format", "json"},
		{"report", "xfs-write", "--kernel", "debian:7.2", "--from", "x"},
		{"report", "no-such-scenario"},
		{"report", "xfs-write", "--from", "/nonexistent"},
		{"report", "xfs-write", "--profile", "no-such-profile"},
	} {
		code, _, errs := imasim(args...)
		assert.Equal(t, exitUsage, code, "%v: %s", args, errs)
	}
	code, _, errs := imasim("report", "xfs-write-sync", "--sh")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, "export --sh", "says where the full harness is")

	code, out, _ := imasim("report", "xfs-write", "--sh")
	require.Equal(t, exitOK, code)
	assert.True(t, strings.HasPrefix(out, "#!/bin/sh\n"))
	code, out, _ = imasim("report", "xfs-write", "--profile", "7.1,7.2-era-6.13")
	require.Equal(t, exitOK, code)
	flat := strings.Join(strings.Fields(out), " ")
	assert.Contains(t, flat, "finds it MISSED on 7.1")
	assert.Contains(t, flat, "It is ok on 7.2-era-6.13.")
	assert.NotContains(t, out, "5.10.202", "only the profiles asked for")
}
