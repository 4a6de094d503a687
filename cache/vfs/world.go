package vfs

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync/atomic"
)

// World is analogous to a mount namespace with its superblocks and a
// shared clock. Paths are absolute and clean.
type World struct {
	Clock   *Clock
	mounts  []mount // sorted by mountpoint
	nextDev uint64
	// CookieSupported: the kernel has STATX_CHANGE_COOKIE (v6.3+).
	CookieSupported bool
	// gen counts namespace changes (files created, removed, renamed or
	// read back; mounts): cached overlay real inodes are valid while it
	// stands still.
	gen   uint64
	arena *arena // memory CloneInto reuses
	// shmemFreed counts tmpfs regular-file inodes freed since the run
	// began and not yet reused. Their slab objects keep i_version, which
	// eviction bumped (Linux v6.1.176: mm/shmem.c:shmem_evict_inode ->
	// shmem_truncate_range -> inode_inc_iversion), and the next tmpfs
	// inode reuses one (shmem_alloc_inode; nothing resets i_version:
	// only the slab constructor inode_init_once zeroes it).
	shmemFreed int
	mountGen   uint64 // see mountGens
}

// mount is one mount point and its superblock.
type mount struct {
	at string
	sb *Super
}

// mountAt returns the superblock mounted exactly at mnt.
func (w *World) mountAt(mnt string) *Super {
	for _, m := range w.mounts {
		if m.at == mnt {
			return m.sb
		}
	}
	return nil
}

// addMount mounts sb at mnt, keeping mounts sorted.
func (w *World) addMount(mnt string, sb *Super) {
	k := 0
	for k < len(w.mounts) && w.mounts[k].at < mnt {
		k++
	}
	w.mounts = append(w.mounts, mount{})
	copy(w.mounts[k+1:], w.mounts[k:])
	w.mounts[k] = mount{mnt, sb}
	w.gen++
	w.mountGen = mountGens.Add(1)
}

// mountGens numbers mount lists across all worlds: two worlds with the
// same mountGen have the same mount points (one is a clone of the other).
var mountGens atomic.Uint64

// NewWorld returns an empty namespace with a root tmpfs-like directory.
func NewWorld(cookieSupported bool) *World {
	return &World{Clock: NewClock(), nextDev: 7, CookieSupported: cookieSupported}
}

// Mount creates and mounts a fresh filesystem of model m at mnt
// (mkfs + mount). opts: noatime, strictatime, relatime.
func (w *World) Mount(m *Model, mnt string, opts []string) (*Super, error) {
	mnt = path.Clean(mnt)
	if w.mountAt(mnt) != nil {
		return nil, fmt.Errorf("%s is already a mount point", mnt)
	}
	if m.Overlay {
		return nil, fmt.Errorf("use MountOverlay for overlayfs")
	}
	sb := &Super{Model: m, Dev: w.nextDev, IVersion: m.IVersion, clock: w.Clock,
		nextIno: 131, dirs: []string{""}}
	if m.Type == "tmpfs" {
		sb.nextIno = 2
	}
	w.nextDev++
	if err := sb.setOpts(opts); err != nil {
		return nil, err
	}
	w.addMount(mnt, sb)
	return sb, nil
}

func (sb *Super) setOpts(opts []string) error {
	for _, o := range opts {
		switch o {
		case "noatime":
			sb.NoAtime, sb.StrictAt = true, false
		case "strictatime":
			sb.NoAtime, sb.StrictAt = false, true
		case "relatime":
			sb.NoAtime, sb.StrictAt = false, false
		case "iversion":
			sb.IVersion = sb.Model.IVersion || sb.Model.Type == "ext4"
		case "noiversion", "rw", "ro", "defaults":
		default:
			return fmt.Errorf("unsupported mount option %q", o)
		}
	}
	return nil
}

// Remount applies options to a mounted filesystem. clears(fsType) says
// whether this kernel drops SB_I_VERSION on remount for that type
// (Linux v6.12: mm/shmem.c:shmem_reconfigure).
func (w *World) Remount(mnt string, opts []string, clears func(fsType string) bool) error {
	sb := w.mountAt(path.Clean(mnt))
	if sb == nil {
		return fmt.Errorf("%s is not a mount point", mnt)
	}
	if sb.Model.Overlay {
		return fmt.Errorf("remount of overlayfs is not modelled")
	}
	if clears(sb.Model.Type) {
		sb.IVersion = false
	}
	return sb.setOpts(opts)
}

// MountOverlay mounts overlayfs at mnt over the given layer directories.
func (w *World) MountOverlay(m *Model, mnt, lower, upper, work string) (*Super, error) {
	mnt = path.Clean(mnt)
	if w.mountAt(mnt) != nil {
		return nil, fmt.Errorf("%s is already a mount point", mnt)
	}
	if upper == "" && !strings.Contains(lower, ":") {
		// Linux v6.1.176, v6.12.107, v7.2.13: fs/overlayfs/super.c
		// (ovl_get_lowerstack): "at least 2 lowerdir are needed while
		// upperdir nonexistent", EINVAL.
		return nil, fmt.Errorf("a read-only overlay (no upper=) needs at least two lower layers (EINVAL)")
	}
	for _, d := range append(strings.Split(lower, ":"), upper, work) {
		if d == "" {
			continue
		}
		if !w.IsDir(d) {
			return nil, fmt.Errorf("overlay layer %s: no such directory", d)
		}
	}
	sb := &Super{Model: m, Dev: w.nextDev, clock: w.Clock, nextIno: 1,
		lower: path.Clean(lower), upper: path.Clean(upper), work: path.Clean(work)}
	if upper == "" {
		sb.upper = ""
	}
	w.nextDev++
	sb.pseudoDev = w.nextDev
	w.nextDev++
	w.addMount(mnt, sb)
	// Mounting with an upper layer probes the work directory's
	// filesystem with two regular files it removes again: an O_TMPFILE
	// and the RENAME_WHITEOUT temp file (Linux v6.1.176:
	// fs/overlayfs/super.c:ovl_make_workdir, ovl_check_rename_whiteout;
	// the same in 6.12 and 7.2).
	if upper != "" {
		if wsb, _, err := w.resolve(work); err == nil {
			w.freed(wsb, 2)
		}
	}
	return sb, nil
}

// freed notes n regular files of sb evicted (only tmpfs objects matter).
func (w *World) freed(sb *Super, n int) {
	if sb.Model.CreateStale {
		w.shmemFreed += n
	}
}

// resolve finds the superblock holding p and the path inside it,
// through the arena's cache of earlier answers when there is one.
func (w *World) resolve(p string) (*Super, string, error) {
	ar := w.arena
	if ar == nil || p == "" {
		return w.resolveSlow(p)
	}
	// A path goes to its home slot when that is free, else round robin;
	// a lookup tries the home slot first, then scans.
	home := (len(p) ^ int(p[len(p)-1])<<1 ^ int(p[len(p)/2])) & (len(ar.resolved) - 1)
	if c := &ar.resolved[home]; c.p == p && c.gen == w.mountGen {
		return w.mounts[c.mount].sb, c.rel, nil
	}
	for k := range ar.resolved {
		c := &ar.resolved[k]
		if len(c.p) == len(p) && c.gen == w.mountGen && c.p == p {
			return w.mounts[c.mount].sb, c.rel, nil
		}
	}
	sb, rel, err := w.resolveSlow(p)
	if err == nil {
		for k := range w.mounts {
			if w.mounts[k].sb != sb {
				continue
			}
			slot := home
			if c := &ar.resolved[home]; c.p != "" && c.gen == w.mountGen {
				slot = ar.nextResolved
				ar.nextResolved = (ar.nextResolved + 1) % len(ar.resolved)
			}
			ar.resolved[slot] = resolved{p: p, rel: rel, mount: k, gen: w.mountGen}
		}
	}
	return sb, rel, err
}

// resolved is one cached answer of resolve: p is on mount number mount
// at rel, for the mount list numbered gen.
type resolved struct {
	p, rel string
	mount  int
	gen    uint64
}

func (w *World) resolveSlow(p string) (*Super, string, error) {
	p = clean(p)
	if !strings.HasPrefix(p, "/") {
		return nil, "", fmt.Errorf("%s: path must be absolute", p)
	}
	var best *mount
	for k := range w.mounts {
		m := &w.mounts[k]
		if under(p, m.at) && (best == nil || len(m.at) > len(best.at)) {
			best = m
		}
	}
	if best == nil {
		return nil, "", fmt.Errorf("%s: not on any mounted filesystem (mount one with fs/overlay first)", p)
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(p, best.at), "/")
	return best.sb, rel, nil
}

// under reports whether the clean path p is mnt or below it.
func under(p, mnt string) bool {
	return p == mnt || mnt == "/" || (len(p) > len(mnt) && p[len(mnt)] == '/' && p[:len(mnt)] == mnt)
}

// IsDir reports whether p is a directory (a mount point counts).
func (w *World) IsDir(p string) bool {
	sb, rel, err := w.resolve(p)
	if err != nil {
		return false
	}
	if sb.Model.Overlay {
		return rel == "" || w.IsDir(path.Join(sb.lower, rel)) || (sb.upper != "" && w.IsDir(path.Join(sb.upper, rel)))
	}
	return sb.isDir(rel)
}

// Mkdir creates a directory (and its parents, as mkdir -p).
func (w *World) Mkdir(p string) error {
	sb, rel, err := w.resolve(p)
	if err != nil {
		return err
	}
	if sb.Model.Overlay {
		if sb.upper == "" {
			return fmt.Errorf("%s: read-only overlay", p)
		}
		return w.Mkdir(path.Join(sb.upper, rel))
	}
	for d := rel; d != "" && d != "."; d = path.Dir(d) {
		if get(sb.files, d) != nil {
			return fmt.Errorf("%s: not a directory", p)
		}
		sb.addDir(d)
		if !strings.Contains(d, "/") {
			break
		}
	}
	return nil
}

// Lookup returns the inode at p: for an overlay path the overlay inode
// (file_inode), otherwise the real one.
func (w *World) Lookup(p string) (*Inode, error) {
	sb, rel, err := w.resolve(p)
	if err != nil {
		return nil, err
	}
	if sb.Model.Overlay {
		real, err := w.ovlReal(sb, rel)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		oi := get(sb.ovlInodes, rel)
		if oi == nil {
			oi = w.newInode()
			*oi = Inode{SB: sb, Ino: sb.nextIno, ovlPath: rel}
			oi.id = w.inodeID(oi)
			sb.nextIno++
			sb.ovlInodes = put(sb.ovlInodes, rel, oi)
		}
		// RealInode's answer, found already: a step's hooks ask for it
		// next, and a clone starts with the cache empty.
		oi.real, oi.realGen = real, w.gen
		return oi, nil
	}
	ino := get(sb.files, rel)
	if ino == nil {
		return nil, fmt.Errorf("%s: no such file", p)
	}
	return ino, nil
}

// ovlReal is ovl_d_real for a regular file: the upper inode if the file
// was copied up (or created in upper), else the lower one
// (Linux v6.12: fs/overlayfs/super.c:ovl_d_real).
func (w *World) ovlReal(sb *Super, rel string) (*Inode, error) {
	if sb.upper != "" {
		if i := w.lookupReal(sb.upper, rel); i != nil {
			return i, nil
		}
	}
	for rest := sb.lower; rest != ""; {
		var l string
		if l, rest = nextLower(rest); l == "" {
			continue
		}
		if i := w.lookupReal(l, rel); i != nil {
			return i, nil
		}
	}
	return nil, errNoEnt
}

var errNoEnt = errors.New("no such file")

// lookupReal finds dir/rel on a real (or stacked) filesystem without
// building errors: the hot path of overlay resolution.
func (w *World) lookupReal(dir, rel string) *Inode {
	if !w.mountBelow(dir) {
		// Fast path: dir/rel is on dir's filesystem.
		sb, base, err := w.resolve(dir)
		if err != nil {
			return nil
		}
		if !sb.Model.Overlay {
			return getJoined(sb.files, base, rel)
		}
	}
	sb, r, err := w.resolve(dir + "/" + rel)
	if err != nil {
		return nil
	}
	if sb.Model.Overlay {
		i, err := w.Lookup(dir + "/" + rel)
		if err != nil {
			return nil
		}
		return i
	}
	return get(sb.files, r)
}

// mountBelow reports whether something is mounted strictly below dir.
func (w *World) mountBelow(dir string) bool {
	for _, m := range w.mounts {
		if len(m.at) > len(dir) && m.at[len(dir)] == '/' && m.at[:len(dir)] == dir {
			return true
		}
		if dir == "/" && m.at != "/" {
			return true
		}
	}
	return false
}

// RealInode is d_real_inode(file_dentry(file)) for the inode at hand: the
// inode itself unless it is an overlay inode.
func (w *World) RealInode(i *Inode) *Inode {
	if !i.SB.Model.Overlay {
		return i
	}
	if i.real != nil && i.realGen == w.gen {
		return i.real
	}
	r, err := w.ovlReal(i.SB, i.ovlPath)
	if err != nil {
		r = i
	}
	i.real, i.realGen = r, w.gen
	return r
}

// LayerPath is the world path of real, a layer inode under the overlay
// inode i (a File's Backing): the upper layer's path if real is there,
// else the lower layer's that holds it; "" when i is not an overlay inode
// or real is in no layer.
func (w *World) LayerPath(i, real *Inode) string {
	if !i.SB.Model.Overlay || real == nil {
		return ""
	}
	sb := i.SB
	if sb.upper != "" && w.lookupReal(sb.upper, i.ovlPath) == real {
		return sb.upper + "/" + i.ovlPath
	}
	for rest := sb.lower; rest != ""; {
		var l string
		if l, rest = nextLower(rest); l != "" && w.lookupReal(l, i.ovlPath) == real {
			return l + "/" + i.ovlPath
		}
	}
	return ""
}

// IsUpper reports whether an overlay inode has been copied up.
func (w *World) IsUpper(i *Inode) bool {
	if !i.SB.Model.Overlay || i.SB.upper == "" {
		return false
	}
	return w.lookupReal(i.SB.upper, i.ovlPath) != nil
}

// copyUp is ovl_copy_up for a regular file: a new upper inode with the
// lower file's data and metadata (Linux v6.12: fs/overlayfs/copy_up.c).
// It returns the upper inode.
func (w *World) copyUp(oi *Inode) (*Inode, error) {
	sb := oi.SB
	if sb.upper == "" {
		return nil, fmt.Errorf("read-only overlay (no upper layer)")
	}
	if i := w.lookupReal(sb.upper, oi.ovlPath); i != nil {
		return i, nil
	}
	up := path.Join(sb.upper, oi.ovlPath)
	lower, err := w.ovlReal(sb, oi.ovlPath)
	if err != nil {
		return nil, err
	}
	if err := w.Mkdir(path.Dir(up)); err != nil {
		return nil, err
	}
	u, err := w.create(up, lower.Mode, lower.UID, lower.GID)
	if err != nil {
		return nil, err
	}
	u.Content = append([]byte(nil), lower.Content...)
	u.Xattrs = lower.Xattrs // copy-on-write: Setxattr replaces the map
	// ovl_set_attr/ovl_set_timestamps copy mode, owner and times with
	// notify_change on the upper inode: a setattr.
	u.Mtime, u.Atime = lower.Mtime, lower.Atime
	u.changeMeta(u.SB.Model.SetattrForces)
	u.dirtyExtend = len(u.Content) > 0
	return u, nil
}

// create makes a new empty regular file on a real filesystem.
func (w *World) create(p string, mode, uid, gid uint32) (*Inode, error) {
	sb, rel, err := w.resolve(p)
	if err != nil {
		return nil, err
	}
	if sb.Model.Overlay {
		return nil, fmt.Errorf("internal: create on overlay %s", p)
	}
	if !sb.isDir(path.Dir(rel)) && path.Dir(rel) != "." {
		return nil, fmt.Errorf("%s: parent directory does not exist", p)
	}
	if sb.isDir(rel) {
		return nil, fmt.Errorf("%s: is a directory", p)
	}
	now := w.Clock.Coarse()
	i := w.newInode()
	*i = Inode{SB: sb, Ino: sb.nextIno, Mode: mode, UID: uid, GID: gid,
		Ctime: now, Mtime: now, Atime: now,
		iversion: sb.Model.CreateIVersion, queried: sb.Model.CreateQueried, stale: sb.Model.CreateStale}
	if sb.Model.CreateStale && w.shmemFreed > 0 {
		// A slab object freed in this run: its i_version is at least 1
		// (the eviction bump) with QUERIED clear; the model takes 1.
		w.shmemFreed--
		i.iversion, i.queried, i.stale = 1, false, false
	}
	i.id = w.inodeID(i)
	sb.nextIno++
	sb.files = put(sb.files, rel, i)
	w.gen++
	return i, nil
}

// Files lists every real regular file path in the world, sorted.
func (w *World) Files() []string {
	var out []string
	for _, m := range w.mounts {
		for _, e := range m.sb.files {
			out = append(out, path.Join(m.at, e.rel))
		}
	}
	sort.Strings(out)
	return out
}

// MountOf names the mount point of the filesystem with device dev.
func (w *World) MountOf(dev uint64) (string, bool) {
	for _, m := range w.mounts {
		if m.sb.Dev == dev {
			return m.at, true
		}
	}
	return "", false
}
