package vfs

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
)

// World is analogous to a mount namespace with its superblocks and a
// shared clock. Paths are absolute and clean.
type World struct {
	Clock   *Clock
	mounts  map[string]*Super // mountpoint -> super
	nextDev uint64
	// CookieSupported: the kernel has STATX_CHANGE_COOKIE (v6.3+).
	CookieSupported bool
}

// NewWorld returns an empty namespace with a root tmpfs-like directory.
func NewWorld(cookieSupported bool) *World {
	return &World{Clock: NewClock(), mounts: map[string]*Super{}, nextDev: 7, CookieSupported: cookieSupported}
}

// Mount creates and mounts a fresh filesystem of model m at mnt
// (mkfs + mount). opts: noatime, strictatime, relatime.
func (w *World) Mount(m *Model, mnt string, opts []string) (*Super, error) {
	mnt = path.Clean(mnt)
	if _, ok := w.mounts[mnt]; ok {
		return nil, fmt.Errorf("%s is already a mount point", mnt)
	}
	if m.Overlay {
		return nil, fmt.Errorf("use MountOverlay for overlayfs")
	}
	sb := &Super{Model: m, Dev: w.nextDev, IVersion: m.IVersion, clock: w.Clock,
		nextIno: 131, files: map[string]*Inode{}, dirs: map[string]bool{"": true}}
	if m.Type == "tmpfs" {
		sb.nextIno = 2
	}
	w.nextDev++
	if err := sb.setOpts(opts); err != nil {
		return nil, err
	}
	w.mounts[mnt] = sb
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
	sb, ok := w.mounts[path.Clean(mnt)]
	if !ok {
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
	if _, ok := w.mounts[mnt]; ok {
		return nil, fmt.Errorf("%s is already a mount point", mnt)
	}
	for _, d := range []string{lower, upper, work} {
		if d == "" {
			continue
		}
		if !w.IsDir(d) {
			return nil, fmt.Errorf("overlay layer %s: no such directory", d)
		}
	}
	sb := &Super{Model: m, Dev: w.nextDev, clock: w.Clock, nextIno: 1,
		lower: path.Clean(lower), upper: path.Clean(upper), work: path.Clean(work),
		ovlInodes: map[string]*Inode{}}
	if upper == "" {
		sb.upper = ""
	}
	w.nextDev++
	sb.pseudoDev = w.nextDev
	w.nextDev++
	w.mounts[mnt] = sb
	return sb, nil
}

// resolve finds the superblock holding p and the path inside it.
func (w *World) resolve(p string) (*Super, string, error) {
	p = path.Clean(p)
	if !strings.HasPrefix(p, "/") {
		return nil, "", fmt.Errorf("%s: path must be absolute", p)
	}
	best := ""
	for mnt := range w.mounts {
		if (p == mnt || strings.HasPrefix(p, mnt+"/") || mnt == "/") && len(mnt) > len(best) {
			best = mnt
		}
	}
	if best == "" {
		return nil, "", fmt.Errorf("%s: not on any mounted filesystem (mount one with fs/overlay first)", p)
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(p, best), "/")
	return w.mounts[best], rel, nil
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
	return sb.dirs[rel]
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
		if _, ok := sb.files[d]; ok {
			return fmt.Errorf("%s: not a directory", p)
		}
		sb.dirs[d] = true
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
		if _, err := w.ovlReal(sb, rel); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		oi, ok := sb.ovlInodes[rel]
		if !ok {
			oi = &Inode{SB: sb, Ino: sb.nextIno, ovlPath: rel}
			sb.nextIno++
			sb.ovlInodes[rel] = oi
		}
		return oi, nil
	}
	ino, ok := sb.files[rel]
	if !ok {
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
	for _, l := range splitLower(sb.lower) {
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
	return sb.files[r]
}

// RealInode is d_real_inode(file_dentry(file)) for the inode at hand: the
// inode itself unless it is an overlay inode.
func (w *World) RealInode(i *Inode) *Inode {
	if !i.SB.Model.Overlay {
		return i
	}
	r, err := w.ovlReal(i.SB, i.ovlPath)
	if err != nil {
		return i
	}
	return r
}

// IsUpper reports whether an overlay inode has been copied up.
func (w *World) IsUpper(i *Inode) bool {
	if !i.SB.Model.Overlay || i.SB.upper == "" {
		return false
	}
	_, err := w.Lookup(path.Join(i.SB.upper, i.ovlPath))
	return err == nil
}

// copyUp is ovl_copy_up for a regular file: a new upper inode with the
// lower file's data and metadata (Linux v6.12: fs/overlayfs/copy_up.c).
// It returns the upper inode.
func (w *World) copyUp(oi *Inode) (*Inode, error) {
	sb := oi.SB
	if sb.upper == "" {
		return nil, fmt.Errorf("read-only overlay (no upper layer)")
	}
	up := path.Join(sb.upper, oi.ovlPath)
	if i, err := w.Lookup(up); err == nil {
		return i, nil
	}
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
	for k, v := range lower.Xattrs {
		u.Xattrs[k] = v
	}
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
	if !sb.dirs[path.Dir(rel)] && path.Dir(rel) != "." {
		return nil, fmt.Errorf("%s: parent directory does not exist", p)
	}
	if sb.dirs[rel] {
		return nil, fmt.Errorf("%s: is a directory", p)
	}
	now := w.Clock.Coarse()
	i := &Inode{SB: sb, Ino: sb.nextIno, Mode: mode, UID: uid, GID: gid,
		Ctime: now, Mtime: now, Atime: now, Xattrs: map[string]string{},
		iversion: sb.Model.CreateIVersion, queried: sb.Model.CreateQueried, stale: sb.Model.CreateStale}
	sb.nextIno++
	sb.files[rel] = i
	return i, nil
}

// Files lists every real regular file path in the world, sorted.
func (w *World) Files() []string {
	var out []string
	for mnt, sb := range w.mounts {
		for rel := range sb.files {
			out = append(out, path.Join(mnt, rel))
		}
	}
	sort.Strings(out)
	return out
}
