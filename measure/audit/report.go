package audit

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ReportOptions say what WriteText and WriteJSON print.
type ReportOptions struct {
	// Name is the log's name for the report's header.
	Name string
	// Summary leaves out the records: only counts and loss evidence.
	Summary bool
	// Types are the record types to print; nil means all. Counts always
	// cover every type.
	Types map[Type]bool
	// Scan are the Scanner's options.
	Scan Options
}

// Result is what a report counted.
type Result struct {
	Stats  Stats
	Loss   Loss
	Kernel *Kernel
	// PerFile counts INTEGRITY_RULE (1805) records per file= path.
	PerFile *PathCounts
}

// OutputError is a failure to write the report (as opposed to reading
// the log).
type OutputError struct{ Err error }

func (e *OutputError) Error() string { return "writing output: " + e.Err.Error() }
func (e *OutputError) Unwrap() error { return e.Err }

// printer writes one form of report as the records arrive.
type printer interface {
	begin(name string)
	record(s *Scanner)
	end(res Result)
}

// WriteText reads the log r and writes the text report to w: a table of
// records (one line each), then counts, INTEGRITY_RULE records per file
// and loss evidence. w gets the log's text as is: a caller writing to a
// terminal should filter control characters. A read error is returned as
// is; a write error as *OutputError.
func WriteText(w io.Writer, r io.Reader, o ReportOptions) (Result, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	return report(bw, r, o, &textPrinter{w: bw, summary: o.Summary})
}

// WriteJSON is WriteText's JSON form: one object, with the records first
// and the summary after them, so memory does not grow with the records.
func WriteJSON(w io.Writer, r io.Reader, o ReportOptions) (Result, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	return report(bw, r, o, &jsonPrinter{w: bw, summary: o.Summary})
}

func report(bw *bufio.Writer, r io.Reader, o ReportOptions, p printer) (Result, error) {
	s := NewScannerOptions(r, o.Scan)
	res := Result{PerFile: NewPathCounts()}
	p.begin(o.Name)
	for s.Scan() {
		t := s.Type()
		if t == TypeRule {
			res.PerFile.Add(s.Path())
			if err := res.PerFile.Err(); err != nil {
				bw.Flush()
				return res, fmt.Errorf("line %d: %w", s.Line(), err)
			}
		}
		if !o.Summary && (s.Marker() != "" || o.Types == nil || o.Types[t]) {
			p.record(s)
		}
	}
	if err := s.Err(); err != nil {
		bw.Flush()
		return res, err
	}
	res.Stats, res.Loss = s.Stats(), s.Loss()
	if k, ok := s.Kernel(); ok {
		res.Kernel = &k
	}
	p.end(res)
	if err := bw.Flush(); err != nil {
		return res, &OutputError{err}
	}
	return res, nil
}

// ParseTypes parses a list of record types, by number (1805) or name
// (INTEGRITY_RULE, case-insensitive); an empty list gives nil (all).
func ParseTypes(items []string) (map[Type]bool, error) {
	if len(items) == 0 {
		return nil, nil
	}
	m := map[Type]bool{}
	for _, it := range items {
		if n, err := strconv.Atoi(it); err == nil && Type(n).Integrity() {
			m[Type(n)] = true
			continue
		}
		found := false
		for t := Type(firstIntegrity); t <= lastIntegrity; t++ {
			if strings.EqualFold(t.String(), it) {
				m[t], found = true, true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown integrity record type %q (want 1800-1899 or a name like INTEGRITY_RULE)", it)
		}
	}
	return m, nil
}

// Decompress undoes gzip when r starts with its magic number.
func Decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("opening gzip stream: %w", err)
		}
		return zr, nil
	}
	return br, nil
}

// needsQuote reports whether a path or value would not read as one token:
// it holds a byte at or below ' ', above '~', or '"'. Eight bytes at a
// time (hash values and paths are long).
func needsQuote(v []byte) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(v); i += 8 {
		x := binary.LittleEndian.Uint64(v[i:])
		q := x ^ '"'*lo
		// A byte below 0x21, a byte above 0x7e (or with its top bit set),
		// a zero byte of x^'"'.
		if ((x-0x21*lo)&^x|(x+0x01*lo|x)|(q-lo)&^q)&hi != 0 {
			return true
		}
	}
	for _, c := range v[i:] {
		if c <= ' ' || c > '~' || c == '"' {
			return true
		}
	}
	return false
}

// appendPath appends p, quoted when it holds spaces or unprintable bytes,
// "-" when empty.
func appendPath(b, p []byte) []byte {
	if len(p) == 0 {
		return append(b, '-')
	}
	if needsQuote(p) {
		return strconv.AppendQuote(b, unsafeString(p))
	}
	return append(b, p...)
}

// appendValue appends v, quoted when it would not read as one token.
func appendValue(b, v []byte) []byte {
	if len(v) == 0 {
		return append(b, `""`...)
	}
	if needsQuote(v) {
		return strconv.AppendQuote(b, unsafeString(v))
	}
	return append(b, v...)
}

// pad appends spaces up to width characters since start (fmt's %-*s
// counts runes).
func pad(b []byte, start, width int) []byte {
	n := len(b) - start
	if n >= width {
		return b
	}
	for _, c := range b[start:] {
		if c >= utf8.RuneSelf {
			n = utf8.RuneCount(b[start:])
			break
		}
	}
	for ; n < width; n++ {
		b = append(b, ' ')
	}
	return b
}

var (
	ruleKeys    = []string{"hash", "pid", "uid", "euid", "comm"}
	defaultKeys = []string{"op", "cause", "comm", "res"}
)

// keyIndex returns the index of k in ruleKeys (rule) or defaultKeys, or -1.
func keyIndex(rule bool, k []byte) int {
	if len(k) < 2 || len(k) > 5 {
		return -1
	}
	if rule {
		switch string(k) {
		case "hash":
			return 0
		case "pid":
			return 1
		case "uid":
			return 2
		case "euid":
			return 3
		case "comm":
			return 4
		}
		return -1
	}
	switch string(k) {
	case "op":
		return 0
	case "cause":
		return 1
	case "comm":
		return 2
	case "res":
		return 3
	}
	return -1
}

// appendDetail appends the fields shown after the path, per record type.
func appendDetail(b []byte, s *Scanner) []byte {
	var keys []string
	switch s.Type() {
	case TypeRule:
		keys = ruleKeys
	case TypePolicyRule, TypeEVMXattr:
		keys = nil // all fields
	default:
		keys = defaultKeys
	}
	start := len(b)
	add := func(key, value []byte, op byte) {
		if len(b) > start {
			b = append(b, ' ')
		}
		b = append(b, key...)
		if op != 0 {
			b = append(b, op)
			b = appendValue(b, value)
		}
	}
	truncated := false
	if keys == nil || s.interp || s.rec.Marker != "" || s.viewsOK {
		fields := s.Fields()
		truncated = s.Truncated()
		if keys == nil {
			for i := range fields {
				add(fields[i].Key, fields[i].Value, fields[i].Op)
			}
		} else {
			for _, k := range keys {
				for i := range fields {
					if string(fields[i].Key) == k {
						add(fields[i].Key, fields[i].Value, fields[i].Op)
						break
					}
				}
			}
		}
	} else {
		// One walk over the body's fields, keeping the first of each
		// wanted key, without building the field views.
		body := s.cur[:s.bodyLen]
		var found [8]fieldTok
		var have [8]bool
		rule := s.Type() == TypeRule
		// nextField's walk, inline: most fields are not wanted, and
		// building and returning each token costs more than finding it.
		n := len(body)
		for i := 0; ; {
			for i < n && byteClass[body[i]]&classSep != 0 {
				i++
			}
			if i >= n {
				break
			}
			ks := i
			for i < n && byteClass[body[i]]&classKeyEnd == 0 {
				i++
			}
			ke := i
			j := keyIndex(rule, body[ks:ke])
			if j >= 0 && have[j] {
				j = -1 // only the first of a key is shown
			}
			if i >= n || byteClass[body[i]]&classSep != 0 {
				if j >= 0 {
					found[j], have[j] = fieldTok{ks: ks, ke: ke}, true
				}
				continue
			}
			op := body[i]
			i++
			t := fieldTok{ks: ks, ke: ke, op: op, vs: i}
			if i < n && (body[i] == '"' || body[i] == '\'') {
				q := body[i]
				i++
				t.enc, t.vs = Quoted, i
				if end := bytes.IndexByte(body[i:], q); end < 0 {
					t.ve, t.open, i = n, true, n
					truncated = true
				} else {
					t.ve, i = i+end, i+end+1
				}
			} else {
				for i < n && byteClass[body[i]]&classSep == 0 {
					i++
				}
				t.ve = i
			}
			if j >= 0 {
				found[j], have[j] = t, true
			}
		}
		for j := range keys {
			if have[j] {
				t := found[j]
				key := body[t.ks:t.ke]
				add(key, s.tokValue(body, t, key), t.op)
			}
		}
	}
	if truncated {
		b = append(b, " (truncated)"...)
	}
	if j := s.Joined(); j > 0 {
		b = append(b, " (joined "...)
		b = strconv.AppendInt(b, int64(j), 10)
		b = append(b, " wrapped lines)"...)
	}
	return b
}

type textPrinter struct {
	w       *bufio.Writer
	summary bool
	n       int
	buf     []byte
}

func (t *textPrinter) begin(name string) {
	fmt.Fprintf(t.w, "# %s\n", name)
}

func (t *textPrinter) record(s *Scanner) {
	if t.n == 0 {
		fmt.Fprintf(t.w, "%-6s %-22s %-8s %-24s %s\n", "LINE", "TYPE", "SERIAL", "PATH", "DETAIL")
	}
	t.n++
	b := t.buf[:0]
	b = strconv.AppendInt(b, int64(s.Line()), 10)
	b = pad(b, 0, 6)
	b = append(b, ' ')
	at := len(b)
	if m := s.Marker(); m != "" {
		b = append(b, "MARKER"...)
		b = pad(b, at, 22)
		b = append(b, " -"...)
		b = pad(b, at, 22+1+8)
		b = append(b, " -"...)
		b = pad(b, at, 22+1+8+1+24)
		b = append(b, ' ')
		b = append(b, m...)
	} else {
		b = append(b, s.Type().String()...)
		b = pad(b, at, 22)
		b = append(b, ' ')
		at = len(b)
		b = strconv.AppendUint(b, s.Serial(), 10)
		b = pad(b, at, 8)
		b = append(b, ' ')
		at = len(b)
		b = appendPath(b, s.Path())
		b = pad(b, at, 24)
		b = append(b, ' ')
		b = appendDetail(b, s)
	}
	b = append(b, '\n')
	t.w.Write(b)
	t.buf = b
}

func (t *textPrinter) end(res Result) {
	w := t.w
	if t.n > 0 {
		fmt.Fprintln(w)
	}
	if k := res.Kernel; k != nil {
		fmt.Fprintf(w, "kernel: %s", k.Release)
		if k.Upstream != "" && !strings.HasPrefix(k.Release, k.Upstream) {
			fmt.Fprintf(w, " (upstream %s)", k.Upstream)
		}
		fmt.Fprintf(w, " from line %d\n", k.Line)
	}
	st := res.Stats
	fmt.Fprintf(w, "records: %d integrity", st.Records)
	types := sortedTypes(st.ByType)
	for i, ty := range types {
		sep := ", "
		if i == 0 {
			sep = " ("
		}
		fmt.Fprintf(w, "%s%s %d", sep, ty, st.ByType[ty])
		if i == len(types)-1 {
			fmt.Fprint(w, ")")
		}
	}
	fmt.Fprintf(w, "; %d other audit; %d lines, %d skipped, %d duplicates, %d wrapped lines joined\n",
		st.OtherAudit, st.Lines, st.Skipped, st.Duplicates, st.Joined)

	fmt.Fprintf(w, "\nINTEGRITY_RULE (1805) records per file: %d files\n", res.PerFile.Len())
	b := t.buf[:0]
	res.PerFile.sorted(func(p []byte, n int, quoted bool) {
		var nb [20]byte
		ds := strconv.AppendInt(nb[:0], int64(n), 10)
		b = append(b[:0], "  "...)
		for k := len(ds); k < 5; k++ {
			b = append(b, ' ')
		}
		b = append(b, ds...)
		b = append(b, "  "...)
		switch {
		case len(p) == 0:
			b = append(b, '-')
		case quoted:
			b = strconv.AppendQuote(b, unsafeString(p))
		default:
			b = append(b, p...)
		}
		b = append(b, '\n')
		w.Write(b)
	})
	t.buf = b

	l := res.Loss
	fmt.Fprintln(w)
	if !l.Lossy() {
		fmt.Fprint(w, "loss: no evidence of lost records")
		if !l.SerialsChecked {
			fmt.Fprint(w, " (serial numbers not checked)")
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "loss: evidence %d, audit serials missing %d; counts may be short\n", len(l.Evidence)+l.More, l.MissingSerials)
		for _, e := range l.Evidence {
			fmt.Fprintf(w, "  %s\n", e)
		}
		if l.More > 0 {
			fmt.Fprintf(w, "  ... and %d more\n", l.More)
		}
	}
	for _, n := range l.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func sortedTypes(m map[Type]int) []Type {
	types := make([]Type, 0, len(m))
	for ty := range m {
		types = append(types, ty)
	}
	sort.Slice(types, func(i, j int) bool { return types[i] < types[j] })
	return types
}

// jsonPrinter streams one JSON object: records first, then the summary.
type jsonPrinter struct {
	w       *bufio.Writer
	summary bool
	n       int
}

type jsonField struct {
	Key      string `json:"key"`
	Op       string `json:"op,omitempty"`
	Value    string `json:"value"`
	Encoding string `json:"encoding"`
}

type jsonRecord struct {
	Line      int         `json:"line"`
	Marker    string      `json:"marker,omitempty"`
	Type      int         `json:"type"`
	TypeName  string      `json:"type_name"`
	Serial    uint64      `json:"serial"`
	Time      *time.Time  `json:"time,omitempty"`
	Form      string      `json:"form"`
	Path      string      `json:"path,omitempty"`
	Hash      string      `json:"hash,omitempty"`
	Violation bool        `json:"violation,omitempty"`
	Truncated bool        `json:"truncated,omitempty"`
	Joined    int         `json:"joined,omitempty"`
	Fields    []jsonField `json:"fields"`
}

// fileCount is one row of the per-file INTEGRITY_RULE count.
type fileCount struct {
	Path  string `json:"path"`
	Count int    `json:"count"`
}

func (j *jsonPrinter) begin(name string) {
	fmt.Fprintf(j.w, "{\"log\":%s,\"records\":[", mustJSON(name))
}

func (j *jsonPrinter) record(s *Scanner) {
	r := s.Record()
	name := r.Type.String()
	if r.Marker != "" {
		name = "MARKER"
	}
	jr := jsonRecord{Line: r.Line, Marker: r.Marker, Type: int(r.Type), TypeName: name, Serial: r.Serial,
		Form: r.Form.String(), Path: r.Path(), Hash: r.Hash(), Violation: r.Violation(), Truncated: r.Truncated, Joined: r.Joined,
		Fields: make([]jsonField, 0, len(r.Fields))}
	if !r.Time.IsZero() {
		t := r.Time
		jr.Time = &t
	}
	for _, f := range r.Fields {
		op := ""
		if f.Op != 0 {
			op = string(f.Op)
		}
		jr.Fields = append(jr.Fields, jsonField{f.Key, op, f.Value, f.Encoding.String()})
	}
	if j.n > 0 {
		j.w.WriteByte(',')
	}
	j.n++
	j.w.WriteString("\n")
	j.w.Write(mustJSON(jr))
}

func (j *jsonPrinter) end(res Result) {
	byType := map[string]int{}
	for ty, n := range res.Stats.ByType {
		byType[ty.String()] = n
	}
	evidence := res.Loss.Evidence
	if evidence == nil {
		evidence = []Evidence{}
	}
	counts := make([]fileCount, 0, res.PerFile.Len())
	res.PerFile.Sorted(func(p []byte, n int) { counts = append(counts, fileCount{string(p), n}) })
	tail := struct {
		Kernel        *Kernel        `json:"kernel,omitempty"`
		Lines         int            `json:"lines"`
		Records       int            `json:"record_count"`
		ByType        map[string]int `json:"by_type"`
		OtherAudit    int            `json:"other_audit"`
		Skipped       int            `json:"skipped"`
		Duplicates    int            `json:"duplicates"`
		Joined        int            `json:"joined"`
		RulePerFile   []fileCount    `json:"rule_records_per_file"`
		Lossy         bool           `json:"lossy"`
		Evidence      []Evidence     `json:"loss_evidence"`
		MoreEvidence  int            `json:"more_evidence,omitempty"`
		Missing       uint64         `json:"missing_serials"`
		SerialChecked bool           `json:"serials_checked"`
		Notes         []string       `json:"notes,omitempty"`
	}{res.Kernel, res.Stats.Lines, res.Stats.Records, byType, res.Stats.OtherAudit,
		res.Stats.Skipped, res.Stats.Duplicates, res.Stats.Joined, counts,
		res.Loss.Lossy(), evidence, res.Loss.More, res.Loss.MissingSerials, res.Loss.SerialsChecked, res.Loss.Notes}
	b := mustJSON(tail)
	// Splice the summary's members after the records array.
	j.w.WriteString("\n],")
	j.w.Write(b[1:])
	j.w.WriteByte('\n')
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encoding %T: %v", v, err)) // only plain structs are encoded
	}
	return b
}
