package vfs

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// OpenFlags describe an open(2).
type OpenFlags struct {
	Read, Write, Append, Create, Trunc bool
	Mode                               uint32 // for Create
}

// File is analogous to struct file: an open description.
type File struct {
	Path    string
	Inode   *Inode // file_inode(): the overlay inode for overlay paths
	Backing *Inode // the real inode opened underneath (== Inode off overlay)
	Flags   OpenFlags
	closed  bool
}

// Open opens p. Opening an overlay file for write copies it up first
// (Linux v6.12: fs/overlayfs/file.c:ovl_open -> ovl_maybe_copy_up).
func (w *World) Open(p string, fl OpenFlags, uid, gid uint32) (*File, error) {
	f := &File{}
	if err := w.OpenInto(f, p, fl, uid, gid); err != nil {
		return nil, err
	}
	return f, nil
}

// OpenInto is Open filling in f, for callers that keep files in memory
// of their own.
func (w *World) OpenInto(f *File, p string, fl OpenFlags, uid, gid uint32) error {
	p = w.clean(p)
	ino, err := w.Lookup(p)
	if err != nil {
		if !fl.Create {
			return err
		}
		if ino, err = w.createPath(p, fl.Mode, uid, gid); err != nil {
			return err
		}
	}
	return w.openInode(f, p, ino, fl)
}

// OpenFoundInto is OpenInto for a file that exists, whose inode the
// caller has from Lookup(p) with nothing changed since (exec looks at
// the file before it opens it).
func (w *World) OpenFoundInto(f *File, p string, ino *Inode, fl OpenFlags) error {
	return w.openInode(f, w.clean(p), ino, fl)
}

// openInode opens ino, found at the clean path p.
func (w *World) openInode(f *File, p string, ino *Inode, fl OpenFlags) error {
	if fl.Write || fl.Trunc {
		if err := w.verityDeniesWrite(ino); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	*f = File{Path: p, Inode: ino, Backing: ino, Flags: fl}
	if ino.SB.Model.Overlay {
		if fl.Write || fl.Trunc {
			if _, err := w.copyUp(ino); err != nil {
				return fmt.Errorf("%s: copy-up: %w", p, err)
			}
		}
		f.Backing = w.RealInode(ino)
	}
	if fl.Write {
		f.Inode.Writers++
		if f.Backing != f.Inode {
			f.Backing.Writers++
		}
	} else {
		f.Inode.Readers++
		if f.Backing != f.Inode {
			f.Backing.Readers++
		}
	}
	if fl.Trunc && len(f.Backing.Content) > 0 {
		f.Backing.Content = nil
		f.Backing.fileUpdateTime()
		f.Backing.maybeInc(f.Backing.SB.Model.TruncateForces)
	}
	return nil
}

// createPath creates p, through the overlay's upper layer if needed.
func (w *World) createPath(p string, mode, uid, gid uint32) (*Inode, error) {
	sb, rel, err := w.resolve(p)
	if err != nil {
		return nil, err
	}
	if mode == 0 {
		mode = 0o644
	}
	if sb.Model.Overlay {
		if sb.upper == "" {
			return nil, fmt.Errorf("%s: read-only overlay", p)
		}
		if _, err := w.create(path.Join(sb.upper, rel), mode, uid, gid); err != nil {
			return nil, err
		}
		return w.Lookup(p)
	}
	return w.create(p, mode, uid, gid)
}

// Write writes data at the end (append) or over the start of the file.
// A buffered write updates timestamps (file_update_time) and leaves a
// size extension to writeback.
func (w *World) Write(f *File, data []byte, appendTo bool) error {
	if f.closed {
		return fmt.Errorf("%s: write on closed file", f.Path)
	}
	if !f.Flags.Write {
		return fmt.Errorf("%s: not open for writing", f.Path)
	}
	b := f.Backing
	old := len(b.Content)
	// Contents are copy-on-write: a write makes a new slice (one
	// allocation of the final size; nil when empty, as ever).
	n := max(len(b.Content), len(data))
	if appendTo || f.Flags.Append {
		n = len(b.Content) + len(data)
	}
	var nc []byte
	if n > 0 {
		nc = make([]byte, n)
		copy(nc, b.Content)
		if appendTo || f.Flags.Append {
			copy(nc[len(b.Content):], data)
		} else {
			copy(nc, data)
		}
	}
	b.Content = nc
	b.fileUpdateTime()
	b.dataWritten()
	if len(b.Content) > old {
		b.dirtyExtend = true
		if blocks(len(b.Content)) > blocks(old) {
			b.dirtyAlloc = true
		}
	}
	return nil
}

// Read reads the file (read(2), pread(2)): atime as
// relatime/strictatime/noatime say. Overlay opens the real file with
// O_NOATIME when it may (Linux v6.12: fs/overlayfs/file.c:ovl_open_realfile).
// It returns what the read sees: the inode ReadInode names.
func (w *World) Read(f *File) []byte {
	d := w.ReadInode(f)
	// Lower layers sit on private noatime mounts (fs/overlayfs/super.c), so
	// only a direct file or a copied-up (upper) file gets atime updates;
	// imasim probe saw upper atime move on the host.
	if f.Backing == f.Inode || w.IsUpper(f.Inode) {
		d.touchAtime()
	}
	return d.Content
}

// ReadInode is the inode a read(2) or pread(2) on f reaches. Off overlay
// the opened inode. Through overlay the current real data inode: a file
// copied up since f was opened is read from the upper layer, the lower
// file opened at open time no longer (Linux v6.1.176, v6.12.107:
// fs/overlayfs/file.c:ovl_read_iter -> ovl_real_fdget_meta reopens the
// upper file for the call; v7.2.13: ovl_real_file_path keeps it in
// ovl_file.upperfile). The reopen is internal: no IMA hook.
func (w *World) ReadInode(f *File) *Inode {
	if f.Inode.SB.Model.Overlay {
		return w.RealInode(f.Inode)
	}
	return f.Backing
}

// Mmap maps the file: mmap updates atime like a read
// (Linux v6.12: mm/filemap.c:generic_file_mmap -> file_accessed;
// ovl_file_accessed for overlay). It returns what the mapping holds: the
// real file opened at open time, also after a copy-up (Linux v6.1.176:
// fs/overlayfs/file.c:ovl_mmap maps file->private_data; v6.12.107: the
// same through fs/backing-file.c:backing_file_mmap; v7.2.13:
// backing_file_mmap(of->realfile), never the upperfile).
func (w *World) Mmap(f *File) []byte {
	w.Read(f)
	return f.Backing.Content
}

// Close drops the open description; the caller runs IMA's file_free first.
func (w *World) Close(f *File) {
	if f.closed {
		return
	}
	f.closed = true
	if f.Flags.Write {
		f.Inode.Writers--
		if f.Backing != f.Inode {
			f.Backing.Writers--
		}
	} else {
		f.Inode.Readers--
		if f.Backing != f.Inode {
			f.Backing.Readers--
		}
	}
}

// Closed reports whether Close ran.
func (f *File) Closed() bool { return f.closed }

// metaTarget returns the real inode a metadata change lands on, copying
// an overlay file up first (ovl_setattr, ovl_xattr_set copy up).
func (w *World) metaTarget(p string) (*Inode, error) {
	i, err := w.Lookup(p)
	if err != nil {
		return nil, err
	}
	if i.SB.Model.Overlay {
		return w.copyUp(i)
	}
	return i, nil
}

// Chmod changes the mode (notify_change -> setattr).
func (w *World) Chmod(p string, mode uint32) error {
	i, err := w.metaTarget(p)
	if err != nil {
		return err
	}
	i.Mode = mode
	i.changeMeta(i.SB.Model.SetattrForces)
	return nil
}

// Chown changes owner and group.
func (w *World) Chown(p string, uid, gid uint32) error {
	i, err := w.metaTarget(p)
	if err != nil {
		return err
	}
	i.UID, i.GID = uid, gid
	i.changeMeta(i.SB.Model.SetattrForces)
	return nil
}

// Touch sets atime and mtime to now (utimensat(NULL)).
func (w *World) Touch(p string) error {
	i, err := w.metaTarget(p)
	if err != nil {
		return err
	}
	i.changeMeta(i.SB.Model.SetattrForces)
	i.Mtime, i.Atime = i.Ctime, i.Ctime
	return nil
}

// Setxattr sets an extended attribute.
func (w *World) Setxattr(p, name, value string) error {
	if ino, err := w.Lookup(p); err == nil {
		if r := w.RealInode(ino); r.SB.Model.NoUserXattrs && strings.HasPrefix(name, "user.") {
			return fmt.Errorf("setxattr %s %s: operation not supported (%s has no user.* xattrs)", p, name, r.SB.Model.Name)
		}
	}
	i, err := w.metaTarget(p)
	if err != nil {
		return err
	}
	// Copy-on-write: clones and copied-up inodes share the map.
	x := make(map[string]string, len(i.Xattrs)+1)
	for k, v := range i.Xattrs {
		x[k] = v
	}
	x[name] = value
	i.Xattrs = x
	i.changeMeta(i.SB.Model.XattrForces)
	return nil
}

// MaxSize bounds a modelled file's size at truncate (callers such as
// package scenarios state tighter limits).
const MaxSize = 1 << 30

// Truncate sets the size (truncate(2)).
func (w *World) Truncate(p string, size int) error {
	i, err := w.metaTarget(p)
	if err != nil {
		return err
	}
	if size < 0 || size > MaxSize {
		return fmt.Errorf("truncate %s to %d: outside 0..%d (the model holds contents in memory)", p, size, MaxSize)
	}
	if i.Verity {
		return fmt.Errorf("truncate %s: %w", p, ErrVerity)
	}
	if size < len(i.Content) {
		i.Content = append([]byte(nil), i.Content[:size]...)
	} else {
		i.Content = append(append([]byte(nil), i.Content...), make([]byte, size-len(i.Content))...)
	}
	// Linux v6.12: notify_change -> ->setattr sets c/mtime and bumps once
	// (fs/ext4/inode.c:ext4_setattr, mm/shmem.c:shmem_setattr); XFS logs
	// the core inode in two transactions (fs/xfs/xfs_iops.c:xfs_setattr_size:
	// the size change, then xfs_itruncate_extents), +2 on disk per probe.
	i.setCtimeNow()
	i.Mtime = i.Ctime
	for n := 0; n < max(1, i.SB.Model.TruncateBumps); n++ {
		i.maybeInc(i.SB.Model.TruncateForces)
	}
	return nil
}

// Rename moves a file within one real filesystem; ctime of the inode moves.
func (w *World) Rename(from, to string) error {
	sb, rel, err := w.resolve(from)
	if err != nil {
		return err
	}
	sb2, rel2, err := w.resolve(to)
	if err != nil {
		return err
	}
	if sb != sb2 || sb.Model.Overlay {
		return fmt.Errorf("rename %s -> %s: only within one non-overlay filesystem is modelled", from, to)
	}
	i := get(sb.files, rel)
	if i == nil {
		return fmt.Errorf("%s: no such file", from)
	}
	if old := get(sb.files, rel2); old != nil && old != i && old.Writers == 0 && old.Readers == 0 {
		w.freed(sb, 1) // the replaced file is evicted
	}
	sb.files = put(del(sb.files, rel), rel2, i)
	w.gen++
	// Linux v6.12: fs/xfs/xfs_inode.c:xfs_rename logs the moved inode's
	// core (forced bump; +1 on disk per probe); generic filesystems only
	// move ctime.
	i.changeMeta(i.SB.Model.RenameForces)
	return nil
}

// Unlink removes a name on a real filesystem.
func (w *World) Unlink(p string) error {
	sb, rel, err := w.resolve(p)
	if err != nil {
		return err
	}
	if sb.Model.Overlay {
		if up, err := w.Lookup(path.Join(sb.upper, rel)); err == nil && up != nil {
			return w.Unlink(path.Join(sb.upper, rel))
		}
		return fmt.Errorf("unlink %s: whiteouts are not modelled", p)
	}
	i := get(sb.files, rel)
	if i == nil {
		return fmt.Errorf("%s: no such file", p)
	}
	if i.Writers == 0 && i.Readers == 0 {
		w.freed(sb, 1) // evicted now (an open file would be at its last close)
	}
	sb.files = del(sb.files, rel)
	w.gen++
	return nil
}

// Sync writes back all dirty data (sync(2)).
func (w *World) Sync() {
	for _, m := range w.mounts {
		for _, e := range m.sb.files {
			e.ino.writeback()
		}
	}
}

// DirtyExpire is when the flusher writes dirty data back
// (/proc/sys/vm/dirty_expire_centisecs = 3000).
const DirtyExpire Time = 30 * 1_000_000_000

// Advance moves the clock; after DirtyExpire the flusher writes back.
func (w *World) Advance(d Time) {
	w.Clock.Advance(d)
	if d >= DirtyExpire {
		w.Sync()
	}
}

// Getattr is vfs_getattr_nosec on a file's path: for an overlay file it
// forwards to the real inode and remaps st_dev/st_ino
// (Linux v6.12: fs/overlayfs/inode.c:ovl_getattr).
func (w *World) Getattr(i *Inode, wantCookie, wantCtime bool) Stat {
	if !i.SB.Model.Overlay {
		return i.getattr(wantCookie, wantCtime, w.CookieSupported)
	}
	real := w.RealInode(i)
	st := real.getattr(wantCookie, wantCtime, w.CookieSupported)
	// Linux v6.12: fs/overlayfs/inode.c:ovl_getattr, ovl_map_dev_ino: a
	// copied-up file reports its lower origin's st_ino; all layers on one
	// fs report the overlay's st_dev, otherwise an anonymous per-layer
	// device (pseudo_dev), also after copy-up (confirmed by imasim probe).
	if lower, err := w.lowerOf(i); err == nil {
		st.Ino = lower.Ino
	}
	if w.sameFS(i.SB) {
		st.Dev = i.SB.Dev
	} else {
		st.Dev = i.SB.pseudoDev
	}
	return st
}

// sameFS reports whether all layers of an overlay are on one filesystem.
func (w *World) sameFS(ovl *Super) bool {
	var first *Super
	for rest, upper := ovl.lower, ovl.upper; rest != "" || upper != ""; {
		var d string
		if rest != "" {
			if d, rest = nextLower(rest); d == "" {
				continue
			}
		} else {
			d, upper = upper, ""
		}
		sb, _, err := w.resolve(d)
		if err != nil {
			return false
		}
		if first == nil {
			first = sb
		} else if sb != first {
			return false
		}
	}
	return first != nil
}

// DropCaches evicts every inode of a disk filesystem that no file holds
// open (echo 3 > /proc/sys/vm/drop_caches), and the overlay inodes above
// them. It returns the evicted inodes so IMA can free their iints
// (Linux v6.12: fs/inode.c:evict -> security_inode_free), in a slice
// valid until the next DropCaches. An inode read back from disk starts
// with QUERIED set on XFS, ext4 and btrfs
// (fs/xfs/libxfs/xfs_inode_buf.c:xfs_inode_from_disk,
// fs/ext4/inode.c:ext4_inode_set_iversion_queried).
func (w *World) DropCaches() []*Inode {
	var out []*Inode
	if w.arena != nil {
		out = w.arena.dropped[:0]
	}
	w.gen++
	for _, m := range w.mounts {
		sb := m.sb
		if sb.Model.Overlay {
			kept := sb.ovlInodes[:0]
			for _, e := range sb.ovlInodes {
				if e.ino.Writers == 0 && e.ino.Readers == 0 {
					out = append(out, e.ino)
				} else {
					kept = append(kept, e)
				}
			}
			sb.ovlInodes = kept
			continue
		}
		if !sb.Model.OnDisk {
			continue
		}
		for k, e := range sb.files {
			i := e.ino
			if i.Writers != 0 || i.Readers != 0 {
				continue
			}
			i.writeback()
			out = append(out, i)
			n := w.newInode()
			*n = *i
			n.queried = sb.Model.ReadQueried
			n.stale = false
			n.ctimeQueried = false
			n.gen++
			n.id = w.inodeID(n)
			sb.files[k].ino = n
		}
	}
	if w.arena != nil {
		w.arena.dropped = out // the next call reuses it
	}
	return out
}

func (w *World) lowerOf(oi *Inode) (*Inode, error) {
	for rest := oi.SB.lower; rest != ""; {
		var l string
		if l, rest = nextLower(rest); l == "" {
			continue
		}
		if i := w.lookupReal(l, oi.ovlPath); i != nil {
			return i, nil
		}
	}
	return nil, errNoLower
}

var errNoLower = errors.New("no lower")
