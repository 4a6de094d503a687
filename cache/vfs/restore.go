package vfs

import "unsafe"

// saved is a world's state as Save recorded it: the world's own fields,
// its clock and a copy of every arena block that holds state. Restore
// copies them back to the same memory, so pointers between the blocks
// (inode to superblock, name to inode) stay valid without fixing up.
type saved struct {
	ok     bool
	w      World
	clock  Clock
	mounts []mount
	supers []Super
	inodes []Inode
	ents   []dirent
}

// Save records the world's state for Restore, and reports whether it
// could: only a world cloned into memory of its own (CloneInto) whose
// superblocks and named inodes all lie in that memory, as they do right
// after the clone. A search that tries several operations on one state
// saves it once and restores it before each, instead of cloning it again.
//
// Restore is safe for the same reason a clone is: everything a world
// changes in place lives in the blocks Save copies, and what lies outside
// them (file contents, xattr maps, directory lists) is copy-on-write,
// shared by clones already.
func (w *World) Save() bool {
	ar := w.arena
	if ar == nil {
		return false
	}
	ar.saved.ok = false
	if !w.ownsState() {
		return false
	}
	// A directory list appended to after Save would write into spare
	// capacity a child's clone may share: make appends copy instead.
	for i := range ar.supers {
		d := ar.supers[i].dirs
		ar.supers[i].dirs = d[:len(d):len(d)]
	}
	s := &ar.saved
	s.w = *w
	s.clock = *w.Clock
	s.mounts = append(s.mounts[:0], w.mounts...)
	s.supers = append(s.supers[:0], ar.supers...)
	s.inodes = append(s.inodes[:0], ar.inodes...)
	s.ents = append(s.ents[:0], ar.ents...)
	s.ok = true
	return true
}

// Restore brings back the state the last Save recorded, which must have
// reported true, with no CloneInto into w since. Inodes made since are
// forgotten; an inode pointer taken since may dangle (pointing at arena
// memory that is reused).
func (w *World) Restore() {
	ar := w.arena
	if ar == nil || !ar.saved.ok {
		panic("vfs: Restore without a successful Save")
	}
	s := &ar.saved
	*w = s.w
	*w.Clock = s.clock
	w.mounts = w.mounts[:len(s.mounts)]
	copy(w.mounts, s.mounts)
	ar.supers = ar.supers[:len(s.supers)]
	copy(ar.supers, s.supers)
	ar.inodes = ar.inodes[:len(s.inodes)]
	copy(ar.inodes, s.inodes)
	ar.ents = ar.ents[:len(s.ents)]
	copy(ar.ents, s.ents)
}

// ownsState reports whether every superblock and every inode the world
// names (and every overlay inode's cached real inode) lies in its arena.
func (w *World) ownsState() bool {
	ar := w.arena
	for _, m := range w.mounts {
		if !inBlock(m.sb, ar.supers) {
			return false
		}
		for _, set := range [2][]dirent{m.sb.files, m.sb.ovlInodes} {
			if !inEnts(set, ar.ents) {
				return false
			}
			for _, e := range set {
				if !w.Owns(e.ino) || e.ino.real != nil && !w.Owns(e.ino.real) {
					return false
				}
			}
		}
	}
	return true
}

// Owns reports whether inode i lies in the memory Save copies: an open
// file's inode must, for Save to cover what the file changes.
func (w *World) Owns(i *Inode) bool {
	return w.arena != nil && inBlock(i, w.arena.inodes)
}

// inBlock reports whether p points at an element of s (by address: a
// range check instead of a scan, Save runs often).
func inBlock[T any](p *T, s []T) bool {
	if len(s) == 0 || p == nil {
		return false
	}
	size := unsafe.Sizeof(s[0])
	off := uintptr(unsafe.Pointer(p)) - uintptr(unsafe.Pointer(&s[0]))
	return off < uintptr(len(s))*size && off%size == 0
}

// inEnts reports whether the name slice set lies in the block ents
// (an empty one holds no state).
func inEnts(set, ents []dirent) bool {
	if cap(set) == 0 {
		return true
	}
	full := set[:cap(set)]
	return inBlock(&full[0], ents) && inBlock(&full[len(full)-1], ents)
}
