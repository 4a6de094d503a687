package vfs

import (
	"fmt"
	"path"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustModel(t testing.TB, n string) *Model {
	t.Helper()
	m, err := LookupModel(n)
	require.NoError(t, err)
	return m
}

func newFile(t testing.TB, w *World, model, mnt, p string) *Inode {
	t.Helper()
	_, err := w.Mount(mustModel(t, model), mnt, nil)
	require.NoError(t, err)
	f, err := w.Open(p, OpenFlags{Write: true, Create: true, Mode: 0o755}, 0, 0)
	require.NoError(t, err)
	require.NoError(t, w.Write(f, []byte("v1"), false))
	w.Close(f)
	i, err := w.Lookup(p)
	require.NoError(t, err)
	return i
}

func TestIVersionQueryPeek(t *testing.T) {
	w := NewWorld(true)
	i := newFile(t, w, "xfs-mg", "/x", "/x/f")
	v := i.PeekIVersion()
	assert.Equal(t, uint64(2), v, "XFS create leaves i_version 2")
	assert.False(t, i.Queried())
	// A timestamp-only write does not bump an unqueried XFS inode.
	w.Advance(Tick * 3)
	f, err := w.Open("/x/f", OpenFlags{Write: true, Append: true}, 0, 0)
	require.NoError(t, err)
	require.NoError(t, w.Write(f, []byte("more"), true))
	w.Close(f)
	assert.Equal(t, v, i.PeekIVersion(), "peeked XFS i_version must not move on a data write")
	// After a query, the next write bumps.
	i.QueryIVersion()
	w.Advance(Tick * 3)
	f, _ = w.Open("/x/f", OpenFlags{Write: true, Append: true}, 0, 0)
	require.NoError(t, w.Write(f, []byte("x"), true))
	w.Close(f)
	assert.Equal(t, v+1, i.PeekIVersion())
	assert.False(t, i.Queried(), "a bump clears QUERIED")
	// Writeback of a size extension that needed new blocks logs the core
	// inode three times (delalloc conversion, unwritten conversion, size).
	w.Sync()
	assert.Equal(t, v+4, i.PeekIVersion())
}

func TestWriteBumpRulesPerModel(t *testing.T) {
	cases := []struct {
		model string
		bumps bool
	}{
		{"xfs", false}, {"xfs-mg", false}, {"ext4-6.1", false}, {"tmpfs-6.1", false},
		{"ext4", true}, {"ext4-mg", true}, {"tmpfs", true}, {"btrfs", true},
	}
	for _, c := range cases {
		t.Run(c.model, func(t *testing.T) {
			w := NewWorld(true)
			i := newFile(t, w, c.model, "/m", "/m/f")
			before := i.PeekIVersion()
			w.Advance(Tick * 2)
			f, err := w.Open("/m/f", OpenFlags{Write: true}, 0, 0)
			require.NoError(t, err)
			require.NoError(t, w.Write(f, []byte("v2"), false))
			w.Close(f)
			assert.Equal(t, c.bumps, i.PeekIVersion() != before, "unqueried write bump on %s", c.model)
		})
	}
}

func TestGetattrCookie(t *testing.T) {
	for _, c := range []struct {
		model          string
		cookie, query  bool
		cookieInKernel bool
	}{
		{"xfs", true, true, true}, {"xfs-mg", false, false, true}, {"ext4", true, true, true},
		{"tmpfs", true, true, true}, {"xfs", false, false, false},
	} {
		w := NewWorld(c.cookieInKernel)
		i := newFile(t, w, c.model, "/m", "/m/f")
		st := w.Getattr(i, true, false)
		assert.Equal(t, c.cookie, st.HasCookie, "%s cookie", c.model)
		assert.Equal(t, c.query, i.Queried(), "%s getattr sets QUERIED", c.model)
	}
}

func TestMultigrainCtime(t *testing.T) {
	w := NewWorld(true)
	i := newFile(t, w, "xfs-mg", "/m", "/m/f")
	c0 := i.Ctime
	w.Getattr(i, false, true) // query ctime
	w.Clock.Advance(1000)     // same tick
	require.NoError(t, w.Chmod("/m/f", 0o700))
	assert.Greater(t, int64(i.Ctime), int64(c0), "queried multigrain ctime must move within a tick")
	assert.NotZero(t, i.Ctime%Tick, "fine-grained ctime")

	w2 := NewWorld(true)
	j := newFile(t, w2, "xfs", "/m", "/m/f")
	d0 := j.Ctime
	w2.Getattr(j, false, true)
	w2.Clock.Advance(1000)
	require.NoError(t, w2.Chmod("/m/f", 0o700))
	assert.Equal(t, d0, j.Ctime, "coarse ctime does not move within a tick")
}

func TestOverlayCopyUp(t *testing.T) {
	w := overlayWorld(t)
	lower, err := w.Lookup("/lower/f")
	require.NoError(t, err)
	oi, err := w.Lookup("/ovl/f")
	require.NoError(t, err)
	assert.Same(t, lower, w.RealInode(oi))
	assert.False(t, oi.IsIVersion(), "overlay inode has no SB_I_VERSION")

	// A write to the lower layer is visible through the overlay.
	f, err := w.Open("/lower/f", OpenFlags{Write: true, Append: true}, 0, 0)
	require.NoError(t, err)
	require.NoError(t, w.Write(f, []byte("+lower"), true))
	w.Close(f)
	assert.Equal(t, "v1+lower", string(w.RealInode(oi).Content))

	// Opening for write through the overlay copies up: new dev/ino.
	f, err = w.Open("/ovl/f", OpenFlags{Write: true, Append: true}, 0, 0)
	require.NoError(t, err)
	real := w.RealInode(oi)
	assert.NotSame(t, lower, real)
	assert.True(t, w.IsUpper(oi))
	ld, li := lower.DevIno()
	ud, ui := real.DevIno()
	assert.NotEqual(t, [2]uint64{ld, li}, [2]uint64{ud, ui})
	require.NoError(t, w.Write(f, []byte("+upper"), true))
	w.Close(f)
	assert.Equal(t, "v1+lower", string(lower.Content), "lower untouched after copy-up")
	assert.Equal(t, "v1+lower+upper", string(real.Content))
	// Cross-fs overlay reports the lower origin's st_ino and an anonymous
	// per-layer st_dev, before and after copy-up.
	st := w.Getattr(oi, false, false)
	assert.Equal(t, li, st.Ino)
	assert.NotEqual(t, ld, st.Dev)
	assert.NotEqual(t, ud, st.Dev)
}

// Lookup leaves RealInode's answer cached for the overlay inode, and a
// copy-up after it (a chmod through the overlay, in a clone whose cache
// started empty) still moves RealInode to the upper inode.
func TestLookupCachesRealInode(t *testing.T) {
	w := overlayWorld(t)
	lower, err := w.Lookup("/lower/f")
	require.NoError(t, err)
	oi, err := w.Lookup("/ovl/f")
	require.NoError(t, err)
	assert.Same(t, lower, oi.real, "cached by Lookup")
	c := w.Clone()
	coi, err := c.Lookup("/ovl/f")
	require.NoError(t, err)
	clower, err := c.Lookup("/lower/f")
	require.NoError(t, err)
	assert.Same(t, clower, c.RealInode(coi), "the clone's own lower inode")
	require.NoError(t, c.Chmod("/ovl/f", 0o700))
	up, err := c.Lookup("/t/upper/f")
	require.NoError(t, err)
	assert.Same(t, up, c.RealInode(coi))
	assert.Equal(t, uint32(0o700), c.RealInode(coi).Mode)
	assert.Same(t, lower, w.RealInode(oi), "the original keeps its lower inode")
}

func TestRemountClearsIVersion(t *testing.T) {
	w := NewWorld(true)
	i := newFile(t, w, "tmpfs", "/t", "/t/f")
	require.NoError(t, w.Remount("/t", []string{"noatime"}, func(string) bool { return true }))
	assert.False(t, i.IsIVersion())
	require.Error(t, w.Remount("/nope", nil, func(string) bool { return false }))
}

func TestAtimeBumpsQueriedXFS(t *testing.T) {
	w := NewWorld(true)
	i := newFile(t, w, "xfs", "/x", "/x/f")
	i.QueryIVersion()
	v := i.PeekIVersion()
	w.Advance(Tick * 2)
	f, err := w.Open("/x/f", OpenFlags{Read: true}, 0, 0)
	require.NoError(t, err)
	w.Read(f) // relatime: atime <= mtime -> update -> XFS logs timestamps -> bump (queried)
	w.Close(f)
	assert.Equal(t, v+1, i.PeekIVersion())
}

func TestErrors(t *testing.T) {
	w := NewWorld(true)
	_, err := w.Open("/nowhere/f", OpenFlags{Read: true}, 0, 0)
	assert.ErrorContains(t, err, "not on any mounted filesystem")
	_, err = LookupModel("zfs")
	assert.ErrorContains(t, err, "unknown filesystem model")
	_, err = w.Mount(mustModel(t, "xfs"), "/x", []string{"bogus"})
	assert.ErrorContains(t, err, "unsupported mount option")
}

func TestClean(t *testing.T) {
	for _, p := range []string{"", "/", "//", "/a", "/a/", "/a//b", "/a/./b", "/a/../b", "/a/.", "/a/..", "/.", "/..",
		"/.a", "/a./b", "/..a/b", "/a/b..", "a", "a/b", "./a", "/lower/prog", "/t/upper/prog"} {
		assert.Equal(t, path.Clean(p), clean(p), "clean(%q)", p)
	}
}

// overlayWorld is xfs /lower/f under an overlay with a tmpfs upper.
func overlayWorld(t *testing.T) *World {
	t.Helper()
	w := NewWorld(true)
	newFile(t, w, "xfs", "/lower", "/lower/f")
	_, err := w.Mount(mustModel(t, "tmpfs"), "/t", nil)
	require.NoError(t, err)
	require.NoError(t, w.Mkdir("/t/upper"))
	require.NoError(t, w.Mkdir("/t/work"))
	_, err = w.MountOverlay(mustModel(t, "overlay"), "/ovl", "/lower", "/t/upper", "/t/work")
	require.NoError(t, err)
	_, err = w.Lookup("/ovl/f")
	require.NoError(t, err)
	return w
}

func hashOf(w *World) uint64 {
	var h Hasher
	w.Hash(&h)
	return h.Sum64()
}

// A clone (fresh or into reused memory) hashes equal, evolves on its own
// and leaves the original alone, through copy-up, eviction and new files.
func TestCloneInto(t *testing.T) {
	w := overlayWorld(t)
	h0 := hashOf(w)
	var reuse *World
	for round := 0; round < 3; round++ {
		c := w.CloneInto(reuse)
		require.Equal(t, h0, hashOf(c), "round %d: a clone hashes equal", round)
		f, err := c.Open("/ovl/f", OpenFlags{Write: true, Append: true}, 0, 0) // copy-up
		require.NoError(t, err)
		require.NoError(t, c.Write(f, []byte("+"), true))
		c.Close(f)
		c.DropCaches()
		g, err := c.Open("/t/new", OpenFlags{Write: true, Create: true}, 0, 0)
		require.NoError(t, err)
		c.Close(g)
		require.NoError(t, c.Setxattr("/lower/f", "user.x", "1"))
		assert.True(t, c.IsUpper(mustLookup(t, c, "/ovl/f")))
		assert.NotEqual(t, h0, hashOf(c))
		assert.Equal(t, h0, hashOf(w), "round %d: the original is untouched", round)
		assert.False(t, w.IsUpper(mustLookup(t, w, "/ovl/f")))
		assert.Empty(t, mustLookup(t, w, "/lower/f").Xattrs)
		assert.Equal(t, []string{"/lower/f"}, w.Files())
		assert.Equal(t, []string{"/lower/f", "/t/new", "/t/upper/f"}, c.Files())
		reuse = c
	}
}

// Translate maps an open file's inodes into a clone.
func TestTranslate(t *testing.T) {
	w := overlayWorld(t)
	f, err := w.Open("/ovl/f", OpenFlags{Read: true}, 0, 0)
	require.NoError(t, err)
	c := w.Clone()
	ci, cb := c.Translate(w, f.Inode), c.Translate(w, f.Backing)
	assert.Same(t, mustLookup(t, c, "/ovl/f"), ci)
	assert.Same(t, mustLookup(t, c, "/lower/f"), cb)
	assert.Equal(t, 1, cb.Readers)
}

func mustLookup(t *testing.T, w *World, p string) *Inode {
	t.Helper()
	i, err := w.Lookup(p)
	require.NoError(t, err)
	return i
}

// A new tmpfs inode is a fresh slab object (stale: boot history) until a
// tmpfs regular file has been freed in the run; then it reuses that
// object, whose i_version eviction left at 1 or more.
func TestTmpfsRecycledInodes(t *testing.T) {
	create := func(w *World, p string) *Inode {
		f, err := w.Open(p, OpenFlags{Write: true, Create: true, Mode: 0o644}, 0, 0)
		require.NoError(t, err)
		w.Close(f)
		i, err := w.Lookup(p)
		require.NoError(t, err)
		return i
	}
	w := NewWorld(false)
	_, err := w.Mount(mustModel(t, "tmpfs-6.1"), "/t", nil)
	require.NoError(t, err)
	a := create(w, "/t/a")
	assert.True(t, a.IVersionStale())
	assert.Equal(t, uint64(0), a.PeekIVersion())

	require.NoError(t, w.Unlink("/t/a"))
	b := create(w, "/t/b")
	assert.False(t, b.IVersionStale(), "reuses a's object")
	assert.Equal(t, uint64(1), b.PeekIVersion())
	assert.False(t, b.Queried())
	c := create(w, "/t/c")
	assert.True(t, c.IVersionStale(), "only one object was freed")

	// Mounting overlay with its work directory on tmpfs frees two.
	for _, d := range []string{"/t/upper", "/t/work", "/t/lower"} {
		require.NoError(t, w.Mkdir(d))
	}
	_, err = w.MountOverlay(mustModel(t, "overlay"), "/o", "/t/lower", "/t/upper", "/t/work")
	require.NoError(t, err)
	for _, p := range []string{"/t/d", "/t/e"} {
		i := create(w, p)
		assert.False(t, i.IVersionStale(), p)
		assert.Equal(t, uint64(1), i.PeekIVersion(), p)
	}
	assert.True(t, create(w, "/t/f").IVersionStale())

	// Disk filesystems initialise i_version: nothing is recycled.
	_, err = w.Mount(mustModel(t, "ext4"), "/e", nil)
	require.NoError(t, err)
	e := create(w, "/e/x")
	require.NoError(t, w.Unlink("/e/x"))
	assert.False(t, e.IVersionStale())
	assert.True(t, create(w, "/t/g").IVersionStale(), "an ext4 unlink frees no tmpfs object")
}

// isClean agrees with path.Clean, through its quick check and its slow one.
func TestIsClean(t *testing.T) {
	for _, p := range []string{"/", "/a", "/a/b", "/a/", "//a", "/a//b", "/a/./b", "/a/../b", "/.", "/..",
		"/a/.hidden", "/a/..b", "/a/b.", "/a.b/c", "a/b", "", "/a/.", "/a/..", "/./a"} {
		want := p != "" && p[0] == '/' && path.Clean(p) == p
		if got := isClean(p); got != want {
			t.Errorf("isClean(%q) = %v, path.Clean gives %q", p, got, path.Clean(p))
		}
	}
}

// Bytes hashes a byte string as S hashes the same string.
func TestHasherBytesIsS(t *testing.T) {
	for _, s := range []string{"", "v", "v0+X", "12345678", "123456789abcdefgh", "v0++++++++++++++++*"} {
		var a, b Hasher
		a.S(s)
		b.Bytes([]byte(s))
		assert.Equal(t, a.Sum64(), b.Sum64(), "%q", s)
	}
}

// Writes replace the content with a new slice (holders of the old one
// keep what they saw): appends add at the end, overwrites replace the
// start, and an empty result stays nil.
func TestWriteCopyOnWrite(t *testing.T) {
	w := NewWorld(true)
	i := newFile(t, w, "xfs-mg", "/x", "/x/f")
	before := i.Content
	f, err := w.Open("/x/f", OpenFlags{Write: true}, 0, 0)
	require.NoError(t, err)
	require.NoError(t, w.Write(f, []byte("X"), false))
	assert.Equal(t, "X1", string(i.Content), "overwrite replaces the start")
	require.NoError(t, w.Write(f, []byte("+"), true))
	assert.Equal(t, "X1+", string(i.Content))
	require.NoError(t, w.Write(f, []byte("abcd"), false))
	assert.Equal(t, "abcd", string(i.Content), "a longer overwrite extends")
	assert.Equal(t, "v1", string(before), "the old content is untouched")
	i.Content = nil
	require.NoError(t, w.Write(f, nil, true))
	assert.Nil(t, i.Content)
	require.NoError(t, w.Write(f, nil, false))
	assert.Nil(t, i.Content)
	w.Close(f)
}

// Inodes made in a world cloned into reused memory (whose arena keeps
// recent IDs) are named as makeID names them, across re-reads after
// drop_caches, copy-ups and new files, and the evicted inodes come back
// each time.
func TestArenaInodeIDs(t *testing.T) {
	w := overlayWorld(t)
	var reuse *World
	for round := 0; round < 4; round++ {
		c := w.CloneInto(reuse)
		for k := 0; k <= round; k++ {
			dropped := c.DropCaches()
			require.NotEmpty(t, dropped, "round %d", round)
			for _, i := range dropped {
				assert.NotNil(t, i.SB)
			}
		}
		f, err := c.Open("/ovl/f", OpenFlags{Write: true, Append: true}, 0, 0) // copy-up
		require.NoError(t, err)
		c.Close(f)
		g, err := c.Open("/t/new", OpenFlags{Write: true, Create: true}, 0, 0)
		require.NoError(t, err)
		c.Close(g)
		for _, p := range []string{"/lower/f", "/ovl/f", "/t/upper/f", "/t/new"} {
			i := mustLookup(t, c, p)
			assert.Equal(t, i.makeID(), i.ID(), "round %d %s", round, p)
		}
		assert.Contains(t, mustLookup(t, c, "/lower/f").ID(), fmt.Sprintf("'%d", round+1))
		reuse = c
	}
}
