package vfs

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Super is analogous to struct super_block: one mounted filesystem.
type Super struct {
	Model    *Model
	Dev      uint64
	IVersion bool // SB_I_VERSION now (remount can drop it)
	NoAtime  bool
	StrictAt bool // strictatime; default relatime
	clock    *Clock
	nextIno  uint64
	files    []dirent // path within the fs -> inode, sorted by path
	// dirs lists directory paths within the fs ("" is the root). It only
	// grows, by append, so clones share it (see World.Clone).
	dirs []string

	// overlay only
	lower, upper, work string   // world paths of the layers
	pseudoDev          uint64   // anonymous st_dev for the lower layer (cross-fs, no xino)
	ovlInodes          []dirent // overlay inodes by path, sorted
}

// Inode is analogous to struct inode. The fields holding pointers come
// first, and the flags share a word: a search copies inodes at every
// step (World.CloneInto).
type Inode struct {
	SB      *Super
	Content []byte
	Xattrs  map[string]string
	// overlay: the path inside the overlay, to find the real inode.
	ovlPath string
	// real caches RealInode for an overlay inode while the world's
	// namespace generation is realGen.
	real *Inode
	id   string // ID(), set when the inode is made

	Ino      uint64
	iversion uint64 // the counter, without the QUERIED bit
	// Timestamps.
	Ctime, Mtime, Atime Time
	realGen             uint64
	Writers             int   // i_writecount
	Readers             int   // i_readcount
	gen                 int32 // bumped when the inode is read back from disk
	Mode                uint32
	UID                 uint32
	GID                 uint32

	queried      bool // I_VERSION_QUERIED
	stale        bool // value may be a recycled inode's (Model.CreateStale, no bump yet)
	ctimeQueried bool // multigrain: ctime was queried since it last changed
	Verity       bool // fs-verity enabled (IS_VERITY)
	dirtyExtend  bool // size-extending data not yet written back
	dirtyAlloc   bool // ... that needs new blocks (delalloc conversion at writeback)
}

// ID names the inode for traces: "xfs:dev=7:ino=131".
// A re-read inode is a new struct inode (and a new iint): "ino=131'1".
func (i *Inode) ID() string {
	if i.id != "" {
		return i.id
	}
	return i.makeID()
}

func (i *Inode) makeID() string {
	var buf [64]byte
	b := append(buf[:0], i.SB.Model.Type...)
	b = append(b, ":dev="...)
	b = strconv.AppendUint(b, i.SB.Dev, 10)
	b = append(b, ":ino="...)
	b = strconv.AppendUint(b, i.Ino, 10)
	if i.gen > 0 {
		b = append(b, '\'')
		b = strconv.AppendInt(b, int64(i.gen), 10)
	}
	return string(b)
}

// DevIno returns s_dev and i_ino.
func (i *Inode) DevIno() (uint64, uint64) { return i.SB.Dev, i.Ino }

// WriteCount is i_writecount.
func (i *Inode) WriteCount() int { return i.Writers }

// ReadCount is i_readcount.
func (i *Inode) ReadCount() int { return i.Readers }

// Overlay reports whether this is an overlayfs inode.
func (i *Inode) Overlay() bool { return i.SB.Model.Overlay }

// IsIVersion is IS_I_VERSION(inode) (Linux: include/linux/fs.h).
func (i *Inode) IsIVersion() bool { return i.SB.IVersion }

// QueryIVersion is inode_query_iversion: returns the counter and sets
// QUERIED so the next change bumps it (Linux: include/linux/iversion.h).
func (i *Inode) QueryIVersion() uint64 {
	i.queried = true
	return i.iversion
}

// PeekIVersion is inode_peek_iversion: returns the counter, leaves QUERIED.
func (i *Inode) PeekIVersion() uint64 { return i.iversion }

// Queried reports the I_VERSION_QUERIED flag.
func (i *Inode) Queried() bool { return i.queried }

// IVersionStale reports that the counter may hold a recycled inode's stale
// value: the filesystem never initialised it and nothing bumped it since.
func (i *Inode) IVersionStale() bool { return i.stale }

// EqIVersion is inode_eq_iversion: the counter equals v (no side effect).
func (i *Inode) EqIVersion(v uint64) bool { return i.iversion == v }

// maybeInc is inode_maybe_inc_iversion: bump when forced or QUERIED, then
// clear QUERIED. It reports whether it bumped.
func (i *Inode) maybeInc(force bool) bool {
	if !i.SB.IVersion {
		return false
	}
	if !force && !i.queried {
		return false
	}
	i.iversion++
	i.queried = false
	i.stale = false
	return true
}

// setCtimeNow sets ctime to "now" as inode_set_ctime_current does, with
// multigrain semantics when the model has them (Linux v6.13:
// fs/inode.c:inode_set_ctime_current). It reports whether ctime changed.
func (i *Inode) setCtimeNow() bool {
	c := i.SB.clock
	t := c.Coarse()
	if i.SB.Model.Multigrain && i.ctimeQueried {
		t = c.Now()
		if t <= i.Ctime {
			t = i.Ctime + 1
		}
	}
	if t < i.Ctime {
		t = i.Ctime
	}
	i.ctimeQueried = false
	changed := t != i.Ctime
	i.Ctime = t
	return changed
}

// Stat is what getattr fills (struct kstat), with the request/result mask
// bits the model tracks.
type Stat struct {
	Dev, Ino     uint64
	Ctime, Mtime Time
	Cookie       uint64
	HasCookie    bool // STATX_CHANGE_COOKIE in result_mask
	Size         int
	Mode         uint32
	Verity       bool // STATX_ATTR_VERITY in stx_attributes
}

// getattr is the filesystem's getattr on a real inode. wantCookie asks for
// STATX_CHANGE_COOKIE; wantCtime asks for STATX_CTIME (which marks a
// multigrain ctime as queried).
// Linux v6.12: fs/stat.c:generic_fillattr, v6.13: fs/stat.c:fill_mg_cmtime.
func (i *Inode) getattr(wantCookie, wantCtime bool, cookieSupported bool) Stat {
	st := Stat{Dev: i.SB.Dev, Ino: i.Ino, Ctime: i.Ctime, Mtime: i.Mtime, Size: len(i.Content), Mode: i.Mode, Verity: i.Verity}
	if wantCookie && i.IsIVersion() && cookieSupported {
		if i.SB.Model.GetattrQueries {
			st.Cookie = i.QueryIVersion()
		}
		if i.SB.Model.Cookie {
			st.HasCookie = true
		}
	}
	if wantCtime && i.SB.Model.Multigrain {
		i.ctimeQueried = true
	}
	return st
}

// fileUpdateTime is file_update_time on a data write (Linux v6.12:
// fs/inode.c:inode_needs_update_time, inode_update_timestamps;
// fs/xfs/xfs_iops.c:xfs_vn_update_time).
func (i *Inode) fileUpdateTime() {
	now := i.SB.clock.Coarse()
	need := now != i.Mtime || now != i.Ctime ||
		(i.SB.Model.Multigrain && i.ctimeQueried) ||
		(i.IsIVersion() && i.queried)
	if !need {
		return
	}
	changed := i.setCtimeNow()
	if i.Mtime != i.Ctime {
		i.Mtime = i.Ctime
		changed = true
	}
	i.maybeInc(i.SB.Model.WriteForces && changed)
}

// dataWritten applies the filesystem's own per-write bump (btrfs forces
// inode_inc_iversion on every buffered write).
func (i *Inode) dataWritten() {
	if i.SB.Model.WriteAlwaysForces {
		i.maybeInc(true)
	}
}

// changeMeta is a metadata change (chmod, chown, utimes, setxattr):
// ctime moves and i_version is bumped as the model says.
func (i *Inode) changeMeta(force bool) {
	i.setCtimeNow()
	i.maybeInc(force)
}

// touchAtime is touch_atime for a read (Linux v6.12: fs/inode.c:
// atime_needs_update, relatime_need_update).
func (i *Inode) touchAtime() {
	sb := i.SB
	if sb.NoAtime {
		return
	}
	now := sb.clock.Coarse()
	if !sb.StrictAt {
		// relatime: update when atime <= mtime or ctime, or older than a day.
		if i.Atime > i.Mtime && i.Atime > i.Ctime && now-i.Atime < 24*3600*1_000_000_000 {
			return
		}
	}
	if i.Atime == now {
		return
	}
	i.Atime = now
	if sb.Model.AtimeBumpsQueried {
		i.maybeInc(false)
	}
}

// writeback writes dirty data; a size-extending write logs the core
// inode on XFS, which forces an i_version bump
// (Linux v6.12: fs/xfs/xfs_aops.c:xfs_setfilesize -> xfs_trans_log_inode(XFS_ILOG_CORE)).
//
// New blocks cost two more core-logging transactions on XFS: delalloc
// conversion (fs/xfs/libxfs/xfs_bmap.c:xfs_bmapi_convert_delalloc) and
// unwritten-extent conversion at I/O completion
// (fs/xfs/xfs_iomap.c:xfs_iomap_write_unwritten); imasim probe measured +3
// on disk for a new file's first write on 6.18.
func (i *Inode) writeback() {
	if !i.dirtyExtend {
		return
	}
	if i.SB.Model.WritebackForces {
		if i.dirtyAlloc {
			i.maybeInc(true)
			i.maybeInc(true)
		}
		i.maybeInc(true)
	}
	i.dirtyExtend, i.dirtyAlloc = false, false
}

// blocks is the number of 4 KiB blocks n bytes need.
func blocks(n int) int { return (n + 4095) / 4096 }

// MetaKey is the appraisal-relevant metadata EVM protects: mode, owner
// and security.* xattrs (Linux v6.12: security/integrity/evm/evm_crypto.c:
// hmac_add_misc, evm_config_xattrnames).
func (i *Inode) MetaKey() string {
	var names []string
	for k := range i.Xattrs {
		if strings.HasPrefix(k, "security.") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%o:%d:%d", i.Mode, i.UID, i.GID)
	for _, k := range names {
		fmt.Fprintf(&b, ";%s=%s", k, i.Xattrs[k])
	}
	return b.String()
}
