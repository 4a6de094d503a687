package measure

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
)

// AppendASCII appends e as one line of ascii_runtime_measurements (or of
// the "_<algo>" file for bank; 0 means e's own digest bank, SHA-1 unless it
// was read from a per-bank file), byte for byte as
// Linux v6.12: ima_fs.c:ima_ascii_measurements_show prints it: "%2d" PCR,
// template digest in hex, template name, then each field after a space —
// an empty field leaves just the space.
func AppendASCII(dst []byte, e *Entry, bank Algo) []byte {
	if bank == 0 {
		bank = e.digestAlgo()
	}
	if e.PCR < 10 && e.PCR >= 0 {
		dst = append(dst, ' ')
	}
	dst = strconv.AppendInt(dst, int64(e.PCR), 10)
	dst = append(dst, ' ')
	dst = hex.AppendEncode(dst, e.digestFor(bank, e.order()))
	dst = append(dst, ' ')
	dst = append(dst, e.Template.ListName()...)
	for i, f := range e.Template.Fields {
		dst = append(dst, ' ')
		if len(e.Fields[i]) == 0 {
			continue
		}
		dst = appendField(dst, f, e.Fields[i], e.order())
	}
	return append(dst, '\n')
}

// appendField renders one field as
// Linux v6.12: ima_template_lib.c:ima_show_template_data_ascii does.
func appendField(dst []byte, f Field, data []byte, o binary.ByteOrder) []byte {
	switch f.Show {
	case ShowDigestNG:
		s := cstring(data)
		i := bytes.LastIndexByte(s, ':')
		if i < 0 { // not kernel-made; show it all as hex
			return hex.AppendEncode(dst, data)
		}
		if i > 0 {
			dst = append(dst, s...)
		}
		if i+2 < len(data) {
			dst = hex.AppendEncode(dst, data[i+2:])
		}
		return dst
	case ShowDigest, ShowHex:
		return hex.AppendEncode(dst, data)
	case ShowString:
		return append(dst, cstring(data)...)
	case ShowUint:
		switch len(data) {
		case 1:
			return strconv.AppendUint(dst, uint64(data[0]), 10)
		case 2:
			return strconv.AppendUint(dst, uint64(o.Uint16(data)), 10)
		case 4:
			return strconv.AppendUint(dst, uint64(o.Uint32(data)), 10)
		case 8:
			return strconv.AppendUint(dst, o.Uint64(data), 10)
		}
	}
	return dst
}

// WriteASCII writes entries read from r as an ASCII list with template
// digests of bank (0: each entry's own).
func WriteASCII(w io.Writer, r EntryReader, bank Algo) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	for {
		e, err := r.Next()
		if err == io.EOF {
			return bw.Flush()
		}
		if err != nil {
			bw.Flush()
			return err
		}
		line = AppendASCII(line[:0], e, bank)
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
}

// ASCIIReader parses ascii_runtime_measurements. The ASCII form loses
// information the binary form keeps (bytes after a NUL in a name, a newline
// in a name, the byte order): it rebuilds each field as the kernel would have
// stored it, in ReadOptions.Order (little-endian by default).
type ASCIIReader struct {
	sc    *bufio.Scanner
	opt   ReadOptions
	line  int
	n     int
	err   error
	cache templateCache
}

// NewASCIIReader returns a reader for an ASCII list.
func NewASCIIReader(r io.Reader, opt ReadOptions) *ASCIIReader {
	if opt.Order == nil {
		opt.Order = binary.LittleEndian
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 2*opt.maxData()+1024)
	return &ASCIIReader{sc: sc, opt: opt, cache: templateCache{}}
}

// Count returns the number of entries returned so far.
func (r *ASCIIReader) Count() int { return r.n }

func (r *ASCIIReader) fail(err error) error {
	r.err = &ParseError{Offset: int64(r.line), Line: true, Entry: r.n, Err: err}
	return r.err
}

// Next returns the next entry (a fresh one each call), io.EOF at the end,
// or a *ParseError naming the line.
func (r *ASCIIReader) Next() (*Entry, error) {
	if r.err != nil {
		return nil, r.err
	}
	if !r.sc.Scan() {
		if err := r.sc.Err(); err != nil {
			r.line++
			return nil, r.fail(fmt.Errorf("%w: %v", ErrTooLong, err))
		}
		r.err = io.EOF
		return nil, io.EOF
	}
	r.line++
	e, err := r.parse(r.sc.Bytes())
	if err != nil {
		return nil, r.fail(err)
	}
	r.n++
	return e, nil
}

func (r *ASCIIReader) parse(line []byte) (*Entry, error) {
	if bytes.IndexByte(line, 0) >= 0 {
		// The kernel prints C strings: a NUL cannot appear.
		return nil, fmt.Errorf("%w: NUL byte in line", ErrSyntax)
	}
	line = bytes.TrimLeft(line, " ")
	tok := bytes.Split(line, []byte{' '})
	if len(tok) < 3 {
		return nil, fmt.Errorf("%w: want PCR, digest and template name, got %d columns", ErrSyntax, len(tok))
	}
	pcr, err := strconv.Atoi(string(tok[0]))
	if err != nil || pcr < 0 || pcr >= NumPCRs {
		return nil, fmt.Errorf("%w: %q", ErrBadPCR, tok[0])
	}
	digest, err := hex.DecodeString(string(tok[1]))
	if err != nil {
		return nil, fmt.Errorf("%w: template digest %q: %v", ErrSyntax, tok[1], err)
	}
	bank := r.opt.Bank
	if bank == 0 {
		var ok bool
		if bank, ok = AlgoForSize(len(digest)); !ok && len(digest) == 32 {
			bank = SHA256
		}
	}
	if bank == 0 || len(digest) != bank.Size() {
		return nil, fmt.Errorf("%w: template digest of %d bytes", ErrSyntax, len(digest))
	}
	t, err := r.cache.lookup(tok[2])
	if err != nil {
		return nil, err
	}
	if got := len(tok) - 3; got != len(t.Fields) {
		return nil, fmt.Errorf("%w: template %s has %d fields, line has %d", ErrFields, t.ListName(), len(t.Fields), got)
	}
	e := &Entry{PCR: pcr, Digest: digest, DigestAlgo: bank, Template: t, Order: r.opt.Order,
		Fields: make([][]byte, len(t.Fields))}
	for i, f := range t.Fields {
		v, err := parseField(f, tok[3+i], t.IsIMA(), r.opt.Order)
		if err != nil {
			return nil, fmt.Errorf("field %d (%s): %w", i+1, f.ID, err)
		}
		e.Fields[i] = v
	}
	if t.IsIMA() && ((len(e.Fields[0]) != 20 && len(e.Fields[0]) != 16) || len(e.Fields[1]) > MaxEventName) {
		return nil, fmt.Errorf("%w: ima template needs a 20-byte (sha1) or 16-byte (md5) digest and a name of at most %d bytes", ErrFields, MaxEventName)
	}
	return e, nil
}

// parseField inverts appendField.
func parseField(f Field, s []byte, ima bool, o binary.ByteOrder) ([]byte, error) {
	if len(s) == 0 {
		return []byte{}, nil
	}
	switch f.Show {
	case ShowDigestNG:
		i := bytes.LastIndexByte(s, ':')
		d, err := hex.DecodeString(string(s[i+1:]))
		if err != nil {
			return nil, fmt.Errorf("%w: digest: %v", ErrSyntax, err)
		}
		b := make([]byte, 0, len(s)+2)
		b = append(b, s[:i+1]...)
		if i < 0 {
			b = append(b, ':')
		}
		b = append(b, 0)
		return append(b, d...), nil
	case ShowDigest, ShowHex:
		d, err := hex.DecodeString(string(s))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		return d, nil
	case ShowString:
		b := bytes.Clone(s)
		// the kernel keeps these NUL-terminated; xattrnames ends in the
		// last name's NUL (Linux v7.2.13: evm_read_protected_xattrs)
		if (f.ID == "n" && !ima) || f.ID == "n-ng" || f.ID == "xattrnames" {
			b = append(b, 0)
		}
		return b, nil
	case ShowUint:
		size := f.Size
		if size == 0 {
			size = 4
		}
		v, err := strconv.ParseUint(string(s), 10, size*8)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		var b [8]byte
		switch size {
		case 2:
			o.PutUint16(b[:], uint16(v))
		case 4:
			o.PutUint32(b[:], uint32(v))
		default:
			o.PutUint64(b[:], v)
		}
		return bytes.Clone(b[:size]), nil
	}
	return bytes.Clone(s), nil
}

// FieldText returns field i of e as the ASCII list shows it ("" for an
// empty field).
func (e *Entry) FieldText(i int) string {
	return string(appendField(nil, e.Template.Fields[i], e.Fields[i], e.order()))
}

// DigestIn returns e's template digest as a list of bank a shows it: the
// stored digest when it is of that bank, zero for a violation, else the
// template hash computed with a.
func (e *Entry) DigestIn(a Algo) []byte {
	if a == 0 {
		a = SHA1
	}
	return e.digestFor(a, e.order())
}
