package vm

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ulikunitz/xz"
)

// Debian kernel .debs (6.1.176, 6.12.107, 7.2.13, checked 2026-11) carry
// data.tar.xz; dpkg also allows .gz, .zst and plain tar. xz and gzip are
// read in pure Go; zstd is refused with a clear error (no package uses it).

// arMember is one member of an ar archive.
type arMember struct {
	Name string
	Data []byte
}

// readAr reads a System V / GNU ar archive (the .deb container, deb(5)).
func readAr(r io.Reader) ([]arMember, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, 8)
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != "!<arch>\n" {
		return nil, fmt.Errorf("not an ar archive (bad magic)")
	}
	var out []arMember
	hdr := make([]byte, 60)
	for {
		_, err := io.ReadFull(br, hdr)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("ar header: %w", err)
		}
		if string(hdr[58:60]) != "`\n" {
			return out, fmt.Errorf("ar header: bad terminator")
		}
		name := strings.TrimRight(strings.TrimSpace(string(hdr[0:16])), "/")
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil || size < 0 || size > 1<<31 {
			return out, fmt.Errorf("ar member %q: bad size", name)
		}
		data := make([]byte, size)
		if _, err := io.ReadFull(br, data); err != nil {
			return out, fmt.Errorf("ar member %q: %w", name, err)
		}
		if size%2 == 1 {
			if _, err := br.ReadByte(); err != nil && err != io.EOF {
				return out, err
			}
		}
		out = append(out, arMember{name, data})
	}
}

// decompress picks a decompressor by magic bytes.
func decompress(b []byte) (io.Reader, error) {
	switch {
	case bytes.HasPrefix(b, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return xz.NewReader(bytes.NewReader(b))
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return gzip.NewReader(bytes.NewReader(b))
	case bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return nil, errors.New("zstd-compressed data is not supported (Debian kernel packages use xz); unpack with dpkg-deb -x and use --kernel bzImage --modules DIR")
	}
	return bytes.NewReader(b), nil
}

// ExtractDeb unpacks a .deb's data archive into dir (regular files,
// directories and symlinks; nothing escapes dir).
func ExtractDeb(debPath, dir string) error {
	f, err := os.Open(debPath)
	if err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	defer f.Close()
	ms, err := readAr(f)
	if err != nil {
		return fmt.Errorf("extract %s: %w", debPath, err)
	}
	for _, m := range ms {
		if !strings.HasPrefix(m.Name, "data.tar") {
			continue
		}
		r, err := decompress(m.Data)
		if err != nil {
			return fmt.Errorf("extract %s: %s: %w", debPath, m.Name, err)
		}
		if err := untar(r, dir); err != nil {
			return fmt.Errorf("extract %s: %s: %w", debPath, m.Name, err)
		}
		return nil
	}
	return fmt.Errorf("extract %s: no data.tar member", debPath)
}

func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean("/" + h.Name)
		dst := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(h.Mode&0o777)|0o200)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			os.Remove(dst)
			if err := os.Symlink(h.Linkname, dst); err != nil {
				return err
			}
		}
	}
}
