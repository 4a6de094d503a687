package audit

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/bits"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Options tune a Scanner; the zero value is the default.
type Options struct {
	// MaxLine bounds the bytes kept of one input line (default 1 MiB);
	// longer lines are cut and reported as LongLine evidence.
	MaxLine int
	// NoSerialGaps turns serial-gap evidence off, for logs known to be
	// filtered (e.g. `ausearch -m INTEGRITY_RULE --raw`).
	NoSerialGaps bool
	// Marker, when set, makes the Scanner also yield the non-record lines
	// that contain it (from the marker to the end of the line) as records
	// with Type 0 and Record.Marker set — e.g. step markers a test harness
	// wrote to /dev/kmsg between operations.
	Marker string
}

// Stats counts what a Scanner read.
type Stats struct {
	Lines int `json:"lines"`
	// Records counts the integrity records yielded.
	Records int `json:"records"`
	// ByType counts the yielded records per type.
	ByType map[Type]int `json:"by_type"`
	// OtherAudit counts audit records of other types (not yielded).
	OtherAudit int `json:"other_audit"`
	// Skipped counts lines that are not integrity records.
	Skipped int `json:"skipped"`
	// Recognized counts lines in a known log form (audit record, kmsg,
	// journal JSON, printk timestamp, ausearch separator).
	Recognized int `json:"recognized"`
	// Duplicates counts integrity records seen twice (same type, serial
	// and text — e.g. journald storing both the kernel and the audit copy).
	Duplicates int `json:"duplicates"`
	// Joined counts wrapped continuation lines appended to a record.
	Joined int `json:"joined"`
	// Markers counts marker lines yielded (Options.Marker).
	Markers int `json:"markers,omitempty"`
}

// Scanner reads integrity audit records from a log, one at a time, like
// bufio.Scanner. Its memory is bounded by Options.MaxLine and fixed-size
// windows, not by the size of the log.
type Scanner struct {
	r    *bufio.Reader
	opts Options

	// In-memory input (Bytes): data is read in place, lines and record
	// bodies alias it; check is called every checkEvery bytes.
	data      []byte
	check     func(int64) error
	nextCheck int64
	dec       []byte // decoded hex values when cur aliases data
	own       []byte // cur's own buffer
	aliased   bool   // cur aliases data

	line     int    // number of the current line
	off      int64  // bytes consumed
	text     int    // non-blank lines (for NotLogError)
	long     []byte // assembly buffer for lines longer than the reader's buffer
	pend     []byte // a line read ahead (after a record) and not yet handled
	pendOK   bool
	pendLine int
	cur      []byte // copy of the current record's text (with joined lines)

	// The current record is built lazily (see Record): rec holds its
	// header, cur[:bodyLen] its body; fields are tokenized on demand.
	rec      Record
	byType   [lastIntegrity - firstIntegrity + 1]int // Stats.ByType
	built    bool
	recRefs  bool // rec may hold Fields, Time or Marker
	bodyLen  int
	interp   bool   // ausearch-interpreted body
	stamp    []byte // the audit(…) time text, parsed on demand (may alias data)
	stampBuf []byte // stamp's own buffer
	stampOK  bool
	views    []FieldView
	viewsOK  bool
	trunc    bool
	err      error
	done     bool
	stats    Stats
	loss     Loss
	sers     serials
	kernel   string
	banner   string
	kernLn   int

	ausearch     bool // ausearch markers or interpreted records seen
	sawAuditLog  bool // auditd-form records seen
	journalAudit bool // journal entries from the audit transport seen
	kmsgSeq      uint64
	kmsgSeen     bool
	dups         *dupWin
}

const (
	defaultMaxLine = 1 << 20
	bufSize        = 64 << 10 // the reader's buffer; longer lines come in pieces
	checkEvery     = 1 << 20
	dupWindow      = 4096
	maxJoin        = 8
)

// NewScanner returns a Scanner reading r with default options.
func NewScanner(r io.Reader) *Scanner { return NewScannerOptions(r, Options{}) }

// NewScannerOptions returns a Scanner reading r with opts. A *Bytes is
// read in place, without copying.
func NewScannerOptions(r io.Reader, opts Options) *Scanner {
	if opts.MaxLine <= 0 {
		opts.MaxLine = defaultMaxLine
	}
	if b, ok := r.(*Bytes); ok {
		return &Scanner{opts: opts, data: b.Data[b.off:], check: b.Check, nextCheck: checkEvery}
	}
	return &Scanner{
		r:    bufio.NewReaderSize(r, bufSize),
		opts: opts,
	}
}

// Bytes is a whole log in memory, such as a mapped file. Given to
// NewScanner, WriteText or WriteJSON it is scanned in place: lines are not
// copied. It is also an io.Reader.
type Bytes struct {
	Data []byte
	// Check, when set, is called every MiB with the offset of the next
	// line; an error stops the scan and is the Scanner's Err (e.g. a
	// cancelled context's cause). The Scanner reads data before that
	// line again only for the records it holds (the current record's
	// first line, and the last records' text for the duplicate check):
	// a mapped file's pages before it may be released when they read
	// back unchanged, as a read-only MAP_SHARED mapping's do.
	Check func(off int64) error
	off   int
}

// Read copies the next bytes of b.Data.
func (b *Bytes) Read(p []byte) (int, error) {
	if b.off >= len(b.Data) {
		return 0, io.EOF
	}
	n := copy(p, b.Data[b.off:])
	b.off += n
	return n, nil
}

// Scan advances to the next integrity record (or marker line, see
// Options.Marker). It returns false at the end of input or on a read error
// (see Err).
func (s *Scanner) Scan() bool {
	if s.done {
		return false
	}
	for {
		line, n, ok := s.pend, s.pendLine, s.pendOK
		if ok {
			s.pendOK = false
		} else if line, n, ok = s.read(); !ok {
			s.finish()
			return false
		}
		if s.r == nil && len(line) >= fastMin && line[0] == '[' {
			if rec, done := s.fastRecord(line, n); done {
				if rec {
					return true
				}
				continue
			}
		}
		if s.handle(line, n) {
			return true
		}
	}
}

// Record returns the record found by the last successful Scan. The record
// and its fields stay valid after further calls. It is built on the first
// call after Scan; callers that only need a few fields can avoid that cost
// with Type, Path and Fields.
func (s *Scanner) Record() Record {
	if !s.built {
		s.build()
	}
	return s.rec
}

// build turns the current record's body into fields and its stamp into a
// time.
func (s *Scanner) build() {
	s.built, s.recRefs = true, true
	text := string(s.cur[:s.bodyLen])
	fields := newFields(text)
	if s.interp {
		s.rec.Fields = parseInterpreted(text, fields)
	} else {
		s.rec.Fields, s.rec.Truncated = parseFields(text, fields)
	}
	if s.stampOK {
		s.rec.Time = parseStamp(s.stamp, s.interp)
	}
}

// setRecord makes rec (header only) the current record, its body in
// s.cur[:bodyLen].
func (s *Scanner) setRecord(rec Record, bodyLen int, interp bool) {
	if rec.Fields == nil && rec.Marker == "" && rec.Time.IsZero() {
		s.setNums(rec.Type, rec.Serial, rec.Line, rec.Form, rec.Joined, bodyLen, interp)
		return
	}
	s.rec, s.recRefs = rec, true
	s.reset(bodyLen, interp)
}

// setNums is setRecord for a record of numbers only: for the usual
// unbuilt record, no copy of the pointer words (and their write
// barriers).
func (s *Scanner) setNums(t Type, serial uint64, line int, form Form, joined, bodyLen int, interp bool) {
	if s.recRefs {
		s.rec, s.recRefs = Record{}, false
	}
	p := &s.rec
	p.Type, p.Serial, p.Line, p.Form, p.Truncated, p.Joined = t, serial, line, form, false, joined
	s.reset(bodyLen, interp)
}

func (s *Scanner) reset(bodyLen int, interp bool) {
	s.built = false
	s.bodyLen = bodyLen
	s.interp = interp
	s.viewsOK = false
	s.stampOK = false
	s.dec = s.dec[:0]
}

// All returns an iterator over the remaining records; check Err after the
// loop.
func (s *Scanner) All() iter.Seq[Record] {
	return func(yield func(Record) bool) {
		for s.Scan() {
			if !yield(s.Record()) {
				return
			}
		}
	}
}

// Err returns the first read error (not io.EOF).
func (s *Scanner) Err() error { return s.err }

// Stats returns the counts so far.
func (s *Scanner) Stats() Stats {
	st := s.stats
	st.ByType = map[Type]int{}
	for i, n := range s.byType {
		if n > 0 {
			st.ByType[Type(firstIntegrity+i)] = n
		}
	}
	return st
}

// Loss returns the loss evidence, ordered by line. Serial gaps are final
// only after Scan returned false.
func (s *Scanner) Loss() Loss {
	l := s.loss
	l.Evidence = slices.Clone(l.Evidence)
	slices.SortStableFunc(l.Evidence, func(a, b Evidence) int { return a.Line - b.Line })
	l.Notes = slices.Clone(l.Notes)
	return l
}

// KernelVersion returns the kernel release from the last "Linux version"
// boot banner in the log and its line, or "" and 0.
func (s *Scanner) KernelVersion() (string, int) { return s.kernel, s.kernLn }

func (s *Scanner) finish() {
	if s.done {
		return
	}
	s.done = true
	if s.err == nil && s.text > 0 && s.stats.Recognized == 0 {
		s.err = &NotLogError{Offset: -1, Lines: s.stats.Lines}
	}
	if s.sawAuditLog {
		s.loss.note("auditd's log cannot show records the kernel dropped at its backlog limit: they get no serial and leave no gap (compare the lost counter of `auditctl -s` before and after)")
	}
	if (s.journalAudit || s.sawAuditLog) && s.serialsOn() {
		// Records that came over netlink (journald's audit transport,
		// auditd's log) do not pass through printk: printk rate limiting
		// of the kernel copies says nothing about them, while a record
		// missing from both would still leave a serial gap.
		kept := s.loss.Evidence[:0]
		for _, e := range s.loss.Evidence {
			if e.Kind == Ratelimit {
				s.loss.note(fmt.Sprintf("line %d: printk rate limiting (%s) only affects kernel-log copies; the records that came over netlink (journal audit transport, auditd) bypass printk", e.Line, e.Text))
				continue
			}
			kept = append(kept, e)
		}
		s.loss.Evidence = kept
	}
	if s.serialsOn() {
		s.sers.finish(&s.loss)
		s.loss.SerialsChecked = s.sers.any
	} else {
		s.loss.SerialsChecked = false
		if s.ausearch && !s.opts.NoSerialGaps {
			s.loss.note("serial gaps not checked: ausearch output is usually filtered by type")
		}
	}
}

func (s *Scanner) serialsOn() bool { return !s.opts.NoSerialGaps && !s.ausearch }

// read reads one physical line. The slice is valid until the next read
// (in memory: until the data is released).
func (s *Scanner) read() ([]byte, int, bool) {
	if s.err != nil {
		return nil, 0, false
	}
	if s.r == nil {
		return s.readData()
	}
	b, err := s.r.ReadSlice('\n')
	if !s.textual(b, errors.Is(err, bufio.ErrBufferFull)) {
		return nil, 0, false
	}
	cut := false
	if errors.Is(err, bufio.ErrBufferFull) {
		s.long = append(s.long[:0], b...)
		for errors.Is(err, bufio.ErrBufferFull) {
			b, err = s.r.ReadSlice('\n')
			if !s.textual(b, errors.Is(err, bufio.ErrBufferFull)) {
				return nil, 0, false
			}
			if len(s.long)+len(b) > s.opts.MaxLine {
				cut = true
				if room := s.opts.MaxLine - len(s.long); room > 0 {
					s.long = append(s.long, b[:room]...)
				}
				continue
			}
			s.long = append(s.long, b...)
		}
		b = s.long
	}
	if len(b) > s.opts.MaxLine {
		b, cut = b[:s.opts.MaxLine], true // also a first piece longer than MaxLine
	}
	if cut {
		s.loss.add(Evidence{Kind: LongLine, Line: s.line + 1, Text: fmt.Sprintf("line longer than %d bytes was cut", s.opts.MaxLine)})
	}
	if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
		if !errors.Is(err, io.EOF) {
			s.err = fmt.Errorf("reading log after line %d: %w", s.line, err)
			return nil, 0, false
		}
		if len(b) == 0 {
			return nil, 0, false
		}
	}
	return s.took(b), s.line, true
}

// took counts line b and returns it without its line ending.
func (s *Scanner) took(b []byte) []byte {
	s.line++
	s.stats.Lines++
	if n := len(b); n > 1 && b[n-1] == '\n' && b[n-2] > '\r' && b[0] > ' ' && b[0] < utf8.RuneSelf {
		s.text++ // the usual line: one '\n' after text
		return b[:n-1]
	}
	return s.trim(b)
}

// trim is took's general case.
func (s *Scanner) trim(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	if len(b) > 0 && b[0] > ' ' && b[0] < utf8.RuneSelf || len(bytes.TrimSpace(b)) > 0 {
		s.text++
	}
	return b
}

// readData is read for in-memory input: the line is found with one
// IndexByte and not copied. The binary check and the cut of long lines
// see the same 64 KiB pieces as when reading through the buffer.
func (s *Scanner) readData() ([]byte, int, bool) {
	if s.off >= int64(len(s.data)) {
		return nil, 0, false
	}
	if s.check != nil && s.off >= s.nextCheck {
		s.nextCheck = s.off + checkEvery
		if err := s.check(s.off); err != nil {
			s.err = err
			return nil, 0, false
		}
	}
	rest := s.data[s.off:]
	b := rest
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		b = rest[:i+1]
	}
	if s.off < HeadCheck {
		for k := 0; k < len(b); k += bufSize {
			frag := b[k:min(k+bufSize, len(b))]
			if !s.textual(frag, len(frag) == bufSize && frag[len(frag)-1] != '\n') {
				return nil, 0, false
			}
		}
	} else {
		s.off += int64(len(b))
	}
	if len(b) > s.opts.MaxLine {
		b = b[:s.opts.MaxLine]
		s.loss.add(Evidence{Kind: LongLine, Line: s.line + 1, Text: fmt.Sprintf("line longer than %d bytes was cut", s.opts.MaxLine)})
	}
	return s.took(b), s.line, true
}

// HeadCheck is how much of the input is checked for being text: a log
// whose first HeadCheck bytes hold a NUL byte, or a line of which more
// than one byte in eight is a control character (other than tab, CR, FF,
// VT, ESC) or not UTF-8, is binary and not a log. Past the head a stray
// binary line (a syslog file after a crash) is skipped like any other.
const HeadCheck = 64 << 10

// NotLogError says the input is not a log: binary data, or text of which
// no line is in a known log form.
type NotLogError struct {
	Offset int64 // byte offset of the binary data; -1 for text
	Lines  int   // lines read
}

func (e *NotLogError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("not an IMA log: binary data at byte offset %d", e.Offset)
	}
	return fmt.Sprintf("not an IMA log: none of its %d lines is in a known log form (dmesg, /dev/kmsg, audit.log, ausearch -i, journalctl)", e.Lines)
}

// textual checks a fragment just read (more: the line goes on); on
// binary data it sets s.err. It also counts the bytes consumed.
func (s *Scanner) textual(b []byte, more bool) bool {
	at := s.off
	s.off += int64(len(b))
	if at >= HeadCheck {
		return true
	}
	bad := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c == 0 {
			s.err = &NotLogError{Offset: at + int64(i)}
			return false
		}
		if c < 0x80 {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' && c != 0x1b || c == 0x7f {
				bad++
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 && (!more || i+utf8.UTFMax <= len(b)) {
			bad++ // a rune cut by the buffer's end is not counted
		}
		i += n
	}
	if bad > 0 && bad*8 > len(b) {
		s.err = &NotLogError{Offset: at}
		return false
	}
	return true
}

// handle processes one line; it returns true when s.rec holds a new record.
func (s *Scanner) handle(line []byte, n int) bool {
	if len(line) > 0 && line[0] == '{' {
		return s.handleJSON(line, n)
	}
	msg := line
	form := FormKernel
	// /dev/kmsg: "prio,seq,usec,flags[,more];message"; dictionary lines
	// that follow start with a space.
	if len(msg) > 0 && msg[0] >= '0' && msg[0] <= '9' {
		if semi, seq, ok := kmsgPrefix(msg); ok {
			s.stats.Recognized++
			s.kmsgSequence(seq, n)
			msg = msg[semi+1:]
			form = FormKmsg
		}
	} else if len(msg) > 0 && msg[0] == ' ' && s.kmsgSeen {
		s.stats.Skipped++
		return false
	}
	return s.handleText(msg, n, form)
}

// handleText processes a message stripped of kmsg/journal wrapping.
func (s *Scanner) handleText(msg []byte, n int, form Form) bool {
	t := -1
	if len(msg) > 0 && msg[0] == '[' {
		// The usual printk line, "[   12.345678] audit: type=…": its
		// first "type=" is right after the stamp when the stamp has no 't'.
		if j := stampEnd(msg); j > 0 && len(msg) >= j+14 && string(msg[j+1:j+14]) == " audit: type=" {
			t = j + 9
		}
	}
	if t < 0 {
		t = bytes.Index(msg, []byte("type="))
	}
	for t > 0 && msg[t-1] != ' ' && msg[t-1] != ']' && msg[t-1] != ';' {
		u := bytes.Index(msg[t+5:], []byte("type="))
		if u < 0 {
			t = -1
			break
		}
		t += 5 + u
	}
	if t < 0 {
		return s.handleOther(msg, n)
	}
	rest := msg[t+5:]
	var typ Type
	integrity := false
	ownSerial := false // auditd's DAEMON_* records do not use the kernel's counter
	if len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9' {
		// Kernel printk form: "type=1805 audit(…): body"
		// (Linux: kernel/audit.c:kauditd_printk_skb).
		if len(rest) >= 11 && rest[1]-'0' <= 9 && rest[2]-'0' <= 9 && rest[3]-'0' <= 9 && string(rest[4:11]) == " audit(" {
			// The usual four digits.
			typ = Type(uint(rest[0]-'0')*1000 + uint(rest[1]-'0')*100 + uint(rest[2]-'0')*10 + uint(rest[3]-'0'))
			rest = rest[11:]
		} else {
			j := 0
			for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
				j++
			}
			num, ok := atou(rest[:j])
			if !ok || !bytes.HasPrefix(rest[j:], []byte(" audit(")) {
				return s.handleOther(msg, n)
			}
			rest = rest[j+7:]
			typ = Type(num)
		}
		integrity = typ.Integrity()
	} else {
		// auditd form: "type=NAME msg=audit(…): body".
		j := bytes.IndexByte(rest, ' ')
		if j < 0 || !bytes.HasPrefix(rest[j:], []byte(" msg=audit(")) {
			return s.handleOther(msg, n)
		}
		name := rest[:j]
		typ, integrity = typeByName(name)
		ownSerial = bytes.HasPrefix(name, []byte("DAEMON_"))
		if ownSerial && string(name) == "DAEMON_START" {
			// auditd names the running kernel: "… kernel=6.12.57+deb13-cloud-amd64 …".
			if k := bytes.Index(rest, []byte(" kernel=")); k >= 0 {
				v := rest[k+8:]
				if e := bytes.IndexAny(v, " \x1d"); e >= 0 {
					v = v[:e]
				}
				if len(v) > 0 && v[0] >= '0' && v[0] <= '9' {
					s.kernel, s.kernLn, s.banner = string(v), n, ""
				}
			}
		}
		rest = rest[j+11:]
		if form == FormKernel {
			form = FormAuditLog
		}
		s.sawAuditLog = true
	}
	s.stats.Recognized++
	cp, colon, serial := rawHeader(rest)
	interpreted := false
	if cp < 0 {
		cp = bytes.IndexByte(rest, ')')
		if cp < 0 {
			return s.handleOther(msg, n)
		}
		hdr := rest[:cp]
		interpreted = bytes.IndexByte(hdr, ' ') >= 0 || bytes.IndexByte(hdr, '/') >= 0
		colon = bytes.LastIndexByte(hdr, ':')
		serial = 0
		if colon >= 0 {
			serial, _ = atou(hdr[colon+1:])
		}
	}
	hdr := rest[:cp]
	body := rest[cp+1:]
	if interpreted {
		s.ausearch = true
		if form == FormAuditLog {
			form = FormAusearch
		}
	}
	if !ownSerial && s.serialsOn() {
		s.sers.observe(serial, n, &s.loss)
	}
	if !integrity {
		s.stats.OtherAudit++
		s.stats.Skipped++
		return false
	}
	body = bodyStart(body)
	alias := s.r == nil && form != FormJournal
	if colon >= 0 {
		if alias {
			s.stamp = hdr[:colon:colon]
		} else {
			// Copied before joinWrapped reads on: hdr may lie in the
			// reader's buffer.
			s.stampBuf = append(s.stampBuf[:0], hdr[:colon]...)
			s.stamp = s.stampBuf
		}
	}
	s.setBody(body, alias)
	joined := s.joinWrapped()

	if s.duplicate(typ, serial, s.cur) {
		s.stats.Duplicates++
		return false
	}
	s.setNums(typ, serial, n, form, joined, len(s.cur), interpreted)
	s.stampOK = colon >= 0
	s.stats.Records++
	s.byType[typ-firstIntegrity]++
	return true
}

// bodyStart returns b after the "): " (raw) or ") : " (interpreted)
// that ends a record's header: a space, a colon and a space, each
// optional.
func bodyStart(b []byte) []byte {
	for _, c := range []byte{' ', ':', ' '} {
		if len(b) > 0 && b[0] == c {
			b = b[1:]
		}
	}
	return b
}

// stampEnd returns the index of msg's first ']' when no 't' comes before
// it, else -1. The usual printk stamp ends within 16 bytes: those are
// looked at eight at a time (stampEnd16).
func stampEnd(msg []byte) int {
	if len(msg) >= 16 {
		if j := stampEnd16(le64(msg), le64(msg[8:])); j != -2 {
			return j
		}
	}
	if j := bytes.IndexByte(msg, ']'); j >= 0 && bytes.IndexByte(msg[:j], 't') < 0 {
		return j
	}
	return -1
}

// stampEnd16 is stampEnd for 16 bytes read as two words w0, w1: the
// index of the first ']', -1 when a 't' comes before it, -2 when
// neither is among them.
func stampEnd16(w0, w1 uint64) int {
	r, t := bytesEqual(w0, ']'), bytesEqual(w0, 't')
	k := 0
	if r == 0 && t == 0 {
		r, t, k = bytesEqual(w1, ']'), bytesEqual(w1, 't'), 8
	}
	switch {
	case r != 0 && t&(r&-r-1) == 0:
		return k + bits.TrailingZeros64(r)/8
	case r != 0 || t != 0:
		return -1
	}
	return -2
}

// bytesEqual sets the high bit of each byte of w that equals c, and no
// other bit.
func bytesEqual(w uint64, c byte) uint64 {
	const low7 = 0x7f7f7f7f7f7f7f7f
	x := w ^ uint64(c)*0x0101010101010101
	return ^((x&low7 + low7) | x | low7)
}

// fastMin is the shortest line fastRecord takes: a stamp of up to 16
// bytes, " audit: type=NNNN audit(", a 23-byte header and the body's start.
const fastMin = 16 + 13 + 11 + 23 + 3

// fastRecord is handle for the usual line of an in-memory kernel log,
// "[   12.345678] audit: type=18NN audit(1763805600.123:4567): body":
// the same steps as handleText's, with the checks of that form only,
// done together, and fewer calls. done is false, and nothing is changed,
// for any other line (then handle reads it).
func (s *Scanner) fastRecord(line []byte, n int) (rec, done bool) {
	// The stamp's ']' within 16 bytes, no 't' before it.
	j := stampEnd16(le64(line), le64(line[8:]))
	if j < 0 {
		return false, false
	}
	rest := line[j+1:] // len(line) >= fastMin keeps the checks below in bounds
	// " audit: type=NNNN audit(" as overlapping words.
	if le64(rest) != wAudit || le64(rest[5:]) != wType || le32(rest[17:]) != wAud || le32(rest[20:]) != wDit ||
		rest[13]-'0' > 9 || rest[14]-'0' > 9 || rest[15]-'0' > 9 || rest[16]-'0' > 9 {
		return false, false
	}
	typ := Type(uint(rest[13]-'0')*1000 + uint(rest[14]-'0')*100 + uint(rest[15]-'0')*10 + uint(rest[16]-'0'))
	if !typ.Integrity() {
		return false, false
	}
	// The header, as rawHeader's first case reads it: "DDDDDDDDDD.DDD:".
	h := rest[24:]
	if !digits8(h) || !stampTail(le64(h[8:])) {
		return false, false
	}
	k, serial := leadingDigits(binary.LittleEndian.Uint64(h[15:]))
	if k == 8 || h[15+k] != ')' {
		return false, false
	}
	body := h[16+k:]
	s.stats.Recognized++
	if s.serialsOn() && !s.sers.next(serial, n) {
		s.sers.observe(serial, n, &s.loss)
	}
	body = bodyStart(body)
	s.stamp = h[:14:14]
	s.cur, s.aliased = body[:len(body):len(body)], true
	// The next line, unless it continues this record (joinWrapped). A
	// whole line past the head, not due for a check, is read here (read's
	// steps for it).
	var b []byte
	m, ok := 0, false
	if s.err == nil && s.off >= HeadCheck && s.off < int64(len(s.data)) && (s.check == nil || s.off < s.nextCheck) {
		rest := s.data[s.off:]
		if i := bytes.IndexByte(rest, '\n'); i >= 0 && i < s.opts.MaxLine {
			s.off += int64(i) + 1
			b, m, ok = s.took(rest[:i+1]), s.line, true
		}
	}
	if !ok {
		b, m, ok = s.read()
	}
	joined := 0
	if ok && len(b) > 0 && b[0] == '[' {
		s.pend, s.pendLine, s.pendOK = b, m, true
	} else {
		joined = s.joinFrom(b, m, ok)
	}
	if (s.dups == nil || !s.aliased || !s.dups.rise(typ, serial, s.cur)) && s.duplicate(typ, serial, s.cur) {
		s.stats.Duplicates++
		return false, true
	}
	s.setNums(typ, serial, n, FormKernel, joined, len(s.cur), false)
	s.stampOK = true
	s.stats.Records++
	s.byType[typ-firstIntegrity]++
	return true, true
}

// rawHeader reads the usual audit(…) header, "sec.frac:serial)", in one
// pass: it returns the index of the ')', of the ':' and the serial, or
// cp -1 when b does not start with such a header (then the caller
// searches it in the general way).
func rawHeader(b []byte) (cp, colon int, serial uint64) {
	colon = -1
	i := 0
	if len(b) > 15 && b[10] == '.' && b[14] == ':' && digits8(b) && b[8]-'0' <= 9 && b[9]-'0' <= 9 &&
		b[11]-'0' <= 9 && b[12]-'0' <= 9 && b[13]-'0' <= 9 {
		// The usual ten-digit seconds and milliseconds (Linux:
		// kernel/audit.c:audit_log_start), read as the loop would.
		colon, i = 14, 15
		if len(b) >= 23 {
			// A serial of up to seven digits, read eight bytes at once.
			if n, v := leadingDigits(binary.LittleEndian.Uint64(b[15:])); n < 8 && b[15+n] == ')' {
				return 15 + n, 14, v
			}
		}
	}
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c-'0' <= 9:
			if colon >= 0 {
				serial = serial*10 + uint64(c-'0')
			}
		case c == '.' && colon < 0:
		case c == ':' && colon < 0:
			colon = i
		case c == ')':
			if colon >= 0 && i-colon-1 > 19 {
				return -1, -1, 0 // a serial that may not fit
			}
			return i, colon, serial
		default:
			return -1, -1, 0
		}
	}
	return -1, -1, 0
}

// leadingDigits returns how many of w's bytes (in memory order) are
// decimal digits before the first that is not, and, when fewer than
// eight, their value.
func leadingDigits(w uint64) (n int, v uint64) {
	const ones, high, low7 = 0x0101010101010101, 0x8080808080808080, 0x7f7f7f7f7f7f7f7f
	// A digit's high nibble is 3 and stays 3 when 6 is added. A carry
	// out of a byte only follows a byte that is not a digit.
	x := (w&(0xf0*ones) ^ 0x30*ones) | ((w+6*ones)&(0xf0*ones) ^ 0x30*ones)
	notDigit := (x&low7 + low7 | x) & high
	n = bits.TrailingZeros64(notDigit) / 8
	if n == 0 || n == 8 {
		return n, 0
	}
	// The digits, as values, moved to the top with zeros before them;
	// then pairs, fours and eights of them are added up.
	d := (w - 0x30*ones) << (8 * (8 - n))
	d = (d & (0x0f * ones)) * (1 + 10<<8) >> 8
	d = (d & 0x00ff00ff00ff00ff) * (1 + 100<<16) >> 16
	return n, (d & 0x0000ffff0000ffff) * (1 + 10000<<32) >> 32
}

// stampTail reports whether w (bytes 8 to 15 of an audit(…) header, in
// memory order) is "DD.DDD:" and one more byte: digits where the header
// has them, as in digits8 (a byte whose high nibble is 3 carries
// nothing when 6 is added).
func stampTail(w uint64) bool {
	const punct, digit = 0x00ff000000ff0000, 0x0000ffffff00ffff
	const hi, zeros, six = digit & 0xf0f0f0f0f0f0f0f0, digit & 0x3030303030303030, digit & 0x0606060606060606
	return w&punct == 0x003a0000002e0000 && w&hi == zeros && (w+six)&hi == zeros
}

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

// The words of " audit: type=NNNN audit(" that fastRecord compares.
var (
	wAudit = le64([]byte(" audit: "))
	wType  = le64([]byte("t: type="))
	wAud   = le32([]byte(" aud"))
	wDit   = le32([]byte("dit("))
)

// digits8 reports whether b's first eight bytes are decimal digits.
func digits8(b []byte) bool {
	const hi, six = 0xf0f0f0f0f0f0f0f0, 0x0606060606060606
	x := binary.LittleEndian.Uint64(b)
	// A byte is a digit when its high nibble is 3 and adding 6 keeps it
	// so (no carry crosses a byte whose high nibble is 3).
	return x&hi == 0x3030303030303030 && (x+six)&hi == 0x3030303030303030
}

// setBody makes b the current record's text: aliased when b lies in
// in-memory input (it is never written to), else copied.
func (s *Scanner) setBody(b []byte, alias bool) {
	if alias {
		s.cur, s.aliased = b[:len(b):len(b)], true
		return
	}
	s.cur = append(s.own[:0], b...)
	s.own, s.aliased = s.cur, false
}

// newFields returns an empty field slice with room for text's fields.
func newFields(text string) []Field {
	return make([]Field, 0, strings.Count(text, "=")+2)
}

// joinWrapped appends following lines that continue the current record: a
// line in no known log form, after a record left inside a quoted value or
// starting with a known field name.
func (s *Scanner) joinWrapped() (joined int) {
	b, n, ok := s.read()
	return s.joinFrom(b, n, ok)
}

// joinFrom is joinWrapped with its first line read (b, n, ok as from read).
func (s *Scanner) joinFrom(b []byte, n int, ok bool) (joined int) {
	for {
		if !ok {
			return joined
		}
		if !continuation(b, s.cur) || (s.opts.Marker != "" && bytes.Contains(b, []byte(s.opts.Marker))) {
			if s.r == nil {
				s.pend = b // in memory: stays valid
			} else {
				s.pend = append(s.pend[:0], b...)
			}
			s.pendLine, s.pendOK = n, true
			return joined
		}
		joined++
		s.stats.Joined++
		s.stats.Recognized++
		if s.aliased {
			s.setBody(s.cur, false)
		}
		if startsKey(string(b)) && !openQuote(s.cur) {
			s.cur = append(s.cur, ' ')
		}
		s.cur = append(s.cur, b...)
		s.own = s.cur
		if joined == maxJoin {
			return joined
		}
		b, n, ok = s.read()
	}
}

var knownKeys = map[string]bool{
	"file": true, "hash": true, "ppid": true, "pid": true, "auid": true, "uid": true,
	"gid": true, "euid": true, "suid": true, "fsuid": true, "egid": true, "sgid": true,
	"fsgid": true, "tty": true, "ses": true, "comm": true, "exe": true, "subj": true,
	"op": true, "cause": true, "name": true, "dev": true, "ino": true, "res": true,
	"errno": true, "key": true,
}

func continuation(b, cur []byte) bool {
	if len(b) == 0 || b[0] == '[' || b[0] == '{' || b[0] == ' ' || b[0] == '-' {
		return false
	}
	if bytes.Contains(b, []byte("type=")) || bytes.Contains(b, []byte("audit")) {
		return false
	}
	if _, _, ok := kmsgPrefix(b); ok {
		return false
	}
	if openQuote(cur) {
		return true
	}
	eq := bytes.IndexByte(b, '=')
	if eq <= 0 || !startsKey(string(b)) {
		return false
	}
	return knownKeys[string(b[:eq])]
}

// openQuote reports whether b ends inside a double-quoted value.
func openQuote(b []byte) bool { return bytes.Count(b, []byte{'"'})%2 == 1 }

// handleOther looks at a line that is not an audit record.
func (s *Scanner) handleOther(msg []byte, n int) bool {
	s.stats.Skipped++
	if len(msg) == 0 {
		return false
	}
	if printkStamp(msg) {
		s.stats.Recognized++ // printk timestamp or dmesg -T
	}
	if bytes.HasPrefix(msg, []byte("----")) || bytes.HasPrefix(msg, []byte("time->")) {
		s.stats.Recognized++
		s.ausearch = true
		return false
	}
	if s.opts.Marker == "" && !mayNote(msg) {
		return false // the usual kernel message: nothing below can match
	}
	if s.journalShort(msg, n) {
		s.stats.Skipped--
		return true
	}
	if s.opts.Marker != "" {
		if i := bytes.Index(msg, []byte(s.opts.Marker)); i >= 0 {
			s.stats.Skipped--
			s.stats.Markers++
			s.setRecord(Record{Line: n, Marker: string(bytes.TrimSpace(msg[i:]))}, 0, false)
			s.built = true
			return true
		}
	}
	if v, ok := kernelVersion(msg); ok {
		s.kernel, s.kernLn = v, n
		s.banner = string(bytes.TrimSpace(msg[bytes.Index(msg, mLinuxVersion):]))
		s.stats.Recognized++
		if s.serialsOn() {
			s.sers.finish(&s.loss)
			s.sers.startAt(1)
		}
		return false
	}
	if lossMarker(msg, n, &s.loss) {
		s.stats.Recognized++ // a kernel message about lost records
	}
	return false
}

// printkStamp reports whether msg starts with a printk timestamp,
// "[   12.345678]" (Linux: kernel/printk/printk.c:print_time), or
// dmesg -T's "[Mon Nov 22 10:00:00 2026]".
func printkStamp(msg []byte) bool {
	if len(msg) < 3 || msg[0] != '[' {
		return false
	}
	i := 1
	for i < len(msg) && msg[i] == ' ' {
		i++
	}
	d := i
	for i < len(msg) && msg[i]-'0' <= 9 {
		i++
	}
	if i > d {
		if i+1 >= len(msg) || msg[i] != '.' {
			return false
		}
		i++
		f := i
		for i < len(msg) && msg[i]-'0' <= 9 {
			i++
		}
		return i > f && i < len(msg) && msg[i] == ']'
	}
	return weekdayStamp(msg[i:])
}

// weekdayStamp reports whether b is the rest of dmesg -T's stamp after
// its '[': a weekday, a space, and a ']' further on.
func weekdayStamp(b []byte) bool {
	if len(b) < 5 || b[3] != ' ' {
		return false
	}
	for _, d := range []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"} {
		if string(b[:3]) == d {
			return bytes.IndexByte(b, ']') > 0
		}
	}
	return false
}

// journalShort handles an audit record in journalctl's short text form,
// "Nov 22 10:00:00 host audit[200]: INTEGRITY_RULE file=…" (systemd:
// journald-audit.c writes MESSAGE as "NAME body", or "AUDITnnnn body" for
// types it has no name for). That form carries no serial or audit time.
func (s *Scanner) journalShort(msg []byte, n int) bool {
	i := bytes.Index(msg, []byte(" audit"))
	if i < 0 {
		return false
	}
	rest := msg[i+6:]
	if len(rest) > 0 && rest[0] == '[' {
		e := bytes.IndexByte(rest, ']')
		if e < 0 {
			return false
		}
		rest = rest[e+1:]
	}
	if !bytes.HasPrefix(rest, []byte(": ")) {
		return false
	}
	rest = rest[2:]
	sp := bytes.IndexByte(rest, ' ')
	if sp < 0 {
		return false
	}
	name := rest[:sp]
	typ, ok := typeByName(name)
	if !ok && len(name) == 9 && string(name[:5]) == "AUDIT" {
		if num, ok2 := atou(name[5:]); ok2 && Type(num).Integrity() {
			typ, ok = Type(num), true
		}
	}
	if !ok {
		return false
	}
	s.stats.Recognized++
	s.setBody(rest[sp+1:], false)
	joined := s.joinWrapped()
	s.setRecord(Record{Type: typ, Line: n, Form: FormJournal, Joined: joined}, len(s.cur), false)
	s.loss.note("journal short-format records carry no audit serial; serial gaps cannot be checked for them")
	s.stats.Records++
	s.byType[typ-firstIntegrity]++
	return true
}

// kmsgPrefix parses "prio,seq,usec,flags[,…];" and returns the index of
// the ';' and the sequence number (Linux: kernel/printk/printk.c:info_print_ext_header).
func kmsgPrefix(b []byte) (int, uint64, bool) {
	semi := bytes.IndexByte(b, ';')
	if semi < 0 || semi > 96 {
		return 0, 0, false
	}
	h := b[:semi]
	c1 := bytes.IndexByte(h, ',')
	if c1 <= 0 {
		return 0, 0, false
	}
	if _, ok := atou(h[:c1]); !ok {
		return 0, 0, false
	}
	h2 := h[c1+1:]
	c2 := bytes.IndexByte(h2, ',')
	if c2 <= 0 {
		return 0, 0, false
	}
	seq, ok := atou(h2[:c2])
	if !ok {
		return 0, 0, false
	}
	h3 := h2[c2+1:]
	c3 := bytes.IndexByte(h3, ',')
	if c3 <= 0 {
		return 0, 0, false
	}
	if _, ok := atou(h3[:c3]); !ok {
		return 0, 0, false
	}
	return semi, seq, true
}

func (s *Scanner) kmsgSequence(seq uint64, n int) {
	if s.kmsgSeen && seq > s.kmsgSeq+1 {
		s.loss.add(Evidence{Kind: KmsgGap, Line: n, Count: seq - s.kmsgSeq - 1, From: s.kmsgSeq + 1, To: seq - 1,
			Text: fmt.Sprintf("/dev/kmsg sequence jumps from %d to %d (%d messages overwritten)", s.kmsgSeq, seq, seq-s.kmsgSeq-1)})
	}
	s.kmsgSeen = true
	s.kmsgSeq = seq
}

// duplicate reports whether (type, serial, text) is among the last
// dupWindow records kept (dupWin) and keeps it when not. A text in
// in-memory input is hashed only when another kept record has the same
// type and serial.
func (s *Scanner) duplicate(t Type, serial uint64, text []byte) bool {
	if s.dups == nil {
		s.dups = newDupWin(s.data)
	}
	return s.dups.seen(t, serial, text, s.aliased)
}

// parseStamp parses the time part of an audit(…) header: "1700000000.123"
// (Linux: kernel/audit.c:audit_log_start) or, interpreted, a local date
// such as "11/22/2026 10:00:00.123".
func parseStamp(b []byte, interpreted bool) time.Time {
	if !interpreted {
		dot := bytes.IndexByte(b, '.')
		if dot < 0 {
			sec, ok := atou(b)
			if !ok {
				return time.Time{}
			}
			return time.Unix(int64(sec), 0).UTC()
		}
		sec, ok1 := atou(b[:dot])
		ms, ok2 := atou(b[dot+1:])
		if !ok1 || !ok2 || sec > 1<<40 || dot+1+9 < len(b) {
			return time.Time{}
		}
		frac := b[dot+1:]
		ns := ms
		for i := len(frac); i < 9; i++ {
			ns *= 10
		}
		return time.Unix(int64(sec), int64(ns)).UTC()
	}
	for _, layout := range []string{
		"01/02/2006 15:04:05.000", "01/02/06 15:04:05.000", "02.01.2006 15:04:05.000",
		"2006-01-02 15:04:05.000", "02/01/2006 15:04:05.000",
	} {
		if t, err := time.Parse(layout, string(b)); err == nil {
			return t
		}
	}
	return time.Time{}
}
