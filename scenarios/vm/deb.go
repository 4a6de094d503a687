package vm

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/ulikunitz/xz"
)

// Debian kernel .debs (6.1.176, 6.12.107, 7.2.13, checked 2026-11) carry
// data.tar.xz; dpkg also allows .gz, .zst and plain tar. xz and gzip are
// read in pure Go; zstd is refused with a clear error (no package uses it).

// A package is not trusted (issue 16): ar member sizes are checked
// against what is left of the file and streamed, never allocated; tar
// entries are written through an os.Root (nothing leaves the directory),
// never through a symlink, and within these limits.
var (
	maxDebEntry   int64 = 512 << 20 // bytes in one unpacked file (a vmlinuz is ~10 MiB)
	maxDebTotal   int64 = 4 << 30   // bytes unpacked from one .deb (Debian 6.1: 106 MiB)
	maxDebEntries       = 200000    // entries in one data.tar
)

// arMember is one member of an ar archive.
type arMember struct {
	Name string
	Data []byte
}

// arReader reads a System V / GNU ar archive (the .deb container,
// deb(5)) member by member.
type arReader struct {
	br   *bufio.Reader
	left int64 // bytes after the current position, -1 when unknown
	cur  io.Reader
	pad  bool
}

func newArReader(r io.Reader, size int64) (*arReader, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, 8)
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != "!<arch>\n" {
		return nil, fmt.Errorf("not an ar archive (bad magic)")
	}
	if size >= 0 {
		size -= 8
	}
	return &arReader{br: br, left: size}, nil
}

// next returns the next member's name, size and data (valid until the
// following call), or io.EOF.
func (a *arReader) next() (string, int64, io.Reader, error) {
	if a.cur != nil {
		if _, err := io.Copy(io.Discard, a.cur); err != nil {
			return "", 0, nil, err
		}
	}
	if a.pad {
		if _, err := a.br.ReadByte(); err != nil && err != io.EOF {
			return "", 0, nil, err
		}
		a.left--
	}
	hdr := make([]byte, 60)
	_, err := io.ReadFull(a.br, hdr)
	if err == io.EOF {
		return "", 0, nil, io.EOF
	}
	if err != nil {
		return "", 0, nil, fmt.Errorf("ar header: %w", err)
	}
	a.left -= 60
	if string(hdr[58:60]) != "`\n" {
		return "", 0, nil, fmt.Errorf("ar header: bad terminator")
	}
	name := strings.TrimRight(strings.TrimSpace(string(hdr[0:16])), "/")
	size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
	if err != nil || size < 0 || (a.left >= 0 && size > a.left) {
		return "", 0, nil, fmt.Errorf("ar member %q: bad size %q (%d bytes left in the file)", name, strings.TrimSpace(string(hdr[48:58])), a.left)
	}
	a.left -= size
	a.cur, a.pad = &exactReader{r: io.LimitReader(a.br, size), n: size, name: name}, size%2 == 1
	return name, size, a.cur, nil
}

// exactReader fails when its member ends before its announced size.
type exactReader struct {
	r    io.Reader
	n    int64
	name string
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.n -= int64(n)
	if err == io.EOF && e.n > 0 {
		return n, fmt.Errorf("ar member %q: %w", e.name, io.ErrUnexpectedEOF)
	}
	return n, err
}

// readAr reads a whole ar archive into memory, each member bounded by
// limit bytes (tests and fuzzing; ExtractDeb streams).
func readAr(r io.Reader, limit int64) ([]arMember, error) {
	a, err := newArReader(r, -1)
	if err != nil {
		return nil, err
	}
	var out []arMember
	for {
		name, size, mr, err := a.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if size > limit {
			return out, fmt.Errorf("ar member %q: %d bytes, over the limit of %d", name, size, limit)
		}
		b, err := io.ReadAll(mr)
		if err != nil {
			return out, err
		}
		out = append(out, arMember{name, b})
	}
}

// decompress picks a decompressor by magic bytes.
func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	b, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(b, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return xz.NewReader(br)
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return gzip.NewReader(br)
	case bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return nil, errors.New("zstd-compressed data is not supported (Debian kernel packages use xz); unpack with dpkg-deb -x and use --kernel bzImage --modules DIR")
	}
	return br, nil
}

// ExtractDeb unpacks a .deb's data archive into dir: directories, regular
// files, symlinks and hard links that stay inside dir. An entry that would
// leave dir, or goes past a size limit, is an error (ErrUsage).
func ExtractDeb(debPath, dir string) error {
	return ExtractDebContext(context.Background(), debPath, dir)
}

// ExtractDebContext is ExtractDeb stopping when ctx is done.
func ExtractDebContext(ctx context.Context, debPath, dir string) error {
	f, err := os.Open(debPath)
	if err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	a, err := newArReader(f, fi.Size())
	if err != nil {
		return fmt.Errorf("%w: extract %s: %v", ErrUsage, debPath, err)
	}
	for {
		name, _, mr, err := a.next()
		if err == io.EOF {
			return fmt.Errorf("%w: extract %s: no data.tar member", ErrUsage, debPath)
		}
		if err != nil {
			return fmt.Errorf("%w: extract %s: %v", ErrUsage, debPath, err)
		}
		if !strings.HasPrefix(name, "data.tar") {
			continue
		}
		r, err := decompress(mr)
		if err != nil {
			return fmt.Errorf("%w: extract %s: %s: %v", ErrUsage, debPath, name, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("extract: %w", err)
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			return fmt.Errorf("extract: %w", err)
		}
		defer root.Close()
		if err := untar(ctx, r, root); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("extract %s: %w", debPath, err)
			}
			return fmt.Errorf("%w: extract %s: %s: %v", ErrUsage, debPath, name, err)
		}
		return nil
	}
}

// untar writes a tar stream into root. Every entry's parent must be a
// real directory (no entry is placed through a symlink), a directory is
// never replaced, and a symlink's target must be relative with its ".."
// only in front and no more of them than the link is deep: with parents
// that are real directories, every symlink then resolves inside root
// however they chain. Hard links name an existing regular file in root.
func untar(ctx context.Context, r io.Reader, root *os.Root) error {
	tr := tar.NewReader(r)
	var total int64
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if n >= maxDebEntries {
			return fmt.Errorf("more than %d entries (limit)", maxDebEntries)
		}
		rel, err := entryPath(h.Name)
		if err != nil {
			return err
		}
		if rel == "." {
			continue
		}
		if err := realParents(root, rel); err != nil {
			return err
		}
		if h.Typeflag != tar.TypeDir {
			if err := replaceable(root, rel); err != nil {
				return err
			}
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if fi, err := root.Lstat(rel); err == nil && !fi.IsDir() {
				if err := root.Remove(rel); err != nil {
					return err
				}
			}
			if err := root.MkdirAll(rel, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if h.Size > maxDebEntry || total+h.Size > maxDebTotal {
				return fmt.Errorf("%s: %d bytes, over the limit of %d per file and %d per package", h.Name, h.Size, maxDebEntry, maxDebTotal)
			}
			total += h.Size
			if err := root.MkdirAll(path.Dir(rel), 0o755); err != nil {
				return err
			}
			out, err := root.OpenFile(rel, os.O_CREATE|os.O_EXCL|os.O_WRONLY, os.FileMode(h.Mode&0o777)|0o200)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr) // tar.Reader stops at h.Size
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := linkInside(rel, h.Linkname); err != nil {
				return err
			}
			if err := root.MkdirAll(path.Dir(rel), 0o755); err != nil {
				return err
			}
			if err := root.Symlink(h.Linkname, rel); err != nil {
				return err
			}
		case tar.TypeLink:
			old, err := entryPath(h.Linkname)
			if err != nil {
				return err
			}
			if err := realParents(root, old); err != nil {
				return err
			}
			if fi, err := root.Lstat(old); err != nil || !fi.Mode().IsRegular() {
				return fmt.Errorf("%s: hard link to %q, which is not a regular file in the package", h.Name, h.Linkname)
			}
			if err := root.MkdirAll(path.Dir(rel), 0o755); err != nil {
				return err
			}
			if err := root.Link(old, rel); err != nil {
				return err
			}
		}
	}
}

// entryPath is a tar name as a clean path relative to the root ("." for
// the root itself); ".." cannot climb above the root.
func entryPath(name string) (string, error) {
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("bad entry name %q", name)
	}
	rel := strings.TrimPrefix(path.Clean("/"+name), "/")
	if rel == "" {
		rel = "."
	}
	return rel, nil
}

// realParents checks that every parent of rel in root is a directory, not
// a symlink (missing ones are created as directories).
func realParents(root *os.Root, rel string) error {
	p := ""
	for _, c := range strings.Split(path.Dir(rel), "/") {
		if c == "." {
			break
		}
		p = path.Join(p, c)
		fi, err := root.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s: its parent %s is not a directory (a symlink?); not placing anything through it", rel, p)
		}
	}
	return nil
}

// replaceable removes what is at rel unless it is a directory.
func replaceable(root *os.Root, rel string) error {
	fi, err := root.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s: replaces a directory", rel)
	}
	return root.Remove(rel)
}

// linkInside checks a symlink's target: relative, its ".." only leading
// and no more of them than rel has parents.
func linkInside(rel, target string) error {
	bad := func(why string) error {
		return fmt.Errorf("%s: symlink to %q %s; it would lead out of the package", rel, target, why)
	}
	if target == "" || strings.IndexByte(target, 0) >= 0 {
		return bad("is empty or has a NUL")
	}
	if path.IsAbs(target) {
		return bad("is absolute")
	}
	depth := strings.Count(rel, "/")
	up, down := 0, false
	for _, c := range strings.Split(target, "/") {
		switch c {
		case "", ".":
		case "..":
			if down {
				return bad("climbs after descending (through a symlink it could leave)")
			}
			up++
		default:
			down = true
		}
	}
	if up > depth {
		return bad("climbs above the root")
	}
	return nil
}
