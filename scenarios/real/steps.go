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
	"runtime"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/imasim/imasim/scenarios"
)

// step performs one scenario step; note says how it differed from its
// text (a capped sleep).
func (r *Runner) step(ctx context.Context, st scenarios.Step) (note string, err error) {
	d := &do{r: r, ctx: ctx}
	err = st.Visit(d)
	return d.note, err
}

// do is the real executor's Visitor: each op as system calls under the
// Runner's root.
type do struct {
	r    *Runner
	ctx  context.Context
	note string // how the step differed from its text
}

func (d *do) FS(o scenarios.FS) error           { return d.r.mountFS(d.ctx, o.Type, o.Mount, o.Options) }
func (d *do) Overlay(o scenarios.Overlay) error { return d.r.mountOverlay(o) }

// onPath runs fn on the real path of scenario path p.
func (d *do) onPath(p string, fn func(string) error) error {
	rp, err := d.r.target(p)
	if err != nil {
		return err
	}
	return fn(rp)
}

func (d *do) Mkdir(o scenarios.Mkdir) error { return d.onPath(o.Path, d.r.mkdirs) }

func (d *do) Write(o scenarios.Write) error {
	return d.r.write(o.Name(), o.Path+o.Handle, o.Data, o.Mode, o.Creds)
}

func (d *do) Append(o scenarios.Append) error {
	return d.r.write(o.Name(), o.Path+o.Handle, o.Data, 0o644, o.Creds)
}

func (d *do) Overwrite(o scenarios.Overwrite) error {
	return d.r.write(o.Name(), o.Path+o.Handle, o.Data, 0o644, o.Creds)
}

func (d *do) Truncate(o scenarios.Truncate) error {
	return d.onPath(o.Path, func(p string) error {
		n := o.Size
		if d.r.hasExe(p) {
			n += int64(len(d.r.exe))
		}
		return os.Truncate(p, n)
	})
}

func (d *do) Copy(o scenarios.Copy) error { return d.r.copy(o) }

func (d *do) Chmod(o scenarios.Chmod) error {
	return d.onPath(o.Path, func(p string) error { return unix.Chmod(p, o.Mode) })
}

func (d *do) Chown(o scenarios.Chown) error {
	return d.onPath(o.Path, func(p string) error { return unix.Lchown(p, int(o.UID), int(o.GID)) })
}

func (d *do) Touch(o scenarios.Touch) error { return d.onPath(o.Path, utimensNow) }

func (d *do) Setxattr(o scenarios.Setxattr) error {
	return d.onPath(o.Path, func(p string) error { return unix.Setxattr(p, o.Attr, []byte(o.Value), 0) })
}

func (d *do) Open(o scenarios.Open) error { return d.r.open(o) }

// handle is the open handle named h.
func (d *do) handle(h string) (*handle, error) {
	if hd := d.r.handles[h]; hd != nil {
		return hd, nil
	}
	return nil, fmt.Errorf("%s is not open", h)
}

func (d *do) Read(o scenarios.Read) error {
	h, err := d.handle(o.Handle)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, io.NewSectionReader(h.f, 0, 1<<40))
	return err
}

func (d *do) Mmap(o scenarios.Mmap) error {
	h, err := d.handle(o.Handle)
	if err != nil {
		return err
	}
	prot, what := unix.PROT_READ, "read"
	if o.Exec {
		prot, what = prot|unix.PROT_EXEC, "exec"
	}
	// As the opener: IMA's MMAP_CHECK matches the mapping process's
	// creds (Linux v6.12: ima_main.c:ima_file_mmap, current_cred()).
	var m []byte
	err = asUser(h.uid, h.gid, h.ids, func() (err error) {
		m, err = unix.Mmap(int(h.f.Fd()), 0, 4096, prot, unix.MAP_SHARED)
		return err
	})
	if err != nil {
		return fmt.Errorf("mmap %s: %w", what, err)
	}
	h.maps = append(h.maps, m)
	return nil
}

func (d *do) Mprotect(o scenarios.Mprotect) error {
	h, err := d.handle(o.Handle)
	if err != nil {
		return err
	}
	// A read mapping made executable, as the opener (Linux v7.2:
	// ima_main.c:ima_file_mprotect uses current_cred()). A refusal
	// (-EPERM from an appraise rule) is the outcome, not a failure.
	return asUser(h.uid, h.gid, h.ids, func() error {
		m, err := unix.Mmap(int(h.f.Fd()), 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE)
		if err != nil {
			return fmt.Errorf("mmap: %w", err)
		}
		h.maps = append(h.maps, m)
		// IMA denies with EPERM; EACCES comes from mprotect's own
		// VM_MAYEXEC check (a noexec mount) and is a failure here.
		if err := unix.Mprotect(m, unix.PROT_READ|unix.PROT_EXEC); errors.Is(err, unix.EPERM) {
			d.note = "mprotect(PROT_EXEC) denied: " + err.Error()
		} else if err != nil {
			return fmt.Errorf("mprotect: %w", err)
		}
		return nil
	})
}

func (d *do) Close(o scenarios.Close) error {
	h, err := d.handle(o.Handle)
	if err != nil {
		return err
	}
	delete(d.r.handles, o.Handle)
	return h.close()
}

func (d *do) Exec(o scenarios.Exec) error {
	return d.onPath(o.Path, func(p string) error { return d.r.exec(d.ctx, p, o.UID, o.GID) })
}

func (d *do) Execveat(o scenarios.Execveat) error {
	return d.onPath(o.Path, func(p string) error {
		return asUser(o.UID, o.GID, o.Set, func() error { return execveCheck(p) })
	})
}

func (d *do) Rename(o scenarios.Rename) error {
	from, err := d.r.target(o.From)
	if err != nil {
		return err
	}
	return d.onPath(o.To, func(to string) error { return unix.Rename(from, to) })
}

func (d *do) Unlink(o scenarios.Unlink) error { return d.onPath(o.Path, unix.Unlink) }

func (d *do) Sync(scenarios.Sync) error {
	unix.Sync()
	return nil
}

func (d *do) DropCaches(scenarios.DropCaches) error {
	// The whole machine's clean page cache, dentries and inodes go
	// (Documentation/admin-guide/sysctl/vm.rst, drop_caches = 3);
	// sync first so dirty ones can go too.
	unix.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0); err != nil {
		return fmt.Errorf("drop_caches: %w", err)
	}
	return nil
}

func (d *do) Sleep(o scenarios.Sleep) error {
	r := d.r
	dur := time.Duration(o.NS)
	capped := dur > r.env.MaxSleep
	if capped {
		d.note = fmt.Sprintf("slept %s, capped from %s", r.env.MaxSleep, dur)
		dur = r.env.MaxSleep
	}
	if err := sleepCtx(d.ctx, dur); err != nil {
		return err
	}
	// /proc/sys/vm/dirty_expire_centisecs = 3000: after 30 s the
	// flusher writes every dirty page of the scenario back.
	if capped && r.env.SyncOnCappedSleep && time.Duration(o.NS) >= 30*time.Second {
		unix.Sync()
		d.note += "; sync(2) in place of the flusher's writeback"
	}
	return nil
}

func (d *do) Remount(o scenarios.Remount) error {
	return d.onPath(o.Mount, func(p string) error {
		flags, data, err := MountOptions(o.Options)
		if err != nil {
			return err
		}
		return unix.Mount("", p, "", flags|unix.MS_REMOUNT, data)
	})
}

func (r *Runner) mountFS(ctx context.Context, fsType, mnt string, opts []string) error {
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
		return mountErr(fmt.Sprintf("mount -t %s %s %s", fsType, source, dir), fsType, err)
	}
	r.push(undoMount, "umount "+dir, func() error { return r.unmount(dir) })
	r.fss = append(r.fss, fs)
	return nil
}

func (r *Runner) mountOverlay(o scenarios.Overlay) error {
	dir := r.Path(o.Mount)
	// Every directory goes into the option string as is: one that could
	// end an option or a layer (',' ':' '\\') would let the scenario
	// name other directories (issue 16: upperdir= smuggled in lower=).
	layer := func(what, p string) (string, error) {
		if err := scenarios.CheckPath(p); err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		rp, err := r.target(p)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		if strings.ContainsAny(rp, ",:\\") {
			return "", fmt.Errorf("%s: %q cannot carry ',', ':' or '\\' into overlay options", what, rp)
		}
		return rp, nil
	}
	var lowers []string
	for _, l := range o.Lower {
		p, err := layer("lower", l)
		if err != nil {
			return err
		}
		lowers = append(lowers, p)
	}
	data := "lowerdir=" + strings.Join(lowers, ":")
	if up := o.Upper; up != "" {
		u, err := layer("upper", up)
		if err != nil {
			return err
		}
		w, err := layer("work", o.Work)
		if err != nil {
			return err
		}
		data += ",upperdir=" + u + ",workdir=" + w
	}
	if err := r.mkdirs(dir); err != nil {
		return err
	}
	if err := unix.Mount("overlay", dir, "overlay", 0, data); err != nil {
		return mountErr(fmt.Sprintf("mount -t overlay -o %s %s", data, dir), "overlay", err)
	}
	r.push(undoMount, "umount "+dir, func() error { return r.unmount(dir) })
	r.fss = append(r.fss, Filesystem{Step: r.cur, Type: "overlay", Mountpoint: path.Clean(o.Mount), Dir: dir})
	return nil
}

// write runs write (create, truncate), append and overwrite (in place,
// after any executable prefix), on a path or a handle.
func (r *Runner) write(op, t, content string, mode uint32, c scenarios.Creds) error {
	data := []byte(content)
	if h, ok := r.handles[t]; ok {
		if h.app {
			_, err := h.f.Write(data) // O_APPEND
			return err
		}
		if op == "append" {
			// At the end, as the model appends; the handle's own offset
			// is 0 and would write over the executable prefix (a
			// scenario's "#!/bin/sh" text then ran at exec, as root).
			fi, err := h.f.Stat()
			if err != nil {
				return err
			}
			_, err = h.f.WriteAt(data, max(fi.Size(), h.off))
			return err
		}
		_, err := h.f.WriteAt(data, h.off)
		return err
	}
	p, err := r.target(t)
	if err != nil {
		return err
	}
	exe := op == "overwrite" && r.hasExe(p) // as root: see open
	return asUser(c.UID, c.GID, c.Set, func() error {
		switch op {
		case "write":
			if mode&0o111 != 0 || r.execSet[path.Clean(t)] {
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
			if exe {
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
func (r *Runner) copy(o scenarios.Copy) error {
	src, err := r.target(o.Src)
	if err != nil {
		return err
	}
	dst, err := r.target(o.Dst)
	if err != nil {
		return err
	}
	data, err := readNoAtime(src, -1)
	if err != nil {
		return err
	}
	mode := o.Mode
	if (mode&0o111 != 0 || r.execSet[path.Clean(o.Dst)]) && !bytes.HasPrefix(data, r.exe) {
		data = append(append([]byte(nil), r.exe...), data...)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, os.FileMode(mode))
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}

func (r *Runner) open(o scenarios.Open) error {
	uid, gid, ids := o.UID, o.GID, o.Set
	p, err := r.target(o.Path)
	if err != nil {
		return err
	}
	fl := map[string]int{"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR,
		"a": os.O_WRONLY | os.O_APPEND, "trunc": os.O_WRONLY | os.O_TRUNC}[string(o.Mode)]
	// Probe the executable prefix as root, before switching ids: the probe
	// is an open(2), which IMA sees (FILE_CHECK); as the scenario's uid it
	// would match uid= rules and add violations (seen on 6.1).
	exe := r.hasExe(p)
	return asUser(uid, gid, ids, func() error {
		// The model opens an existing file (open without O_CREAT).
		if o.Mode == scenarios.OpenTrunc && exe {
			// Keep the executable prefix: truncate to it, not to 0.
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			if err := f.Truncate(int64(len(r.exe))); err != nil {
				return errors.Join(err, f.Close())
			}
			r.handles[o.Handle] = &handle{f: f, off: int64(len(r.exe)), uid: uid, gid: gid, ids: ids}
			return nil
		}
		var off int64
		if exe {
			off = int64(len(r.exe))
		}
		f, err := os.OpenFile(p, fl, 0)
		if err != nil {
			return err
		}
		r.handles[o.Handle] = &handle{f: f, app: o.Mode == scenarios.OpenAppend, off: off, uid: uid, gid: gid, ids: ids}
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

// asUser runs fn on a locked OS thread whose real and effective ids (and
// so fsuid/fsgid) are uid and gid (when ids), so files are created and
// checked as that user and IMA policy rules with uid=/euid= match it as
// they match a process of that user (Linux v6.12: ima_policy.c:
// ima_match_rules compares cred->uid / cred->euid, not fsuid). The raw
// setresuid/setresgid syscalls change only this thread; the saved ids stay
// 0 so the thread can switch back. A thread that could not be restored is
// left locked, so the runtime discards it.
func asUser(uid, gid uint32, ids bool, fn func() error) error {
	if !ids {
		return fn()
	}
	runtime.LockOSThread()
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), 0); e != 0 {
		runtime.UnlockOSThread()
		return fmt.Errorf("setresgid %d: %w", gid, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), 0); e != 0 {
		if _, _, e2 := unix.RawSyscall(unix.SYS_SETRESGID, 0, 0, 0); e2 == 0 {
			runtime.UnlockOSThread()
		}
		return fmt.Errorf("setresuid %d: %w", uid, e)
	}
	err := fn()
	_, _, e1 := unix.RawSyscall(unix.SYS_SETRESUID, 0, 0, 0)
	_, _, e2 := unix.RawSyscall(unix.SYS_SETRESGID, 0, 0, 0)
	if e1 == 0 && e2 == 0 {
		runtime.UnlockOSThread()
	}
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

// mountErr is a failed mount. ENODEV is mount(2)'s answer for a
// filesystem type the kernel does not know (fs/filesystems.c:get_fs_type
// finds no driver, none built in nor loadable): the scenario cannot run
// on this kernel, which is no failure of the scenario.
func mountErr(cmd, fsType string, err error) error {
	if errors.Is(err, unix.ENODEV) {
		return &CannotRunError{fmt.Sprintf("the kernel has no %s filesystem (%s: %v)", fsType, cmd, err)}
	}
	return fmt.Errorf("%s: %w", cmd, err)
}
