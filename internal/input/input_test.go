package input

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

var errStop = errors.New("stop")

// A FIFO nobody writes to blocks open(2); the context ends the wait.
func TestOpenFIFOWithoutWriterGivesWay(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, unix.Mkfifo(p, 0o600))
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(100*time.Millisecond, func() { cancel(errStop) })
	start := time.Now()
	_, err := Open(ctx, p)
	assert.ErrorIs(t, err, errStop)
	assert.Less(t, time.Since(start), 4*time.Second, "gave way (the writer stays 5 s, the FIFO forever)")
}

// A writer that stalls: the blocked read gives way too, and what came
// before arrives.
func TestStalledPipeGivesWay(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, unix.Mkfifo(p, 0o600))
	go func() {
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err == nil {
			w.Write([]byte("hello"))
			time.Sleep(5 * time.Second)
			w.Close()
		}
	}()
	ctx, cancel := context.WithCancelCause(context.Background())
	r, err := Open(ctx, p)
	require.NoError(t, err)
	buf := make([]byte, 16)
	n, err := r.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(buf[:n]))
	time.AfterFunc(100*time.Millisecond, func() { cancel(errStop) })
	start := time.Now()
	_, err = r.Read(buf)
	assert.ErrorIs(t, err, errStop)
	assert.Less(t, time.Since(start), 4*time.Second, "gave way (the writer stays 5 s, the FIFO forever)")
	assert.NoError(t, r.Close())
}

func TestReadFileLimit(t *testing.T) {
	_, err := ReadFile(context.Background(), "/dev/zero", 1<<20)
	var tl *TooLargeError
	require.ErrorAs(t, err, &tl)
	assert.Equal(t, int64(1<<20), tl.Limit)
	assert.Contains(t, err.Error(), "/dev/zero: file longer than the limit of 1 MiB")

	p := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(p, make([]byte, 1<<20), 0o600))
	b, err := ReadFile(context.Background(), p, 1<<20)
	require.NoError(t, err)
	assert.Len(t, b, 1<<20, "exactly at the limit is fine")

	_, err = ReadFile(context.Background(), t.TempDir(), 10)
	assert.ErrorContains(t, err, "is a directory")
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{4 << 20: "4 MiB", 1 << 30: "1 GiB", 64 << 10: "64 KiB", 100: "100 bytes", 1<<20 + 1: "1048577 bytes"} {
		assert.Equal(t, want, Size(n))
	}
}
