// Package interrupt is imasim's Ctrl-C handling, shared by every command.
//
// The first SIGINT or SIGTERM cancels the command's context (cause
// ErrInterrupted): commands stop, undo what they set up, and exit 3. A
// second signal stops the process within StopBudget: the cleanups
// still registered here (unmounts, loop devices, QEMU and swtpm
// processes) are run, or waited for when the command is already running
// them, and whatever did not finish is named on stderr before exit 3.
//
// Code that sets something up that must not outlive the process calls
// Register and releases it through the returned Cleanup's Run, so the
// normal path and the forced path run each cleanup once.
package interrupt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// ErrInterrupted is the context cause after a signal. A command that
// returns an error wrapping it (or context.Canceled) was interrupted:
// exit status 3.
var ErrInterrupted = errors.New("interrupted")

// Is reports whether err says the work was interrupted.
func Is(err error) bool {
	return errors.Is(err, ErrInterrupted) || errors.Is(err, context.Canceled)
}

// StopBudget bounds the forced cleanup after a second signal.
const StopBudget = 1500 * time.Millisecond

// Cleanup is one registered cleanup.
type Cleanup struct {
	what  string
	fn    func() error
	once  sync.Once
	err   error
	done  chan struct{}
	state int // guarded by mu: pending, running, finished
}

const (
	pending = iota
	running
	finished
)

var (
	mu   sync.Mutex
	regs []*Cleanup
)

// Register records fn (described by what, e.g. "umount /tmp/x") as a
// cleanup the forced stop must run if the caller has not run it yet.
func Register(what string, fn func() error) *Cleanup {
	c := &Cleanup{what: what, fn: fn, done: make(chan struct{})}
	mu.Lock()
	regs = append(regs, c)
	mu.Unlock()
	return c
}

// What describes the cleanup.
func (c *Cleanup) What() string { return c.what }

// Run runs the cleanup once (later calls, from either path, wait for and
// return the first run's error) and unregisters it.
func (c *Cleanup) Run() error {
	c.once.Do(func() {
		mu.Lock()
		c.state = running
		mu.Unlock()
		c.err = c.fn()
		mu.Lock()
		c.state = finished
		for i, r := range regs {
			if r == c {
				regs = append(regs[:i], regs[i+1:]...)
				break
			}
		}
		mu.Unlock()
		close(c.done)
	})
	<-c.done
	return c.err
}

// Pending lists the cleanups not yet finished, newest first.
func Pending() []string {
	mu.Lock()
	defer mu.Unlock()
	var out []string
	for i := len(regs) - 1; i >= 0; i-- {
		out = append(out, regs[i].what)
	}
	return out
}

// Force runs every registered cleanup not yet run, newest first, then
// waits for those the command itself is running, all within budget. It
// returns what it had to leave behind: cleanups that failed or did not
// finish in time.
func Force(budget time.Duration) (left []string) {
	deadline := time.Now().Add(budget)
	mu.Lock()
	var todo, busy []*Cleanup
	for i := len(regs) - 1; i >= 0; i-- {
		if regs[i].state == running {
			busy = append(busy, regs[i])
		} else {
			todo = append(todo, regs[i])
		}
	}
	mu.Unlock()
	for _, c := range append(todo, busy...) {
		res := make(chan error, 1)
		go func() { res <- c.Run() }()
		t := time.NewTimer(max(time.Until(deadline), 0))
		select {
		case err := <-res:
			if err != nil {
				left = append(left, fmt.Sprintf("%s (%v)", c.what, err))
			}
		case <-t.C:
			left = append(left, c.what+" (did not finish in time)")
		}
		t.Stop()
	}
	return left
}

// Context returns a context that the first SIGINT/SIGTERM cancels with
// cause ErrInterrupted. A second signal runs Force(StopBudget), names
// what was left behind on stderr and calls exit(3). stop releases the
// signals.
func Context(parent context.Context, stderr io.Writer, exit func(int)) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	quit := make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-quit:
			return
		}
		fmt.Fprintln(stderr, "imasim: interrupted, cleaning up (interrupt again to stop at once)")
		cancel(ErrInterrupted)
		select {
		case <-sigs:
		case <-quit:
			return
		}
		fmt.Fprintln(stderr, "imasim: second interrupt: stopping now")
		left := Force(StopBudget)
		for _, l := range left {
			fmt.Fprintln(stderr, "imasim: left behind:", l)
		}
		if len(left) == 0 {
			fmt.Fprintln(stderr, "imasim: nothing left behind")
		}
		exit(3)
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(quit)
		cancel(nil)
	}
}
