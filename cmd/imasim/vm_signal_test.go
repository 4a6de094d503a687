package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vmProcs lists processes whose command line mentions dir (QEMU and
// swtpm name their work dir under it).
func vmProcs(dir string) string {
	out, _ := exec.Command("pgrep", "-af", dir).Output()
	return strings.TrimSpace(string(out))
}

// killProcs kills, by pid, what this test started under dir.
func killProcs(dir string) {
	out, _ := exec.Command("pgrep", "-f", dir).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// needVM7 skips unless a Debian 7.2 kernel can boot here.
func needVM7(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM (-short)")
	}
	for _, b := range []string{"qemu-system-x86_64", "swtpm", "go", "pgrep"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed", b)
		}
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("no /bin/busybox (apt-get install busybox-static)")
	}
	home, _ := os.UserCacheDir()
	if m, _ := filepath.Glob(filepath.Join(home, "imasim", "kernels", "7.2_*", "root")); len(m) == 0 {
		t.Skip("no Debian 7.2 kernel in the cache (make kernels)")
	}
}

// staticImasim builds imasim without cgo (it is also the guest agent).
func staticImasim(t *testing.T, dir string) string {
	bin := filepath.Join(dir, "imasim")
	build := exec.Command("go", "build", "-o", bin, "github.com/imasim/imasim/cmd/imasim")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// startVMRun builds a static imasim and starts `vm run` of a script that
// sleeps, with its work dirs under a fresh TMPDIR; it returns once QEMU
// and swtpm run.
func startVMRun(t *testing.T) (*exec.Cmd, *bytes.Buffer, string) {
	needVM7(t)
	dir := t.TempDir()
	bin := staticImasim(t, dir)
	script := filepath.Join(dir, "sleep.sh")
	require.NoError(t, os.WriteFile(script, []byte("sleep 600\n"), 0o755))
	tmp := filepath.Join(dir, "tmp")
	require.NoError(t, os.Mkdir(tmp, 0o755))
	cmd := exec.Command(bin, "vm", "--kernel", "debian:7.2", "run", script)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		killProcs(tmp)
	})
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(vmProcs(tmp), "qemu-system") || !strings.Contains(vmProcs(tmp), "swtpm") {
		require.True(t, time.Now().Before(deadline), "QEMU and swtpm did not start: %s", errb.String())
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second)
	return cmd, &errb, tmp
}

// waitExit waits up to d for cmd and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd, d time.Duration) int {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode()
	case <-time.After(d):
		t.Fatalf("imasim vm still running %s after the signal", d)
	}
	return -1
}

// Ctrl-C during a boot: exit 3, QEMU and swtpm gone, the work dir
// removed (issue 16 item 7).
func TestVMInterrupted(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd, errb, tmp := startVMRun(t)
			require.NoError(t, cmd.Process.Signal(sig))
			code := waitExit(t, cmd, 10*time.Second)
			assert.Equal(t, exitInconcl, code, errb.String())
			assert.Contains(t, errb.String(), "interrupted")
			assert.Empty(t, vmProcs(tmp), "QEMU or swtpm left running")
			ents, _ := os.ReadDir(tmp)
			assert.Empty(t, ents, "work dir left behind")
		})
	}
}

// A second Ctrl-C ends imasim within 2 s, still killing QEMU and swtpm.
func TestVMSecondInterrupt(t *testing.T) {
	cmd, errb, tmp := startVMRun(t)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	code := waitExit(t, cmd, 2*time.Second)
	assert.Equal(t, exitInconcl, code, errb.String())
	time.Sleep(100 * time.Millisecond)
	assert.Empty(t, vmProcs(tmp), "QEMU or swtpm left running")
	if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
		assert.Contains(t, errb.String(), filepath.Join(tmp, ents[0].Name()), "a work dir left behind is not named")
	}
}
