package scenarios

import (
	"crypto/sha1"
	"crypto/sha256"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/cache/vfs"
	"github.com/imasim/imasim/measure"
)

// vfsFile adapts a vfs.File to cache.File.
type vfsFile struct {
	w     *vfs.World
	f     *vfs.File
	quiet bool
	algo  measure.Algo // the profile's hash, which the model collects with
}

func (e *engine) file(f *vfs.File) cache.File {
	e.cf = vfsFile{e.w, f, e.quiet, e.hashAlgo}
	return &e.cf
}

func (v vfsFile) Inode() cache.Inode     { return v.f.Inode }
func (v vfsFile) RealInode() cache.Inode { return v.w.RealInode(v.f.Inode) }
func (v vfsFile) Getattr(ctime bool) cache.Stat {
	st := v.w.Getattr(v.f.Inode, true, ctime)
	return cache.Stat{HasCookie: st.HasCookie, Cookie: st.Cookie, Ctime: int64(st.Ctime)}
}
func (v vfsFile) Writable() bool     { return v.f.Flags.Write }
func (v vfsFile) Unverifiable() bool { return v.f.Inode.SB.Model.Overlay }

// IMAXattrVerifies follows ima_appraise.c:xattr_verify for
// IMA_XATTR_DIGEST_NG (0x04, then the hash algorithm, then the digest)
// in the profile's hash, the one the model collects with. (The kernel
// collects with the xattr's algorithm when it has one,
// ima_appraise.c:ima_get_hash_algo; the model does not, so an xattr of
// another algorithm does not verify here.)
func (v vfsFile) IMAXattrVerifies(collected []byte) bool {
	algo := v.algo
	x, ok := v.w.RealInode(v.f.Inode).Xattrs["security.ima"]
	if !ok || len(x) != 2+algo.Size() || x[0] != 0x04 || x[1] != algo.HashAlgoID() {
		return false
	}
	if v.quiet {
		// the quiet engine's truth is the content
		h := algo.New()
		h.Write(collected)
		collected = h.Sum(nil)
	}
	return x[2:] == string(collected)
}

func (v vfsFile) FSName() string {
	r := v.w.RealInode(v.f.Inode)
	if v.f.Inode.SB.Model.Overlay {
		return "overlay->" + r.SB.Model.Name
	}
	return r.SB.Model.Name
}

// calcFileHash hashes content with the profile's hash, as
// ima_collect_measurement does with ima_hash_algo (Linux v7.2.13:
// ima_api.c, ima_crypto.c:ima_calc_file_hash).
func (e *engine) calcFileHash(content []byte) []byte {
	// The common algorithms without a hash object on the heap.
	switch e.hashAlgo {
	case measure.SHA256:
		d := sha256.Sum256(content)
		return d[:]
	case measure.SHA1:
		d := sha1.Sum(content)
		return d[:]
	}
	h := e.hashAlgo.New()
	h.Write(content)
	return h.Sum(nil)
}

// fileInfo is what the template fields read from f's inode: owner and
// mode (an overlay inode carries its real inode's, Linux v7.2.13:
// fs/overlayfs/util.c:ovl_copyattr), xattrs, and the SHA-1 digest a "d"
// field needs when the list's hash is another.
func (e *engine) fileInfo(f *vfs.File) *measure.FileInfo {
	r := e.w.RealInode(f.Inode)
	fi := &measure.FileInfo{File: true, UID: r.UID, GID: r.GID, Mode: uint16(r.Mode)}
	if r.Mode&0o170000 == 0 {
		fi.Mode |= 0o100000 // S_IFREG: the model's files are regular
	}
	if e.dSHA1 {
		s := sha1.Sum(r.Content)
		fi.SHA1 = s[:]
	}
	if len(r.Xattrs) > 0 {
		fi.Xattrs = map[string][]byte{}
		for k, v := range r.Xattrs {
			fi.Xattrs[k] = []byte(v)
		}
	}
	return fi
}
