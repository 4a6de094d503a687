package vfs

import "slices"

// arena holds the buffers a world cloned into reuses, so a search that
// clones into the same few worlds over and over stops allocating. Room
// past the copied inodes serves inodes the world makes later (newInode),
// and each name slice has room to grow in place.
type arena struct {
	supers []Super
	inodes []Inode
	ents   []dirent
	// resolved caches resolve's answers: steps name the same few paths
	// over and over.
	resolved     [16]resolved
	nextResolved int
	// ids holds recent inode IDs: a search makes the same few inodes
	// (a copy-up, a re-read after drop_caches) again and again.
	ids    [8]cachedID
	nextID int
	// dropped is DropCaches' answer, reused.
	dropped []*Inode
	// saved is the state Save recorded (restore.go).
	saved saved
	// clean holds paths clean found clean: steps open the same few.
	clean     [4]string
	nextClean int
}

// cachedID is the ID of the inode ino (generation gen) of the
// filesystem of model m with device dev.
type cachedID struct {
	m        *Model
	dev, ino uint64
	gen      int32
	id       string
}

// inodeID returns i.makeID(), from the arena's recent IDs when there.
func (w *World) inodeID(i *Inode) string {
	ar := w.arena
	if ar == nil {
		return i.makeID()
	}
	for k := range ar.ids {
		c := &ar.ids[k]
		if c.ino == i.Ino && c.dev == i.SB.Dev && c.gen == i.gen && c.m == i.SB.Model && c.id != "" {
			return c.id
		}
	}
	id := i.makeID()
	ar.ids[ar.nextID] = cachedID{i.SB.Model, i.SB.Dev, i.Ino, i.gen, id}
	ar.nextID = (ar.nextID + 1) % len(ar.ids)
	return id
}

// Spare room per clone: new inodes, and names per superblock.
const (
	spareInodes = 4
	spareNames  = 2
)

// newInode returns memory for a new inode: from the arena while it has
// room (all pointers into an arena die when the world is cloned into
// again), else from the heap.
func (w *World) newInode() *Inode {
	if ar := w.arena; ar != nil && len(ar.inodes) < cap(ar.inodes) {
		ar.inodes = ar.inodes[:len(ar.inodes)+1]
		return &ar.inodes[len(ar.inodes)-1]
	}
	return new(Inode)
}

// Clone deep-copies the world. File contents and xattr maps are
// copy-on-write and shared; directory lists only grow and are shared with
// no spare capacity, so an append in either world reallocates. Clone only
// reads w, so several goroutines may clone one world at once.
func (w *World) Clone() *World { return w.CloneInto(nil) }

// CloneInto is Clone reusing the memory of dst (nil: fresh memory), which
// must not be used afterwards except through the returned world: its
// inodes and superblocks are overwritten.
func (w *World) CloneInto(dst *World) *World {
	var clock *Clock
	var mounts []mount
	var ar *arena
	if dst != nil {
		clock, mounts, ar = dst.Clock, dst.mounts[:0], dst.arena
	} else {
		dst = &World{}
	}
	if clock == nil {
		clock = new(Clock)
	}
	if ar == nil {
		ar = new(arena)
	}
	*dst = *w
	*clock = *w.Clock
	dst.Clock, dst.arena = clock, ar
	ar.saved.ok = false // the blocks are overwritten
	total := 0
	for _, m := range w.mounts {
		total += len(m.sb.files) + len(m.sb.ovlInodes)
	}
	ar.supers = resize(ar.supers, len(w.mounts))
	ar.inodes = resize(ar.inodes, total+spareInodes)[:total]
	ar.ents = resize(ar.ents, total+2*spareNames*len(w.mounts))
	k := 0
	// copyEnts copies a name slice into the arena, with its inodes.
	// Inodes and names are copied at the same index k of their blocks;
	// names then skip ahead by the spare room.
	spare := 0
	copyEnts := func(from []dirent, sb *Super) []dirent {
		to := ar.ents[k+spare : k+spare+len(from) : k+spare+len(from)+spareNames]
		for j, e := range from {
			ci := &ar.inodes[k+j]
			*ci = *e.ino
			ci.SB = sb
			ci.real = nil // points into w
			to[j] = dirent{e.rel, ci}
		}
		k += len(from)
		spare += spareNames
		return to
	}
	for j, m := range w.mounts {
		c := &ar.supers[j]
		*c = *m.sb
		c.clock = clock
		c.dirs = m.sb.dirs[:len(m.sb.dirs):len(m.sb.dirs)]
		c.files = copyEnts(m.sb.files, c)
		c.ovlInodes = copyEnts(m.sb.ovlInodes, c)
		mounts = append(mounts, mount{m.at, c})
	}
	dst.mounts = mounts
	return dst
}

// resize returns s with length n, reusing its memory when it is enough.
func resize[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n, n+n/2+2)
}

// Translate returns the inode of w that was i in from, where w is a clone
// of from not changed since. An inode no longer named in from (an open
// file's unlinked inode) is copied into w.
func (w *World) Translate(from *World, i *Inode) *Inode {
	if i == nil {
		return nil
	}
	for j, m := range from.mounts {
		for x, e := range m.sb.files {
			if e.ino == i {
				return w.mounts[j].sb.files[x].ino
			}
		}
		for x, e := range m.sb.ovlInodes {
			if e.ino == i {
				return w.mounts[j].sb.ovlInodes[x].ino
			}
		}
	}
	c := *i
	c.real = nil
	for j, m := range from.mounts {
		if m.sb == i.SB {
			c.SB = w.mounts[j].sb
		}
	}
	return &c
}

// Hash writes a canonical form of the world's state to h: times relative
// to now (and the tick phase), so states that differ only by when they
// happened compare equal.
func (w *World) Hash(h *Hasher) {
	now := w.Clock.now
	h.I(int64(now % Tick))
	h.I(int64(w.shmemFreed))
	for _, m := range w.mounts { // sorted by mount point
		sb := m.sb
		h.S(m.at)
		h.S(sb.Model.Name)
		h.B(sb.IVersion)
		h.B(sb.NoAtime)
		h.B(sb.StrictAt)
		h.I(int64(len(sb.dirs)))
		for _, d := range sb.dirs {
			h.S(d)
		}
		for _, set := range [2][]dirent{sb.files, sb.ovlInodes} {
			for _, e := range set { // sorted by path
				i := e.ino
				h.S(e.rel)
				h.U(i.Ino)
				h.U(i.iversion)
				h.I(int64(now - i.Ctime))
				h.I(int64(now - i.Mtime))
				h.I(int64(now - i.Atime))
				h.Bytes(i.Content)
				h.U(uint64(i.Mode)<<32 | uint64(i.UID))
				h.U(uint64(i.GID)<<32 | uint64(uint32(i.Writers)))
				h.I(int64(i.Readers))
				hashXattrs(h, i.Xattrs)
				// The flags in one word, with the generation.
				h.U(bit(i.queried) | bit(i.stale)<<1 | bit(i.ctimeQueried)<<2 | bit(i.Verity)<<3 |
					bit(i.dirtyExtend)<<4 | bit(i.dirtyAlloc)<<5 | uint64(uint32(i.gen))<<8)
			}
		}
	}
}

// hashXattrs hashes the names and values of x in name order.
func hashXattrs(h *Hasher, x map[string]string) {
	h.I(int64(len(x)))
	if len(x) == 0 {
		return
	}
	names := make([]string, 0, len(x))
	for k := range x {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		h.S(k)
		h.S(x[k])
	}
}

func bit(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
