package vfs

import (
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// worldOps change a world through each World method that changes state
// (an op that fails is part of the walk too).
var worldOps = []struct {
	name string
	do   func(w *World)
}{
	{"append-lower", func(w *World) { writeTo(w, "/lower/prog", "+", true) }},
	{"overwrite-lower", func(w *World) { writeTo(w, "/lower/prog", "X", false) }},
	{"append-ovl", func(w *World) { writeTo(w, "/ovl/prog", "*", true) }},
	{"create-ext4", func(w *World) { writeTo(w, "/e/new", "n", true) }},
	{"create-ovl", func(w *World) { writeTo(w, "/ovl/new", "o", true) }},
	{"trunc-open", func(w *World) {
		if f, err := w.Open("/lower/prog", OpenFlags{Write: true, Trunc: true}, 0, 0); err == nil {
			w.Close(f)
		}
	}},
	{"read-ovl", func(w *World) {
		if f, err := w.Open("/ovl/prog", OpenFlags{Read: true}, 0, 0); err == nil {
			w.Read(f)
			w.Mmap(f)
			w.Close(f)
		}
	}},
	{"read-lower", func(w *World) {
		if f, err := w.Open("/lower/prog", OpenFlags{Read: true}, 0, 0); err == nil {
			w.Read(f)
			w.Close(f)
		}
	}},
	{"leave-open", func(w *World) { w.Open("/e/f", OpenFlags{Write: true}, 0, 0) }},
	{"chmod-ovl", func(w *World) { w.Chmod("/ovl/prog", 0o700) }},
	{"chown-lower", func(w *World) { w.Chown("/lower/prog", 1, 2) }},
	{"touch", func(w *World) { w.Touch("/e/f") }},
	{"setxattr", func(w *World) { w.Setxattr("/lower/prog", "security.ima", "x") }},
	{"truncate", func(w *World) { w.Truncate("/e/f", 3) }},
	{"rename", func(w *World) { w.Rename("/e/f", "/e/g") }},
	{"rename-back", func(w *World) { w.Rename("/e/g", "/e/f") }},
	{"unlink", func(w *World) { w.Unlink("/e/g") }},
	{"sync", func(w *World) { w.Sync() }},
	{"sleep", func(w *World) { w.Advance(DirtyExpire + 1) }},
	{"tick", func(w *World) { w.Advance(Tick * 3) }},
	{"getattr", func(w *World) {
		for _, p := range []string{"/ovl/prog", "/lower/prog", "/e/f", "/mg/f"} {
			if i, err := w.Lookup(p); err == nil {
				w.Getattr(i, true, true)
				i.QueryIVersion()
				w.IsUpper(i)
				w.RealInode(i)
			}
		}
	}},
	{"drop-caches", func(w *World) { w.DropCaches() }},
	{"verity", func(w *World) { w.EnableVerity("/e/f") }},
	{"mkdir", func(w *World) { w.Mkdir("/e/d/x") }},
	{"remount", func(w *World) { w.Remount("/t", []string{"noatime"}, func(string) bool { return true }) }},
	{"mount", func(w *World) { w.Mount(w.mounts[0].sb.Model, "/m", nil) }},
}

func writeTo(w *World, p, data string, appendTo bool) {
	f, err := w.Open(p, OpenFlags{Write: true, Create: true, Append: appendTo, Mode: 0o755}, 0, 0)
	if err != nil {
		return
	}
	w.Write(f, []byte(data), appendTo)
	w.Close(f)
}

func restoreWorld(t *testing.T, lower string) *World {
	w := NewWorld(true)
	for _, m := range []struct{ model, at string }{{lower, "/lower"}, {"tmpfs", "/t"}, {"ext4", "/e"}, {"xfs-mg", "/mg"}} {
		_, err := w.Mount(mustModel(t, m.model), m.at, nil)
		require.NoError(t, err)
	}
	require.NoError(t, w.Mkdir("/t/upper"))
	require.NoError(t, w.Mkdir("/t/work"))
	writeTo(w, "/lower/prog", "v0", false)
	writeTo(w, "/e/f", "f", false)
	writeTo(w, "/mg/f", "f", false)
	_, err := w.MountOverlay(mustModel(t, "overlay"), "/ovl", "/lower", "/t/upper", "/t/work")
	require.NoError(t, err)
	return w
}

// A world saved and restored after any few operations is the world it
// was (every field, Dump), and goes on as a fresh clone of it would: on
// random walks through every state-changing method, each state is
// cloned once into reused memory and saved, then every operation runs
// on it after a restore and on a fresh clone, and the two must agree.
func TestRestoreMatchesClone(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, lower := range []string{"xfs", "ext4", "tmpfs", "btrfs"} {
		state := restoreWorld(t, lower)
		var scratch *World
		saves := 0
		for step := 0; step < 60; step++ {
			scratch = state.CloneInto(scratch)
			require.True(t, scratch.Save(), "%s step %d: a clone saves", lower, step)
			saves++
			want, gen := scratch.Dump(), scratch.mountGen
			require.Equal(t, hashOf(state), hashOf(scratch), "%s step %d: clone", lower, step)
			for _, op := range worldOps {
				// Up to three operations, then a restore.
				for n := rng.Intn(3); n >= 0; n-- {
					worldOps[rng.Intn(len(worldOps))].do(scratch)
				}
				scratch.Restore()
				require.Equal(t, want, scratch.Dump(), "%s step %d: restored", lower, step)
				require.Equal(t, gen, scratch.mountGen)
				fresh := state.Clone()
				op.do(fresh)
				op.do(scratch)
				require.Equal(t, fresh.Dump(), scratch.Dump(), "%s step %d: %s after a restore", lower, step, op.name)
				require.Equal(t, hashOf(fresh), hashOf(scratch))
				scratch.Restore()
			}
			// The walk goes on through any operation but a mount, whose
			// superblock lies outside the arena (Save refuses it).
			next := state.Clone()
			worldOps[rng.Intn(len(worldOps)-1)].do(next)
			state = next
		}
		mounted := state.Clone()
		worldOps[len(worldOps)-1].do(mounted)
		require.True(t, mounted.CloneInto(scratch).Save(), "%s: a clone of a world that mounted", lower)
		_, err := scratch.Mount(mustModel(t, "ext4"), "/m2", nil)
		require.NoError(t, err)
		require.False(t, scratch.Save(), "%s: a superblock outside the arena", lower)
		require.Panics(t, scratch.Restore, "%s: nothing saved", lower)
		require.Greater(t, saves, 30, "%s: states saved", lower)
	}
}

// inBlock finds a pointer into a block by address: its elements, not the
// room past its length, nor another block.
func TestInBlock(t *testing.T) {
	block := make([]Inode, 3, 5)
	other := make([]Inode, 3)
	for k := range block {
		require.True(t, inBlock(&block[k], block))
		require.False(t, inBlock(&other[k], block))
	}
	require.False(t, inBlock(&block[:5][3], block), "past the length")
	require.False(t, inBlock(nil, block))
	require.False(t, inBlock(&block[0], nil))
	ents := make([]dirent, 6)
	require.True(t, inEnts(ents[1:3:4], ents))
	require.True(t, inEnts(nil, ents))
	require.False(t, inEnts(make([]dirent, 1), ents))
}
