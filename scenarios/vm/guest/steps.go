package guest

import (
	"crypto/sha256"
	"encoding/hex"
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

// atExecveCheck is AT_EXECVE_CHECK (Linux v7.2: include/uapi/linux/fcntl.h).
const atExecveCheck = 0x10000

// runner executes one scenario's steps with real syscalls.
type runner struct {
	a       *agent
	sc      Scenario
	disks   map[string]string // serial -> device
	handles map[string]*os.File
	stubbed map[string]bool // files written with the ELF stub in front
	stub    []byte
}

func (a *agent) scenario(sc Scenario) ScenarioReport {
	rep := ScenarioReport{Name: sc.Name, Root: sc.Root}
	s, err := scenarios.Parse(strings.NewReader(sc.Source), sc.Name)
	if err != nil {
		rep.Err = err.Error()
		return rep
	}
	r := &runner{a: a, sc: sc, handles: map[string]*os.File{}, stubbed: map[string]bool{}, stub: ELFStub()}
	var serials []string
	for _, d := range sc.Disks {
		serials = append(serials, d.Serial)
	}
	if r.disks, err = waitDisks(serials, 20*time.Second); err != nil {
		rep.Err = err.Error()
		return rep
	}
	if err := os.MkdirAll(sc.Root, 0o755); err != nil {
		rep.Err = err.Error()
		return rep
	}
	a.settle() // leftovers (e.g. from hashing the previous scenario's files)
	a.logf("scenario %s: %d steps", s.Name, len(s.Steps))
	for _, st := range s.Steps {
		t0 := time.Now()
		err := r.step(st)
		sr := StepReport{Line: st.Line, Op: st.Text}
		if err != nil {
			sr.Err = err.Error()
		}
		sr.Audit = a.settle()
		sr.Ms = float64(time.Since(t0).Microseconds()) / 1000
		rep.Steps = append(rep.Steps, sr)
		if err != nil {
			a.logf("line %d %s: %v", st.Line, st.Op, err)
			rep.Err = fmt.Sprintf("line %d: %s: %v", st.Line, st.Op, err)
			break
		}
	}
	for _, f := range r.handles {
		f.Close()
	}
	a.drain() // records of the last step belong to it, not to hashing
	if len(rep.Steps) > 0 {
		last := &rep.Steps[len(rep.Steps)-1]
		last.Audit = append(last.Audit, a.pending...)
		a.pending = nil
	}
	rep.Final = map[string]string{}
	for _, st := range s.Steps {
		for _, arg := range st.Args {
			if !strings.HasPrefix(arg, "/") {
				continue
			}
			if fi, err := os.Stat(r.p(arg)); err == nil && fi.Mode().IsRegular() {
				if b, err := os.ReadFile(r.p(arg)); err == nil {
					sum := sha256.Sum256(b)
					rep.Final[arg] = hex.EncodeToString(sum[:])
				}
			}
		}
	}
	return rep
}

func (r *runner) p(s string) string {
	if strings.HasPrefix(s, "/") {
		return path.Join(r.sc.Root, s)
	}
	return s
}

func optU32(m map[string]string, k string, def uint32) uint32 {
	if v, ok := m[k]; ok {
		n, _ := strconv.ParseUint(v, 10, 32)
		return uint32(n)
	}
	return def
}

// mountFlags splits mount options into MS_* flags and fs data.
func mountFlags(opts []string) (uintptr, string) {
	known := map[string]uintptr{"ro": unix.MS_RDONLY, "noatime": unix.MS_NOATIME, "nodiratime": unix.MS_NODIRATIME,
		"relatime": unix.MS_RELATIME, "strictatime": unix.MS_STRICTATIME, "lazytime": unix.MS_LAZYTIME,
		"nosuid": unix.MS_NOSUID, "nodev": unix.MS_NODEV, "noexec": unix.MS_NOEXEC, "sync": unix.MS_SYNCHRONOUS,
		"iversion": unix.MS_I_VERSION, "rw": 0}
	var fl uintptr
	var data []string
	for _, o := range opts {
		for _, x := range strings.Split(o, ",") {
			if v, ok := known[x]; ok {
				fl |= v
			} else if x != "" {
				data = append(data, x)
			}
		}
	}
	return fl, strings.Join(data, ",")
}

// asUser runs fn on a locked OS thread whose real and effective ids are
// uid/gid (setresuid is per-thread as a raw syscall; Go's wrapper would
// change every thread). The saved ids stay 0 so the thread can go back.
func asUser(uid, gid uint32, fn func() error) error {
	if uid == 0 && gid == 0 {
		return fn()
	}
	runtime.LockOSThread()
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), 0); e != 0 {
		runtime.UnlockOSThread()
		return fmt.Errorf("setresgid %d: %w", gid, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), 0); e != 0 {
		unix.RawSyscall(unix.SYS_SETRESGID, 0, 0, 0)
		runtime.UnlockOSThread()
		return fmt.Errorf("setresuid %d: %w", uid, e)
	}
	err := fn()
	_, _, e1 := unix.RawSyscall(unix.SYS_SETRESUID, 0, 0, 0)
	_, _, e2 := unix.RawSyscall(unix.SYS_SETRESGID, 0, 0, 0)
	if e1 == 0 && e2 == 0 {
		runtime.UnlockOSThread() // only a restored thread goes back to the pool
	}
	return err
}

func (r *runner) step(st scenarios.Step) error {
	a := st.Args
	uid := optU32(st.Opts, "uid", 0)
	gid := optU32(st.Opts, "gid", uid)
	switch st.Op {
	case "fs":
		mp := r.p(a[1])
		if err := os.MkdirAll(mp, 0o755); err != nil {
			return err
		}
		fl, data := mountFlags(a[2:])
		if a[0] == "tmpfs" {
			return unix.Mount("tmpfs", mp, "tmpfs", fl, data)
		}
		d, ok := r.sc.Disks[st.Line]
		if !ok {
			return fmt.Errorf("no disk attached for %s (the host makes xfs, ext4 and btrfs images)", a[0])
		}
		dev := r.disks[d.Serial]
		if err := unix.Mount(dev, mp, a[0], fl, data); err != nil {
			return fmt.Errorf("mount %s %s on %s: %w", a[0], dev, mp, err)
		}
		return nil
	case "mkdir":
		return os.Mkdir(r.p(a[0]), 0o755)
	case "overlay":
		mp := r.p(st.Args[0])
		if err := os.MkdirAll(mp, 0o755); err != nil {
			return err
		}
		var lows []string
		for _, l := range strings.Split(st.Opts["lower"], ":") {
			lows = append(lows, r.p(l))
		}
		data := "lowerdir=" + strings.Join(lows, ":")
		if st.Opts["upper"] != "" {
			data += ",upperdir=" + r.p(st.Opts["upper"]) + ",workdir=" + r.p(st.Opts["work"])
		}
		return unix.Mount("overlay", mp, "overlay", 0, data)
	case "write", "append", "overwrite":
		return r.write(st, uid, gid)
	case "truncate":
		n, _ := strconv.ParseInt(a[1], 10, 64)
		if r.stubbed[r.p(a[0])] {
			n += int64(len(r.stub))
		}
		return os.Truncate(r.p(a[0]), n)
	case "copy":
		b, err := os.ReadFile(r.p(a[0]))
		if err != nil {
			return err
		}
		mode, _ := strconv.ParseUint(st.Opts["mode"], 8, 32)
		if st.Opts["mode"] == "" {
			mode = 0o644
		}
		r.stubbed[r.p(a[1])] = r.stubbed[r.p(a[0])]
		return os.WriteFile(r.p(a[1]), b, os.FileMode(mode))
	case "chmod":
		m, _ := strconv.ParseUint(a[1], 8, 32)
		return unix.Chmod(r.p(a[0]), uint32(m))
	case "chown":
		u, g, _ := strings.Cut(a[1], ":")
		uu, _ := strconv.Atoi(u)
		gg := uu
		if g != "" {
			gg, _ = strconv.Atoi(g)
		}
		return os.Lchown(r.p(a[0]), uu, gg)
	case "touch":
		p := r.p(a[0])
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, nil, 0)
	case "setxattr":
		return unix.Setxattr(r.p(a[0]), a[1], []byte(a[2]), 0)
	case "open":
		fl := map[string]int{"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR, "a": os.O_WRONLY | os.O_APPEND, "trunc": os.O_WRONLY | os.O_TRUNC}[a[2]]
		var f *os.File
		err := asUser(uid, gid, func() (err error) {
			f, err = os.OpenFile(r.p(a[1]), fl, 0)
			return err
		})
		if err != nil {
			return err
		}
		r.handles[a[0]] = f
		return nil
	case "read":
		f := r.handles[a[0]]
		buf := make([]byte, 64*1024)
		_, err := f.ReadAt(buf, 0)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		return nil
	case "mmap":
		f := r.handles[a[0]]
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		size := int(fi.Size())
		if size == 0 {
			size = 1
		}
		prot := unix.PROT_READ
		if a[1] == "exec" {
			prot |= unix.PROT_EXEC
		}
		m, err := unix.Mmap(int(f.Fd()), 0, size, prot, unix.MAP_PRIVATE)
		if err != nil {
			return fmt.Errorf("mmap: %w", err)
		}
		return unix.Munmap(m)
	case "close":
		f := r.handles[a[0]]
		delete(r.handles, a[0])
		return f.Close()
	case "exec":
		cmd := exec.Command(r.p(a[0]))
		cmd.Dir = "/"
		cmd.Env = []string{}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, NoSetGroups: true}}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("exec %s as uid %d: %w %s", r.p(a[0]), uid, err, out)
		}
		return nil
	case "execveat":
		return asUser(uid, gid, func() error { return execveCheck(r.p(a[0])) })
	case "rename":
		return os.Rename(r.p(a[0]), r.p(a[1]))
	case "unlink":
		return os.Remove(r.p(a[0]))
	case "sync":
		unix.Sync()
		return nil
	case "sleep":
		d, _ := scenarios.ParseDuration(a[0])
		time.Sleep(time.Duration(d))
		return nil
	case "remount":
		fl, data := mountFlags(a[1:])
		return unix.Mount("", r.p(a[0]), "", unix.MS_REMOUNT|fl, data)
	}
	return fmt.Errorf("step %q is not supported by the guest agent", st.Op)
}

func (r *runner) write(st scenarios.Step, uid, gid uint32) error {
	a := st.Args
	data := []byte(a[1])
	if f, ok := r.handles[a[0]]; ok {
		switch st.Op {
		case "overwrite":
			_, err := f.WriteAt(data, int64(len(r.stub)))
			return err
		default:
			_, err := f.Write(data)
			return err
		}
	}
	p := r.p(a[0])
	var fl int
	var off int64 = -1
	switch st.Op {
	case "write":
		fl = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		data = append(append([]byte{}, r.stub...), data...)
		r.stubbed[p] = true
	case "append":
		fl = os.O_WRONLY | os.O_APPEND
	case "overwrite":
		fl = os.O_WRONLY
		off = 0
		if r.stubbed[p] {
			off = int64(len(r.stub))
		}
	}
	mode := uint64(0o644)
	if v := st.Opts["mode"]; v != "" {
		mode, _ = strconv.ParseUint(v, 8, 32)
	}
	return asUser(uid, gid, func() error {
		f, err := os.OpenFile(p, fl, os.FileMode(mode))
		if err != nil {
			return err
		}
		if off >= 0 {
			_, err = f.WriteAt(data, off)
		} else {
			_, err = f.Write(data)
		}
		if err != nil {
			f.Close()
			return err
		}
		if st.Op == "write" {
			// O_CREAT mode only applies to new files; write sets it.
			if err := f.Chmod(os.FileMode(mode)); err != nil {
				f.Close()
				return err
			}
		}
		return f.Close()
	})
}

// execveCheck calls execveat(AT_FDCWD, p, [p], [], AT_EXECVE_CHECK): on a
// kernel with the flag it checks and returns 0 without executing.
func execveCheck(p string) error {
	pp, err := unix.BytePtrFromString(p)
	if err != nil {
		return err
	}
	argv := []*byte{pp, nil}
	envv := []*byte{nil}
	fdcwd := unix.AT_FDCWD
	_, _, e := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fdcwd), uintptr(unsafe.Pointer(pp)),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])), atExecveCheck, 0)
	runtime.KeepAlive(argv)
	if e != 0 {
		return fmt.Errorf("execveat AT_EXECVE_CHECK %s: %w", p, e)
	}
	return nil
}
