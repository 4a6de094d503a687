package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestMainHelper is not a test: the tests below run the test binary with
// this test selected and IMASIM_MAIN_ARGS set, as the real main would.
func TestMainHelper(t *testing.T) {
	a := os.Getenv("IMASIM_MAIN_ARGS")
	if a == "" {
		t.Skip("helper process for the signal tests")
	}
	os.Exit(runMain(strings.Split(a, "\x1f")))
}

// startMain starts `imasim ARGS` as a child process.
func startMain(t *testing.T, stdin *os.File, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainHelper$")
	cmd.Env = append(os.Environ(), "IMASIM_MAIN_ARGS="+strings.Join(args, "\x1f"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdin = stdin
	require.NoError(t, cmd.Start())
	return cmd, &stderr
}

// waitCode waits at most d for cmd and returns its exit status (-1 when
// it had to be killed).
func waitCode(t *testing.T, cmd *exec.Cmd, d time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode()
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		return -1
	}
}

// Every command that reads a file gives way to Ctrl-C when that file is
// a FIFO nobody writes to (open(2) blocks) or a pipe that stalls: exit 3
// within 2 s of the signal.
func TestInterruptBlockedInput(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, unix.Mkfifo(fifo, 0o600))
	cases := [][]string{
		{"scenario", fifo},
		{"policy", "check", fifo},
		{"profile", "show", fifo},
		{"list", "show", fifo},
		{"list", "verify", fifo},
		{"audit", fifo},
		{"compare", "xfs-write", "--log", fifo},
		{"compare", "xfs-write", "--log", "-"},
		{"audit", "-"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			// A pipe whose writer stays open and silent.
			pr, pw, err := os.Pipe()
			require.NoError(t, err)
			defer pw.Close()
			cmd, stderr := startMain(t, pr, args...)
			pr.Close()
			time.Sleep(300 * time.Millisecond)
			require.NoError(t, cmd.Process.Signal(os.Interrupt))
			start := time.Now()
			code := waitCode(t, cmd, 5*time.Second)
			assert.Equal(t, exitInconcl, code, "stderr: %s", stderr)
			assert.Less(t, time.Since(start), 2*time.Second)
			assert.Contains(t, stderr.String(), "interrupted")
		})
	}
}
