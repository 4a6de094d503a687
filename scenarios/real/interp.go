package real

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime/debug"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/imasim/imasim/scenarios"
)

// The steps an interpreter performs (issue 21): reads and mappings that
// report what they returned, fstat/statx that report what changed since
// the previous look, fs-verity, and a shell running a script.

// MaxReadSeen bounds what a read or pread step reads to describe it.
const MaxReadSeen = scenarios.MaxFileSize

// readSeen reads h's file from scenario offset off (after any executable
// prefix) to the end with pread(2) and describes the content.
// Linux v7.2.13: fs/overlayfs/file.c:ovl_read_iter decides which real
// file answers (the upper one after a copy-up).
func (r *Runner) readSeen(h *handle, off int64) (string, error) {
	b, err := io.ReadAll(io.LimitReader(io.NewSectionReader(h.f, h.off+off, 1<<40), MaxReadSeen+1))
	if err != nil {
		return "", err
	}
	if len(b) > MaxReadSeen {
		return "", fmt.Errorf("the file holds more than %d bytes", MaxReadSeen)
	}
	return scenarios.ContentSeen(b), nil
}

// mappedSeen describes the first page of a mapping, after the executable
// prefix. A page past the mapped file's end faults (SIGBUS): that is
// reported as an error, not a crash.
func mappedSeen(m []byte, off int64) (seen string, err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if p := recover(); p != nil {
			seen, err = "", fmt.Errorf("reading the mapping faulted: %v", p)
		}
	}()
	page := make([]byte, min(len(m), scenarios.MapPage))
	copy(page, m)
	if int(off) > len(page) {
		off = int64(len(page))
	}
	return scenarios.MappedSeen(page[off:]), nil
}

// lookKey names what a fstat/statx look is compared with: the handle's
// or the path's previous look.
func (r *Runner) look(key string, cur scenarios.StatFacts, statx bool) string {
	var prev *scenarios.StatFacts
	if p, ok := r.looks[key]; ok {
		prev = &p
	}
	r.looks[key] = cur
	return scenarios.StatSeen(prev, cur, statx)
}

// fstatFacts is fstat(2) on fd.
func fstatFacts(fd int) (scenarios.StatFacts, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return scenarios.StatFacts{}, fmt.Errorf("fstat: %w", err)
	}
	return scenarios.StatFacts{Dev: st.Dev, Ino: st.Ino, Ctime: st.Ctim.Sec*1e9 + st.Ctim.Nsec, Mode: st.Mode}, nil
}

// statxFacts is statx(2) with STATX_BASIC_STATS on fd (path "" with
// AT_EMPTY_PATH) or on a path; Verity is STATX_ATTR_VERITY
// (Linux v7.2.13: fs/overlayfs/inode.c:ovl_getattr reports the
// upper-most real file's attributes).
func statxFacts(fd int, p string) (scenarios.StatFacts, error) {
	var sx unix.Statx_t
	flags := 0
	if p == "" {
		flags = unix.AT_EMPTY_PATH
	} else {
		fd = unix.AT_FDCWD
	}
	if err := unix.Statx(fd, p, flags, unix.STATX_BASIC_STATS, &sx); err != nil {
		return scenarios.StatFacts{}, fmt.Errorf("statx: %w", err)
	}
	return scenarios.StatFacts{
		Dev: unix.Mkdev(sx.Dev_major, sx.Dev_minor), Ino: sx.Ino,
		Ctime: sx.Ctime.Sec*1e9 + int64(sx.Ctime.Nsec), Mode: uint32(sx.Mode),
		Verity: sx.Attributes&unix.STATX_ATTR_VERITY != 0,
	}, nil
}

// enableVerity is FS_IOC_ENABLE_VERITY (SHA-256, 4096-byte blocks, no
// salt or signature) on p opened read-only, as root
// (Linux v7.2.13: fs/verity/enable.c:fsverity_ioctl_enable). A
// filesystem without fs-verity (tmpfs, XFS, ext4 made without -O
// verity) answers EOPNOTSUPP: the scenario cannot run here.
func enableVerity(p string) error {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer unix.Close(fd)
	arg := unix.FsverityEnableArg{Version: 1, Hash_algorithm: 1 /* FS_VERITY_HASH_ALG_SHA256 */, Block_size: 4096}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.FS_IOC_ENABLE_VERITY, uintptr(unsafe.Pointer(&arg)))
	switch {
	case e == unix.EOPNOTSUPP || e == unix.ENOTTY:
		return &CannotRunError{fmt.Sprintf("fsverity enable %s: the filesystem has no fs-verity here (%v)", p, e)}
	case e != 0:
		return fmt.Errorf("FS_IOC_ENABLE_VERITY %s: %w", p, e)
	}
	return nil
}

// The real executor's Visitor methods for these ops.

func (d *do) Pread(o scenarios.Pread) error {
	h, err := d.handle(o.Handle)
	if err != nil {
		return err
	}
	d.r.seen, err = d.r.readSeen(h, o.Offset)
	return err
}

func (d *do) Fstat(o scenarios.Fstat) error {
	h, err := d.handle(o.Handle)
	if err != nil {
		return err
	}
	f, err := fstatFacts(int(h.f.Fd()))
	if err != nil {
		return err
	}
	d.r.seen = d.r.look(o.Handle, f, false)
	return nil
}

func (d *do) Statx(o scenarios.Statx) error {
	var f scenarios.StatFacts
	if o.Handle != "" {
		h, err := d.handle(o.Handle)
		if err != nil {
			return err
		}
		if f, err = statxFacts(int(h.f.Fd()), ""); err != nil {
			return err
		}
	} else {
		p, err := d.r.target(o.Path)
		if err != nil {
			return err
		}
		if f, err = statxFacts(0, p); err != nil {
			return err
		}
	}
	d.r.seen = d.r.look(o.Path+o.Handle, f, true)
	return nil
}

func (d *do) Fsverity(o scenarios.Fsverity) error { return d.onPath(o.Path, enableVerity) }

func (d *do) Sh(o scenarios.Sh) error {
	return d.onPath(o.Path, func(p string) error { return runSh(d.ctx, p, o.UID, o.GID) })
}

// Shell is the interpreter the sh step runs.
const Shell = "/bin/sh"

// runSh runs `sh p` as uid/gid and waits: the shell opens the script
// O_RDONLY and reads it (FILE_CHECK with MAY_READ; no BPRM_CHECK for the
// script). Output is kept for the error only, bounded.
func runSh(ctx context.Context, p string, uid, gid uint32) error {
	cmd := exec.CommandContext(ctx, Shell, p)
	cmd.Env = []string{"PATH=/bin:/usr/bin"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	var out limited
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("sh %s as uid %d: %w: %s", p, uid, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// limited keeps the first 4 KiB written to it.
type limited struct{ strings.Builder }

func (l *limited) Write(p []byte) (int, error) {
	if room := 4096 - l.Len(); room > 0 {
		l.Builder.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// failedAs judges a step with fails=WANT: nil when it failed with that
// errno, an error when it worked or failed otherwise.
func failedAs(want string, err error) error {
	var en unix.Errno
	switch {
	case err == nil:
		return fmt.Errorf("expected to fail with %s; it worked", want)
	case errors.As(err, &en) && unix.ErrnoName(en) == want:
		return nil
	}
	return fmt.Errorf("expected to fail with %s, failed with: %w", want, err)
}
