package measure

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// DefaultMaxDataLen bounds one entry's template data unless
// ReadOptions.MaxDataLen says otherwise.
const DefaultMaxDataLen = 1 << 20

// ReadOptions configure a Reader or ASCIIReader.
type ReadOptions struct {
	// Order forces the byte order of binary lists; nil detects it from the
	// first entry (PCR < 24 and a sane template name length).
	Order binary.ByteOrder
	// Bank is the algorithm of the template digests in the file: SHA1 for
	// the legacy files, the suffix's algorithm for "*_<algo>" files. 0
	// means SHA1 for binary lists and "infer from the digest length" for
	// ASCII lists.
	Bank Algo
	// MaxDataLen bounds one entry's template data (DefaultMaxDataLen if 0).
	MaxDataLen int
}

func (o *ReadOptions) maxData() int {
	if o.MaxDataLen > 0 {
		return o.MaxDataLen
	}
	return DefaultMaxDataLen
}

// EntryReader yields list entries; Next returns io.EOF after the last one.
type EntryReader interface {
	Next() (*Entry, error)
}

const hdrMax = 4 + MaxDigestSize + 4

// Reader streams entries from a binary_runtime_measurements file, as
// written by Linux v6.12: ima_fs.c:ima_measurements_show. Memory stays
// bounded by the largest entry.
type Reader struct {
	br    *bufio.Reader
	opt   ReadOptions
	order binary.ByteOrder
	dsize int
	off   int64
	n     int
	err   error

	e      Entry
	hdr    [hdrMax + 4]byte // entry header, then the data length
	name   []byte
	data   []byte
	fields [][]byte
	cache  templateCache
	tname  string
}

// NewReader returns a Reader for the binary list r.
func NewReader(r io.Reader, opt ReadOptions) *Reader {
	if opt.Bank == 0 {
		opt.Bank = SHA1
	}
	return &Reader{
		br:    bufio.NewReaderSize(r, 64<<10),
		opt:   opt,
		order: opt.Order,
		dsize: opt.Bank.Size(),
		name:  make([]byte, 0, 64),
		cache: templateCache{},
	}
}

// Order returns the byte order in use (nil before the first entry when
// detecting).
func (r *Reader) Order() binary.ByteOrder { return r.order }

// Offset returns the byte offset after the last entry returned.
func (r *Reader) Offset() int64 { return r.off }

// Count returns the number of entries returned so far.
func (r *Reader) Count() int { return r.n }

// Skip consumes n entries without returning them (used to resume a replay).
func (r *Reader) Skip(n int) error {
	for i := 0; i < n; i++ {
		if _, err := r.Next(); err != nil {
			return err
		}
	}
	return nil
}

func (r *Reader) fail(start int64, err error) error {
	r.err = &ParseError{Offset: start, Entry: r.n, Err: err}
	return r.err
}

// detect chooses the byte order from the first entry's PCR and template
// name length.
func (r *Reader) detect(start int64) error {
	need := 4 + r.dsize + 4
	b, err := r.br.Peek(need)
	if len(b) == 0 && err == io.EOF {
		r.order = binary.LittleEndian
		return nil
	}
	if len(b) < need {
		return r.fail(start, fmt.Errorf("%w: %d of %d header bytes", ErrTruncated, len(b), need))
	}
	ok := func(o binary.ByteOrder) bool {
		n := o.Uint32(b[4+r.dsize:])
		return o.Uint32(b) < NumPCRs && n > 0 && n <= MaxTemplateLen
	}
	switch {
	case ok(binary.LittleEndian):
		r.order = binary.LittleEndian
	case ok(binary.BigEndian):
		r.order = binary.BigEndian
	default:
		return r.fail(start, fmt.Errorf("%w: PCR %d and name length %d are implausible in either order (not a binary list, or a wrong digest bank?)",
			ErrByteOrder, binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4+r.dsize:])))
	}
	return nil
}

func (r *Reader) readFull(b []byte) (int, error) {
	n, err := io.ReadFull(r.br, b)
	r.off += int64(n)
	return n, err
}

// readN reads n bytes into buf, growing it in steps so that a lying length
// in a short file cannot force a large allocation.
func (r *Reader) readN(buf []byte, n int) ([]byte, error) {
	buf = buf[:0]
	for len(buf) < n {
		c := min(n-len(buf), 64<<10)
		buf = slices.Grow(buf, c)
		m, err := r.readFull(buf[len(buf) : len(buf)+c])
		buf = buf[:len(buf)+m]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

func truncated(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: reading %s", ErrTruncated, what)
	}
	return fmt.Errorf("reading %s: %w", what, err)
}

// Next returns the next entry, io.EOF after the last, or a *ParseError.
// After an error Next keeps returning it.
func (r *Reader) Next() (*Entry, error) {
	if r.err != nil {
		return nil, r.err
	}
	start := r.off
	if r.order == nil {
		if err := r.detect(start); err != nil {
			return nil, err
		}
	}
	o := r.order
	hl := 4 + r.dsize + 4
	n, err := r.readFull(r.hdr[:hl])
	if n == 0 && err == io.EOF {
		r.err = io.EOF
		return nil, io.EOF
	}
	if err != nil {
		return nil, r.fail(start, truncated(err, "entry header"))
	}
	pcr := o.Uint32(r.hdr[:])
	if pcr >= NumPCRs {
		return nil, r.fail(start, fmt.Errorf("%w: %d", ErrBadPCR, pcr))
	}
	nl := o.Uint32(r.hdr[4+r.dsize:])
	if nl == 0 || nl > MaxTemplateLen {
		return nil, r.fail(start, fmt.Errorf("%w: template name length %d (max %d)", ErrTooLong, nl, MaxTemplateLen))
	}
	if r.name, err = r.readN(r.name, int(nl)); err != nil {
		return nil, r.fail(start, truncated(err, "template name"))
	}
	t := r.e.Template
	if t == nil || string(r.name) != r.tname {
		if t, err = r.cache.lookup(r.name); err != nil {
			return nil, r.fail(start, err)
		}
		r.tname = string(r.name)
	}
	if cap(r.fields) < len(t.Fields) {
		r.fields = make([][]byte, len(t.Fields))
	}
	r.fields = r.fields[:len(t.Fields)]
	if t.IsIMA() {
		err = r.readIMA(start)
	} else {
		err = r.readData(start, t)
	}
	if err != nil {
		return nil, err
	}
	r.e = Entry{
		PCR:        int(pcr),
		Digest:     r.hdr[4 : 4+r.dsize],
		DigestAlgo: r.opt.Bank,
		Template:   t,
		Fields:     r.fields,
		Order:      o,
		raw:        r.data,
	}
	r.n++
	return &r.e, nil
}

// readIMA reads the legacy template's data: the digest, u32 name length,
// name (Linux v6.12: ima_fs.c:ima_measurements_show with
// IMA_SHOW_BINARY_NO_FIELD_LEN and IMA_SHOW_BINARY_OLD_STRING_FMT). The
// digest has no length: 20 bytes, or 16 on a kernel booted with
// ima_hash=md5 (ima_template_lib.c:ima_eventdigest_init writes it as it
// is; testdata/vm/lists/7.2-ima-md5). A name's first bytes read as a length
// exceed MaxEventName (its bytes are printable), so when the 20-byte
// reading gives no valid length and the 16-byte one does, it is md5.
func (r *Reader) readIMA(start int64) error {
	dl := 20
	if p, _ := r.br.Peek(24); len(p) >= 20 && r.order.Uint32(p[16:]) <= MaxEventName &&
		(len(p) < 24 || r.order.Uint32(p[20:]) > MaxEventName) {
		dl = 16
	}
	var err error
	if r.data, err = r.readN(r.data, dl+4); err != nil {
		return r.fail(start, truncated(err, "ima template digest"))
	}
	nl := int(r.order.Uint32(r.data[dl:]))
	if nl > MaxEventName {
		return r.fail(start, fmt.Errorf("%w: ima template name length %d (max %d)", ErrTooLong, nl, MaxEventName))
	}
	r.data = slices.Grow(r.data, nl)
	if _, err := r.readFull(r.data[dl+4 : dl+4+nl]); err != nil {
		return r.fail(start, truncated(err, "ima template name"))
	}
	r.data = r.data[:dl+4+nl]
	r.fields[0] = r.data[:dl:dl]
	r.fields[1] = r.data[dl+4 : dl+4+nl : dl+4+nl]
	return nil
}

func (r *Reader) readData(start int64, t *Template) error {
	lb := r.hdr[hdrMax:]
	if _, err := r.readFull(lb); err != nil {
		return r.fail(start, truncated(err, "template data length"))
	}
	dl := r.order.Uint32(lb)
	if uint64(dl) > uint64(r.opt.maxData()) {
		return r.fail(start, fmt.Errorf("%w: template data length %d (max %d)", ErrTooLong, dl, r.opt.maxData()))
	}
	var err error
	if r.data, err = r.readN(r.data, int(dl)); err != nil {
		return r.fail(start, truncated(err, "template data"))
	}
	if err := splitFields(r.data, r.order, r.fields); err != nil {
		return r.fail(start, fmt.Errorf("template %s: %w", t.ListName(), err))
	}
	return nil
}

// splitFields splits template data into len(out) fields, requiring the
// count and the end to match (Linux v6.12: ima_template_lib.c:ima_parse_buf
// with ENFORCE_FIELDS|ENFORCE_BUFEND).
func splitFields(data []byte, o binary.ByteOrder, out [][]byte) error {
	p := 0
	for i := range out {
		if len(data)-p < 4 {
			return fmt.Errorf("%w: field %d of %d: no length", ErrFields, i+1, len(out))
		}
		l := o.Uint32(data[p:])
		p += 4
		if uint64(l) > uint64(len(data)-p) {
			return fmt.Errorf("%w: field %d of %d: length %d exceeds the %d bytes left", ErrFields, i+1, len(out), l, len(data)-p)
		}
		out[i] = data[p : p+int(l) : p+int(l)]
		p += int(l)
	}
	if p != len(data) {
		return fmt.Errorf("%w: %d bytes after the last field", ErrFields, len(data)-p)
	}
	return nil
}

// WriteOptions configure list writers.
type WriteOptions struct {
	// Order of integers in binary lists (nil: little-endian, which is also
	// ima_canonical_fmt). Entries in another order are re-serialised and
	// their digests recomputed, as a kernel of that order would hash them.
	Order binary.ByteOrder
	// Bank is the template digest algorithm of the file (0: SHA1, the legacy
	// files; else a per-bank "_<algo>" file).
	Bank Algo
}

func (o WriteOptions) norm() WriteOptions {
	if o.Order == nil {
		o.Order = binary.LittleEndian
	}
	if o.Bank == 0 {
		o.Bank = SHA1
	}
	return o
}

// Writer writes a binary measurement list.
type Writer struct {
	w   *bufio.Writer
	opt WriteOptions
	buf []byte
}

// NewWriter returns a Writer; call Flush at the end.
func NewWriter(w io.Writer, opt WriteOptions) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 64<<10), opt: opt.norm()}
}

// Write appends e in the kernel's binary format
// (Linux v6.12: ima_fs.c:ima_measurements_show).
func (w *Writer) Write(e *Entry) error {
	o := w.opt.Order
	b := w.buf[:0]
	b = appendU32(o, b, uint32(e.PCR))
	b = append(b, e.digestFor(w.opt.Bank, o)...)
	name := e.Template.ListName()
	b = appendU32(o, b, uint32(len(name)))
	b = append(b, name...)
	if e.Template.IsIMA() {
		b = e.AppendTemplateData(b, o)
	} else {
		at := len(b)
		b = append(b, 0, 0, 0, 0)
		b = e.AppendTemplateData(b, o)
		o.PutUint32(b[at:], uint32(len(b)-at-4))
	}
	w.buf = b
	_, err := w.w.Write(b)
	return err
}

// Flush writes buffered data.
func (w *Writer) Flush() error { return w.w.Flush() }
