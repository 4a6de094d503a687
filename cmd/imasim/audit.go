package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/imasim/imasim/internal/input"
	"github.com/imasim/imasim/measure/audit"
)

const auditSynopsis = `audit [flags] FILE|-

Print the IMA/EVM integrity audit records (types 1800-1899) of a log, the
number of INTEGRITY_RULE (1805) records per file, and any evidence that the
log lost records. FILE is dmesg or console text (with or without printk
timestamps), /dev/kmsg records, /var/log/audit/audit.log (raw or
'ausearch -i'), 'journalctl -o json' or journalctl text; gzip is undone;
- is stdin. The kernel version is taken from a boot banner or auditd's
DAEMON_START record when the log has one.

Loss evidence: gaps in audit serial numbers (not checked for ausearch
output), printk rate limiting ("kauditd_printk_skb: N callbacks
suppressed", "printk: N messages suppressed"), audit_lost=/backlog/rate
limit messages, /dev/kmsg sequence gaps, console "printk messages
dropped", journald "Missed N kernel messages", over-long lines. A record
count from a lossy log may be short; a clean log can still have lost
records after its last one.

Exit status: 0 parsed (loss evidence is reported but not an error unless
--strict); 2 usage error, unreadable input, or not a log (binary data
in the first 64 KiB, or text with no line in a known log form);
3 with --strict when loss evidence was found`

// cmdAudit implements `imasim audit`.
func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("audit", auditSynopsis, stderr)
	format := addFormat(fs, "text", "json")
	strict := fs.Bool("strict", false, "exit 3 when the log shows evidence of lost records")
	summary := fs.Bool("summary", false, "print only counts and loss evidence, not each record")
	noGaps := fs.Bool("no-serial-gaps", false, "do not treat audit serial gaps as loss (for logs filtered by type)")
	marker := fs.String("marker", "", "also print log lines containing this text (e.g. step markers written to /dev/kmsg)")
	types := fs.String("types", "", "comma-separated record types to print, by number or name (e.g. 1805,INTEGRITY_PCR); default all")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "imasim audit: want exactly one FILE (or - for stdin)")
		fs.Usage()
		return exitUsage
	}
	fmtName, err := format.get("text", "json")
	if err != nil {
		fmt.Fprintf(stderr, "imasim audit: %v\n", err)
		return exitUsage
	}
	want, err := parseTypes(*types)
	if err != nil {
		fmt.Fprintf(stderr, "imasim audit: %v\n", err)
		return exitUsage
	}

	name := pos[0]
	f, err := input.Open(ctx, name)
	if err != nil {
		fmt.Fprintf(stderr, "imasim audit: %v\n", err)
		return exitUsage
	}
	defer f.Close()
	if name == "-" {
		name = "<stdin>"
	}
	in, err := maybeGunzip(f)
	if err != nil {
		fmt.Fprintf(stderr, "imasim audit: %s: %v\n", name, err)
		return exitUsage
	}

	var p auditPrinter
	var out *bufio.Writer
	if fmtName == "json" {
		out = bufio.NewWriter(stdout)
		p = &auditJSON{w: out, summary: *summary}
	} else {
		out = bufio.NewWriter(safeWriter{stdout}) // log text is untrusted
		p = &auditText{w: out, summary: *summary}
	}
	defer out.Flush()
	s := audit.NewScannerOptions(in, audit.Options{NoSerialGaps: *noGaps, Marker: *marker})
	perFile := map[string]int{}
	p.begin(name)
	for s.Scan() {
		r := s.Record()
		if r.Type == audit.TypeRule {
			perFile[r.Path()]++
		}
		if r.Marker != "" || want == nil || want[r.Type] {
			p.record(r)
		}
	}
	if err := s.Err(); err != nil {
		out.Flush()
		fmt.Fprintf(stderr, "imasim audit: %s: %v\n", name, err)
		return exitUsage
	}
	st := s.Stats()
	loss := s.Loss()
	res := auditResult{Stats: st, Loss: loss, PerFile: perFile}
	if k, ok := s.Kernel(); ok {
		res.Kernel = &k
	}
	p.end(res)
	if err := out.Flush(); err != nil {
		fmt.Fprintf(stderr, "imasim audit: writing output: %v\n", err)
		return exitUsage
	}
	if *strict && loss.Lossy() {
		fmt.Fprintf(stderr, "imasim audit: %s: the log lost records (evidence %d); counts are not reliable\n", name, len(loss.Evidence)+loss.More)
		return exitInconcl
	}
	return exitOK
}

// parseTypes parses the --types list; nil means all.
func parseTypes(s string) (map[audit.Type]bool, error) {
	items := splitList(s)
	if len(items) == 0 {
		return nil, nil
	}
	m := map[audit.Type]bool{}
	for _, it := range items {
		if n, err := strconv.Atoi(it); err == nil && audit.Type(n).Integrity() {
			m[audit.Type(n)] = true
			continue
		}
		found := false
		for t := audit.Type(1800); t <= 1899; t++ {
			if strings.EqualFold(t.String(), it) {
				m[t], found = true, true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("--types: unknown integrity record type %q (want 1800-1899 or a name like INTEGRITY_RULE)", it)
		}
	}
	return m, nil
}

// maybeGunzip undoes gzip when the input starts with its magic number.
func maybeGunzip(r io.Reader) (io.Reader, error) {
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

type auditResult struct {
	Stats   audit.Stats
	Loss    audit.Loss
	Kernel  *audit.Kernel
	PerFile map[string]int
}

type auditPrinter interface {
	begin(name string)
	record(r audit.Record)
	end(res auditResult)
}

// fileCount is one row of the per-file INTEGRITY_RULE count, sorted by
// path for deterministic output.
type fileCount struct {
	Path  string `json:"path"`
	Count int    `json:"count"`
}

func sortedCounts(m map[string]int) []fileCount {
	out := make([]fileCount, 0, len(m))
	for p, n := range m {
		out = append(out, fileCount{p, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// showPath quotes a path that holds spaces or unprintable bytes.
func showPath(p string) string {
	if p == "" {
		return "-"
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c > '~' || c == '"' {
			return strconv.Quote(p)
		}
	}
	return p
}

// showValue quotes a value that would not read as one token.
func showValue(v string) string {
	if v == "" {
		return `""`
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c > '~' || c == '"' {
			return strconv.Quote(v)
		}
	}
	return v
}

// detail renders the fields shown after the path, per record type.
func detail(r audit.Record) string {
	var keys []string
	switch r.Type {
	case audit.TypeRule:
		keys = []string{"hash", "pid", "uid", "euid", "comm"}
	case audit.TypePolicyRule, audit.TypeEVMXattr:
		keys = nil // all fields
	default:
		keys = []string{"op", "cause", "comm", "res"}
	}
	var b strings.Builder
	add := func(f audit.Field) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f.Key)
		if f.Op != 0 {
			b.WriteByte(f.Op)
			b.WriteString(showValue(f.Value))
		}
	}
	if keys == nil {
		for _, f := range r.Fields {
			add(f)
		}
	} else {
		for _, k := range keys {
			for _, f := range r.Fields {
				if f.Key == k {
					add(f)
					break
				}
			}
		}
	}
	if r.Truncated {
		b.WriteString(" (truncated)")
	}
	if r.Joined > 0 {
		fmt.Fprintf(&b, " (joined %d wrapped lines)", r.Joined)
	}
	return b.String()
}

type auditText struct {
	w       *bufio.Writer
	summary bool
	n       int
}

func (t *auditText) begin(name string) {
	fmt.Fprintf(t.w, "# %s\n", name)
}

func (t *auditText) record(r audit.Record) {
	if t.summary {
		return
	}
	if t.n == 0 {
		fmt.Fprintf(t.w, "%-6s %-22s %-8s %-24s %s\n", "LINE", "TYPE", "SERIAL", "PATH", "DETAIL")
	}
	t.n++
	if r.Marker != "" {
		fmt.Fprintf(t.w, "%-6d %-22s %-8s %-24s %s\n", r.Line, "MARKER", "-", "-", r.Marker)
		return
	}
	fmt.Fprintf(t.w, "%-6d %-22s %-8d %-24s %s\n", r.Line, r.Type, r.Serial, showPath(r.Path()), detail(r))
}

func (t *auditText) end(res auditResult) {
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
	types := make([]audit.Type, 0, len(st.ByType))
	for ty := range st.ByType {
		types = append(types, ty)
	}
	sort.Slice(types, func(i, j int) bool { return types[i] < types[j] })
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

	counts := sortedCounts(res.PerFile)
	fmt.Fprintf(w, "\nINTEGRITY_RULE (1805) records per file: %d files\n", len(counts))
	for _, c := range counts {
		fmt.Fprintf(w, "  %5d  %s\n", c.Count, showPath(c.Path))
	}

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

// auditJSON streams one JSON object: records first, then the summary, so
// memory does not grow with the number of records.
type auditJSON struct {
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

func (j *auditJSON) begin(name string) {
	fmt.Fprintf(j.w, "{\"log\":%s,\"records\":[", mustJSON(name))
}

func (j *auditJSON) record(r audit.Record) {
	if j.summary {
		return
	}
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

func (j *auditJSON) end(res auditResult) {
	byType := map[string]int{}
	for ty, n := range res.Stats.ByType {
		byType[ty.String()] = n
	}
	evidence := res.Loss.Evidence
	if evidence == nil {
		evidence = []audit.Evidence{}
	}
	tail := struct {
		Kernel        *audit.Kernel    `json:"kernel,omitempty"`
		Lines         int              `json:"lines"`
		Records       int              `json:"record_count"`
		ByType        map[string]int   `json:"by_type"`
		OtherAudit    int              `json:"other_audit"`
		Skipped       int              `json:"skipped"`
		Duplicates    int              `json:"duplicates"`
		Joined        int              `json:"joined"`
		RulePerFile   []fileCount      `json:"rule_records_per_file"`
		Lossy         bool             `json:"lossy"`
		Evidence      []audit.Evidence `json:"loss_evidence"`
		MoreEvidence  int              `json:"more_evidence,omitempty"`
		Missing       uint64           `json:"missing_serials"`
		SerialChecked bool             `json:"serials_checked"`
		Notes         []string         `json:"notes,omitempty"`
	}{res.Kernel, res.Stats.Lines, res.Stats.Records, byType, res.Stats.OtherAudit,
		res.Stats.Skipped, res.Stats.Duplicates, res.Stats.Joined, sortedCounts(res.PerFile),
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
