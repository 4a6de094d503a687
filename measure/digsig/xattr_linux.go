package digsig

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// maxXattr bounds one xattr value (the VFS limit, XATTR_SIZE_MAX).
const maxXattr = 64 << 10

// ReadFile reads the EVM-protected xattrs and the inode metadata of a
// file on disk (not following a final symlink, as EVM covers the link
// itself).
func ReadFile(path string) (map[string][]byte, Inode, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return nil, Inode{}, &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	in := Inode{Ino: st.Ino, UID: st.Uid, GID: st.Gid, Mode: uint16(st.Mode)}
	xattrs := map[string][]byte{}
	buf := make([]byte, maxXattr)
	for _, n := range append(EVMXattrs, "security.evm") {
		sz, err := unix.Lgetxattr(path, n, buf)
		switch {
		case errors.Is(err, unix.ENODATA) || errors.Is(err, unix.EOPNOTSUPP):
			continue
		case err != nil:
			return nil, in, fmt.Errorf("%s: getxattr %s: %w", path, n, err)
		}
		xattrs[n] = append([]byte(nil), buf[:sz]...)
	}
	return xattrs, in, nil
}
