package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/cache"
	ltpcompat "github.com/imasim/imasim/ltp-compat"
	"github.com/imasim/imasim/scenarios/vm"
	"github.com/imasim/imasim/scenarios/vm/guest"
)

// shellRuns: one agreeing run whose kernel broke the expectation, one
// the model mispredicts, one TCONF and one whose boot failed.
func shellRuns() []*vm.ShellRun {
	sb := &vm.ScriptBoot{Boot: &vm.BootResult{}}
	rep := func(exit int, out string) *guest.ScriptReport {
		return &guest.ScriptReport{Exit: exit, Output: out}
	}
	return []*vm.ShellRun{
		{Name: "xfs-write", Boot: sb, Script: rep(1, "xfs-write: FAIL: expect audit /mnt/test_prog 2 (got 1)\n"),
			Checks: []vm.ShellCheck{{Text: "expect audit /mnt/test_prog 2", Status: "FAIL", Real: "1", Model: "1"}}},
		{Name: "xfs-overlay", Boot: sb, Script: rep(0, "xfs-overlay: PASS: expect audit /ovl/test_prog 1 (got 1)\n"),
			Checks: []vm.ShellCheck{{Text: "expect audit /ovl/test_prog 1", Status: "PASS", Real: "1", Model: "3"}}},
		{Name: "mmap-backing-file", Boot: sb, Script: rep(32, "mmap-backing-file: TCONF: needs python3\n"), Conf: "needs python3"},
		{Name: "violation-tomtou", Boot: sb, Err: errors.New("boot failed")},
	}
}

func TestShellOutputs(t *testing.T) {
	k := &vm.Kernel{Spec: "debian:7.2", Release: "7.2.13+deb14-cloud-amd64"}
	p, err := cache.LoadProfile("7.1")
	require.NoError(t, err)
	runs := shellRuns()

	var txt bytes.Buffer
	writeShellText(&txt, k, p, runs, false)
	out := txt.String()
	assert.Contains(t, out, "script FAIL (real 1), model 1: agree")
	assert.Contains(t, out, "script PASS (real 1), model 3: MODEL DEFECT")
	assert.Contains(t, out, "the model mispredicts the kernel")
	assert.Contains(t, out, "xfs-overlay: PASS", "a disagreeing script's output is shown")
	assert.Contains(t, out, "TCONF: needs python3")
	assert.Contains(t, out, "not run: boot failed")

	var js bytes.Buffer
	require.NoError(t, writeShellJSON(&js, k, p, runs))
	var doc struct {
		Schema int `json:"schema"`
		Runs   []struct {
			Scenario string `json:"scenario"`
			Exit     int    `json:"exit"`
			Agree    bool   `json:"agree"`
			Error    string `json:"error"`
		} `json:"shell_runs"`
	}
	require.NoError(t, json.Unmarshal(js.Bytes(), &doc))
	require.Len(t, doc.Runs, 4)
	assert.True(t, doc.Runs[0].Agree)
	assert.False(t, doc.Runs[1].Agree)
	assert.Equal(t, -1, doc.Runs[3].Exit, "never ran")
	assert.Equal(t, "boot failed", doc.Runs[3].Error)

	cases := shellCases(k, runs)
	require.Len(t, cases, 4)
	assert.Equal(t, ltpcompat.Fail, cases[0].Status, "the kernel broke the expectation")
	assert.Equal(t, ltpcompat.Pass, cases[0].Subtests[1].Status, "and the model predicted it")
	assert.Equal(t, ltpcompat.Fail, cases[1].Subtests[1].Status, "model defect")
	assert.Equal(t, ltpcompat.Conf, cases[2].Status)
	assert.Equal(t, ltpcompat.Brok, cases[3].Status)
}
