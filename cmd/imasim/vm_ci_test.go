package main

import (
	"bytes"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	ltpcompat "github.com/imasim/imasim/ltp-compat"
	"github.com/imasim/imasim/ltp-compat/ltptest"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/vm"
)

func TestVMCases(t *testing.T) {
	k := &vm.Kernel{Release: "7.2.13+deb14-cloud-amd64", Spec: "debian:7.2"}
	runs := []*vm.Run{
		{Name: "xfs-overlay", Profile: "7.1",
			Expects: []scenarios.ExpectResult{{Text: "expect audit /ovl/test_prog 1", OK: true, Got: "1"}},
			Replay:  []vm.BankReplay{{Bank: "sha256", OK: true}}},
		{Name: "xfs-write", Profile: "7.1",
			Expects: []scenarios.ExpectResult{{Text: "expect audit /mnt/test_prog 2", OK: false, Got: "1"}},
			Replay:  []vm.BankReplay{{Bank: "sha256", OK: true}}},
		{Name: "truncate", Profile: "7.1", Defects: []string{"line 12: model cached, kernel audit"}},
		{Name: "boom", Err: errors.New("kernel panic")},
	}
	cases := vmCases(k, runs)
	require.Len(t, cases, 4)
	assert.Equal(t, "xfs-overlay/7.2.13+deb14-cloud-amd64", cases[0].Name)
	assert.Equal(t, ltpcompat.Pass, cases[0].Status)
	assert.Equal(t, ltpcompat.Fail, cases[1].Status, "a real kernel broke an expect")
	assert.Equal(t, ltpcompat.Fail, cases[2].Status, "a model defect")
	assert.Equal(t, ltpcompat.Brok, cases[3].Status)

	var b bytes.Buffer
	code, err := writeCI(&b, "ltp", "vm", cases, exitFail)
	require.NoError(t, err)
	assert.Equal(t, 1|2, code, "LTP bits: TFAIL and TBROK")
	assert.Regexp(t, regexp.MustCompile(`Summary:\npassed\s*\d+\nfailed\s*2\nbroken\s*1\n`), b.String())
}

// A boot whose kernel log lost audit records is skipped, not passed:
// TCONF and exit 32 under --format ltp, 3 (inconclusive) in the others.
func TestVMCasesLossy(t *testing.T) {
	k := &vm.Kernel{Release: "6.1.0-50-cloud-amd64", Spec: "debian:6.1"}
	runs := []*vm.Run{{Name: "xfs-overlay", Profile: "6.1-stable", Lossy: "audit serials 101-139 missing",
		Expects: []scenarios.ExpectResult{{Text: "expect audit /ovl/test_prog 1", OK: true, Got: "1"}},
		Timing:  map[string]float64{"total": 8.5}}}
	cases := vmCases(k, runs)
	require.Len(t, cases, 1)
	assert.Equal(t, ltpcompat.Conf, cases[0].Outcome())
	assert.Equal(t, 8500*time.Millisecond, cases[0].Duration)
	for _, f := range ltpcompat.Formats {
		var b bytes.Buffer
		code, err := writeCI(&b, f, "vm", cases, exitInconcl)
		require.NoError(t, err)
		if f == "ltp" {
			assert.Equal(t, exitCannot, code)
			assert.NotContains(t, b.String(), "TPASS")
		} else {
			assert.Equal(t, exitInconcl, code, f)
		}
	}
}

// The kernel's kunit.py reads vm's KTAP as imasim judged it: the broken
// expect line and the model defect are failed subtests, the broken boot a
// failed case; its JUnit is valid for junit-10.xsd.
func TestVMCasesConsumers(t *testing.T) {
	k := &vm.Kernel{Release: "7.2.13+deb14-cloud-amd64", Spec: "debian:7.2"}
	runs := []*vm.Run{
		{Name: "xfs-overlay", Profile: "7.1",
			Expects: []scenarios.ExpectResult{{Text: "expect audit /ovl/test_prog 1", OK: true, Got: "1"}}},
		{Name: "xfs-write", Profile: "7.1",
			Expects: []scenarios.ExpectResult{{Text: "expect audit /mnt/test_prog 2", OK: false, Got: "1"}}},
		{Name: "boom", Err: errors.New("kernel panic")},
	}
	cases := vmCases(k, runs)
	var b bytes.Buffer
	_, err := writeCI(&b, "ktap", "vm", cases, exitFail)
	require.NoError(t, err)
	n, out := ltptest.KunitParse(t, b.Bytes())
	assert.Equal(t, 3, n.Passed, "xfs-overlay's expect and model subtests, xfs-write's model subtest\n%s", out)
	assert.Equal(t, 2, n.Failed, "xfs-write's broken expect line and the boot that broke\n%s", out)
	assert.Equal(t, 1, n.Exit)
	b.Reset()
	_, err = writeCI(&b, "junit", "vm", cases, exitFail)
	require.NoError(t, err)
	assert.Empty(t, ltptest.ValidateJUnit(t, b.Bytes()))
}
