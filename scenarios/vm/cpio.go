package vm

import (
	"fmt"
	"io"
	"path"
	"strings"
)

// CPIO mode bits (include/uapi/linux/stat.h; the newc format stores st_mode).
const (
	ModeDir     = 0o040000
	ModeFile    = 0o100000
	ModeSymlink = 0o120000
	ModeChar    = 0o020000
)

// CPIOWriter writes a newc ("070701") archive as the kernel's initramfs
// unpacker reads it (Linux v6.12: init/initramfs.c:do_header).
type CPIOWriter struct {
	w    io.Writer
	ino  uint32
	off  int64
	dirs map[string]bool
	err  error
}

// NewCPIOWriter returns a writer to w.
func NewCPIOWriter(w io.Writer) *CPIOWriter {
	return &CPIOWriter{w: w, ino: 300000, dirs: map[string]bool{"": true, ".": true, "/": true}}
}

func (c *CPIOWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.off += int64(n)
	c.err = err
}

func (c *CPIOWriter) pad() {
	if r := c.off % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// entry writes one header, the name and the data.
func (c *CPIOWriter) entry(name string, mode uint32, rdevMajor, rdevMinor uint32, data []byte) {
	c.ino++
	nlink := 1
	if mode&0o170000 == ModeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	c.write([]byte(hdr))
	c.write(append([]byte(name), 0))
	c.pad()
	c.write(data)
	c.pad()
}

func clean(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// Mkdir adds a directory and its missing parents.
func (c *CPIOWriter) Mkdir(name string, perm uint32) error {
	name = clean(name)
	if c.dirs[name] {
		return c.err
	}
	if err := c.Mkdir(path.Dir(name), 0o755); err != nil {
		return err
	}
	c.dirs[name] = true
	c.entry(name, ModeDir|perm, 0, 0, nil)
	return c.err
}

// File adds a regular file, creating parent directories.
func (c *CPIOWriter) File(name string, perm uint32, data []byte) error {
	name = clean(name)
	if err := c.Mkdir(path.Dir(name), 0o755); err != nil {
		return err
	}
	c.entry(name, ModeFile|perm, 0, 0, data)
	return c.err
}

// Symlink adds a symbolic link.
func (c *CPIOWriter) Symlink(name, target string) error {
	name = clean(name)
	if err := c.Mkdir(path.Dir(name), 0o755); err != nil {
		return err
	}
	c.entry(name, ModeSymlink|0o777, 0, 0, []byte(target))
	return c.err
}

// CharDev adds a character device node.
func (c *CPIOWriter) CharDev(name string, perm, major, minor uint32) error {
	name = clean(name)
	if err := c.Mkdir(path.Dir(name), 0o755); err != nil {
		return err
	}
	c.entry(name, ModeChar|perm, major, minor, nil)
	return c.err
}

// Close writes the trailer.
func (c *CPIOWriter) Close() error {
	c.entry("TRAILER!!!", 0, 0, 0, nil)
	return c.err
}
