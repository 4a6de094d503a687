package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/imasim/imasim/cache/vfs"
	"github.com/imasim/imasim/measure/policy"
)

// Interpreters (issue 21): what a read, pread or mapping of an open file
// returns after a copy-up, what fstat/statx show an interpreter, and the
// verdict on content that reaches an interpreter after it asked the
// kernel with execveat(AT_EXECVE_CHECK).

// interpState is the engine's state for these steps (nil until used).
type interpState struct {
	looks   map[string]StatFacts  // the last fstat/statx per handle or path
	checked map[string]*checkedFD // open handles whose file passed AT_EXECVE_CHECK
}

// checkedFD is an interpreter's open file after a successful
// AT_EXECVE_CHECK on its path: what IMA checked, and where the file's
// reads go since.
type checkedFD struct {
	line    int    // the execveat step
	inode   string // the real inode the check hashed (d_real_inode)
	content []byte // the content it hashed
	readsAt string // the inode reads on the fd reach now
	moved   int    // the step after which they reach another inode (0: none)
	changed int    // the last step that changed the content reads reach
	pending []int  // indexes into Result.Steps of missed reads no look caught yet
}

func (e *engine) interp() *interpState {
	if e.ix == nil {
		e.ix = &interpState{looks: map[string]StatFacts{}, checked: map[string]*checkedFD{}}
	}
	return e.ix
}

// clone copies the state for a cloned runner (the handles' inodes are
// named by ID, so nothing points into the world).
func (ix *interpState) clone() *interpState {
	if ix == nil {
		return nil
	}
	c := &interpState{looks: copyMap(nil, ix.looks), checked: map[string]*checkedFD{}}
	for k, v := range ix.checked {
		cv := *v
		cv.pending = slices.Clone(v.pending)
		c.checked[k] = &cv
	}
	return c
}

func (e *engine) seen(text string) {
	if e.quiet {
		return
	}
	e.res.Seen = append(e.res.Seen, Seen{Line: e.st.Line, Op: e.st.Text, Text: text})
}

// checkHandles marks the open handles on p as checked after a successful
// execveat(AT_EXECVE_CHECK) of p: the interpreter's own fd stays open and
// is what it reads next (Linux v7.2.13: fs/exec.c:do_open_execat opens
// the path again; deny_write_access holds only for the syscall).
func (e *engine) checkHandles(p string) {
	ino, err := e.w.Lookup(p)
	if err != nil {
		return
	}
	real := e.w.RealInode(ino)
	for _, nh := range e.handles {
		name, h := nh.name, nh.h
		if path.Clean(h.f.Path) != path.Clean(p) {
			continue
		}
		e.interp().checked[name] = &checkedFD{line: e.st.Line, inode: real.ID(), content: bytes.Clone(real.Content),
			readsAt: e.w.ReadInode(&h.f).ID()}
	}
}

// trackChecked notes, after every step, whether a checked fd's reads now
// reach another inode (a copy-up) or changed content.
func (e *engine) trackChecked() {
	if e.ix == nil {
		return
	}
	for name, c := range e.ix.checked {
		h, ok := e.handles.get(name)
		if !ok {
			delete(e.ix.checked, name)
			continue
		}
		d := e.w.ReadInode(&h.f)
		if id := d.ID(); id != c.readsAt {
			c.readsAt, c.moved = id, e.st.Line
		}
		if !bytes.Equal(d.Content, c.content) && c.changed == 0 {
			c.changed = e.st.Line
		}
	}
}

// readHandle is read(2) (off < 0: the whole file) or pread(2) from off on
// a handle: the content the read returns, and for a checked fd the
// verdict on it.
func (e *engine) readHandle(name string, off int) error {
	h, ok := e.handles.get(name)
	if !ok {
		return fmt.Errorf("%s is not open", name)
	}
	d := e.w.ReadInode(&h.f)
	data := e.w.Read(&h.f)
	from := max(off, 0)
	if from > len(data) {
		from = len(data)
	}
	if !e.quiet { // the text costs a hash and a quote; quiet runs drop it
		e.seen(ContentSeen(data[from:]))
	}
	e.reached(name, h, data, from, d, "read")
	return nil
}

// mmapHandle maps a handle (PROT_EXEC when exec) and reports what the
// mapping holds; MMAP_CHECK runs on the overlay (user) file for exec.
func (e *engine) mmapHandle(name string, exec bool) error {
	h, ok := e.handles.get(name)
	if !ok {
		return fmt.Errorf("%s is not open", name)
	}
	mapped := e.w.Mmap(&h.f)
	if exec {
		// Linux v6.12: ima_main.c:ima_file_mmap, only for PROT_EXEC; it
		// hashes through the overlay file, so after a copy-up the upper
		// content (ima_crypto.c:ima_calc_file_hash -> ovl_read_iter).
		n := len(e.res.Steps)
		e.processMeasurement(&h.f, policy.MmapCheck, policy.MayExec, h.uid, h.gid)
		if d := e.w.ReadInode(&h.f); len(e.res.Steps) > n && d != h.f.Backing && !bytes.Equal(d.Content, mapped) {
			last := &e.res.Steps[len(e.res.Steps)-1]
			if e.causes == allCauses {
				last.Cause += fmt.Sprintf(" -- the mapping holds %s, the file opened at open (ovl_mmap), while IMA hashed %s through the overlay's read (ovl_read_iter)", h.f.Backing.ID(), d.ID())
			}
			if e.wasMeasured(h.f.Path, d.Content) && !e.wasMeasured(h.f.Path, mapped) {
				last.Verdict = Missed
				if e.causes == allCauses {
					last.Cause += ": the list records content that is not mapped, and the mapped content was never measured"
				}
			}
		}
	}
	page := mapped[:min(len(mapped), MapPage)]
	if !e.quiet {
		e.seen(MappedSeen(page))
	}
	e.reached(name, h, mapped, 0, h.f.Backing, "mmap")
	return nil
}

// reached judges content that reaches an interpreter through a checked
// fd: missed when it differs from what the AT_EXECVE_CHECK had IMA hash,
// with the chain (checked inode, copy-up, the inode the read hit).
func (e *engine) reached(name string, h handle, data []byte, from int, hit *vfs.Inode, how string) {
	if e.ix == nil {
		return
	}
	c, ok := e.ix.checked[name]
	if !ok {
		return
	}
	const hook = "interpreter"
	want := c.content[min(from, len(c.content)):]
	got := data[from:]
	if bytes.Equal(got, want) {
		cause := fmt.Sprintf("%s of %s reaches %s: the content AT_EXECVE_CHECK at line %d had IMA check", how, name, hit.ID(), c.line)
		if how == "mmap" && hit.ID() != c.readsAt {
			cause += fmt.Sprintf(" -- the mapping holds the file opened at open time (ovl_mmap) although reads now reach %s: an overlayfs implementation detail, not a guarantee", c.readsAt)
		}
		e.record(hook, h.f.Path, false, OK, cause)
		return
	}
	var chain string
	switch {
	case hit.ID() != c.inode && c.moved > 0:
		chain = fmt.Sprintf("AT_EXECVE_CHECK at line %d checked %s (sha256:%s); the copy-up at line %d moved %s's reads to %s (ovl_read_iter follows the copy-up); this %s hit %s (sha256:%s)",
			c.line, c.inode, short(e.calcFileHash(c.content)), c.moved, name, c.readsAt, how, hit.ID(), short(e.calcFileHash(got)))
	default:
		chain = fmt.Sprintf("AT_EXECVE_CHECK at line %d checked %s (sha256:%s); it changed in place at line %d; this %s hit %s (sha256:%s)",
			c.line, c.inode, short(e.calcFileHash(c.content)), c.changed, how, hit.ID(), short(e.calcFileHash(got)))
	}
	e.record(hook, h.f.Path, false, Missed, "content reaching the interpreter differs from what IMA checked: "+chain+" -- no IMA hook runs on a "+how+" of an open file")
	c.pending = append(c.pending, len(e.res.Steps)-1)
}

// statFacts are the fields a look reports, from the model's getattr.
func statFacts(s vfs.Stat) StatFacts {
	return StatFacts{Dev: s.Dev, Ino: s.Ino, Ctime: int64(s.Ctime), Mode: s.Mode, Verity: s.Verity}
}

// look is fstat (statx false) or statx on a handle or a path: it reports
// what changed since the previous look at the same handle or path, and
// for a checked fd, a look that shows the change catches the missed reads
// before it (the interpreter refuses what it read).
func (e *engine) look(target string, statx bool) error {
	var ino *vfs.Inode
	if h, ok := e.handles.get(target); ok {
		ino = h.f.Inode
	} else if IsHandle(target) {
		return fmt.Errorf("%s is not open", target)
	} else {
		i, err := e.w.Lookup(target)
		if err != nil {
			return err
		}
		ino = i
	}
	cur := statFacts(e.w.Fstat(ino))
	ix := e.interp()
	var prev *StatFacts
	if p, ok := ix.looks[target]; ok {
		prev = &p
	}
	ix.looks[target] = cur
	if !e.quiet {
		e.seen(StatSeen(prev, cur, statx))
	}
	c, ok := ix.checked[target]
	if !ok || len(c.pending) == 0 || prev == nil {
		return nil
	}
	how := "fstat"
	caught, why := false, ""
	if statx {
		how = "statx"
		caught, why = prev.Verity && !cur.Verity, "STATX_ATTR_VERITY is gone (the upper copy has no fs-verity)"
	} else if prev.Dev != cur.Dev || prev.Ino != cur.Ino {
		caught, why = true, "st_dev/st_ino changed"
	} else if prev.Ctime != cur.Ctime {
		caught, why = true, "ctime changed (st_dev/st_ino did not: overlay keeps the origin's)"
	}
	if !caught {
		return nil
	}
	for _, i := range c.pending {
		s := &e.res.Steps[i]
		s.Verdict = OK
		s.Cause += fmt.Sprintf(" -- caught: the interpreter's %s at line %d sees %s and refuses the content", how, e.st.Line, why)
	}
	c.pending = nil
	return nil
}

// The engine's Visitor methods for these ops.

func (e *engine) Pread(o Pread) error { return e.readHandle(o.Handle, int(o.Offset)) }
func (e *engine) Fstat(o Fstat) error { return e.look(o.Handle, false) }
func (e *engine) Statx(o Statx) error { return e.look(o.Path+o.Handle, true) }

// Fsverity is `fsverity enable PATH`.
func (e *engine) Fsverity(o Fsverity) error { return e.w.EnableVerity(o.Path) }
func (e *engine) Sh(o Sh) error             { return e.sh(o.Path, o.UID, o.GID) }

// sh is `sh PATH [uid=N]`: the shell (not modelled: outside the
// scenario's filesystems) opens the script O_RDONLY and reads it, so IMA
// sees FILE_CHECK with MAY_READ and no BPRM_CHECK for the script
// (Linux v7.2.13: fs/namei.c:do_open -> ima_file_check with the open's
// acc_mode; the exec's BPRM_CHECK is the shell's).
func (e *engine) sh(p string, uid, gid uint32) error {
	f, err := e.open(p, vfs.OpenFlags{Read: true}, uid, gid, &e.tmp)
	if err != nil {
		return err
	}
	e.w.Read(f)
	e.fileFree(f)
	e.pid++
	return nil
}

// ModelErrno names the errno a model step error stands for ("" if none).
func ModelErrno(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, vfs.ErrVerity):
		return "EPERM"
	case strings.Contains(err.Error(), "read-only overlay"):
		return "EROFS" // ovl_want_write on a mount without upper
	case strings.Contains(err.Error(), "ETXTBSY"):
		return "ETXTBSY"
	case strings.Contains(err.Error(), "permission denied"):
		return "EACCES"
	}
	return ""
}

// wantFailure judges a step with fails=WANT: nil when it failed with
// errno got, an error when it worked or failed otherwise.
func wantFailure(want, got string, err error) error {
	switch {
	case err == nil:
		return fmt.Errorf("expected to fail with %s; it worked", want)
	case got != want:
		return fmt.Errorf("expected to fail with %s, failed with: %w", want, err)
	}
	return nil
}
