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
	"strconv"
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
	case "read", "pread":
		h := r.handles[a[0]]
		if h == nil {
			return "", fmt.Errorf("%s is not open", a[0])
		}
		var off int64
		if st.Op == "pread" {
			off, _ = strconv.ParseInt(a[1], 10, 64)
		}
		seen, err := r.readSeen(h, off)
		r.seen = seen
		return "", err
	case "fstat", "statx":
		var f scenarios.StatFacts
		var err error
		if h := r.handles[a[0]]; h != nil {
			if st.Op == "fstat" {
				f, err = fstatFacts(int(h.f.Fd()))
			} else {
				f, err = statxFacts(int(h.f.Fd()), "")
			}
		} else if scenarios.IsHandleName(a[0]) {
			return "", fmt.Errorf("%s is not open", a[0])
		} else {
			p, perr := r.target(a[0])
			if perr != nil {
				return "", perr
			}
			f, err = statxFacts(0, p)
		}
		if err != nil {
			return "", err
		}
		r.seen = r.look(a[0], f, st.Op == "statx")
		return "", nil
	case "fsverity":
		p, err := r.target(a[1])
		if err != nil {
			return "", err
		}
		return "", enableVerity(p)
	case "sh":
		p, err := r.target(a[0])
		if err != nil {
			return "", err
		}
		return "", runSh(ctx, p, uid, gid)
	case "mmap":
		h := r.handles[a[0]]
		if h == nil {
			return "", fmt.Errorf("%s is not open", a[0])
		}
		prot := unix.PROT_READ
		if a[1] == "exec" {
			prot |= unix.PROT_EXEC
		}
		// As the opener: IMA's MMAP_CHECK matches the mapping process's
		// creds (Linux v6.12: ima_main.c:ima_file_mmap, current_cred()).
		var m []byte
		err := asUser(h.uid, h.gid, h.ids, func() (err error) {
			m, err = unix.Mmap(int(h.f.Fd()), 0, 4096, prot, unix.MAP_SHARED)
			return err
		})
		if err != nil {
			return "", fmt.Errorf("mmap %s: %w", a[1], err)
		}
		h.maps = append(h.maps, m)
		seen, err := mappedSeen(m, h.off)
		r.seen = seen
		return "", err
	case "mprotect":
		h := r.handles[a[0]]
		if h == nil {
			return "", fmt.Errorf("%s is not open", a[0])
		}
		// A read mapping made executable, as the opener (Linux v7.2:
		// ima_main.c:ima_file_mprotect uses current_cred()). A refusal
		// (-EPERM from an appraise rule) is the outcome, not a failure.
		note := ""
		err := asUser(h.uid, h.gid, h.ids, func() error {
			m, err := unix.Mmap(int(h.f.Fd()), 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE)
			if err != nil {
				return fmt.Errorf("mmap: %w", err)
			}
			h.maps = append(h.maps, m)
			// IMA denies with EPERM; EACCES comes from mprotect's own
			// VM_MAYEXEC check (a noexec mount) and is a failure here.
			if err := unix.Mprotect(m, unix.PROT_READ|unix.PROT_EXEC); errors.Is(err, unix.EPERM) {
				note = "mprotect(PROT_EXEC) denied: " + err.Error()
			} else if err != nil {
				return fmt.Errorf("mprotect: %w", err)
			}
			return nil
		})
		return note, err
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
		if err := asUser(uid, gid, ids, func() error { return execveCheck(p) }); err != nil {
			return "", err
		}
		// What the check had IMA hash, for the reads that follow (as
		// root, without touching atime; the model says the same).
		data, _, err := ReadContent(p, r.exe)
		if err == nil {
			r.seen = "checked " + scenarios.ContentSeen(data)
		}
		return "", err
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
	case "drop_caches":
		// The whole machine's clean page cache, dentries and inodes go
		// (Documentation/admin-guide/sysctl/vm.rst, drop_caches = 3);
		// sync first so dirty ones can go too.
		unix.Sync()
		if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0); err != nil {
			return "", fmt.Errorf("drop_caches: %w", err)
		}
		return "", nil
	case "sleep":
		ns, _ := scenarios.ParseDuration(a[0])
		d := time.Duration(ns)
		capped := d > r.env.MaxSleep
		if capped {
			note = fmt.Sprintf("slept %s, capped from %s", r.env.MaxSleep, d)
			d = r.env.MaxSleep
		}
		if err := sleepCtx(ctx, d); err != nil {
			return note, err
		}
		// /proc/sys/vm/dirty_expire_centisecs = 3000: after 30 s the
		// flusher writes every dirty page of the scenario back.
		if capped && r.env.SyncOnCappedSleep && time.Duration(ns) >= 30*time.Second {
			unix.Sync()
			note += "; sync(2) in place of the flusher's writeback"
		}
		return note, nil
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
		return mountErr(fmt.Sprintf("mount -t %s %s %s", fsType, source, dir), fsType, err)
	}
	r.push(undoMount, "umount "+dir, func() error { return r.unmount(dir) })
	r.fss = append(r.fss, fs)
	return nil
}

func (r *Runner) mountOverlay(st scenarios.Step) error {
	dir := r.Path(st.Args[0])
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
	for _, l := range strings.Split(st.Opts["lower"], ":") {
		p, err := layer("lower", l)
		if err != nil {
			return err
		}
		lowers = append(lowers, p)
	}
	data := "lowerdir=" + strings.Join(lowers, ":")
	if up := st.Opts["upper"]; up != "" {
		u, err := layer("upper", up)
		if err != nil {
			return err
		}
		w, err := layer("work", st.Opts["work"])
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
	r.fss = append(r.fss, Filesystem{Step: r.cur, Type: "overlay", Mountpoint: path.Clean(st.Args[0]), Dir: dir})
	return nil
}

// write runs write (create, truncate), append and overwrite (in place,
// after any executable prefix), on a path or a handle.
func (r *Runner) write(st scenarios.Step, uid, gid uint32, ids bool) error {
	data := []byte(st.Args[1])
	if h, ok := r.handles[st.Args[0]]; ok {
		if h.app {
			_, err := h.f.Write(data) // O_APPEND
			return err
		}
		if st.Op == "append" {
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
	p, err := r.target(st.Args[0])
	if err != nil {
		return err
	}
	exe := st.Op == "overwrite" && r.hasExe(p) // as root: see open
	return asUser(uid, gid, ids, func() error {
		switch st.Op {
		case "write":
			mode := st.Mode(0o644)
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
	mode := st.Mode(0o644)
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
	// Probe the executable prefix as root, before switching ids: the probe
	// is an open(2), which IMA sees (FILE_CHECK); as the scenario's uid it
	// would match uid= rules and add violations (seen on 6.1).
	exe := r.hasExe(p)
	return asUser(uid, gid, ids, func() error {
		// The model opens an existing file (open without O_CREAT).
		if st.Args[2] == "trunc" && exe {
			// Keep the executable prefix: truncate to it, not to 0.
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			if err := f.Truncate(int64(len(r.exe))); err != nil {
				return errors.Join(err, f.Close())
			}
			r.handles[st.Args[0]] = &handle{f: f, off: int64(len(r.exe)), uid: uid, gid: gid, ids: ids}
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
		r.handles[st.Args[0]] = &handle{f: f, app: st.Args[2] == "a", off: off, uid: uid, gid: gid, ids: ids}
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
