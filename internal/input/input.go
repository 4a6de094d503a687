// Package input opens and reads untrusted input files (scenarios,
// policies, profiles, logs, lists) with bounds: opening a FIFO that has
// no writer, or reading a pipe or terminal that stalls, gives way when
// the context ends, and whole-file reads stop at a stated limit instead
// of growing until the process runs out of memory. Streaming readers
// (logs, lists) bound their lines and records themselves; this package
// only makes the bytes arrive interruptibly.
package input

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// Limits for the documents imasim reads whole. Logs and measurement
// lists are streamed and have per-line and per-record limits instead.
const (
	// MaxScenario bounds a scenario file (the built-ins are under 4 KiB).
	MaxScenario = 4 << 20
	// MaxProfile bounds one kernel profile file.
	MaxProfile = 1 << 20
	// MaxLine bounds one line of a policy, scenario or profile file.
	MaxLine = 1 << 20
)

// TooLargeError says an input is over its limit; nothing past the limit
// was kept.
type TooLargeError struct {
	Name  string
	What  string // "file", "line"
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: %s longer than the limit of %s", e.Name, e.What, Size(e.Limit))
}

// Size prints a byte count the way the limits are stated (4 MiB).
func Size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Open opens name for reading; "-" is standard input. The open itself
// (which blocks on a FIFO until a writer comes) and every later read
// give way when ctx ends, returning context.Cause(ctx). Directories are
// refused.
func Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if name == "-" {
		return newReader(ctx, os.Stdin, true, false), nil
	}
	type res struct {
		f   *os.File
		err error
	}
	ch := make(chan res, 1)
	go func() {
		f, err := os.Open(name)
		ch <- res{f, err}
	}()
	var f *os.File
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		f = r.f
	case <-ctx.Done():
		// The open(2) may still complete: close what it gives.
		go func() {
			if r := <-ch; r.f != nil {
				r.f.Close()
			}
		}()
		return nil, fmt.Errorf("opening %s: %w", name, context.Cause(ctx))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s: is a directory", name)
	}
	return newReader(ctx, f, !fi.Mode().IsRegular(), true), nil
}

// ReadFile reads all of name ("-": stdin), at most limit bytes: a longer
// input is a *TooLargeError, found after reading limit+1 bytes.
func ReadFile(ctx context.Context, name string, limit int64) ([]byte, error) {
	r, err := Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return ReadAll(r, name, limit)
}

// ReadAll reads r to the end, at most limit bytes.
func ReadAll(r io.Reader, name string, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, &TooLargeError{Name: name, What: "file", Limit: limit}
	}
	return b, nil
}

// reader checks its context before every read; for files whose reads
// can block indefinitely (pipes, FIFOs, terminals, devices) the read
// runs on a helper goroutine so that the context can end the wait.
type reader struct {
	ctx   context.Context
	f     *os.File
	close bool

	async    bool
	want     chan int
	got      chan result
	buf      []byte
	inflight bool
}

type result struct {
	n   int
	err error
}

const asyncBuf = 64 << 10

func newReader(ctx context.Context, f *os.File, async, closeIt bool) *reader {
	r := &reader{ctx: ctx, f: f, close: closeIt, async: async}
	if async {
		r.want = make(chan int)
		r.got = make(chan result, 1)
		r.buf = make([]byte, asyncBuf)
		go func() {
			for n := range r.want {
				k, err := f.Read(r.buf[:n])
				r.got <- result{k, err}
			}
		}()
	}
	return r
}

func (r *reader) Read(p []byte) (int, error) {
	if r.ctx.Err() != nil {
		return 0, context.Cause(r.ctx)
	}
	if !r.async {
		return r.f.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !r.inflight {
		r.want <- min(len(p), len(r.buf))
		r.inflight = true
	}
	select {
	case res := <-r.got:
		r.inflight = false
		n := copy(p, r.buf[:res.n])
		return n, res.err
	case <-r.ctx.Done():
		return 0, context.Cause(r.ctx)
	}
}

// Fd returns the file's descriptor (e.g. to map a regular file).
func (r *reader) Fd() uintptr { return r.f.Fd() }

// Stat describes the opened file.
func (r *reader) Stat() (os.FileInfo, error) { return r.f.Stat() }

// Seek seeks a regular file; other files cannot seek.
func (r *reader) Seek(off int64, whence int) (int64, error) {
	if r.async {
		return 0, fmt.Errorf("%s: cannot seek", r.f.Name())
	}
	return r.f.Seek(off, whence)
}

func (r *reader) Close() error {
	if r.async {
		if r.inflight {
			// The helper is blocked in a read (into its own buffer): it
			// ends when that read returns, or with the process.
			go func() { <-r.got; close(r.want) }()
		} else {
			close(r.want)
		}
		r.async, r.inflight = false, false
	}
	if !r.close {
		return nil
	}
	err := r.f.Close()
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}
