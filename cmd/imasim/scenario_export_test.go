package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func export(args ...string) (int, string, string) {
	var o, e bytes.Buffer
	code := scenarioExport(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestScenarioExport(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.sh")
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"stdout", []string{"xfs-write", "--sh"}, 0, "#   7.1         (7.1 ..): missed, audit /mnt/test_prog=1", ""},
		{"flag first", []string{"--sh", "xfs-overlay"}, 0, "#   6.13        (6.13 .. 6.17): excessive, audit /ovl/test_prog=3", ""},
		{"n/a prediction", []string{"execve-check-toctou", "--sh"}, 0, "(6.12.104 .. 6.12.y): n/a, requires feature execve-check", ""},
		{"to file", []string{"xfs-overlay", "--sh", "-o", out}, 0, "", ""},
		{"no --sh", []string{"xfs-overlay"}, 2, "", "usage: imasim scenario export"},
		{"unknown", []string{"nope", "--sh"}, 2, "", "unknown scenario \"nope\""},
		{"two names", []string{"a", "b", "--sh"}, 2, "", "usage"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, o, e := export(c.args...)
			assert.Equal(t, c.code, code, e)
			assert.Contains(t, o, c.stdout)
			assert.Contains(t, e, c.stderr)
		})
	}
	st, err := os.Stat(out)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), st.Mode().Perm())
}
