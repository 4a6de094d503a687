package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProbeHelperProcess is not a test: TestProbeWithoutRoot runs the
// test binary as another user with this test selected.
func TestProbeHelperProcess(t *testing.T) {
	if os.Getenv("IMASIM_PROBE_HELPER") != "1" {
		t.Skip("helper process for TestProbeWithoutRoot")
	}
	args := []string{"probe", "xfs-overlay"}
	if a := os.Getenv("IMASIM_PROBE_ARGS"); a != "" {
		args = strings.Fields(a)
	}
	os.Exit(runMain(args))
}

// TestProbeSIGINT interrupts a probe in the middle of a sleep step: it
// must unmount, detach its loop device and remove its directories.
func TestProbeSIGINT(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("imasim probe needs root")
	}
	if _, err := exec.LookPath("mkfs.xfs"); err != nil {
		t.Skip("needs mkfs.xfs")
	}
	dir := t.TempDir()
	scn := filepath.Join(dir, "sleepy.scn")
	require.NoError(t, os.WriteFile(scn, []byte("name: sleepy\nfs xfs /m\nfs tmpfs /t\nwrite /m/f \"x\"\nsleep 30s\n"), 0o644))
	tmp := filepath.Join(dir, "tmp")
	require.NoError(t, os.Mkdir(tmp, 0o755))
	cmd := exec.Command(os.Args[0], "-test.run=^TestProbeHelperProcess$")
	cmd.Env = append(os.Environ(), "IMASIM_PROBE_HELPER=1", "TMPDIR="+tmp, "IMASIM_PROBE_ARGS=probe "+scn)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	mounted := func() int {
		mi, err := os.ReadFile("/proc/self/mountinfo")
		require.NoError(t, err)
		return strings.Count(string(mi), tmp)
	}
	deadline := time.Now().Add(20 * time.Second)
	for mounted() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, 2, mounted(), "both filesystems mounted before the signal")
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	err := cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "stderr: %s", stderr.String())
	assert.Equal(t, exitInconcl, ee.ExitCode())
	assert.Contains(t, stderr.String(), "interrupted, cleaned up")
	assert.Contains(t, stderr.String(), "context canceled")
	assert.Zero(t, mounted(), "mounts left after SIGINT")
	lo, err := exec.Command("losetup", "-a").Output()
	require.NoError(t, err)
	assert.NotContains(t, string(lo), tmp, "loop devices left after SIGINT")
	ents, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, ents, "work directory removed")
}

// TestProbeWithoutRoot runs `imasim probe` as uid 65534: exit 32 with a
// TCONF reason, and nothing created in TMPDIR.
func TestProbeWithoutRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		// Already unprivileged: run directly.
		tmp := t.TempDir()
		t.Setenv("TMPDIR", tmp)
		var out, errb bytes.Buffer
		assert.Equal(t, exitCannot, run(context.Background(), []string{"probe", "xfs-overlay"}, &out, &errb))
		assert.Contains(t, errb.String(), "TCONF")
		ents, _ := os.ReadDir(tmp)
		assert.Empty(t, ents)
		return
	}
	// Root: copy the test binary where uid 65534 can run it.
	dir, err := os.MkdirTemp("", "imasim-probe-cmdtest-")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "imasim.test")
	copyFile(t, os.Args[0], bin)
	tmp := filepath.Join(dir, "tmp")
	require.NoError(t, os.Mkdir(tmp, 0o777))
	require.NoError(t, os.Chmod(tmp, 0o777))
	cmd := exec.Command(bin, "-test.run=^TestProbeHelperProcess$")
	cmd.Env = []string{"IMASIM_PROBE_HELPER=1", "TMPDIR=" + tmp, "PATH=" + os.Getenv("PATH")}
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "stderr: %s", stderr.String())
	assert.Equal(t, exitCannot, ee.ExitCode(), "stderr: %s", stderr.String())
	assert.Contains(t, stderr.String(), "TCONF: imasim probe needs root")
	ents, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, ents, "nothing created")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}

func TestProbeJSON(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("imasim probe needs root")
	}
	if _, err := exec.LookPath("mkfs.xfs"); err != nil {
		t.Skip("needs mkfs.xfs")
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"probe", "xfs-write", "--json", "--profile", "6.12"}, &out, &errb)
	require.Contains(t, []int{exitOK, exitFail}, code, "stderr: %s", errb.String())
	var rep struct {
		Schema   int               `json:"schema"`
		Profile  string            `json:"profile"`
		Models   map[string]string `json:"models"`
		Steps    []json.RawMessage `json:"steps"`
		IVersion []struct {
			Path string `json:"path"`
		} `json:"i_version"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep), out.String())
	assert.Equal(t, 1, rep.Schema)
	assert.Equal(t, "6.12", rep.Profile)
	assert.Equal(t, "xfs", rep.Models["xfs"], "6.12 uses the pre-multigrain XFS model")
	assert.Len(t, rep.Steps, 5)
	require.Len(t, rep.IVersion, 1)
	assert.True(t, strings.HasSuffix(rep.IVersion[0].Path, "/test_prog"))
}
