package scenarios

import (
	"fmt"
	"path"
	"strings"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/cache/vfs"
	"github.com/imasim/imasim/measure/policy"
)

// The model engine's Visitor: each op on the modelled filesystems, with
// IMA's hooks where the kernel calls them.

func (e *engine) step(st Step) error {
	if st.Op == nil {
		return fmt.Errorf("no operation")
	}
	e.st = st
	return st.Visit(e)
}

func (e *engine) FS(o FS) error {
	m, err := vfs.LookupModel(e.p.FSModel(o.Type))
	if err != nil {
		return err
	}
	if m.Overlay {
		return fmt.Errorf("use the overlay step for overlayfs")
	}
	if err := e.mountpoint(o.Mount); err != nil {
		return err
	}
	_, err = e.w.Mount(m, o.Mount, o.Options)
	return err
}

func (e *engine) Mkdir(o Mkdir) error { return e.w.Mkdir(o.Path) }

func (e *engine) Overlay(o Overlay) error {
	m, _ := vfs.LookupModel("overlay")
	if err := e.mountpoint(o.Mount); err != nil {
		return err
	}
	_, err := e.w.MountOverlay(m, o.Mount, strings.Join(o.Lower, ":"), o.Upper, o.Work)
	return err
}

func (e *engine) Write(o Write) error {
	return e.write(o.Target(), o.Data, vfs.OpenFlags{Write: true, Create: true, Trunc: true, Mode: o.Mode}, o.Creds, false)
}

func (e *engine) Append(o Append) error {
	return e.write(o.Target(), o.Data, vfs.OpenFlags{Write: true, Append: true, Mode: 0o644}, o.Creds, false)
}

func (e *engine) Overwrite(o Overwrite) error {
	return e.write(o.Target(), o.Data, vfs.OpenFlags{Write: true, Mode: 0o644}, o.Creds, true)
}

// write writes data to the handle named t, or opens the path t with fl,
// writes and closes; an overwrite stays within the current content.
func (e *engine) write(t, data string, fl vfs.OpenFlags, c Creds, overwrite bool) error {
	if err := e.grow(len(data)); err != nil {
		return err
	}
	b := []byte(data)
	if h, ok := e.handles.get(t); ok {
		if overwrite && len(b) > len(h.f.Backing.Content) {
			return fmt.Errorf("overwrite is in place: %d bytes do not fit in %d", len(b), len(h.f.Backing.Content))
		}
		e.hs = h
		return e.w.Write(&e.hs.f, b, fl.Append)
	}
	if overwrite {
		cur, err := e.w.Lookup(t)
		if err != nil {
			return err
		}
		if len(b) > len(e.w.RealInode(cur).Content) {
			return fmt.Errorf("overwrite is in place: %d bytes do not fit", len(b))
		}
	}
	f, err := e.open(t, fl, c.UID, c.GID, &e.tmp)
	if err != nil {
		return err
	}
	if err := e.w.Write(f, b, fl.Append); err != nil {
		return err
	}
	e.fileFree(f)
	return nil
}

func (e *engine) Truncate(o Truncate) error {
	n := int(o.Size)
	if err := e.grow(n); err != nil {
		return err
	}
	// security_path_truncate runs before the size changes.
	if ino, err := e.w.Lookup(o.Path); err == nil {
		e.ima.Truncate(ino)
	}
	if err := e.w.Truncate(o.Path, n); err != nil {
		return err
	}
	e.inodePostSetattr(o.Path)
	return nil
}

func (e *engine) Copy(o Copy) error {
	src, err := e.w.Lookup(o.Src)
	if err != nil {
		return err
	}
	data := e.w.RealInode(src).Content
	if err := e.grow(len(data)); err != nil {
		return err
	}
	f, err := e.open(o.Dst, vfs.OpenFlags{Write: true, Create: true, Trunc: true, Mode: o.Mode}, 0, 0, &e.tmp)
	if err != nil {
		return err
	}
	if err := e.w.Write(f, data, false); err != nil {
		return err
	}
	e.fileFree(f)
	return nil
}

func (e *engine) Chmod(o Chmod) error {
	if err := e.w.Chmod(o.Path, o.Mode); err != nil {
		return err
	}
	e.inodePostSetattr(o.Path)
	return nil
}

func (e *engine) Chown(o Chown) error {
	if err := e.w.Chown(o.Path, o.UID, o.GID); err != nil {
		return err
	}
	e.inodePostSetattr(o.Path)
	return nil
}

func (e *engine) Touch(o Touch) error {
	if err := e.w.Touch(o.Path); err != nil {
		return err
	}
	e.inodePostSetattr(o.Path)
	return nil
}

func (e *engine) Setxattr(o Setxattr) error {
	if err := e.w.Setxattr(o.Path, o.Attr, o.Value); err != nil {
		return err
	}
	if o.Attr == "security.ima" {
		// ima_inode_setxattr (it runs before the value is stored;
		// the flags it sets are read at the next access).
		inos, n := e.notified(o.Path)
		for _, ino := range inos[:n] {
			e.ima.ResetAppraiseFlags(ino, e.appraise)
		}
	}
	return nil
}

func (e *engine) Open(o Open) error {
	fl := vfs.OpenFlags{}
	switch o.Mode {
	case OpenRead:
		fl.Read = true
	case OpenWrite:
		fl.Write = true
	case OpenReadWrite:
		fl.Read, fl.Write = true, true
	case OpenAppend:
		fl.Write, fl.Append = true, true
	case OpenTrunc:
		fl.Write, fl.Trunc = true, true
	}
	e.hs = handle{uid: o.UID, gid: o.GID}
	if _, err := e.open(o.Path, fl, o.UID, o.GID, &e.hs.f); err != nil {
		return err
	}
	e.handles.set(o.Handle, e.hs)
	return nil
}

func (e *engine) Read(o Read) error { return e.readHandle(o.Handle, -1) }

func (e *engine) Mmap(o Mmap) error { return e.mmapHandle(o.Handle, o.Exec) }

func (e *engine) Mprotect(o Mprotect) error {
	e.hs, _ = e.handles.get(o.Handle)
	h := &e.hs
	e.w.Mmap(&h.f) // the PROT_READ mapping: no IMA hook
	e.fileMprotect(&h.f, h.uid, h.gid)
	return nil
}

func (e *engine) Close(o Close) error {
	e.hs, _ = e.handles.get(o.Handle)
	e.handles.del(o.Handle)
	e.fileFree(&e.hs.f)
	return nil
}

func (e *engine) Exec(o Exec) error { return e.exec(o.Path, o.UID, o.GID, false) }
func (e *engine) Execveat(o Execveat) error {
	if err := e.exec(o.Path, o.UID, o.GID, true); err != nil {
		return err
	}
	e.checkHandles(o.Path)
	if ino, err := e.w.Lookup(o.Path); err == nil && !e.quiet {
		e.seen("checked " + ContentSeen(e.w.RealInode(ino).Content))
	}
	return nil
}
func (e *engine) Rename(o Rename) error { return e.w.Rename(o.From, o.To) }
func (e *engine) Unlink(o Unlink) error { return e.w.Unlink(o.Path) }

func (e *engine) Sync(Sync) error {
	e.w.Sync()
	return nil
}

func (e *engine) DropCaches(DropCaches) error {
	// Evicted inodes take their iint with them
	// (Linux v6.12: security/integrity/ima/ima_iint.c:ima_inode_free).
	for _, i := range e.w.DropCaches() {
		e.ima.InodeFree(i)
	}
	return nil
}

func (e *engine) Sleep(o Sleep) error {
	e.w.Advance(vfs.Time(o.NS))
	return nil
}

func (e *engine) Remount(o Remount) error { return e.w.Remount(o.Mount, o.Options, e.remountClears) }

// MaxModelBytes bounds the file content one run writes into the model,
// which holds contents in memory: each write, append, copy and truncate
// counts its full size, checked before anything is allocated.
const MaxModelBytes = 64 << 20

func (e *engine) grow(n int) error {
	if n < 0 || n > MaxModelBytes-e.grown {
		return fmt.Errorf("the scenario writes more than %d MiB of file content into the model (MaxModelBytes)", MaxModelBytes>>20)
	}
	e.grown += n
	return nil
}

func (e *engine) remountClears(fsType string) bool {
	return e.p.RemountClearsIVersion[fsType]
}

func (e *engine) mountpoint(p string) error {
	if p == "/" {
		return nil
	}
	parent := path.Dir(p)
	if parent == "/" {
		return nil
	}
	if !e.w.IsDir(p) {
		if err := e.w.Mkdir(p); err != nil {
			return fmt.Errorf("mount point %s: %w", p, err)
		}
	}
	return nil
}

// open runs open(2) and IMA's FILE_CHECK hook
// (Linux v6.12: fs/namei.c:do_open -> ima_file_check).
// The file is opened into f.
func (e *engine) open(p string, fl vfs.OpenFlags, uid, gid uint32, f *vfs.File) (*vfs.File, error) {
	// Whether an O_TRUNC open truncates an existing file (a lookup only
	// then: it is the hot path of a search).
	existed := false
	if fl.Trunc {
		_, err := e.w.Lookup(p)
		existed = err == nil
	}
	if err := e.w.OpenInto(f, p, fl, uid, gid); err != nil {
		return nil, err
	}
	// O_TRUNC on an existing file: handle_truncate -> security_file_truncate
	// (Linux v6.12: fs/namei.c:do_open, after ima_file_check).
	if fl.Trunc && existed {
		// handle_truncate -> do_truncate -> notify_change also runs
		// ima_inode_post_setattr.
		defer e.ima.InodePostSetattr(f.Inode, e.appraise)
		defer e.ima.Truncate(f.Inode)
	}
	var mask policy.Mask
	if fl.Read {
		mask |= policy.MayRead
	}
	if fl.Write {
		mask |= policy.MayWrite
	}
	if fl.Append {
		mask |= policy.MayAppend
	}
	e.processMeasurement(f, policy.FileCheck, mask, uid, gid)
	return f, nil
}

// notified lists the inodes whose dentries a metadata change at p went
// through: the inode at p and, behind an overlay, the real (copied-up)
// inode overlay passed the change on to (Linux v6.12: fs/overlayfs/inode.c:ovl_setattr,
// fs/overlayfs/xattrs.c:ovl_xattr_set).
// The list is an array and a length, so a chmod allocates nothing.
func (e *engine) notified(p string) ([2]*vfs.Inode, int) {
	var out [2]*vfs.Inode
	ino, err := e.w.Lookup(p)
	if err != nil {
		return out, 0
	}
	out[0] = ino
	if real := e.w.RealInode(ino); real != ino {
		out[1] = real
		return out, 2
	}
	return out, 1
}

// inodePostSetattr runs ima_inode_post_setattr for a notify_change at p
// (chmod, chown, utimes, truncate).
func (e *engine) inodePostSetattr(p string) {
	if !e.appraise {
		// ima_inode_post_setattr does nothing without an appraise rule
		// (cache.IMA.InodePostSetattr); looking the path up again would
		// change nothing either (the step itself looked it up).
		return
	}
	inos, n := e.notified(p)
	for _, ino := range inos[:n] {
		e.ima.InodePostSetattr(ino, e.appraise)
	}
}

// fileFree runs ima_file_free (last-writer check) then drops the file.
func (e *engine) fileFree(f *vfs.File) {
	applies, _, cause := e.ima.CheckLastWriter(e.file(f))
	if applies {
		e.record("last_writer", f.Path, false, OK, cause)
	}
	e.w.Close(f)
}

// exec models execve(2) of a binary: FILE_CHECK at open with MAY_EXEC,
// BPRM_CHECK, MMAP_CHECK of the PROT_EXEC segments, then the close.
// execveat AT_EXECVE_CHECK stops after BPRM_CHECK
// (Linux v6.14: fs/exec.c:bprm_execve, is_check).
func (e *engine) exec(p string, uid, gid uint32, check bool) error {
	ino, err := e.w.Lookup(p)
	if err != nil {
		return err
	}
	if e.w.RealInode(ino).Mode&0o111 == 0 {
		return fmt.Errorf("%s: permission denied (not executable; write it with mode=0755 or chmod)", p)
	}
	if check {
		if all, partial := e.p.HasFeature("execve-check"); !all && !partial {
			return fmt.Errorf("AT_EXECVE_CHECK is not in kernels %s", e.p.Kernels)
		}
	}
	f := &e.tmp
	if err := e.w.OpenFoundInto(f, p, ino, vfs.OpenFlags{Read: true}); err != nil {
		return err
	}
	e.processMeasurement(f, policy.FileCheck, policy.MayExec, uid, gid)
	e.w.Read(f) // prepare_binprm reads the header: atime
	e.processMeasurement(f, policy.BprmCheck, policy.MayExec, uid, gid)
	if !check {
		e.processMeasurement(f, policy.MmapCheck, policy.MayExec, uid, gid)
	}
	e.fileFree(f)
	e.pid++
	return nil
}

// fileMprotect runs ima_file_mprotect (cache.FileMprotect) for f's mapping
// made executable and judges it. The policy (MMAP_CHECK, and
// MMAP_CHECK_REQPROT since 6.4) is matched on the backing inode. Only
// with an appraise rule in the policy does the kernel look at all;
// nothing is hashed or measured.
func (e *engine) fileMprotect(f *vfs.File, uid, gid uint32) {
	const hook = "MMAP_CHECK(mprotect)"
	backing := f.Backing
	if backing == nil {
		backing = e.w.RealInode(f.Inode)
	}
	// The verdict: is content the policy would measure at mmap(PROT_EXEC)
	// (ima_file_mmap's match, on the file itself) now executable without
	// ever having been measured? The mapping holds the backing content.
	mm := e.decisions.decide(e.pol, decisionKey{fn: policy.MmapCheck, mask: policy.MayExec, uid: uid, gid: gid,
		fowner: backing.UID, fgroup: backing.GID, magic: f.Inode.SB.Model.Magic, fsName: f.Inode.SB.Model.Type})
	verdict, missed := OK, ""
	if mm.actions&cache.FlagMeasure != 0 && !e.wasMeasured(f.Path, backing.Content) {
		verdict, missed = Missed, " -- the mapping is now executable and this content was never measured (a limit of ima_file_mprotect, not of the cache)"
	}
	if !e.appraise {
		e.record(hook, f.Path, false, verdict,
			"ima_file_mprotect: no appraise rule in the policy (ima_policy_flag lacks IMA_APPRAISE): nothing checked, nothing measured"+missed)
		return
	}
	bp := e.w.LayerPath(f.Inode, backing)
	if bp == "" {
		bp = f.Path
	}
	key := decisionKey{fn: policy.MmapCheck, mask: policy.MayExec, uid: uid, gid: gid,
		fowner: backing.UID, fgroup: backing.GID, magic: backing.SB.Model.Magic, fsName: backing.SB.Model.Type}
	actions := e.decisions.decide(e.pol, key).actions
	// MMAP_CHECK_REQPROT rules parse only for kernels that have them.
	key.fn = policy.MmapCheckReqprot
	actions |= e.decisions.decide(e.pol, key).actions
	m := cache.FileMprotect(e.p, cache.MprotectCall{PolicyAppraise: true, Actions: actions, Path: f.Path, BackingPath: bp})
	where := fmt.Sprintf("ima_file_mprotect matches the backing inode %s:dev=%d:ino=%d (%s, named %q)", backing.SB.Model.Type, backing.SB.Dev, backing.Ino, bp, m.Name)
	if all, partial := e.p.HasFeature("mmap-backing-file-hook"); (all || partial) && bp != f.Path {
		// Linux v7.2.13: fs/backing-file.c:backing_file_mmap calls
		// security_mmap_backing_file; only SELinux implements it.
		where += "; security_mmap_backing_file exists here (SELinux checks the user file too), but IMA registers no such hook: its view is unchanged"
	}
	if !m.Audit {
		e.record(hook, f.Path, false, verdict, where+": not in policy; nothing measured"+missed)
		return
	}
	outcome := "audited failed-mprotect; never measured"
	if m.Deny {
		outcome = "audited failed-mprotect and denied (-EPERM)"
		verdict, missed = OK, "" // the mapping does not become executable
	}
	e.record(hook, f.Path, false, verdict, where+": "+outcome+missed)
	if !e.quiet {
		e.auditMprotect(f, backing, m, uid)
	}
}
