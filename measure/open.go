package measure

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/imasim/imasim/internal/input"
)

// OpenOptions say what OpenList must not detect by itself.
type OpenOptions struct {
	// Order is the byte order of a binary list: "auto" or "" (detect), "le", "be".
	Order string
	// Bank is the template digest bank of the file by name; "" takes it
	// from a "_ALG" file name suffix, else leaves it to the reader.
	Bank string
}

// ListFile is a list opened by OpenList: binary or ASCII, read entry by
// entry. Read errors name the file.
type ListFile struct {
	rd    EntryReader
	bin   *Reader // nil for ASCII
	bank  Algo
	ascii bool
	f     io.Closer
	base  int64 // byte offset the binary reader started at (after a resume seek)
}

// ErrEmptyList: a kernel's list always starts with boot_aggregate.
var ErrEmptyList = errors.New("not an IMA list: empty input (a kernel's measurement list starts with boot_aggregate)")

// OpenList opens path ("-" for stdin, through internal/input so Ctrl-C
// gives way on a FIFO), telling binary from ASCII by its first bytes.
func OpenList(ctx context.Context, path string, o OpenOptions) (*ListFile, error) {
	order, err := ParseOrder(o.Order, true)
	if err != nil {
		return nil, err
	}
	bank := BankFromName(path)
	if o.Bank != "" {
		if bank, err = ParseAlgo(o.Bank); err != nil {
			return nil, err
		}
	}
	f, err := input.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	l := &ListFile{bank: bank, f: f}
	br := bufio.NewReaderSize(f, 64<<10)
	head, _ := br.Peek(4)
	if len(head) == 0 {
		f.Close()
		return nil, ErrEmptyList
	}
	if LooksASCII(head) {
		l.ascii = true
		l.rd = namedReader{NewASCIIReader(br, ReadOptions{Order: order, Bank: bank}), path}
	} else {
		l.bin = NewReader(br, ReadOptions{Order: order, Bank: bank})
		l.rd = namedReader{l.bin, path}
	}
	return l, nil
}

// Next returns the next entry, io.EOF after the last.
func (l *ListFile) Next() (*Entry, error) { return l.rd.Next() }

// Bank is the file's template digest bank (0: left to the reader).
func (l *ListFile) Bank() Algo { return l.bank }

// ASCII tells whether the file is an ASCII list.
func (l *ListFile) ASCII() bool { return l.ascii }

// Close closes the file.
func (l *ListFile) Close() error { return l.f.Close() }

// State is rp's checkpoint after the entries read so far, with the byte
// offset and order of a binary list (offset 0 for ASCII).
func (l *ListFile) State(rp *Replayer) State {
	if l.bin == nil {
		return rp.State(0)
	}
	st := rp.State(l.base + l.bin.Offset())
	st.Order = OrderName(l.bin.Order())
	return st
}

// Resume loads a saved state into rp and positions the list after the
// entries it covers: by seeking a binary file, else by skipping entries.
func (l *ListFile) Resume(st State, rp *Replayer) error {
	if err := rp.Resume(st); err != nil {
		return err
	}
	type seekFile interface {
		io.ReadSeeker
		Stat() (os.FileInfo, error)
	}
	if f, ok := l.f.(seekFile); ok && l.bin != nil && st.Offset > 0 {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() < st.Offset {
			return fmt.Errorf("list has %d bytes, fewer than the saved state's %d", fi.Size(), st.Offset)
		}
		if _, err := f.Seek(st.Offset, io.SeekStart); err == nil {
			order, _ := ParseOrder(st.Order, false)
			if order == nil {
				order = binary.LittleEndian
			}
			l.bin = NewReader(f, ReadOptions{Order: order, Bank: l.bank})
			l.rd = l.bin
			l.base = st.Offset
			return nil
		}
	}
	for i := 0; i < st.Entries; i++ {
		if _, err := l.rd.Next(); err != nil {
			if err == io.EOF {
				err = fmt.Errorf("list has fewer entries than the saved state's %d", st.Entries)
			}
			return err
		}
	}
	return nil
}

// ParseOrder parses a byte order name: le (little, also
// ima_canonical_fmt), be (big), or with allowAuto "auto"/"" for nil
// (detect).
func ParseOrder(s string, allowAuto bool) (binary.ByteOrder, error) {
	switch s {
	case "le", "little":
		return binary.LittleEndian, nil
	case "be", "big":
		return binary.BigEndian, nil
	case "auto", "":
		if allowAuto {
			return nil, nil
		}
	}
	return nil, fmt.Errorf("bad byte order %q (want le|be%s)", s, map[bool]string{true: "|auto"}[allowAuto])
}

// OrderName is the name ParseOrder reads back: "be" or "le".
func OrderName(o binary.ByteOrder) string {
	if o == binary.BigEndian {
		return "be"
	}
	return "le"
}

// BankFromName infers the digest bank from a "_<algo>" file name suffix
// (ascii_runtime_measurements_sha256); 0 when there is none.
func BankFromName(path string) Algo {
	base := filepath.Base(path)
	if i := strings.LastIndexByte(base, '_'); i >= 0 {
		if a, err := ParseAlgo(base[i+1:]); err == nil {
			return a
		}
	}
	return 0
}

// LooksASCII tells an ASCII list ("10 ab12…", " 9 …") from a binary one,
// whose first u32 is a PCR index below 24 in either byte order.
func LooksASCII(head []byte) bool {
	if len(head) < 4 {
		return len(head) > 0 && (head[0] == ' ' || head[0] >= '0' && head[0] <= '9')
	}
	le, be := binary.LittleEndian.Uint32(head), binary.BigEndian.Uint32(head)
	if le < NumPCRs || be < NumPCRs {
		return false
	}
	return head[0] == ' ' || head[0] >= '0' && head[0] <= '9'
}

// namedReader prefixes read errors with the list's file name.
type namedReader struct {
	EntryReader
	name string
}

func (n namedReader) Next() (*Entry, error) {
	e, err := n.EntryReader.Next()
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: %w", n.name, err)
	}
	return e, err
}

// WriteBinary writes entries read from r as a binary list.
func WriteBinary(w io.Writer, r EntryReader, opt WriteOptions) error {
	bw := NewWriter(w, opt)
	for {
		e, err := r.Next()
		if err == io.EOF {
			return bw.Flush()
		}
		if err != nil {
			return err
		}
		if err := bw.Write(e); err != nil {
			return err
		}
	}
}
