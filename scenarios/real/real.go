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
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"

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
// observer error that stopped the run with any cleanup errors.
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
			serr = fmt.Errorf("%s:%d: %s: %w", s.File, st.Line, st.Op, serr)
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

func (r *Runner) push(kind int, what string, fn func() error) {
	r.undo = append(r.undo, undo{what: what, fn: fn, kind: kind})
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

func (r *Runner) step(ctx context.Context, st scenarios.Step) (note string, err error) {
	a := st.Args
	uid, gid, ids := creds(st.Opts)
	switch st.Op {
	case "fs":
		return "", r.mountFS(ctx, st, a[0], a[1], a[2:])
	case "overlay":
		return "", r.mountOverlay(st)
	case "mkdir":
		p, err := r.target(a[0])
		if err != nil {
			return "", err
		}
		return "", r.mkdirs(p)
	case "write", "append", "overwrite":
		return "", r.write(st, uid, gid, ids)
	case "truncate":
		p, err := r.target(a[0])
		if err != nil {
			return "", err
		}
		n, _ := strconv.ParseInt(a[1], 10, 64)
		if r.hasExe(p) {
			n += int64(len(r.exe))
		}
		return "", os.Truncate(p, n)
	case "copy":
		return "", r.copy(st)
	case "chmod":
		p, err := r.target(a[0])
		if err != nil {
			return "", err
		}
		m, _ := strconv.ParseUint(a[1], 8, 32)
		return "", unix.Chmod(p, uint32(m))
	case "chown":
		p, err := r.target(a[0])
		if err != nil {
			return "", err
		}
		u, g, hasG := strings.Cut(a[1], ":")
		uu, _ := strconv.Atoi(u)
		gg := uu
		if hasG {
			gg, _ = strconv.Atoi(g)
		}
		return "", unix.Lchown(p, uu, gg)
	case "touch":
		p, err := r.target(a[0])
		if err != nil {
			return "", err
		}
		return "", utimensNow(p)
	case "setxattr":
		p, err := r.target(a[0])
		if err != nil {
			return "", err
		}
		return "", unix.Setxattr(p, a[1], []byte(a[2]), 0)
	case "open":
		return "", r.open(st, uid, gid, ids)
	case "read":
		h := r.handles[a[0]]
		if h == nil {
			return "", fmt.Errorf("%s is not open", a[0])
		}
		_, err := io.Copy(io.Discard, io.NewSectionReader(h.f, 0, 1<<40))
		return "", err
	case "mmap":
		h := r.handles[a[0]]
		if h == nil {
			return "", fmt.Errorf("%s is not open", a[0])
		}
		prot := unix.PROT_READ
		if a[1] == "exec" {
			prot |= unix.PROT_EXEC
		}
		m, err := unix.Mmap(int(h.f.Fd()), 0, 4096, prot, unix.MAP_SHARED)
		if err != nil {
			return "", fmt.Errorf("mmap %s: %w", a[1], err)
		}
		h.maps = append(h.maps, m)
		return "", nil
	case "close":
		h := r.handles[a[0]]
		if h == nil {
			return "", fmt.Errorf("%s is not open", a[0])
		}
		delete(r.handles, a[0])
		return "", h.close()
	case "exec":
		p, err := r.target(a[0])
		if err != nil {
			return "", err
		}
		return "", r.exec(ctx, p, uid, gid)
	case "execveat":
		p, err := r.target(a[0])
		if err != nil {
			return "", err
		}
		return "", asUser(uid, gid, ids, func() error { return execveCheck(p) })
	case "rename":
		from, err := r.target(a[0])
		if err != nil {
			return "", err
		}
		to, err := r.target(a[1])
		if err != nil {
			return "", err
		}
		return "", unix.Rename(from, to)
	case "unlink":
		p, err := r.target(a[0])
		if err != nil {
			return "", err
		}
		return "", unix.Unlink(p)
	case "sync":
		unix.Sync()
		return "", nil
	case "sleep":
		ns, _ := scenarios.ParseDuration(a[0])
		d := time.Duration(ns)
		if d > r.env.MaxSleep {
			note = fmt.Sprintf("slept %s, capped from %s", r.env.MaxSleep, d)
			d = r.env.MaxSleep
		}
		return note, sleepCtx(ctx, d)
	case "remount":
		p, err := r.target(a[0])
		if err != nil {
			return "", err
		}
		flags, data, err := MountOptions(a[1:])
		if err != nil {
			return "", err
		}
		return "", unix.Mount("", p, "", flags|unix.MS_REMOUNT, data)
	}
	return "", fmt.Errorf("operation %q is not implemented by the real executor", st.Op)
}

func (r *Runner) mountFS(ctx context.Context, st scenarios.Step, fsType, mnt string, opts []string) error {
	if fsType == "overlay" {
		return fmt.Errorf("use the overlay step for overlayfs")
	}
	flags, data, err := MountOptions(opts)
	if err != nil {
		return err
	}
	dir := r.Path(mnt)
	if err := r.mkdirs(dir); err != nil {
		return err
	}
	fs := Filesystem{Step: r.cur, Type: fsType, Mountpoint: path.Clean(mnt), Dir: dir}
	source := fsType
	if needsDisk(fsType) {
		if r.env.Disks == nil {
			return &CannotRunError{fmt.Sprintf("no disks available for %s", fsType)}
		}
		dev, release, err := r.env.Disks.Prepare(ctx, fsType, r.diskN)
		if err != nil {
			return fmt.Errorf("preparing %s disk: %w", fsType, err)
		}
		r.diskN++
		r.push(undoDisk, "release "+dev, release)
		fs.Dev, source = dev, dev
	}
	if err := unix.Mount(source, dir, fsType, flags, data); err != nil {
		return fmt.Errorf("mount -t %s %s %s: %w", fsType, source, dir, err)
	}
	r.push(undoMount, "umount "+dir, func() error { return r.unmount(dir) })
	r.fss = append(r.fss, fs)
	return nil
}

func (r *Runner) mountOverlay(st scenarios.Step) error {
	dir := r.Path(st.Args[0])
	var lowers []string
	for _, l := range strings.Split(st.Opts["lower"], ":") {
		p, err := r.target(l)
		if err != nil {
			return fmt.Errorf("lower: %w", err)
		}
		lowers = append(lowers, p)
	}
	data := "lowerdir=" + strings.Join(lowers, ":")
	if up := st.Opts["upper"]; up != "" {
		u, err := r.target(up)
		if err != nil {
			return fmt.Errorf("upper: %w", err)
		}
		w, err := r.target(st.Opts["work"])
		if err != nil {
			return fmt.Errorf("work: %w", err)
		}
		data += ",upperdir=" + u + ",workdir=" + w
	}
	if err := r.mkdirs(dir); err != nil {
		return err
	}
	if err := unix.Mount("overlay", dir, "overlay", 0, data); err != nil {
		return fmt.Errorf("mount -t overlay -o %s %s: %w", data, dir, err)
	}
	r.push(undoMount, "umount "+dir, func() error { return r.unmount(dir) })
	r.fss = append(r.fss, Filesystem{Step: r.cur, Type: "overlay", Mountpoint: path.Clean(st.Args[0]), Dir: dir})
	return nil
}

// write runs write (create, truncate), append and overwrite (in place,
// after any executable prefix), on a path or a handle.
func (r *Runner) write(st scenarios.Step, uid, gid uint32, ids bool) error {
	data := []byte(st.Args[1])
	if h, ok := r.handles[st.Args[0]]; ok {
		if h.app || st.Op == "append" {
			_, err := h.f.Write(data)
			return err
		}
		_, err := h.f.WriteAt(data, h.off)
		return err
	}
	p, err := r.target(st.Args[0])
	if err != nil {
		return err
	}
	return asUser(uid, gid, ids, func() error {
		switch st.Op {
		case "write":
			mode := optMode(st.Opts, 0o644)
			if mode&0o111 != 0 || r.execSet[path.Clean(st.Args[0])] {
				data = append(append([]byte(nil), r.exe...), data...)
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, os.FileMode(mode))
			if err != nil {
				return err
			}
			_, err = f.Write(data)
			return errors.Join(err, f.Close())
		case "append":
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			_, err = f.Write(data)
			return errors.Join(err, f.Close())
		default: // overwrite
			off := int64(0)
			if r.hasExe(p) {
				off = int64(len(r.exe))
			}
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			fi, err := f.Stat()
			if err == nil && off+int64(len(data)) > fi.Size() {
				err = fmt.Errorf("overwrite is in place: %d bytes do not fit in %d", len(data), fi.Size()-off)
			}
			if err == nil {
				_, err = f.WriteAt(data, off)
			}
			return errors.Join(err, f.Close())
		}
	})
}

// copy copies SRC to DST (create, truncate) with DST's mode, adding the
// executable prefix when DST is exec'd later and SRC lacks it.
func (r *Runner) copy(st scenarios.Step) error {
	src, err := r.target(st.Args[0])
	if err != nil {
		return err
	}
	dst, err := r.target(st.Args[1])
	if err != nil {
		return err
	}
	data, err := readNoAtime(src, -1)
	if err != nil {
		return err
	}
	mode := optMode(st.Opts, 0o644)
	if (mode&0o111 != 0 || r.execSet[path.Clean(st.Args[1])]) && !bytes.HasPrefix(data, r.exe) {
		data = append(append([]byte(nil), r.exe...), data...)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, os.FileMode(mode))
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}

func (r *Runner) open(st scenarios.Step, uid, gid uint32, ids bool) error {
	p, err := r.target(st.Args[1])
	if err != nil {
		return err
	}
	fl := map[string]int{"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR,
		"a": os.O_WRONLY | os.O_APPEND, "trunc": os.O_WRONLY | os.O_TRUNC}[st.Args[2]]
	return asUser(uid, gid, ids, func() error {
		// The model opens an existing file (open without O_CREAT).
		if st.Args[2] == "trunc" && r.hasExe(p) {
			// Keep the executable prefix: truncate to it, not to 0.
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			if err := f.Truncate(int64(len(r.exe))); err != nil {
				return errors.Join(err, f.Close())
			}
			r.handles[st.Args[0]] = &handle{f: f, off: int64(len(r.exe))}
			return nil
		}
		var off int64
		if r.hasExe(p) {
			off = int64(len(r.exe))
		}
		f, err := os.OpenFile(p, fl, 0)
		if err != nil {
			return err
		}
		r.handles[st.Args[0]] = &handle{f: f, app: st.Args[2] == "a", off: off}
		return nil
	})
}

// exec runs p as uid/gid (fork, setgroups, setresgid, setresuid, execve)
// and waits for it. The program is the executable prefix: it exits 0.
func (r *Runner) exec(ctx context.Context, p string, uid, gid uint32) error {
	cmd := exec.CommandContext(ctx, p)
	cmd.Env = []string{}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("exec %s as uid %d gid %d: %w %s", p, uid, gid, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// execveCheck is execveat(AT_FDCWD, p, {p}, {}, AT_EXECVE_CHECK): the
// exec checks (and IMA's BPRM_CHECK) without executing.
// Linux v6.14: fs/exec.c:do_execveat_common, bprm_execve (is_check).
func execveCheck(p string) error {
	pp, err := unix.BytePtrFromString(p)
	if err != nil {
		return err
	}
	argv := []*byte{pp, nil}
	envv := []*byte{nil}
	_, _, e := unix.Syscall6(unix.SYS_EXECVEAT, atFDCWD, uintptr(unsafe.Pointer(pp)),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])), AT_EXECVE_CHECK, 0)
	runtime.KeepAlive(argv)
	if e == unix.EINVAL {
		return &CannotRunError{"execveat: this kernel rejects AT_EXECVE_CHECK (EINVAL; it needs Linux 6.14+)"}
	}
	if e != 0 {
		return fmt.Errorf("execveat AT_EXECVE_CHECK %s: %w", p, e)
	}
	return nil
}

// asUser runs fn on a locked OS thread with fsuid/fsgid switched to uid
// and gid (when ids), so files are created and checked as that user.
func asUser(uid, gid uint32, ids bool, fn func() error) error {
	if !ids {
		return fn()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	oldG, _ := unix.SetfsgidRetGid(int(gid))
	oldU, _ := unix.SetfsuidRetUid(int(uid))
	err := fn()
	unix.SetfsuidRetUid(oldU)
	unix.SetfsgidRetGid(oldG)
	return err
}

// utimensNow is utimensat(AT_FDCWD, p, NULL, 0): atime and mtime to now.
func utimensNow(p string) error {
	pp, err := unix.BytePtrFromString(p)
	if err != nil {
		return err
	}
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, atFDCWD, uintptr(unsafe.Pointer(pp)), 0, 0, 0, 0)
	if e != 0 {
		return fmt.Errorf("utimensat %s: %w", p, e)
	}
	return nil
}

// hasExe reports whether the file at real path p starts with the
// executable prefix. It reads with O_NOATIME so atime is left alone.
func (r *Runner) hasExe(p string) bool {
	b, err := readNoAtime(p, len(r.exe))
	return err == nil && bytes.Equal(b, r.exe)
}

// HasExe reports whether the file at scenario path p starts with the
// executable prefix (read without touching atime).
func (r *Runner) HasExe(p string) bool { return r.hasExe(r.Path(p)) }

// readNoAtime reads up to n bytes (all when n < 0) with O_NOATIME.
func readNoAtime(p string, n int) ([]byte, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOATIME|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EPERM) { // O_NOATIME needs ownership or CAP_FOWNER
		fd, err = unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	if n < 0 {
		return io.ReadAll(f)
	}
	b := make([]byte, n)
	k, err := io.ReadFull(f, b)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = nil
	}
	return b[:k], err
}

// ReadContent returns the content of the file at real path p as the
// scenario wrote it: the executable prefix exe, if present, is dropped.
// It reads with O_NOATIME.
func ReadContent(p string, exe []byte) (data []byte, prefixed bool, err error) {
	b, err := readNoAtime(p, -1)
	if err != nil {
		return nil, false, err
	}
	if len(exe) > 0 && bytes.HasPrefix(b, exe) {
		return b[len(exe):], true, nil
	}
	return b, false, nil
}

func creds(opts map[string]string) (uid, gid uint32, set bool) {
	u, okU := opts["uid"]
	g, okG := opts["gid"]
	if okU {
		n, _ := strconv.ParseUint(u, 10, 32)
		uid, gid = uint32(n), uint32(n)
	}
	if okG {
		n, _ := strconv.ParseUint(g, 10, 32)
		gid = uint32(n)
	}
	return uid, gid, okU || okG
}

func optMode(opts map[string]string, def uint32) uint32 {
	if v, ok := opts["mode"]; ok {
		n, _ := strconv.ParseUint(v, 8, 32)
		return uint32(n)
	}
	return def
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
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

// MountOptions turns scenario mount options into mount(2) flags and a
// data string: noatime, strictatime, relatime, iversion, ro, rw and
// defaults are flags; anything else goes to the filesystem as data.
func MountOptions(opts []string) (flags uintptr, data string, err error) {
	var rest []string
	for _, o := range opts {
		switch o {
		case "noatime":
			flags |= unix.MS_NOATIME
		case "strictatime":
			flags |= unix.MS_STRICTATIME
		case "relatime":
			flags |= unix.MS_RELATIME
		case "iversion":
			flags |= unix.MS_I_VERSION
		case "ro":
			flags |= unix.MS_RDONLY
		case "rw", "defaults", "noiversion":
		default:
			if o == "" || strings.ContainsAny(o, ", ") {
				return 0, "", fmt.Errorf("bad mount option %q", o)
			}
			rest = append(rest, o)
		}
	}
	return flags, strings.Join(rest, ","), nil
}

// ExecPaths lists the scenario paths whose files must be executable
// programs: those exec'd, written or copied with an exec mode, chmod'ed
// executable, and (through overlays, copies and renames) the paths their
// content comes from.
func ExecPaths(s *scenarios.Scenario) map[string]bool {
	set := map[string]bool{}
	type ovl struct {
		mnt    string
		layers []string
	}
	var ovls []ovl
	for _, st := range s.Steps {
		switch st.Op {
		case "exec", "execveat":
			set[path.Clean(st.Args[0])] = true
		case "write":
			if optMode(st.Opts, 0o644)&0o111 != 0 {
				set[path.Clean(st.Args[0])] = true
			}
		case "copy":
			if optMode(st.Opts, 0o644)&0o111 != 0 {
				set[path.Clean(st.Args[1])] = true
			}
		case "chmod":
			if m, err := strconv.ParseUint(st.Args[1], 8, 32); err == nil && m&0o111 != 0 {
				set[path.Clean(st.Args[0])] = true
			}
		case "overlay":
			o := ovl{mnt: path.Clean(st.Args[0])}
			o.layers = append(o.layers, strings.Split(st.Opts["lower"], ":")...)
			if st.Opts["upper"] != "" {
				o.layers = append(o.layers, st.Opts["upper"])
			}
			ovls = append(ovls, o)
		}
	}
	for changed := true; changed; {
		changed = false
		add := func(p string) {
			p = path.Clean(p)
			if !set[p] {
				set[p] = true
				changed = true
			}
		}
		for p := range set {
			for _, o := range ovls {
				if rel, ok := strings.CutPrefix(p, o.mnt+"/"); ok {
					for _, l := range o.layers {
						add(path.Join(l, rel))
					}
				}
			}
		}
		for _, st := range s.Steps {
			if (st.Op == "copy" || st.Op == "rename") && set[path.Clean(st.Args[1])] {
				add(st.Args[0])
			}
		}
	}
	return set
}
