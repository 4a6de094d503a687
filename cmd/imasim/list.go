package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/imasim/imasim/internal/input"
	"github.com/imasim/imasim/measure"
	"github.com/imasim/imasim/tpm"
)

const listUsage = `usage: imasim list SUBCOMMAND [flags] FILE

subcommands:
  show FILE                 print a list (binary or ASCII) as the kernel's ascii_runtime_measurements
  verify FILE               replay a list; with --pcrs or --tpm compare with quoted PCRs
                            (exit 0 match, 1 mismatch, 2 bad input)
  convert IN OUT            binary <-> ASCII, byte order, per-bank digests ("-" is stdin/stdout)
  extend FILE --tpm SPEC    extend a list's entries into a TPM (prime a verifier's TPM)

FILE may be binary_runtime_measurements[_ALG] or ascii_runtime_measurements[_ALG]; the format,
the byte order and (from a "_ALG" suffix) the digest bank are detected. Entry indices in
reports are 0-based (entry 0 is boot_aggregate). Run
'imasim list SUBCOMMAND -h' for flags.
`

// cmdList dispatches the list subcommands.
func cmdList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, listUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub := map[string]func(context.Context, []string, io.Writer, io.Writer) int{
		"show":    listShow,
		"verify":  listVerify,
		"convert": listConvert,
		"extend":  listExtend,
	}[args[0]]
	if sub == nil {
		fmt.Fprintf(stderr, "imasim list: unknown subcommand %q\n%s", args[0], listUsage)
		return exitUsage
	}
	return sub(ctx, args[1:], stdout, stderr)
}

// inputFlags are the flags describing an input list.
type inputFlags struct {
	order string
	bank  string
}

func addInputFlags(fs *flag.FlagSet, prefix string) *inputFlags {
	f := &inputFlags{}
	fs.StringVar(&f.order, prefix+"order", "auto", "byte order of a binary list: auto|le|be (le is also ima_canonical_fmt)")
	fs.StringVar(&f.bank, prefix+"bank", "", "template digest bank of the file (default: from a _ALG file name suffix, else sha1)")
	return f
}

func parseOrder(s string, allowAuto bool) (binary.ByteOrder, error) {
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

func orderName(o binary.ByteOrder) string {
	if o == binary.BigEndian {
		return "be"
	}
	return "le"
}

// bankFromName infers the digest bank from a "_<algo>" file name suffix.
func bankFromName(path string) measure.Algo {
	base := filepath.Base(path)
	if i := strings.LastIndexByte(base, '_'); i >= 0 {
		if a, err := measure.ParseAlgo(base[i+1:]); err == nil {
			return a
		}
	}
	return 0
}

// openedList is an input list: its reader and what was detected.
type openedList struct {
	rd     measure.EntryReader
	bin    *measure.Reader // nil for ASCII
	bank   measure.Algo
	ascii  bool
	closer io.Closer
	base   int64 // byte offset the binary reader started at (after a resume seek)
}

func (o *openedList) Close() error {
	if o.closer != nil {
		return o.closer.Close()
	}
	return nil
}

// errEmptyList: a kernel's list always starts with boot_aggregate.
var errEmptyList = errors.New("not an IMA list: empty input (a kernel's measurement list starts with boot_aggregate)")

// openList opens path ("-" for stdin), detecting binary versus ASCII.
func openList(ctx context.Context, path string, in *inputFlags) (*openedList, error) {
	order, err := parseOrder(in.order, true)
	if err != nil {
		return nil, err
	}
	bank := bankFromName(path)
	if in.bank != "" {
		if bank, err = measure.ParseAlgo(in.bank); err != nil {
			return nil, err
		}
	}
	ol := &openedList{bank: bank}
	f, err := input.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	r := io.Reader(f)
	ol.closer = f
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(4)
	if len(head) == 0 {
		f.Close()
		return nil, errEmptyList
	}
	if looksASCII(head) {
		ol.ascii = true
		ol.rd = namedReader{measure.NewASCIIReader(br, measure.ReadOptions{Order: order, Bank: bank}), path}
	} else {
		ol.bin = measure.NewReader(br, measure.ReadOptions{Order: order, Bank: bank})
		ol.rd = namedReader{ol.bin, path}
	}
	return ol, nil
}

// looksASCII tells an ASCII list ("10 ab12…", " 9 …") from a binary one,
// whose first u32 is a PCR index below 24 in either byte order.
func looksASCII(head []byte) bool {
	if len(head) < 4 {
		return len(head) > 0 && (head[0] == ' ' || head[0] >= '0' && head[0] <= '9')
	}
	le, be := binary.LittleEndian.Uint32(head), binary.BigEndian.Uint32(head)
	if le < measure.NumPCRs || be < measure.NumPCRs {
		return false
	}
	return head[0] == ' ' || head[0] >= '0' && head[0] <= '9'
}

// namedReader prefixes read errors with the list's file name.
type namedReader struct {
	measure.EntryReader
	name string
}

func (n namedReader) Next() (*measure.Entry, error) {
	e, err := n.EntryReader.Next()
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: %w", n.name, err)
	}
	return e, err
}

// inputError prints err and returns the exit code for bad input.
func inputError(stderr io.Writer, verb string, err error) int {
	fmt.Fprintf(stderr, "imasim list %s: %v\n", verb, err)
	return exitUsage
}

func listShow(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("list show", "list show [flags] FILE", stderr)
	in := addInputFlags(fs, "")
	out := fs.String("out-bank", "", "print template digests of this bank, as ascii_runtime_measurements_ALG does (default: the file's)")
	ff := addFormat(fs, "text", "json")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	format, err := ff.get("text", "json")
	if err != nil || len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	ol, err := openList(ctx, pos[0], in)
	if err != nil {
		return inputError(stderr, "show", err)
	}
	defer ol.Close()
	bank := ol.bank
	if *out != "" {
		if bank, err = measure.ParseAlgo(*out); err != nil {
			return inputError(stderr, "show", err)
		}
	}
	// The kernel's ASCII form prints names as they are: kept for files
	// and pipes, control characters shown as \xNN on a terminal.
	sink := stdout
	if format != "json" && terminal(stdout) {
		sink = safeWriter{stdout}
	}
	w := bufio.NewWriterSize(sink, 64<<10)
	defer w.Flush()
	if format == "json" {
		err = showJSON(w, ol.rd, bank)
	} else {
		err = measure.WriteASCII(w, ol.rd, bank)
	}
	if err != nil {
		w.Flush()
		return inputError(stderr, "show", err)
	}
	return exitOK
}

// jsonEntry is one entry in `list show --format json`.
type jsonEntry struct {
	Index     int      `json:"index"`
	PCR       int      `json:"pcr"`
	Digest    string   `json:"digest"`
	Template  string   `json:"template"`
	Violation bool     `json:"violation,omitempty"`
	Algo      string   `json:"file_digest_algo,omitempty"`
	File      string   `json:"file_digest,omitempty"`
	Name      string   `json:"name,omitempty"`
	Fields    []string `json:"fields"`
}

func showJSON(w io.Writer, rd measure.EntryReader, bank measure.Algo) error {
	fmt.Fprint(w, "{\"schema\":1,\"entries\":[")
	for i := 0; ; i++ {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		je := jsonEntry{Index: i, PCR: e.PCR, Digest: hex.EncodeToString(e.DigestIn(bank)),
			Template: e.Template.ListName(), Violation: e.IsViolation(), Fields: make([]string, len(e.Fields))}
		for j := range e.Fields {
			je.Fields[j] = e.FieldText(j)
		}
		if p, d, ok := e.FileDigest(); ok {
			je.Algo, je.File = p, hex.EncodeToString(d)
		}
		je.Name, _ = e.FileName()
		b, err := json.Marshal(je)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprint(w, ",")
		}
		fmt.Fprintf(w, "\n%s", b)
	}
	_, err := fmt.Fprint(w, "\n]}\n")
	return err
}

// pcrsFlag collects repeatable --pcrs [ALG,]FILE values.
type pcrsFlag []string

func (p *pcrsFlag) String() string     { return strings.Join(*p, " ") }
func (p *pcrsFlag) Set(s string) error { *p = append(*p, s); return nil }

// maxPCRs bounds a --pcrs file: 24 PCRs of every bank fit in 16 KiB.
const maxPCRs = 1 << 20

// loadPCRs reads --pcrs values into a quote.
func loadPCRs(ctx context.Context, specs []string) (measure.Quote, error) {
	q := measure.Quote{}
	for _, spec := range specs {
		var algo measure.Algo
		path := spec
		if alg, p, ok := strings.Cut(spec, ","); ok {
			a, err := measure.ParseAlgo(alg)
			if err != nil {
				return nil, fmt.Errorf("--pcrs %s: %w", spec, err)
			}
			algo, path = a, p
		}
		b, err := input.ReadFile(ctx, path, maxPCRs)
		if err != nil {
			return nil, fmt.Errorf("--pcrs: %w", err)
		}
		pq, err := measure.ParsePCRs(bytes.NewReader(b), algo)
		if err != nil {
			return nil, fmt.Errorf("--pcrs %s: %w", path, err)
		}
		for a, m := range pq {
			for i := range m {
				if _, dup := q[a][i]; dup {
					return nil, fmt.Errorf("--pcrs %s: %s PCR %d given twice", path, a, i)
				}
			}
		}
		q.Merge(pq)
	}
	return q, nil
}

// tpmBanks maps a backend's banks to measure algorithms, dropping the ones
// imasim cannot hash.
func tpmBanks(p tpm.PCRs) []measure.Algo {
	var known []measure.Algo
	for _, h := range p.Banks() {
		if a, ok := measure.AlgoFromCrypto(h); ok {
			known = append(known, a)
		}
	}
	return known
}

// quoteFromTPM reads every PCR of every bank the backend has.
func quoteFromTPM(spec string) (measure.Quote, error) {
	p, err := tpm.Open(spec)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	q := measure.Quote{}
	known := tpmBanks(p)
	for i := 0; i < measure.NumPCRs; i++ {
		vals, err := p.Read(i)
		if err != nil {
			return nil, fmt.Errorf("reading PCR %d: %w", i, err)
		}
		for _, a := range known {
			h, _ := a.CryptoHash()
			if v, ok := vals[h]; ok {
				if q[a] == nil {
					q[a] = map[int][]byte{}
				}
				q[a][i] = v
			}
		}
	}
	return q, nil
}

func listVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("list verify", "list verify [flags] FILE", stderr)
	in := addInputFlags(fs, "")
	var pcrs pcrsFlag
	fs.Var(&pcrs, "pcrs", "quoted PCRs: [ALG,]FILE with 'PCR-NN: hex' lines (sparse is fine), tpm2_pcrread output,\nor one bare hex value (taken as PCR 10); ALG inferred from 20/48/64-byte values (repeatable)")
	tpmSpec := fs.String("tpm", "", "read the quoted PCRs from this TPM backend (software, swtpm:…, /dev/tpmrm0, …);\nof all quoted PCRs, only those the list extends are compared")
	banksF := fs.String("banks", "", "banks to replay, comma-separated (default: the quoted banks, else sha1,sha256)")
	modesF := fs.String("modes", "", "replay modes: per-bank,sha1-padded,fallback (default: per-bank, and the\nother two for a bank that per-bank does not match or that has no quote)")
	stateIn := fs.String("state", "", "resume from this saved replay state (JSON) instead of replaying from the start")
	stateOut := fs.String("save-state", "", "write the replay state after the last entry to this file")
	ff := addFormat(fs, "text", "json")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	format, err := ff.get("text", "json")
	if err != nil || len(pos) != 1 {
		if err != nil {
			fmt.Fprintln(stderr, err)
		}
		fs.Usage()
		return exitUsage
	}
	bad := func(err error) int { return inputError(stderr, "verify", err) }

	quote, err := loadPCRs(ctx, pcrs)
	if err != nil {
		return bad(err)
	}
	if *tpmSpec != "" {
		tq, err := quoteFromTPM(*tpmSpec)
		if err != nil {
			return bad(fmt.Errorf("--tpm %s: %w", *tpmSpec, err))
		}
		quote.Merge(tq)
	}
	// Like evmctl, compare only the PCRs the list extends: a full PCR dump
	// also holds firmware PCRs.
	cfg := measure.ReplayConfig{Quote: quote, OnlyExtended: true}
	for _, s := range splitList(*banksF) {
		a, err := measure.ParseAlgo(s)
		if err != nil {
			return bad(fmt.Errorf("--banks: %w", err))
		}
		cfg.Banks = append(cfg.Banks, a)
	}
	for _, s := range splitList(*modesF) {
		m, err := measure.ParseMode(s)
		if err != nil {
			return bad(fmt.Errorf("--modes: %w", err))
		}
		cfg.Modes = append(cfg.Modes, m)
	}
	var st *measure.State
	if *stateIn != "" {
		if st, err = readState(ctx, *stateIn); err != nil {
			return bad(err)
		}
		// Without --banks/--modes, resume exactly the saved tracks.
		for _, ts := range st.Tracks {
			a, aerr := measure.ParseAlgo(ts.Bank)
			m, merr := measure.ParseMode(ts.Mode)
			if aerr != nil || merr != nil {
				return bad(fmt.Errorf("--state %s: bad track %s %s", *stateIn, ts.Bank, ts.Mode))
			}
			if *banksF == "" && !slices.Contains(cfg.Banks, a) {
				cfg.Banks = append(cfg.Banks, a)
			}
			if *modesF == "" && !slices.Contains(cfg.Modes, m) {
				cfg.Modes = append(cfg.Modes, m)
			}
		}
	}
	rp, err := measure.NewReplayer(cfg)
	if err != nil {
		return bad(err)
	}

	ol, err := openList(ctx, pos[0], in)
	if err != nil {
		return bad(err)
	}
	defer ol.Close()
	if st != nil {
		if err := resumeState(*st, rp, ol); err != nil {
			return bad(fmt.Errorf("--state %s: %w", *stateIn, err))
		}
	}
	if err := rp.AddAll(ol.rd); err != nil {
		return bad(err)
	}
	res := rp.Result()
	if *stateOut != "" {
		var off int64
		st := rp.State(0)
		if ol.bin != nil {
			off = ol.base + ol.bin.Offset()
			st = rp.State(off)
			st.Order = orderName(ol.bin.Order())
		}
		b, _ := json.MarshalIndent(st, "", "  ")
		if err := os.WriteFile(*stateOut, append(b, '\n'), 0o644); err != nil {
			return bad(err)
		}
	}
	verr := res.Verify()
	if verr == nil && len(quote) > 0 && len(res.Verdicts()) == 0 {
		verr = fmt.Errorf("none of the quoted PCRs is extended by the list (%d entries)", res.Entries)
	}
	if format == "json" {
		writeVerifyJSON(stdout, res, verr)
	} else {
		writeVerifyText(stdout, res, len(quote) > 0)
	}
	if verr != nil {
		fmt.Fprintf(stderr, "imasim list verify: %v\n", verr)
		return exitFail
	}
	return exitOK
}

// maxState bounds a --state file: it holds one PCR value per bank.
const maxState = 1 << 20

func readState(ctx context.Context, path string) (*measure.State, error) {
	b, err := input.ReadFile(ctx, path, maxState)
	if err != nil {
		return nil, fmt.Errorf("--state: %w", err)
	}
	var st measure.State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("--state %s: %w", path, err)
	}
	return &st, nil
}

// resumeState loads a saved state into rp and positions the list after
// the entries it covers: by seeking a binary file, else by skipping.
func resumeState(st measure.State, rp *measure.Replayer, ol *openedList) error {
	if err := rp.Resume(st); err != nil {
		return err
	}
	type seekFile interface {
		io.ReadSeeker
		Stat() (os.FileInfo, error)
	}
	if f, ok := ol.closer.(seekFile); ok && ol.bin != nil && st.Offset > 0 {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() < st.Offset {
			return fmt.Errorf("list has %d bytes, fewer than the saved state's %d", fi.Size(), st.Offset)
		}
		if _, err := f.Seek(st.Offset, io.SeekStart); err == nil {
			order, _ := parseOrder(st.Order, false)
			if order == nil {
				order = binary.LittleEndian
			}
			ol.bin = measure.NewReader(f, measure.ReadOptions{Order: order, Bank: ol.bank})
			ol.rd = ol.bin
			ol.base = st.Offset
			return nil
		}
	}
	for i := 0; i < st.Entries; i++ {
		if _, err := ol.rd.Next(); err != nil {
			if err == io.EOF {
				err = fmt.Errorf("list has fewer entries than the saved state's %d", st.Entries)
			}
			return err
		}
	}
	return nil
}

func writeVerifyText(w io.Writer, res *measure.Result, quoted bool) {
	digests := "ok"
	if res.DigestErrorCount > 0 {
		digests = fmt.Sprintf("%d wrong (entries %v)", res.DigestErrorCount, res.DigestErrors)
	}
	fmt.Fprintf(w, "entries: %d  violations: %d  template digests: %s\n", res.Entries, res.Violations, digests)
	verdicts := map[measure.Algo]measure.BankVerdict{}
	for _, v := range res.Verdicts() {
		verdicts[v.Bank] = v
	}
	for _, t := range res.Tracks {
		for _, p := range t.PCRs {
			status := ""
			switch {
			case p.Want == nil:
			case p.Matched():
				status = fmt.Sprintf("  match at entry %s", joinInts(p.Matches))
			default:
				status = "  no match, quoted " + hex.EncodeToString(p.Want)
			}
			fmt.Fprintf(w, "%-6s %-11s PCR %2d: %x%s\n", t.Bank, t.Mode, p.PCR, p.Value, status)
		}
	}
	if !quoted {
		return
	}
	for _, v := range res.Verdicts() {
		if v.Matched {
			var idx []string
			for _, p := range sortedKeys(v.Index) {
				idx = append(idx, fmt.Sprintf("PCR %d at entry %d", p, v.Index[p]))
			}
			fmt.Fprintf(w, "%s: match (%s): %s\n", v.Bank, v.Mode, strings.Join(idx, ", "))
		} else {
			fmt.Fprintf(w, "%s: MISMATCH in every mode\n", v.Bank)
		}
	}
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}

func sortedKeys(m map[int]int) []int {
	k := make([]int, 0, len(m))
	for i := range m {
		k = append(k, i)
	}
	sort.Ints(k)
	return k
}

func writeVerifyJSON(w io.Writer, res *measure.Result, verr error) {
	type pcrJSON struct {
		PCR     int    `json:"pcr"`
		Value   string `json:"value"`
		Want    string `json:"want,omitempty"`
		Matches []int  `json:"matches,omitempty"`
	}
	type trackJSON struct {
		Bank string    `json:"bank"`
		Mode string    `json:"mode"`
		PCRs []pcrJSON `json:"pcrs"`
	}
	type verdictJSON struct {
		Bank    string         `json:"bank"`
		Matched bool           `json:"matched"`
		Mode    string         `json:"mode,omitempty"`
		Index   map[string]int `json:"index,omitempty"`
	}
	out := struct {
		Schema       int           `json:"schema"`
		Result       string        `json:"result"`
		Error        string        `json:"error,omitempty"`
		Entries      int           `json:"entries"`
		Violations   int           `json:"violations"`
		DigestErrors int           `json:"digest_errors"`
		Banks        []verdictJSON `json:"banks"`
		Tracks       []trackJSON   `json:"tracks"`
	}{Schema: 1, Result: "match", Entries: res.Entries, Violations: res.Violations, DigestErrors: res.DigestErrorCount}
	if verr != nil {
		out.Result, out.Error = "mismatch", verr.Error()
	}
	for _, v := range res.Verdicts() {
		vj := verdictJSON{Bank: v.Bank.String(), Matched: v.Matched}
		if v.Matched {
			vj.Mode = v.Mode.String()
			vj.Index = map[string]int{}
			for p, i := range v.Index {
				vj.Index[fmt.Sprint(p)] = i
			}
		}
		out.Banks = append(out.Banks, vj)
	}
	for _, t := range res.Tracks {
		tj := trackJSON{Bank: t.Bank.String(), Mode: t.Mode.String()}
		for _, p := range t.PCRs {
			pj := pcrJSON{PCR: p.PCR, Value: hex.EncodeToString(p.Value), Matches: p.Matches}
			if p.Want != nil {
				pj.Want = hex.EncodeToString(p.Want)
			}
			tj.PCRs = append(tj.PCRs, pj)
		}
		out.Tracks = append(out.Tracks, tj)
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Fprintf(w, "%s\n", b)
}

func listConvert(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("list convert", "list convert [flags] IN OUT", stderr)
	in := addInputFlags(fs, "in-")
	to := fs.String("to", "", "output format: binary|ascii (default: the other one)")
	order := fs.String("order", "le", "output byte order for binary: le|be (digests are recomputed when it changes)")
	bankF := fs.String("bank", "", "output template digest bank: sha1 for the legacy files, else a _ALG file\n(default: the input's, from its _ALG name suffix or --in-bank; sha1 for binary output otherwise)")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 2 {
		fs.Usage()
		return exitUsage
	}
	bad := func(err error) int { return inputError(stderr, "convert", err) }
	o, err := parseOrder(*order, false)
	if err != nil {
		return bad(err)
	}
	ol, err := openList(ctx, pos[0], in)
	if err != nil {
		return bad(err)
	}
	defer ol.Close()
	bank := ol.bank
	if *bankF != "" {
		if bank, err = measure.ParseAlgo(*bankF); err != nil {
			return bad(err)
		}
	}
	format := *to
	if format == "" {
		format = map[bool]string{true: "binary", false: "ascii"}[ol.ascii]
	}
	if format != "binary" && format != "ascii" {
		return bad(fmt.Errorf("--to %q: want binary|ascii", format))
	}
	// Stream into OUT.tmp and rename, so a bad input leaves no partial OUT.
	var w io.Writer = stdout
	var tmp *os.File
	if pos[1] != "-" {
		if tmp, err = os.Create(pos[1] + ".tmp"); err != nil {
			return bad(err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		w = tmp
	}
	if format == "ascii" {
		err = measure.WriteASCII(w, ol.rd, bank)
	} else {
		err = convertBinary(w, ol.rd, measure.WriteOptions{Order: o, Bank: bank})
	}
	if err != nil {
		return bad(err)
	}
	if tmp != nil {
		if err := tmp.Close(); err != nil {
			return bad(err)
		}
		if err := os.Rename(tmp.Name(), pos[1]); err != nil {
			return bad(err)
		}
	}
	return exitOK
}

func convertBinary(w io.Writer, rd measure.EntryReader, opt measure.WriteOptions) error {
	bw := measure.NewWriter(w, opt)
	for {
		e, err := rd.Next()
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

func listExtend(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("list extend", "list extend [flags] FILE --tpm SPEC", stderr)
	in := addInputFlags(fs, "")
	tpmSpec := fs.String("tpm", "", "TPM backend to extend (required): software, swtpm:…, device[:PATH], …")
	modeF := fs.String("mode", "per-bank", "how to extend: per-bank (kernels >= 5.8) or sha1-padded (older kernels)")
	pcrF := fs.Int("pcr", 0, "backend PCR standing in for PCR 10 (default 10; 23 on a device)")
	allowReal := fs.Bool("allow-real-pcr", false, "let a device backend extend a PCR that cannot be reset (e.g. --pcr 10)")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || *tpmSpec == "" {
		fs.Usage()
		return exitUsage
	}
	bad := func(err error) int { return inputError(stderr, "extend", err) }
	mode, err := measure.ParseMode(*modeF)
	if err != nil || mode == measure.Fallback {
		return bad(fmt.Errorf("--mode %q: want per-bank|sha1-padded", *modeF))
	}
	ol, err := openList(ctx, pos[0], in)
	if err != nil {
		return bad(err)
	}
	defer ol.Close()
	p, err := tpm.OpenContext(context.Background(), *tpmSpec, tpm.Options{PCR: *pcrF, AllowRealPCR: *allowReal})
	if err != nil {
		fmt.Fprintf(stderr, "imasim list extend: --tpm %s: %v\n", *tpmSpec, err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, tpm.ErrNoSimulator) {
			return exitCannot
		}
		return exitUsage
	}
	defer p.Close()
	banks := p.Banks()
	n, used := 0, map[int]bool{}
	for {
		e, err := ol.rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintf(stderr, "imasim list extend: %v (after extending %d entries into %s)\n", err, n, *tpmSpec)
			return exitUsage
		}
		if err := p.Extend(e.PCR, extendDigests(e, banks, mode)); err != nil {
			fmt.Fprintf(stderr, "imasim list extend: entry %d: %v (%d entries were extended before it)\n", n, err, n)
			return exitFail
		}
		used[e.PCR] = true
		n++
	}
	fmt.Fprintf(stdout, "extended %d entries into %s (%s)\n", n, *tpmSpec, mode)
	for i := 0; i < measure.NumPCRs; i++ {
		if !used[i] {
			continue
		}
		vals, err := p.Read(i)
		if err != nil {
			fmt.Fprintf(stderr, "imasim list extend: reading PCR %d: %v\n", i, err)
			return exitFail
		}
		for _, h := range banks {
			name := h.String()
			if a, ok := measure.AlgoFromCrypto(h); ok {
				name = a.String()
			}
			fmt.Fprintf(stdout, "%-6s PCR %2d: %x\n", name, i, vals[h])
		}
	}
	return exitOK
}

// extendDigests gives one digest per TPM bank for e, as the kernel
// computes them; banks imasim does not know get the padded SHA-1 digest, as
// the kernel gives banks it does not know.
func extendDigests(e *measure.Entry, banks []crypto.Hash, mode measure.Mode) map[crypto.Hash][]byte {
	out := map[crypto.Hash][]byte{}
	for _, h := range banks {
		if a, ok := measure.AlgoFromCrypto(h); ok {
			out[h] = e.ExtendDigest(a, mode)
		} else {
			out[h] = e.PaddedDigest(h.Size())
		}
	}
	return out
}
