// Package real executes a scenario's steps for real, with system calls,
// on a Linux machine: the host probe (`imasim probe`) and the guest agent
// of `imasim vm` share this one executor.
//
// Scenario paths are mapped under Env.Root. Disk-backed filesystems come
// from Env.Disks (loop devices on the host, virtio disks in a guest);
// tmpfs and overlayfs are mounted directly. Every mount, open handle,
// mapping, loop device and directory that Run makes is undone before it
// returns, whether the steps succeed, fail or the context is cancelled.
// Run needs root (CAP_SYS_ADMIN for mount, CAP_SETUID for other uids).
package real

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"

	"github.com/imasim/imasim/internal/interrupt"
	"github.com/imasim/imasim/scenarios"
)

// AT_EXECVE_CHECK asks execveat to run the checks of an exec without
// executing (Linux v6.14: include/uapi/linux/fcntl.h, AT_EXECVE_CHECK
// 0x10000). golang.org/x/sys/unix v0.49 does not define it.
const AT_EXECVE_CHECK = 0x10000

// atFDCWD is AT_FDCWD (-100) as a raw syscall argument.
var atFDCWD = func() uintptr { fd := unix.AT_FDCWD; return uintptr(fd) }()

// DefaultMaxSleep caps a `sleep` step. Scenarios sleep 31s to let the
// flusher write back dirty data (dirty_expire_centisecs = 3000), so the
// default lets that through; callers that only need ordering set less.
const DefaultMaxSleep = 40 * time.Second

// CannotRunError says the machine cannot perform a step or a
// requirement (TCONF): not a failure of the thing under test.
type CannotRunError struct{ Reason string }

func (e *CannotRunError) Error() string { return "cannot run here: " + e.Reason }

// Env is where and how Run executes.
type Env struct {
	// Root is the directory scenario paths are mapped under ("/lower" is
	// Root+"/lower"); it and its parents must be searchable by the uids
	// the scenario uses. Empty: Run makes a temporary directory (0755)
	// and removes it afterwards. A guest agent can pass "/".
	Root string
	// Disks provides block devices for xfs, ext4 and btrfs fs steps.
	Disks Disks
	// Exe is the executable prefix for files that get exec'd (see
	// MinimalELF); nil means MinimalELF for this architecture.
	Exe []byte
	// StepGap is slept before every step, so coarse timestamps move
	// between steps as the model's clock does (scenarios.StepGap).
	StepGap time.Duration
	// MaxSleep caps each sleep step; 0 means DefaultMaxSleep.
	MaxSleep time.Duration
	// SyncOnCappedSleep: when a sleep of at least the dirty-expire time
	// (30 s) is capped, sync(2) after it, standing in for the flusher that
	// would have written the (by then expired) dirty data back.
	SyncOnCappedSleep bool
	// AfterUnmount runs after every filesystem is unmounted and before
	// the disks are released (e.g. to read on-disk inodes). It runs only
	// when all steps and unmounts succeeded.
	AfterUnmount func(fss []Filesystem) error
	// Log, when set, receives one line per action.
	Log io.Writer
}

// Filesystem is one mounted scenario filesystem.
type Filesystem struct {
	Step       int    // index of the fs/overlay step
	Type       string // xfs, ext4, btrfs, tmpfs, overlay
	Mountpoint string // scenario path
	Dir        string // real directory
	Dev        string // block device, "" for tmpfs and overlay
}

// Event is what an Observer sees after a step.
type Event struct {
	Index int // 0-based step index
	Step  scenarios.Step
	Err   error // the step's error, nil when it worked
	// Note says how the step differed from its text (a capped sleep).
	Note string
}

// Observer is called after every step. A non-nil return stops the run
// (Run then cleans up and returns that error); returning ev.Err stops on
// the first failing step, returning nil carries on past it. A nil
// Observer stops on the first failing step.
type Observer func(ev Event) error

// Runner holds a run's state; its methods are for Observers.
type Runner struct {
	env     Env
	root    string
	fss     []Filesystem
	handles map[string]*handle
	exe     []byte
	execSet map[string]bool
	undo    []undo
	diskN   int
	cur     int // index of the step being run
}

type handle struct {
	f    *os.File
	maps [][]byte
	app  bool
	off  int64 // where the scenario's content starts (after an executable prefix)
	// The opener's ids: mmap runs as them (IMA matches the mapper's creds).
	uid, gid uint32
	ids      bool
}

type undo struct {
	what string
	fn   func() error
	kind int
}

const (
	undoDir = iota
	undoDisk
	undoMount
)

// Run executes s's steps under env, calling obs after each, and undoes
// everything it set up before it returns. The error joins the step or
// observer error that stopped the run with any cleanup errors; a step the
// machine cannot perform (execveat AT_EXECVE_CHECK before 6.14, no disks)
// is a *CannotRunError. While it runs the process umask is 0 (modes are
// the scenario's), and steps with uid=/gid= switch fsuid/fsgid on a
// locked thread (open, write) or run a child with those credentials
// (exec). Run is not safe for concurrent use within one process.
func Run(ctx context.Context, s *scenarios.Scenario, env Env, obs Observer) (err error) {
	r, err := newRunner(s, env)
	if err != nil {
		return err
	}
	return r.run(ctx, s, obs)
}

// RunWith is Run for callers that need the Runner (its Path and
// Filesystems) inside the observer: mk receives it before the first step.
func RunWith(ctx context.Context, s *scenarios.Scenario, env Env, mk func(*Runner) Observer) error {
	r, err := newRunner(s, env)
	if err != nil {
		return err
	}
	return r.run(ctx, s, mk(r))
}

func newRunner(s *scenarios.Scenario, env Env) (*Runner, error) {
	if env.MaxSleep == 0 {
		env.MaxSleep = DefaultMaxSleep
	}
	exe := env.Exe
	if exe == nil {
		var err error
		if exe, err = hostELF(); err != nil {
			return nil, &CannotRunError{err.Error()}
		}
	}
	return &Runner{env: env, handles: map[string]*handle{}, exe: exe, execSet: ExecPaths(s)}, nil
}

func (r *Runner) run(ctx context.Context, s *scenarios.Scenario, obs Observer) (err error) {
	defer func() { err = joinErr(err, r.cleanup(err == nil)) }()
	if r.root = r.env.Root; r.root == "" {
		dir, err := os.MkdirTemp("", "imasim-real-")
		if err != nil {
			return fmt.Errorf("making root directory: %w", err)
		}
		r.root = dir
		r.push(undoDir, "remove "+dir, func() error { return r.removeTree(dir) })
		// Scenario users (uid=65534) must reach files under Root.
		if err := os.Chmod(dir, 0o755); err != nil {
			return fmt.Errorf("root directory: %w", err)
		}
	}
	old := unix.Umask(0) // modes are the scenario's (mode=0755), not the caller's umask
	defer unix.Umask(old)
	for i, st := range s.Steps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("before line %d: %w", st.Line, err)
		}
		if r.env.StepGap > 0 {
			if err := sleepCtx(ctx, r.env.StepGap); err != nil {
				return fmt.Errorf("before line %d: %w", st.Line, err)
			}
		}
		r.cur = i
		note, serr := r.step(ctx, st)
		if serr != nil {
			serr = fmt.Errorf("%s:%d: %s: %w", s.File, st.Line, st.Op.Name(), serr)
		}
		r.logf("step %d line %d: %s -> %v", i, st.Line, st.Text, serr)
		ev := Event{Index: i, Step: st, Err: serr, Note: note}
		if obs == nil {
			if serr != nil {
				return serr
			}
			continue
		}
		if oerr := obs(ev); oerr != nil {
			return oerr
		}
	}
	return nil
}

// Path maps a scenario path to the real one under Root.
func (r *Runner) Path(p string) string { return filepath.Join(r.root, path.Clean("/"+p)) }

// Root is the real root directory.
func (r *Runner) Root() string { return r.root }

// Filesystems lists the filesystems mounted so far, in mount order.
func (r *Runner) Filesystems() []Filesystem { return append([]Filesystem(nil), r.fss...) }

// Exe is the executable prefix given to exec'd files.
func (r *Runner) Exe() []byte { return r.exe }

func (r *Runner) logf(f string, a ...any) {
	if r.env.Log != nil {
		fmt.Fprintf(r.env.Log, f+"\n", a...)
	}
}

// push records an undo step. It is also registered with package
// interrupt, so a second Ctrl-C runs it (once) if cleanup has not.
func (r *Runner) push(kind int, what string, fn func() error) {
	c := interrupt.Register(what, fn)
	r.undo = append(r.undo, undo{what: what, fn: c.Run, kind: kind})
}

// cleanup closes handles, unmounts in reverse order (lazily as a last
// resort), runs AfterUnmount when ok, then releases disks and directories.
func (r *Runner) cleanup(ok bool) error {
	var errs *multierror.Error
	for name, h := range r.handles {
		errs = multierror.Append(errs, h.close())
		delete(r.handles, name)
	}
	// Mounts first, newest first.
	for i := len(r.undo) - 1; i >= 0; i-- {
		if u := r.undo[i]; u.kind == undoMount {
			if err := u.fn(); err != nil {
				errs = multierror.Append(errs, err)
				ok = false
			}
			r.logf("cleanup: %s", u.what)
		}
	}
	if ok && r.env.AfterUnmount != nil {
		if err := r.env.AfterUnmount(r.Filesystems()); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("after unmount: %w", err))
		}
	}
	for i := len(r.undo) - 1; i >= 0; i-- {
		if u := r.undo[i]; u.kind != undoMount {
			if err := u.fn(); err != nil {
				errs = multierror.Append(errs, err)
			}
			r.logf("cleanup: %s", u.what)
		}
	}
	r.undo = nil
	return errs.ErrorOrNil()
}

func (h *handle) close() error {
	var errs error
	for _, m := range h.maps {
		errs = errors.Join(errs, unix.Munmap(m))
	}
	h.maps = nil
	return errors.Join(errs, h.f.Close())
}

// unmount unmounts dir, retrying EBUSY briefly, then detaches lazily.
func (r *Runner) unmount(dir string) error {
	var err error
	for try := 0; try < 5; try++ {
		if err = unix.Unmount(dir, 0); err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil // EINVAL: not mounted (any more)
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if lerr := unix.Unmount(dir, unix.MNT_DETACH); lerr != nil {
		return fmt.Errorf("unmounting %s: %w (lazy: %v)", dir, err, lerr)
	}
	return fmt.Errorf("unmounting %s: %w (detached lazily)", dir, err)
}

// removeTree removes a directory Run made, but never while something is
// still mounted under it.
func (r *Runner) removeTree(dir string) error {
	mi, err := ReadMountinfo()
	if err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	for _, m := range mi {
		if m.Mountpoint == dir || strings.HasPrefix(m.Mountpoint, dir+"/") {
			return fmt.Errorf("not removing %s: %s is still mounted", dir, m.Mountpoint)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	return nil
}

// mkdirs creates real directory p and its missing parents, remembering
// those it made so cleanup can remove them (Root itself is the caller's).
func (r *Runner) mkdirs(p string) error {
	var made []string
	for d := p; d != r.root && d != "/" && d != "."; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		made = append(made, d)
	}
	for i := len(made) - 1; i >= 0; i-- {
		d := made[i]
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("mkdir %s: %w", d, err)
		}
		if r.env.Root != "" && !r.onScenarioFS(d) {
			r.push(undoDir, "rmdir "+d, func() error {
				if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("rmdir %s: %w", d, err)
				}
				return nil
			})
		}
	}
	return nil
}

// onScenarioFS reports whether real path p is on a mounted scenario fs.
func (r *Runner) onScenarioFS(p string) bool {
	for _, fs := range r.fss {
		if p == fs.Dir || strings.HasPrefix(p, fs.Dir+"/") {
			return true
		}
	}
	return false
}

// target maps a scenario path that must be on a scenario filesystem.
func (r *Runner) target(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%s: path must be absolute", p)
	}
	rp := r.Path(p)
	if !r.onScenarioFS(rp) {
		return "", fmt.Errorf("%s: not on any mounted filesystem (mount one with fs/overlay first)", p)
	}
	return rp, nil
}

func joinErr(a, b error) error {
	if b == nil {
		return a
	}
	if a == nil {
		return b
	}
	return multierror.Append(a, b)
}
