package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
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

// addInputFlags registers the flags describing an input list.
func addInputFlags(fs *flag.FlagSet, prefix string) *measure.OpenOptions {
	o := &measure.OpenOptions{}
	fs.StringVar(&o.Order, prefix+"order", "auto", "byte order of a binary list: auto|le|be (le is also ima_canonical_fmt)")
	fs.StringVar(&o.Bank, prefix+"bank", "", "template digest bank of the file (default: from a _ALG file name suffix, else sha1)")
	return o
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
	ol, err := measure.OpenList(ctx, pos[0], *in)
	if err != nil {
		return inputError(stderr, "show", err)
	}
	defer ol.Close()
	bank := ol.Bank()
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
		err = measure.WriteJSON(w, ol, bank)
	} else {
		err = measure.WriteASCII(w, ol, bank)
	}
	if err != nil {
		w.Flush()
		return inputError(stderr, "show", err)
	}
	return exitOK
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

// quoteFromTPM reads every PCR of every bank the backend has.
func quoteFromTPM(spec string) (measure.Quote, error) {
	p, err := tpm.Open(spec)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	vals, err := tpm.ReadAll(p, measure.NumPCRs)
	if err != nil {
		return nil, err
	}
	return measure.QuoteOf(p.Banks(), vals), nil
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
		banks, modes, err := st.Resumed()
		if err != nil {
			return bad(fmt.Errorf("--state %s: %w", *stateIn, err))
		}
		if *banksF == "" {
			cfg.Banks = banks
		}
		if *modesF == "" {
			cfg.Modes = modes
		}
	}
	rp, err := measure.NewReplayer(cfg)
	if err != nil {
		return bad(err)
	}

	ol, err := measure.OpenList(ctx, pos[0], *in)
	if err != nil {
		return bad(err)
	}
	defer ol.Close()
	if st != nil {
		if err := ol.Resume(*st, rp); err != nil {
			return bad(fmt.Errorf("--state %s: %w", *stateIn, err))
		}
	}
	if err := rp.AddAll(ol); err != nil {
		return bad(err)
	}
	res := rp.Result()
	if *stateOut != "" {
		b, _ := json.MarshalIndent(ol.State(rp), "", "  ")
		if err := os.WriteFile(*stateOut, append(b, '\n'), 0o644); err != nil {
			return bad(err)
		}
	}
	verr := res.VerifyQuoted(len(quote) > 0)
	if format == "json" {
		res.WriteJSON(stdout, verr)
	} else {
		res.WriteText(stdout, len(quote) > 0)
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
	o, err := measure.ParseOrder(*order, false)
	if err != nil {
		return bad(err)
	}
	ol, err := measure.OpenList(ctx, pos[0], *in)
	if err != nil {
		return bad(err)
	}
	defer ol.Close()
	bank := ol.Bank()
	if *bankF != "" {
		if bank, err = measure.ParseAlgo(*bankF); err != nil {
			return bad(err)
		}
	}
	format := *to
	if format == "" {
		format = map[bool]string{true: "binary", false: "ascii"}[ol.ASCII()]
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
		err = measure.WriteASCII(w, ol, bank)
	} else {
		err = measure.WriteBinary(w, ol, measure.WriteOptions{Order: o, Bank: bank})
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
	ol, err := measure.OpenList(ctx, pos[0], *in)
	if err != nil {
		return bad(err)
	}
	defer ol.Close()
	p, err := tpm.OpenContext(context.Background(), *tpmSpec, tpm.Options{PCR: *pcrF, AllowRealPCR: *allowReal})
	if err != nil {
		fmt.Fprintf(stderr, "imasim list extend: --tpm %s: %v\n", *tpmSpec, err)
		if tpm.CannotRun(err) {
			return exitCannot
		}
		return exitUsage
	}
	defer p.Close()
	banks := p.Banks()
	n, used := 0, map[int]bool{}
	for {
		e, err := ol.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintf(stderr, "imasim list extend: %v (after extending %d entries into %s)\n", err, n, *tpmSpec)
			return exitUsage
		}
		if err := p.Extend(e.PCR, e.ExtendDigests(banks, mode)); err != nil {
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
