package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dmesgLog makes a kernel log with n INTEGRITY_RULE records for path,
// optionally a boot banner and step markers before each record.
func dmesgLog(t *testing.T, banner string, path string, n int, markers []int) string {
	t.Helper()
	var b strings.Builder
	if banner != "" {
		fmt.Fprintf(&b, "[    0.000000] Linux version %s (debian-kernel@lists.debian.org) (gcc) #1 SMP\n", banner)
	}
	serial := 1
	for i := 0; i < n; i++ {
		if markers != nil {
			fmt.Fprintf(&b, "[   %d.000000] imasim-step line=%d\n", 10+i, markers[i])
		}
		fmt.Fprintf(&b, "[   %d.100000] audit: type=1805 audit(1700000000.%03d:%d): file=%q hash=\"sha256:00\" ppid=1 pid=%d auid=4294967295 uid=65534 gid=65534 euid=65534 suid=65534 fsuid=65534 egid=65534 sgid=65534 fsgid=65534 tty=(none) ses=4294967295 comm=\"test_prog\" exe=%q res=1\n",
			10+i, i, serial, path, 200+i, path)
		serial++
	}
	f := filepath.Join(t.TempDir(), "dmesg.txt")
	require.NoError(t, os.WriteFile(f, []byte(b.String()), 0o644))
	return f
}

func TestCompare(t *testing.T) {
	cases := []struct {
		name    string
		banner  string
		n       int
		args    []string
		code    int
		contain string
	}{
		{"6.13 log agrees with 6.13", "6.13.2", 3, nil, exitOK, "agrees with the model of 6.13"},
		{"6.12 log agrees", "6.12.107+deb13-cloud-amd64", 1, nil, exitOK, "agrees with the model of 6.12"},
		{"6.12 kernel behaving like 6.13 disagrees", "6.12.107+deb13-cloud-amd64", 3, nil, exitFail, "DISAGREES with the model of 6.12"},
		{"explicit profile", "", 3, []string{"--profile", "6.13"}, exitOK, "agrees"},
		{"no version: judge by expects", "", 3, nil, exitFail, "the log breaks: expect audit /ovl/test_prog 1 (observed 3)"},
		{"no version: expects hold", "", 1, nil, exitOK, "satisfies the scenario's expect lines"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log := dmesgLog(t, c.banner, "/tmp/imasim-run/ovl/test_prog", c.n, nil)
			code, out, errs := imasim(append([]string{"compare", "xfs-overlay", "--log", log}, c.args...)...)
			assert.Equal(t, c.code, code, out+errs)
			assert.Contains(t, out, c.contain)
		})
	}
}

func TestCompareConsistentProfiles(t *testing.T) {
	log := dmesgLog(t, "", "/ovl/test_prog", 3, nil)
	code, out, _ := imasim("compare", "xfs-overlay", "--log", log, "--json")
	require.Equal(t, exitFail, code)
	var doc struct {
		Consistent []string `json:"consistent_with"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	assert.Contains(t, doc.Consistent, "6.13")
	assert.Contains(t, doc.Consistent, "6.1-stable")
	assert.NotContains(t, doc.Consistent, "6.12")
}

func TestCompareMarkersPerStep(t *testing.T) {
	log := dmesgLog(t, "6.13.1", "/ovl/test_prog", 3, []int{14, 15, 16})
	code, out, _ := imasim("compare", "xfs-overlay", "--log", log, "--json")
	require.Equal(t, exitOK, code, out)
	var doc struct {
		Comparison struct {
			Steps []struct {
				Line     int  `json:"line"`
				Model    bool `json:"model_audit"`
				Observed int  `json:"observed_audit"`
			} `json:"steps"`
		} `json:"comparison"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	require.Len(t, doc.Comparison.Steps, 3)
	for _, st := range doc.Comparison.Steps {
		assert.True(t, st.Model)
		assert.Equal(t, 1, st.Observed, "line %d", st.Line)
	}
}

func TestCompareLossyIsInconclusive(t *testing.T) {
	var b strings.Builder
	b.WriteString("[    1.000000] audit: type=1805 audit(1700000000.001:100): file=\"/ovl/test_prog\" hash=\"sha256:00\" res=1\n")
	b.WriteString("[    2.000000] audit_log_start: 12 callbacks suppressed\n")
	b.WriteString("[    3.000000] audit: type=1805 audit(1700000000.002:140): file=\"/ovl/test_prog\" hash=\"sha256:00\" res=1\n")
	f := filepath.Join(t.TempDir(), "lossy.txt")
	require.NoError(t, os.WriteFile(f, []byte(b.String()), 0o644))
	code, out, _ := imasim("compare", "xfs-overlay", "--log", f, "--profile", "6.12")
	assert.Equal(t, exitInconcl, code, out)
	assert.Contains(t, out, "inconclusive")
	code, _, _ = imasim("compare", "xfs-overlay", "--log", f, "--profile", "6.12", "--force")
	assert.Equal(t, exitFail, code, "with --force: 2 observed vs 1 modelled")
}

func TestCompareBadInput(t *testing.T) {
	code, _, errs := imasim("compare", "xfs-overlay", "--log", "/nonexistent")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, "/nonexistent")
	code, _, _ = imasim("compare", "xfs-overlay")
	assert.Equal(t, exitUsage, code)
	bad := filepath.Join(t.TempDir(), "list")
	require.NoError(t, os.WriteFile(bad, []byte("garbage that is not a list"), 0o644))
	log := dmesgLog(t, "", "/ovl/test_prog", 1, nil)
	code, _, errs = imasim("compare", "xfs-overlay", "--log", log, "--list", bad)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, "measurement list")
}
