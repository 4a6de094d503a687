package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMatrixExitCodes(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"whole catalogue", []string{"matrix"}, 0, "missed/excessive", ""},
		{"fail-on missed", []string{"matrix", "--scenarios", "xfs-write", "--fail-on", "missed"}, 1, "MISSED a1", ""},
		{"fail-on missed, none", []string{"matrix", "--scenarios", "xfs-overlay", "--fail-on", "missed"}, 0, "", ""},
		{"fail-on excessive", []string{"matrix", "--scenarios", "xfs-overlay", "--fail-on", "missed,excessive"}, 1, "EXCESS a3", ""},
		{"diff disagree", []string{"matrix", "--diff", "6.12", "7.1", "--scenarios", "xfs-write"}, 1, "disagree on 1 of 1", ""},
		{"diff comma", []string{"matrix", "--diff", "6.12,fix-v2", "--scenarios", "xfs-write,xfs-overlay"}, 0, "disagree on 0 of 2", ""},
		{"diff unknown profile", []string{"matrix", "--diff", "6.12,9.9"}, 2, "", "unknown profile"},
		{"diff one profile", []string{"matrix", "--diff", "6.12"}, 2, "", "--diff wants two profiles"},
		{"bad shard", []string{"matrix", "--shard", "3/2"}, 2, "", "--shard \"3/2\""},
		{"unknown scenario", []string{"matrix", "--scenarios", "nope"}, 2, "", "unknown scenario"},
		{"bad fail-on", []string{"matrix", "--fail-on", "bad"}, 2, "", "--fail-on"},
		{"stray argument", []string{"matrix", "xfs-write"}, 2, "", "usage"},
		{"junit", []string{"matrix", "--scenarios", "xfs-write", "--format", "junit"}, 0, `<testcase name="xfs-write/7.1"`, ""},
		{"ktap fail-on", []string{"matrix", "--scenarios", "xfs-write", "--profiles", "7.1", "--format", "ktap", "--fail-on", "missed"}, 1, "not ok 1 xfs-write/7.1", ""},
		{"ltp n/a", []string{"matrix", "--scenarios", "execve-check-toctou", "--profiles", "6.12", "--format", "ltp"}, 32, "imasim_matrix 1 TCONF: execve-check-toctou/6.12", ""},
		{"kirk-json", []string{"matrix", "--scenarios", "xfs-overlay", "--profiles", "6.12", "--format", "kirk-json"}, 0, `"test_fqn": "xfs-overlay/6.12"`, ""},
		{"bad format", []string{"matrix", "--format", "yaml"}, 2, "", "unknown --format"},
		{"n/a", []string{"matrix", "--scenarios", "execve-check-toctou", "--profiles", "6.12,7.1"}, 0, "n/a", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := imasim(c.args...)
			assert.Equal(t, c.code, code, errs)
			assert.Contains(t, out, c.stdout)
			assert.Contains(t, errs, c.stderr)
		})
	}
}

func TestMatrixShardsCoverCatalogue(t *testing.T) {
	seen := map[string]int{}
	for _, sh := range []string{"1/3", "2/3", "3/3"} {
		code, out, errs := imasim("matrix", "--shard", sh, "--profiles", "7.1", "--json")
		require.Equal(t, 0, code, errs)
		var doc struct {
			Rows []struct{ Scenario string } `json:"rows"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &doc))
		for _, r := range doc.Rows {
			seen[r.Scenario]++
		}
	}
	code, out, _ := imasim("scenario", "list")
	require.Equal(t, 0, code)
	n := len(strings.Split(strings.TrimSpace(out), "\n"))
	assert.Len(t, seen, n)
	for s, c := range seen {
		assert.Equal(t, 1, c, s)
	}
}

func TestMatrixMarkdown(t *testing.T) {
	code, out, errs := imasim("matrix", "--scenarios", "xfs-write,xfs-overlay", "--profiles", "6.12,7.1", "--format", "markdown")
	require.Equal(t, 0, code, errs)
	assert.True(t, strings.HasPrefix(out, "| scenario | 6.12 | 7.1 |\n|---|---|---|\n| xfs-write | ok a2 | **MISSED a1 !** |\n"), out)
}
