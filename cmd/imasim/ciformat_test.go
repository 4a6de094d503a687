package main

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	ltpcompat "github.com/imasim/imasim/ltp-compat"
	"github.com/imasim/imasim/ltp-compat/ltptest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lossyLog is a kernel log with evidence of lost audit records (a
// ratelimit message and a serial gap).
func lossyLog(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "lossy.txt")
	require.NoError(t, os.WriteFile(f, []byte(
		"[    1.000000] audit: type=1805 audit(1700000000.001:100): file=\"/ovl/test_prog\" hash=\"sha256:00\" res=1\n"+
			"[    2.000000] audit_log_start: 12 callbacks suppressed\n"+
			"[    3.000000] audit: type=1805 audit(1700000000.002:140): file=\"/ovl/test_prog\" hash=\"sha256:00\" res=1\n"), 0o644))
	return f
}

// An inconclusive comparison is skipped in every CI format, never passed:
// TCONF and exit 32 under LTP's convention, conf in kirk's report,
// <skipped> in JUnit, "# SKIP" in KTAP; those formats exit 3 like text.
func TestCompareInconclusiveCIFormats(t *testing.T) {
	log := lossyLog(t)
	args := []string{"compare", "xfs-overlay", "--log", log, "--profile", "6.12", "--format"}

	code, out, _ := imasim(append(args, "ltp")...)
	assert.Equal(t, int(ltpcompat.Conf), code, out)
	assert.Contains(t, out, "TCONF")
	assert.NotContains(t, out, "TPASS")
	n, ok := ltpcompat.ParseSummary(out)
	require.True(t, ok, out)
	assert.Equal(t, ltpcompat.Counts{Skipped: n.Skipped}, n, "only skips")
	assert.Positive(t, n.Skipped)

	code, out, _ = imasim(append(args, "kirk-json")...)
	assert.Equal(t, exitInconcl, code)
	var kirk struct {
		Results []struct {
			Status string `json:"status"`
			Test   struct {
				Result string  `json:"result"`
				Passed int     `json:"passed"`
				Dur    float64 `json:"duration"`
			} `json:"test"`
		} `json:"results"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &kirk))
	require.Len(t, kirk.Results, 1)
	assert.Equal(t, "conf", kirk.Results[0].Status)
	assert.Equal(t, "conf", kirk.Results[0].Test.Result)
	assert.Zero(t, kirk.Results[0].Test.Passed)
	assert.Positive(t, kirk.Results[0].Test.Dur, "a real duration")

	code, out, _ = imasim(append(args, "junit")...)
	assert.Equal(t, exitInconcl, code)
	var ju struct {
		Suites []struct {
			Skipped int `xml:"skipped,attr"`
			Cases   []struct {
				Skipped *struct{} `xml:"skipped"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal([]byte(out), &ju))
	require.Len(t, ju.Suites, 1)
	assert.Equal(t, 1, ju.Suites[0].Skipped)
	require.Len(t, ju.Suites[0].Cases, 1)
	assert.NotNil(t, ju.Suites[0].Cases[0].Skipped)
	assert.Empty(t, ltptest.ValidateJUnit(t, []byte(out)))

	code, out, _ = imasim(append(args, "ktap")...)
	assert.Equal(t, exitInconcl, code)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "ok ") {
			assert.Contains(t, l, " # SKIP ", "no check of a lossy log passes: %q", l)
		}
		assert.False(t, strings.HasPrefix(l, "not ok"), l)
	}
	kn, kout := ltptest.KunitParse(t, []byte(out))
	assert.Zero(t, kn.Passed, kout)
	assert.Positive(t, kn.Skipped, kout)
}

// A real kernel that breaks an expect line fails a KTAP subtest, so the
// kernel's kunit.py reports the failure; the same run's JUnit is valid.
// The capture is 7.2.13's xfs-write (the model of 7.1 agrees with it).
func TestCompareBrokenExpectCIFormats(t *testing.T) {
	d := filepath.Join("..", "..", "testdata", "vm", "debian-7.2", "xfs-write")
	args := []string{"compare", filepath.Join(d, "scenario.scn"), "--log", filepath.Join(d, "audit.log"),
		"--list", filepath.Join(d, "binary_runtime_measurements"), "--profile", "7.1", "--format"}
	code, out, errs := imasim(append(args, "ktap")...)
	require.Equal(t, exitFail, code, errs)
	assert.Contains(t, out, "  not ok 2 expect audit /mnt/test_prog 2")
	n, kout := ltptest.KunitParse(t, []byte(out))
	assert.Positive(t, n.Failed, kout)
	assert.Equal(t, 1, n.Exit, kout)

	code, out, _ = imasim(append(args, "junit")...)
	require.Equal(t, exitFail, code)
	assert.Contains(t, out, "<failure")
	assert.Empty(t, ltptest.ValidateJUnit(t, []byte(out)))
}

// Model runs report how long they took: kirk-json's durations and
// JUnit's times are real, and JUnit's suite time is the sum of its cases.
func TestCIDurations(t *testing.T) {
	code, out, _ := imasim("matrix", "--scenarios", "xfs-overlay,xfs-write", "--format", "kirk-json")
	require.Equal(t, exitOK, code, out)
	var kirk struct {
		Results []struct {
			Test struct {
				Dur float64 `json:"duration"`
			} `json:"test"`
		} `json:"results"`
		Stats struct {
			Runtime float64 `json:"runtime"`
		} `json:"stats"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &kirk))
	require.NotEmpty(t, kirk.Results)
	sum := 0.0
	for _, r := range kirk.Results {
		assert.Positive(t, r.Test.Dur)
		sum += r.Test.Dur
	}
	assert.InDelta(t, sum, kirk.Stats.Runtime, 1e-9)

	code, out, _ = imasim("scenario", "xfs-overlay", "--format", "junit")
	require.Equal(t, exitOK, code, out)
	var ju struct {
		Time   string `xml:"time,attr"`
		Suites []struct {
			Time  string `xml:"time,attr"`
			Cases []struct {
				Time string `xml:"time,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal([]byte(out), &ju))
	require.Len(t, ju.Suites, 1)
	total, err := strconv.ParseFloat(ju.Suites[0].Time, 64)
	require.NoError(t, err)
	cases := 0.0
	for _, c := range ju.Suites[0].Cases {
		v, err := strconv.ParseFloat(c.Time, 64)
		require.NoError(t, err)
		cases += v
	}
	assert.InDelta(t, cases, total, 0.001*float64(len(ju.Suites[0].Cases)), "suite time is the cases' sum")
	assert.Equal(t, ju.Time, ju.Suites[0].Time)
	assert.Empty(t, ltptest.ValidateJUnit(t, []byte(out)))
}
