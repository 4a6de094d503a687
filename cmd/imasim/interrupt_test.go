package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/imasim/imasim/internal/interrupt"
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

// waitBlocked waits until a thread of process pid sleeps in a FIFO open
// or a pipe read (so it is past installing its signal handler: a signal
// before that would kill it outright on a loaded machine).
func waitBlocked(t *testing.T, pid int) {
	t.Helper()
	start := time.Now()
	named := false // the kernel names wait channels (CONFIG_KALLSYMS)
	for time.Since(start) < 20*time.Second {
		ws, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", pid))
		for _, w := range ws {
			b, _ := os.ReadFile(w)
			s := string(b)
			named = named || (s != "" && s != "0")
			if strings.Contains(s, "wait_for_partner") || strings.Contains(s, "fifo_open") || strings.Contains(s, "pipe_read") {
				return
			}
		}
		if !named && time.Since(start) > 2*time.Second {
			return // no wait channel names here: 2 s is the best guess
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("process %d never blocked in a FIFO open or pipe read", pid)
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
			waitBlocked(t, cmd.Process.Pid)
			require.NoError(t, cmd.Process.Signal(os.Interrupt))
			start := time.Now()
			code := waitCode(t, cmd, 8*time.Second)
			assert.Equal(t, exitInconcl, code, "stderr: %s", stderr)
			assert.Less(t, time.Since(start), 5*time.Second, "not stuck in the open or read (the hung stdin writer stays 10 s and more)")
			assert.Contains(t, stderr.String(), "interrupted")
		})
	}
}

// Two interrupts in a row while a probe has an XFS loop device and a
// tmpfs mounted: the process ends within 2 s of the second, exit 3, and
// the forced stop still unmounts, detaches and removes everything (the
// cleanups scenarios/real registers with package interrupt).
func TestProbeDoubleInterrupt(t *testing.T) {
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
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainHelper$")
	cmd.Env = append(os.Environ(), "IMASIM_MAIN_ARGS=probe\x1f"+scn, "TMPDIR="+tmp)
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
	require.Equal(t, 2, mounted(), "both filesystems mounted before the signals")
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	time.Sleep(5 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	start := time.Now()
	code := waitCode(t, cmd, 10*time.Second)
	assert.Less(t, time.Since(start), 5*time.Second, "the forced stop did not wait for the sleep step (30 s)")
	assert.Equal(t, exitInconcl, code, "stderr: %s", stderr.String())
	assert.Zero(t, mounted(), "mounts left: %s", stderr.String())
	lo, err := exec.Command("losetup", "-a").Output()
	require.NoError(t, err)
	assert.NotContains(t, string(lo), tmp, "loop devices left")
	ents, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, ents, "work directory left: %s", stderr.String())
}

// Every command that returns after its context ended exits 3, whatever
// it would have returned (scenario used to exit 2).
func TestInterruptedExitsThree(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(interrupt.ErrInterrupted)
	for _, args := range [][]string{{"scenario", "xfs-write"}, {"matrix"}, {"policy", "check", "../../testdata/policies/oracle/custom-policy.txt"}, {"profile", "show", "6.12"}, {"list", "show", "../../testdata/lists/sample.bin"}, {"compare", "xfs-write", "--log", "../../testdata/audit/kmsg.txt"}, {}} {
		var o, e bytes.Buffer
		code := run(ctx, args, &o, &e)
		assert.Equal(t, exitInconcl, code, "%v: %s", args, e.String())
		assert.Contains(t, e.String(), "interrupted", args)
	}
}
