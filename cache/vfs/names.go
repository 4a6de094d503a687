package vfs

import (
	"path"
	"strings"
)

// A world holds a handful of files, so names live in small sorted
// slices: cheaper to clone and to search than maps.

// dirent maps a path within a filesystem to its inode.
type dirent struct {
	rel string
	ino *Inode
}

// find returns the index of rel in ents, or where it would go.
func find(ents []dirent, rel string) (int, bool) {
	for k, e := range ents {
		if e.rel >= rel {
			return k, e.rel == rel
		}
	}
	return len(ents), false
}

// get returns the inode at rel, nil when there is none.
func get(ents []dirent, rel string) *Inode {
	if k, ok := find(ents, rel); ok {
		return ents[k].ino
	}
	return nil
}

// put sets rel to i, keeping ents sorted.
func put(ents []dirent, rel string, i *Inode) []dirent {
	k, ok := find(ents, rel)
	if ok {
		ents[k].ino = i
		return ents
	}
	ents = append(ents, dirent{})
	copy(ents[k+1:], ents[k:])
	ents[k] = dirent{rel, i}
	return ents
}

// del removes rel from ents.
func del(ents []dirent, rel string) []dirent {
	if k, ok := find(ents, rel); ok {
		return append(ents[:k], ents[k+1:]...)
	}
	return ents
}

// joinedEq reports whether s == path.Join(base, rel) for clean relative
// paths, without building the joined string.
func joinedEq(s, base, rel string) bool {
	switch {
	case base == "":
		return s == rel
	case rel == "":
		return s == base
	}
	return len(s) == len(base)+1+len(rel) && s[len(base)] == '/' && s[:len(base)] == base && s[len(base)+1:] == rel
}

// getJoined is get(ents, path.Join(base, rel)).
func getJoined(ents []dirent, base, rel string) *Inode {
	for _, e := range ents {
		if joinedEq(e.rel, base, rel) {
			return e.ino
		}
	}
	return nil
}

func (sb *Super) isDir(rel string) bool {
	for _, d := range sb.dirs {
		if d == rel {
			return true
		}
	}
	return false
}

// addDir records a directory. Appending never writes into a slice a
// clone shares: clones hold it with no spare capacity.
func (sb *Super) addDir(rel string) {
	if !sb.isDir(rel) {
		sb.dirs = append(sb.dirs, rel)
	}
}

// clean is the package's clean, remembering the last few paths found
// clean in the arena.
func (w *World) clean(p string) string {
	ar := w.arena
	if ar == nil {
		return clean(p)
	}
	for k := range ar.clean {
		if ar.clean[k] == p {
			return p
		}
	}
	if !isClean(p) {
		return path.Clean(p)
	}
	ar.clean[ar.nextClean] = p
	ar.nextClean = (ar.nextClean + 1) % len(ar.clean)
	return p
}

// clean is path.Clean, quick for the absolute clean paths steps use.
func clean(p string) string {
	if isClean(p) {
		return p
	}
	return path.Clean(p)
}

// isClean reports whether p is absolute and path.Clean(p) == p: no empty,
// "." or ".." elements and no trailing slash.
func isClean(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		rest := p[i+1:]
		switch {
		case rest == "":
			return len(p) == 1 // only "/" may end in a slash
		case rest[0] == '/', rest == ".", rest == "..",
			strings.HasPrefix(rest, "./"), strings.HasPrefix(rest, "../"):
			return false
		}
	}
	return true
}

// nextLower iterates a colon-separated lowerdir list without allocating:
// it returns the first entry and the rest.
func nextLower(s string) (string, string) {
	for k := 0; k < len(s); k++ {
		if s[k] == ':' {
			return s[:k], s[k+1:]
		}
	}
	return s, ""
}
