package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/cache"
)

var updateCLI = flag.Bool("update", false, "rewrite CLI golden files")

// imasim runs the CLI in-process.
func imasim(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestScenarioGoldenCLI(t *testing.T) {
	cases := []struct {
		name, golden string
		args         []string
	}{
		{"xfs-overlay text", "scenario-xfs-overlay.txt", []string{"scenario", "xfs-overlay"}},
		{"xfs-overlay json", "scenario-xfs-overlay.json", []string{"scenario", "xfs-overlay", "--json"}},
		{"xfs-write 7.1 text", "scenario-xfs-write-7.1.txt", []string{"scenario", "--profile", "7.1", "xfs-write"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := imasim(c.args...)
			require.Equal(t, exitOK, code, errs)
			p := filepath.Join("..", "..", "testdata", "golden", "cli", c.golden)
			if *updateCLI {
				require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
				require.NoError(t, os.WriteFile(p, []byte(out), 0o644))
				return
			}
			want, err := os.ReadFile(p)
			require.NoError(t, err, "run go test ./cmd/imasim -update")
			assert.Equal(t, string(want), out)
		})
	}
}

func TestScenarioJSONSchema(t *testing.T) {
	code, out, _ := imasim("scenario", "xfs-overlay", "--format", "json", "--profile", "6.13,7.1")
	require.Equal(t, 0, code)
	var doc struct {
		Schema   int    `json:"schema"`
		Scenario string `json:"scenario"`
		Results  []struct {
			Profile      string         `json:"profile"`
			AuditRecords map[string]int `json:"audit_records"`
			Measurements int            `json:"measurements"`
			Steps        []struct {
				Index     int    `json:"index"`
				Op        string `json:"op"`
				Hook      string `json:"hook"`
				Evaluated bool   `json:"evaluated"`
				Verdict   string `json:"verdict"`
				Cause     string `json:"cause"`
			} `json:"steps"`
		} `json:"results"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	assert.Equal(t, 1, doc.Schema)
	assert.Equal(t, "xfs-overlay", doc.Scenario)
	require.Len(t, doc.Results, 2)
	assert.Equal(t, 3, doc.Results[0].AuditRecords["/ovl/test_prog"])
	assert.Equal(t, 1, doc.Results[1].AuditRecords["/ovl/test_prog"])
	assert.Equal(t, "excessive", doc.Results[0].Steps[1].Verdict)
	assert.Equal(t, 2, doc.Results[0].Steps[1].Index)
	assert.NotEmpty(t, doc.Results[0].Steps[1].Cause)
}

func TestExploreCLI(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := imasim("explore", "--profile", "7.1", "--depth", "3", "--out", dir, "--fail-on", "missed")
	assert.Equal(t, exitFail, code, errs)
	assert.Contains(t, out, "MISSED")
	files, err := filepath.Glob(filepath.Join(dir, "explore-missed-*.scn"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	code, out, errs = imasim("scenario", files[0], "--profile", "7.1", "--json")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, `"verdict": "missed"`)
	code, _, _ = imasim("explore", "--profile", "6.12", "--depth", "3", "--fail-on", "missed")
	assert.Equal(t, exitOK, code, "6.12 misses nothing")
	code, _, errs = imasim("explore", "--diff-profiles", "6.12")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, "two profiles")
}

func TestScenarioCIFormats(t *testing.T) {
	summary := regexp.MustCompile(`Summary:\npassed\s*(\d+)\nfailed\s*(\d+)\nbroken\s*(\d+)\nskipped\s*(\d+)\nwarnings\s*(\d+)\n`)
	code, out, _ := imasim("scenario", "xfs-write", "--format", "ltp")
	assert.Equal(t, 0, code, "a simulated miss is not a failure without --fail-on")
	m := summary.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	assert.Equal(t, "0", m[2])
	code, out, _ = imasim("scenario", "xfs-write", "--format", "ltp", "--fail-on", "missed")
	assert.Equal(t, 1, code, "TFAIL bit")
	m = summary.FindStringSubmatch(out)
	require.NotNil(t, m)
	assert.Equal(t, "2", m[2], "7.1's missed step and its broken 'expect no missed' (LTP counts results)")
	assert.Contains(t, out, fmt.Sprintf("imasim_scenario %d TFAIL: xfs-write/7.1:", slices.Index(cache.BuiltinNames(), "7.1")+1), "results are numbered in the built-ins' order")

	code, out, _ = imasim("scenario", "xfs-overlay", "--format", "kirk-json")
	require.Equal(t, 0, code)
	var kirk struct {
		Results []struct {
			TestFQN string `json:"test_fqn"`
			Status  string `json:"status"`
		} `json:"results"`
		Stats map[string]any `json:"stats"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &kirk))
	require.NotEmpty(t, kirk.Results)
	assert.Equal(t, "xfs-overlay/"+cache.Builtins()[0].Name, kirk.Results[0].TestFQN)
	assert.Equal(t, "pass", kirk.Results[0].Status)

	code, out, _ = imasim("scenario", "xfs-write", "--format", "junit", "--fail-on", "missed")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, `<testcase name="xfs-write/7.1"`)
	assert.Contains(t, out, "<failure")
	code, out, _ = imasim("scenario", "xfs-write", "--format", "ktap")
	assert.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(out, fmt.Sprintf("KTAP version 1\n1..%d\n", len(cache.Builtins()))), out)
}
