package digsig

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxXattr bounds one xattr value (the VFS limit, XATTR_SIZE_MAX).
const maxXattr = 64 << 10

// ioctl numbers (include/uapi/linux/fs.h): FS_IOC_GETVERSION is
// _IOR('v', 1, long) and writes an int; FS_IOC_GETFSUUID (Linux 6.5+) is
// _IOR(0x15, 0, struct fsuuid2 { __u8 len; __u8 uuid[16]; }).
const (
	fsIocGetVersion = 0x80087601
	fsIocGetFSUUID  = 0x80111500
)

// ReadFile reads the EVM-protected xattrs and the inode metadata of a
// file on disk (not following a final symlink, as EVM covers the link
// itself). The generation and the filesystem UUID, which HMACs and
// non-portable signatures cover, are read with ioctls on regular files and
// directories; when the filesystem does not give them, Inode.Missing and
// Inode.NoFSUUID say why.
func ReadFile(path string) (map[string][]byte, Inode, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return nil, Inode{}, &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	in := Inode{Ino: st.Ino, UID: st.Uid, GID: st.Gid, Mode: uint16(st.Mode)}
	readIoctls(path, st.Mode, &in)
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

// readIoctls fills the generation and the FS UUID. It opens only regular
// files and directories (O_NONBLOCK, no final symlink), so a FIFO or a
// device is never opened for real.
func readIoctls(path string, mode uint32, in *Inode) {
	if t := mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFDIR {
		in.Missing = "not a regular file or directory: no generation ioctl"
		return
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		in.Missing = "open for FS_IOC_GETVERSION: " + err.Error()
		return
	}
	defer unix.Close(fd)
	var gen [8]byte
	if err := ioctl(fd, fsIocGetVersion, unsafe.Pointer(&gen[0])); err != nil {
		in.Missing = "FS_IOC_GETVERSION: " + err.Error()
		return
	}
	in.Generation = binary.NativeEndian.Uint32(gen[:4])
	var u [17]byte
	if err := ioctl(fd, fsIocGetFSUUID, unsafe.Pointer(&u[0])); err != nil {
		in.NoFSUUID = "FS_IOC_GETFSUUID: " + err.Error()
		return
	}
	if n := int(u[0]); n > 0 && n <= 16 {
		// The kernel hashes all 16 bytes of s_uuid; a shorter UUID is
		// zero-padded there as here.
		in.FSUUID = append(make([]byte, 0, 16), u[1:17]...)
	}
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg)); e != 0 {
		return e
	}
	return nil
}
