package vfs

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An fd opened before a copy-up reads the upper file afterwards and maps
// the lower one; a new open reads and maps the upper.
func TestFdAfterCopyUp(t *testing.T) {
	w := overlayWorld(t)
	old, err := w.Open("/ovl/f", OpenFlags{Read: true}, 0, 0)
	require.NoError(t, err)
	assert.Equal(t, "v1", string(w.Read(old)))
	before := w.Fstat(old.Inode)
	w.Advance(Tick * 3)
	wr, err := w.Open("/ovl/f", OpenFlags{Write: true, Append: true}, 0, 0)
	require.NoError(t, err)
	require.NoError(t, w.Write(wr, []byte("+x"), true))
	w.Close(wr)
	assert.Equal(t, "v1+x", string(w.Read(old)), "read follows the copy-up")
	assert.Same(t, w.RealInode(old.Inode), w.ReadInode(old))
	assert.Equal(t, "v1", string(w.Mmap(old)), "mmap keeps the file opened at open")
	after := w.Fstat(old.Inode)
	assert.Equal(t, before.Ino, after.Ino, "overlay keeps st_ino across a copy-up")
	assert.Equal(t, before.Dev, after.Dev, "and st_dev")
	assert.NotEqual(t, before.Ctime, after.Ctime, "ctime is the upper inode's")
	nw, err := w.Open("/ovl/f", OpenFlags{Read: true}, 0, 0)
	require.NoError(t, err)
	assert.Equal(t, "v1+x", string(w.Mmap(nw)))
}

func TestVerity(t *testing.T) {
	w := NewWorld(true)
	newFile(t, w, "btrfs", "/lower", "/lower/f")
	require.Error(t, w.EnableVerity("/lower/nope"))
	f, err := w.Open("/lower/f", OpenFlags{Write: true}, 0, 0)
	require.NoError(t, err)
	require.ErrorContains(t, w.EnableVerity("/lower/f"), "ETXTBSY")
	w.Close(f)
	h := hashOf(w)
	require.NoError(t, w.EnableVerity("/lower/f"))
	assert.NotEqual(t, h, hashOf(w), "the search's state hash sees fs-verity")
	i := mustLookup(t, w, "/lower/f")
	assert.True(t, w.Fstat(i).Verity)
	_, err = w.Open("/lower/f", OpenFlags{Write: true}, 0, 0)
	require.ErrorIs(t, err, ErrVerity)
	require.ErrorIs(t, w.Truncate("/lower/f", 0), ErrVerity)

	_, err = w.Mount(mustModel(t, "tmpfs"), "/t", nil)
	require.NoError(t, err)
	require.NoError(t, w.Mkdir("/t/upper"))
	require.NoError(t, w.Mkdir("/t/work"))
	_, err = w.MountOverlay(mustModel(t, "overlay"), "/ovl", "/lower", "/t/upper", "/t/work")
	require.NoError(t, err)
	oi := mustLookup(t, w, "/ovl/f")
	assert.True(t, w.Fstat(oi).Verity, "overlay reports the lower file's attribute")
	require.ErrorContains(t, w.EnableVerity("/ovl/f"), "ENOTTY")
	wr, err := w.Open("/ovl/f", OpenFlags{Write: true, Append: true}, 0, 0)
	require.NoError(t, err, "a write through overlay copies up first")
	require.NoError(t, w.Write(wr, []byte("+x"), true))
	w.Close(wr)
	assert.False(t, w.Fstat(oi).Verity, "the tmpfs upper copy has no fs-verity")
	assert.True(t, i.Verity, "the lower file keeps it")

	// tmpfs has no fs-verity.
	newFile(t, w, "tmpfs", "/t2", "/t2/g")
	require.ErrorContains(t, w.EnableVerity("/t2/g"), "EOPNOTSUPP")
}

// A read-only overlay (no upper) refuses writes: no copy-up.
func TestReadOnlyOverlay(t *testing.T) {
	w := NewWorld(true)
	newFile(t, w, "xfs", "/lower", "/lower/f")
	_, err := w.MountOverlay(mustModel(t, "overlay"), "/ovl", "/lower", "", "")
	require.ErrorContains(t, err, "two lower layers")
	require.NoError(t, w.Mkdir("/lower/sub"))
	_, err = w.MountOverlay(mustModel(t, "overlay"), "/ovl", "/lower:/lower/sub", "", "")
	require.NoError(t, err)
	_, err = w.Open("/ovl/f", OpenFlags{Write: true, Append: true}, 0, 0)
	require.ErrorContains(t, err, "read-only overlay")
	f, err := w.Open("/ovl/f", OpenFlags{Read: true}, 0, 0)
	require.NoError(t, err)
	assert.Equal(t, "v1", string(w.Read(f)))
}

// The search's state hash sees xattr values and directories: worlds that
// differ only by them are different states.
func TestHashXattrsAndDirs(t *testing.T) {
	w := NewWorld(true)
	newFile(t, w, "ext4", "/x", "/x/f")
	a, b := w.Clone(), w.Clone()
	require.NoError(t, a.Setxattr("/x/f", "security.ima", "abc"))
	require.NoError(t, b.Setxattr("/x/f", "security.ima", "xyz"))
	assert.NotEqual(t, hashOf(a), hashOf(b), "xattr values")
	c := w.Clone()
	require.NoError(t, c.Setxattr("/x/f", "security.ima", "abc"))
	assert.Equal(t, hashOf(a), hashOf(c), "the same xattrs")
	d, e := w.Clone(), w.Clone()
	require.NoError(t, d.Mkdir("/x/a"))
	require.NoError(t, e.Mkdir("/x/b"))
	assert.NotEqual(t, hashOf(d), hashOf(e), "directories")
}
