package interrupt

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The first signal cancels; the second runs the registered cleanups
// (those not run yet, and waits for the running ones) within the budget,
// names what it left and exits 3.
func TestSecondSignalForcesCleanup(t *testing.T) {
	var out syncBuf
	exited := make(chan int, 1)
	ctx, stop := Context(context.Background(), &out, func(c int) { exited <- c })
	defer stop()

	var ran []string
	var mu sync.Mutex
	note := func(s string) { mu.Lock(); ran = append(ran, s); mu.Unlock() }
	a := Register("rmdir /tmp/a", func() error { note("a"); return nil })
	Register("umount /tmp/a/m", func() error { note("m"); return nil })
	Register("kill qemu 1234", func() error { return errors.New("no such process") })
	hang := Register("detach /dev/loop9", func() error { time.Sleep(10 * time.Second); return nil })
	_ = a
	// The command is busy in a cleanup that hangs.
	go hang.Run()
	time.Sleep(10 * time.Millisecond)

	require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGINT))
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("first signal did not cancel")
	}
	assert.ErrorIs(t, context.Cause(ctx), ErrInterrupted)
	assert.True(t, Is(context.Cause(ctx)))

	start := time.Now()
	require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGINT))
	select {
	case c := <-exited:
		assert.Equal(t, 3, c)
	case <-time.After(8 * time.Second):
		t.Fatal("second signal did not stop")
	}
	assert.Less(t, time.Since(start), 5*time.Second, "did not wait for the hanging cleanup (10 s)")
	mu.Lock()
	assert.Equal(t, []string{"m", "a"}, ran, "newest first")
	mu.Unlock()
	s := out.String()
	assert.Contains(t, s, "left behind: detach /dev/loop9 (did not finish in time)")
	assert.Less(t, strings.Index(s, "kill qemu"), strings.Index(s, "detach /dev/loop9"), "the busy one is waited for last")
	assert.Contains(t, s, "left behind: kill qemu 1234 (no such process)")
	assert.NotContains(t, s, "rmdir /tmp/a")
}

func TestRunOnce(t *testing.T) {
	mu.Lock()
	regs = nil
	mu.Unlock()
	n := 0
	c := Register("x", func() error { n++; return errors.New("boom") })
	assert.Contains(t, Pending(), "x")
	assert.EqualError(t, c.Run(), "boom")
	assert.EqualError(t, c.Run(), "boom")
	assert.Equal(t, 1, n)
	assert.NotContains(t, Pending(), "x")
	assert.Empty(t, Force(time.Second), "nothing registered is left")
}
