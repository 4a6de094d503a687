package vfs

import "sort"

// Clone deep-copies the world. The map tells callers holding inode
// pointers (open files) where each inode went.
func (w *World) Clone() (*World, map[*Inode]*Inode) {
	n := &World{Clock: &Clock{now: w.Clock.now}, mounts: map[string]*Super{}, nextDev: w.nextDev, CookieSupported: w.CookieSupported}
	remap := map[*Inode]*Inode{}
	for mnt, sb := range w.mounts {
		c := *sb
		c.clock = n.Clock
		c.files = make(map[string]*Inode, len(sb.files))
		c.dirs = make(map[string]bool, len(sb.dirs))
		for k, v := range sb.dirs {
			c.dirs[k] = v
		}
		if sb.ovlInodes != nil {
			c.ovlInodes = make(map[string]*Inode, len(sb.ovlInodes))
		}
		for rel, i := range sb.files {
			ci := cloneInode(i, &c)
			c.files[rel] = ci
			remap[i] = ci
		}
		for rel, i := range sb.ovlInodes {
			ci := cloneInode(i, &c)
			c.ovlInodes[rel] = ci
			remap[i] = ci
		}
		n.mounts[mnt] = &c
	}
	return n, remap
}

func cloneInode(i *Inode, sb *Super) *Inode {
	c := *i
	c.SB = sb
	if i.Xattrs != nil {
		c.Xattrs = make(map[string]string, len(i.Xattrs))
		for k, v := range i.Xattrs {
			c.Xattrs[k] = v
		}
	}
	return &c // Content is copy-on-write everywhere: sharing is safe
}

// Hash writes a canonical form of the world's state to h: times relative
// to now (and the tick phase), so states that differ only by when they
// happened compare equal.
func (w *World) Hash(h *Hasher) {
	now := w.Clock.now
	h.I(int64(now % Tick))
	mnts := make([]string, 0, len(w.mounts))
	for m := range w.mounts {
		mnts = append(mnts, m)
	}
	sort.Strings(mnts)
	for _, m := range mnts {
		sb := w.mounts[m]
		h.S(m)
		h.S(sb.Model.Name)
		h.B(sb.IVersion)
		h.B(sb.NoAtime)
		h.B(sb.StrictAt)
		for _, set := range []map[string]*Inode{sb.files, sb.ovlInodes} {
			rels := make([]string, 0, len(set))
			for r := range set {
				rels = append(rels, r)
			}
			sort.Strings(rels)
			for _, r := range rels {
				i := set[r]
				h.S(r)
				h.U(i.Ino)
				h.U(i.iversion)
				h.B(i.queried)
				h.B(i.stale)
				h.I(int64(now - i.Ctime))
				h.I(int64(now - i.Mtime))
				h.I(int64(now - i.Atime))
				h.B(i.ctimeQueried)
				h.S(string(i.Content))
				h.U(uint64(i.Mode)<<32 | uint64(i.UID))
				h.U(uint64(i.GID)<<32 | uint64(uint32(i.Writers)))
				h.I(int64(i.Readers))
				h.B(i.dirtyExtend)
				h.I(int64(i.gen))
			}
		}
	}
}
