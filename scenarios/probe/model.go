package probe

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/cache/vfs"
	"github.com/imasim/imasim/scenarios"
)

// Model drives a vfs.World from scenario steps the way scenarios.Run
// does, without IMA: no hooks, no iint, only the filesystems. It is what
// the probe compares the host with, step by step.
type Model struct {
	// Gap is the simulated time before each step (scenarios.StepGap).
	Gap vfs.Time
	// QueryCookie makes Stat ask for the change cookie too, as the
	// probe's statx does with Options.QueryCookie.
	QueryCookie bool
	W           *vfs.World
	Profile     *cache.Profile
	handles     map[string]*vfs.File
	mounts      map[uint64]string // Super.Dev -> mountpoint
}

// NewModel returns an empty world for profile p.
func NewModel(p *cache.Profile) *Model {
	return &Model{Gap: scenarios.StepGap, W: vfs.NewWorld(p.ChangeCookie), Profile: p, handles: map[string]*vfs.File{}, mounts: map[uint64]string{}}
}

// MountOf names the mountpoint of the model superblock with dev.
func (m *Model) MountOf(dev uint64) (string, bool) {
	mp, ok := m.mounts[dev]
	return mp, ok
}

// Step advances the clock by Gap and applies st, as the
// engine does (scenarios/engine.go: engine.step), minus the IMA hooks.
func (m *Model) Step(st scenarios.Step) error {
	m.W.Advance(m.Gap)
	a := st.Args
	uid, gid := optU32(st.Opts, "uid", 0), optU32(st.Opts, "gid", optU32(st.Opts, "uid", 0))
	w := m.W
	switch st.Op {
	case "fs":
		md, err := vfs.LookupModel(m.Profile.FSModel(a[0]))
		if err != nil {
			return err
		}
		if md.Overlay {
			return fmt.Errorf("use the overlay step for overlayfs")
		}
		if err := m.mountpoint(a[1]); err != nil {
			return err
		}
		sb, err := w.Mount(md, a[1], a[2:])
		if err == nil {
			m.mounts[sb.Dev] = path.Clean(a[1])
		}
		return err
	case "mkdir":
		return w.Mkdir(a[0])
	case "overlay":
		md, err := vfs.LookupModel("overlay")
		if err != nil {
			return err
		}
		if err := m.mountpoint(a[0]); err != nil {
			return err
		}
		sb, err := w.MountOverlay(md, a[0], st.Opts["lower"], st.Opts["upper"], st.Opts["work"])
		if err == nil {
			m.mounts[sb.Dev] = path.Clean(a[0])
		}
		return err
	case "write", "append", "overwrite":
		data := []byte(a[1])
		if f, ok := m.handles[a[0]]; ok {
			if st.Op == "overwrite" && len(data) > len(f.Backing.Content) {
				return fmt.Errorf("overwrite is in place: %d bytes do not fit in %d", len(data), len(f.Backing.Content))
			}
			return w.Write(f, data, st.Op == "append")
		}
		fl := vfs.OpenFlags{Write: true, Create: st.Op == "write", Trunc: st.Op == "write", Append: st.Op == "append",
			Mode: uint32(optOct(st.Opts, "mode", 0o644))}
		if st.Op == "overwrite" {
			cur, err := w.Lookup(a[0])
			if err != nil {
				return err
			}
			if len(data) > len(w.RealInode(cur).Content) {
				return fmt.Errorf("overwrite is in place: %d bytes do not fit", len(data))
			}
		}
		f, err := w.Open(a[0], fl, uid, gid)
		if err != nil {
			return err
		}
		err = w.Write(f, data, st.Op == "append")
		w.Close(f)
		return err
	case "truncate":
		n, _ := strconv.Atoi(a[1])
		return w.Truncate(a[0], n)
	case "copy":
		src, err := w.Lookup(a[0])
		if err != nil {
			return err
		}
		data := w.RealInode(src).Content
		f, err := w.Open(a[1], vfs.OpenFlags{Write: true, Create: true, Trunc: true, Mode: uint32(optOct(st.Opts, "mode", 0o644))}, 0, 0)
		if err != nil {
			return err
		}
		err = w.Write(f, data, false)
		w.Close(f)
		return err
	case "chmod":
		md, _ := strconv.ParseUint(a[1], 8, 32)
		return w.Chmod(a[0], uint32(md))
	case "chown":
		u, g, _ := strings.Cut(a[1], ":")
		uu, _ := strconv.ParseUint(u, 10, 32)
		gg := uu
		if g != "" {
			gg, _ = strconv.ParseUint(g, 10, 32)
		}
		return w.Chown(a[0], uint32(uu), uint32(gg))
	case "touch":
		return w.Touch(a[0])
	case "setxattr":
		return w.Setxattr(a[0], a[1], a[2])
	case "open":
		fl := vfs.OpenFlags{}
		switch a[2] {
		case "r":
			fl.Read = true
		case "w":
			fl.Write = true
		case "rw":
			fl.Read, fl.Write = true, true
		case "a":
			fl.Write, fl.Append = true, true
		case "trunc":
			fl.Write, fl.Trunc = true, true
		}
		f, err := w.Open(a[1], fl, uid, gid)
		if err != nil {
			return err
		}
		m.handles[a[0]] = f
		return nil
	case "read":
		if f := m.handles[a[0]]; f != nil {
			w.Read(f)
		}
		return nil
	case "mmap":
		return nil
	case "close":
		if f := m.handles[a[0]]; f != nil {
			w.Close(f)
		}
		delete(m.handles, a[0])
		return nil
	case "exec", "execveat":
		// Linux v6.12: fs/exec.c:do_open_execat, prepare_binprm (reads the header).
		ino, err := w.Lookup(a[0])
		if err != nil {
			return err
		}
		if w.RealInode(ino).Mode&0o111 == 0 {
			return fmt.Errorf("%s: permission denied (not executable)", a[0])
		}
		f, err := w.Open(a[0], vfs.OpenFlags{Read: true}, uid, gid)
		if err != nil {
			return err
		}
		w.Read(f)
		w.Close(f)
		return nil
	case "rename":
		return w.Rename(a[0], a[1])
	case "unlink":
		return w.Unlink(a[0])
	case "sync":
		w.Sync()
		return nil
	case "sleep":
		d, _ := scenarios.ParseDuration(a[0])
		w.Advance(vfs.Time(d))
		return nil
	case "remount":
		return w.Remount(a[0], a[1:], func(t string) bool { return m.Profile.RemountClearsIVersion[t] })
	}
	return fmt.Errorf("operation %q is not modelled", st.Op)
}

// mountpoint creates a missing mount point directory as the engine does.
func (m *Model) mountpoint(p string) error {
	if p == "/" || path.Dir(p) == "/" || m.W.IsDir(p) {
		return nil
	}
	if err := m.W.Mkdir(p); err != nil {
		return fmt.Errorf("mount point %s: %w", p, err)
	}
	return nil
}

// Stat is the probe's statx(2) on p in the model: getattr asking for the
// ctime, and for the change cookie only with QueryCookie (by default the
// probe does not request STATX_CHANGE_COOKIE, so i_version is not
// queried). On a multigrain filesystem this marks ctime as queried
// (Linux v6.13: fs/stat.c:fill_mg_cmtime).
func (m *Model) Stat(p string) (vfs.Stat, *vfs.Inode, error) {
	ino, err := m.W.Lookup(p)
	if err != nil {
		return vfs.Stat{}, nil, err
	}
	return m.W.Getattr(ino, m.QueryCookie, true), ino, nil
}

// Unmount writes back dirty data, as unmounting does (sync_filesystem).
func (m *Model) Unmount() {
	for _, f := range m.handles {
		m.W.Close(f)
	}
	m.handles = map[string]*vfs.File{}
	m.W.Sync()
}

// IVersion is the i_version the model's real inode at p holds now
// (inode_peek_iversion, what the filesystem writes to disk).
func (m *Model) IVersion(p string) (uint64, error) {
	ino, err := m.W.Lookup(p)
	if err != nil {
		return 0, err
	}
	return m.W.RealInode(ino).PeekIVersion(), nil
}

func optU32(m map[string]string, k string, def uint32) uint32 {
	if v, ok := m[k]; ok {
		n, _ := strconv.ParseUint(v, 10, 32)
		return uint32(n)
	}
	return def
}

func optOct(m map[string]string, k string, def uint64) uint64 {
	if v, ok := m[k]; ok {
		n, _ := strconv.ParseUint(v, 8, 32)
		return n
	}
	return def
}
