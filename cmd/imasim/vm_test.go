package main

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVMUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no args", []string{"vm"}, exitUsage, "usage: imasim vm"},
		{"no kernel", []string{"vm", "scenario", "xfs-overlay"}, exitUsage, "--kernel is required"},
		{"unknown kernel", []string{"vm", "--kernel", "debian:9.9", "scenario", "xfs-overlay"}, exitUsage, "unknown kernel"},
		{"missing bzImage", []string{"vm", "--kernel", "/nonexistent/bzImage", "scenario", "xfs-overlay"}, exitUsage, "no such file"},
		{"unknown sub-command", []string{"vm", "--kernel", "debian:6.12", "bogus"}, exitUsage, "unknown sub-command"},
		{"unknown scenario", []string{"vm", "--kernel", "debian:6.12", "scenario", "nosuch"}, exitUsage, "unknown scenario"},
		{"bad format", []string{"vm", "--kernel", "debian:6.12", "--format", "xml", "matrix"}, exitUsage, "unknown --format"},
		{"guest without job", []string{"vm", "guest"}, exitUsage, "usage: imasim vm guest"},
		{"guest on the host", []string{"vm", "guest", "/job.json"}, exitUsage, "runs only inside an imasim VM"},
		{"fetch without kernels", []string{"vm", "fetch"}, exitUsage, "usage: imasim vm fetch"},
		{"fetch unknown", []string{"vm", "fetch", "debian:1.0"}, exitUsage, "unknown kernel"},
		{"run without script", []string{"vm", "--kernel", "debian:7.2", "run"}, exitUsage, "usage: imasim vm --kernel K run SCRIPT"},
		{"run a directory", []string{"vm", "--kernel", "debian:7.2", "run", "."}, exitUsage, "is not a regular file"},
		{"run missing script", []string{"vm", "--kernel", "debian:7.2", "run", "/nonexistent/t.sh"}, exitUsage, "no such file"},
		{"run with --sh", []string{"vm", "--kernel", "debian:7.2", "--sh", "run", "x.sh"}, exitUsage, "usage: imasim vm --kernel K run"},
		{"run with --json", []string{"vm", "--kernel", "debian:7.2", "--json", "run", "vm_test.go"}, exitUsage, "text only"},
		{"missing --file", []string{"vm", "--kernel", "debian:7.2", "--file", "/nonexistent", "run", "vm_test.go"}, exitUsage, "--file /nonexistent"},
		{"relative --file dst", []string{"vm", "--kernel", "debian:7.2", "--file", "vm_test.go:rel/x", "run", "vm_test.go"}, exitUsage, "must be absolute"},
		{"bad --env", []string{"vm", "--kernel", "debian:7.2", "--env", "NOVALUE", "run", "vm_test.go"}, exitUsage, "want KEY=VALUE"},
		{"--file without run", []string{"vm", "--kernel", "debian:7.2", "--file", "vm_test.go", "scenario", "xfs-overlay"}, exitUsage, "--file is for run and --sh"},
		{"--tools without run", []string{"vm", "--kernel", "debian:7.2", "--tools", "dash", "matrix"}, exitUsage, "--tools is for run and --sh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := imasim(tc.args...)
			assert.Equal(t, tc.code, code, errs)
			assert.Contains(t, errs, tc.msg)
		})
	}
}

// Without QEMU (or apt-get for an uncached kernel) the verb cannot run: 32.
func TestVMCannotRun(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	code, _, errs := imasim("vm", "--kernel", "debian:6.12", "scenario", "xfs-overlay")
	assert.Equal(t, exitCannot, code, errs)
	assert.Regexp(t, "not found", errs)
}

func TestWorseVM(t *testing.T) {
	assert.True(t, worseVM(exitFail, exitCannot))
	assert.True(t, worseVM(127, exitOK), "a script's own failure code is not lost")
	assert.False(t, worseVM(127, exitUsage))
	assert.False(t, worseVM(exitOK, exitOK))
}

func TestParseFlagsDoubleDash(t *testing.T) {
	fs := newFlags("t", "t", io.Discard)
	v := fs.Bool("v", false, "")
	pos, _, ok := parseFlags(fs, []string{"run", "t.sh", "--", "-x", "-v", "--", "y"})
	require.True(t, ok)
	assert.Equal(t, []string{"run", "t.sh", "-x", "-v", "--", "y"}, pos, "everything after -- is the script's")
	assert.False(t, *v, "a -v after -- is not imasim's")
	pos, _, ok = parseFlags(fs, []string{"run", "-v", "t.sh"})
	require.True(t, ok)
	assert.Equal(t, []string{"run", "t.sh"}, pos)
	assert.True(t, *v, "flags between positionals are still imasim's")
}
