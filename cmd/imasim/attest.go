package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/imasim/imasim/internal/input"
	"github.com/imasim/imasim/measure"
	"github.com/imasim/imasim/measure/digsig"
	"github.com/imasim/imasim/measure/keylime"
	"github.com/imasim/imasim/tpm"
	"github.com/imasim/imasim/tpm/attest"
	"github.com/imasim/imasim/tpm/eventlog"
)

const attestUsage = `usage: imasim attest SUBCOMMAND|SCENARIO [flags]

  quote --tpm SPEC -o DIR [--extend LIST] [--select SEL] [--nonce HEX] [--ak rsa|ecc]
        create an AK on the TPM and quote PCRs; DIR gets quote.msg (TPMS_ATTEST),
        quote.sig (TPMT_SIGNATURE), quote.pcrs (the values), ak.pub.pem, ak.pub and nonce
  verify DIR --nonce HEX [--ak PEM] [--list FILE] [--policy FILE] [--ima-pcr N]
        check signature, nonce and PCR digest; replay the list against the quoted PCR;
        check the attested entries against a keylime runtime policy
  policy LIST [-o FILE]
        the keylime runtime policy keylime-policy makes from the list
  check POLICY LIST [--keys CERT,...]
        check a list against a keylime runtime policy as keylime's verifier does
  boot-aggregate EVENTLOG [--list LIST] [--pcrs-from DIR --nonce HEX]
        boot_aggregate per bank from a TPM event log (binary_bios_measurements);
        with --list, check the list's first entry; with a quote of PCRs 0-9, check the log
  sigs LIST --keys CERT,...
        verify the ima-sig signatures and ima-modsig appended signatures a list carries
  sign FILE... [--key KEY.pem [--cert CERT] [--evm]] [--evm-key KEY [--fsuuid auto|none|UUID]]
        write security.ima signatures (and portable security.evm ones), as evmctl does,
        or security.evm HMACs with the EVM key, as the kernel does
  xattrs FILE... [--keys CERT,...] [--evm-key KEY [--fsuuid auto|none|UUID]]
        appraise files on disk: security.ima (hash or signature) against the content,
        security.evm (signature, or HMAC with the EVM key) against the xattrs and inode
  ek --tpm SPEC --ca CERT,... [--ak rsa|ecc] [-o DIR]   (--tpm swtpm --swtpm-ca DIR)
        enrol an AK: the EK certificate in NV must chain to the CA and certify the TPM's
        EK, and the TPM must activate a credential made for the AK under it
  make-credential --ek CERT|PEM --ak-name FILE [--secret FILE] -o CRED [--ca CERT,...]
        the verifier's half: a credential for an AK name (tpm2_makecredential's format)
  activate-credential CRED --tpm SPEC [--ak rsa|ecc] [-o SECRET] [--expect FILE]
        the attester's half: the TPM recovers the secret with its EK and AK
  SCENARIO [--profile P] [--tpm swtpm [--swtpm-ca DIR] | --kernel debian:7.2] [--out DIR] [--fail-on missed]
        run the scenario on a TPM (or on a real kernel under QEMU, quoted by its swtpm),
        quote, verify, check against the policy made from the files as first installed,
        and compare what the verifier accepted with the files on disk

exit codes: 0 verified (a verifier accepting a changed file is reported, not a failure,
unless --fail-on missed), 1 a quote, signature, HMAC, replay, policy, EK certificate or
credential check failed, 2 bad input, 32 no TPM (or no EK certificate) here.
`

// cmdAttest dispatches the attest subcommands; anything else is a scenario.
func cmdAttest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, attestUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	switch args[0] {
	case "quote":
		return attestQuote(ctx, args[1:], stdout, stderr)
	case "verify":
		return attestVerify(ctx, args[1:], stdout, stderr)
	case "policy":
		return attestPolicy(args[1:], stdout, stderr)
	case "check":
		return attestCheck(ctx, args[1:], stdout, stderr)
	case "boot-aggregate":
		return attestBootAggregate(args[1:], stdout, stderr)
	case "xattrs":
		return attestXattrs(ctx, args[1:], stdout, stderr)
	case "sigs":
		return attestSigs(ctx, args[1:], stdout, stderr)
	case "sign":
		return attestSign(ctx, args[1:], stdout, stderr)
	case "ek":
		return attestEK(ctx, args[1:], stdout, stderr)
	case "make-credential":
		return attestMakeCredential(ctx, args[1:], stdout, stderr)
	case "activate-credential":
		return attestActivateCredential(ctx, args[1:], stdout, stderr)
	}
	return attestScenario(ctx, args, stdout, stderr)
}

// openTPMForQuote opens a backend that can quote, mapping failures to exit codes.
func openTPMForQuote(ctx context.Context, verb, spec string, o tpm.Options, stderr io.Writer) (tpm.PCRs, tpm.Commander, int) {
	p, err := tpm.OpenContext(ctx, spec, o)
	if err != nil {
		fmt.Fprintf(stderr, "imasim %s: --tpm %s: %v\n", verb, spec, err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, tpm.ErrNoSimulator) || errors.Is(err, os.ErrNotExist) {
			return nil, nil, exitCannot
		}
		return nil, nil, exitUsage
	}
	c, ok := p.(tpm.Commander)
	if !ok {
		p.Close()
		fmt.Fprintf(stderr, "imasim %s: --tpm %s has no TPM to quote with (use swtpm, simulator or device)\n", verb, spec)
		return nil, nil, exitUsage
	}
	return p, c, exitOK
}

// quoteSelection is PCR pcr of every bank of p, unless sel is given.
func quoteSelection(p tpm.PCRs, c tpm.Commander, sel string) ([]attest.Selection, error) {
	if sel != "" {
		return attest.ParseSelection(sel)
	}
	var out []attest.Selection
	for _, h := range p.Banks() {
		out = append(out, attest.Selection{Hash: h, PCRs: []int{c.BackendPCR(tpm.IMAPCR)}})
	}
	return out, nil
}

// quoteWith creates an AK on c, quotes sel with nonce and flushes the AK.
func quoteWith(c tpm.Commander, kind attest.KeyType, nonce []byte, sel []attest.Selection) (*attest.Evidence, error) {
	var ev *attest.Evidence
	err := c.Command(func(t transport.TPM) error {
		ak, err := attest.CreateAK(t, kind)
		if err != nil {
			return err
		}
		ev, err = attest.Quote(t, ak, nonce, sel)
		return errors.Join(err, ak.Flush(t))
	})
	return ev, err
}

func newNonce() []byte {
	b := make([]byte, 20)
	rand.Read(b)
	return b
}

func parseNonce(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("--nonce: want hex: %w", err)
	}
	if len(b) > attest.MaxNonce {
		return nil, fmt.Errorf("--nonce: %d bytes, at most %d", len(b), attest.MaxNonce)
	}
	return b, nil
}

func attestQuote(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("attest quote", "attest quote --tpm SPEC -o DIR [flags]", stderr)
	tpmSpec := fs.String("tpm", "swtpm", "TPM backend: swtpm (private, fresh), swtpm:unix:SOCK[,ctrl=…], swtpm:tcp:…, simulator, device[:PATH]")
	pcrF := fs.Int("pcr", 0, "backend PCR standing in for PCR 10 (default 10; 23 on a device)")
	allowReal := fs.Bool("allow-real-pcr", false, "let a device backend extend a PCR that cannot be reset")
	extend := fs.String("extend", "", "extend this measurement list into the TPM first (a private swtpm starts empty)")
	selF := fs.String("select", "", "PCRs to quote, tpm2-tools syntax (sha1:10+sha256:10); default: PCR 10 (its stand-in) of every bank")
	nonceF := fs.String("nonce", "", "qualifying data, hex (default: 20 random bytes, written to DIR/nonce)")
	akF := fs.String("ak", "rsa", "AK algorithm: rsa (RSASSA-SHA256) or ecc (ECDSA P-256)")
	out := fs.String("o", "", "directory for the quote files (required)")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 0 || *out == "" {
		fs.Usage()
		return exitUsage
	}
	bad := func(err error) int { fmt.Fprintln(stderr, "imasim attest quote:", err); return exitUsage }
	kind, err := attest.ParseKeyType(*akF)
	if err != nil {
		return bad(err)
	}
	nonce := newNonce()
	if *nonceF != "" {
		if nonce, err = parseNonce(*nonceF); err != nil {
			return bad(err)
		}
	}
	var entries []*measure.Entry
	if *extend != "" {
		if entries, err = readEntries(*extend); err != nil {
			return bad(err)
		}
	}
	p, c, code := openTPMForQuote(ctx, "attest quote", *tpmSpec, tpm.Options{PCR: *pcrF, AllowRealPCR: *allowReal}, stderr)
	if p == nil {
		return code
	}
	defer p.Close()
	sel, err := quoteSelection(p, c, *selF)
	if err != nil {
		return bad(err)
	}
	for i, e := range entries {
		if err := p.Extend(e.PCR, e.ExtendDigests(p.Banks(), measure.PerBank)); err != nil {
			fmt.Fprintf(stderr, "imasim attest quote: --extend entry %d: %v\n", i, err)
			return exitFail
		}
	}
	ev, err := quoteWith(c, kind, nonce, sel)
	if err != nil {
		fmt.Fprintln(stderr, "imasim attest quote:", err)
		return exitFail
	}
	if err := attest.WriteDir(*out, ev); err == nil {
		err = os.WriteFile(filepath.Join(*out, "nonce"), []byte(hex.EncodeToString(nonce)+"\n"), 0o644)
	}
	if err != nil {
		fmt.Fprintln(stderr, "imasim attest quote:", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "quoted %s with a %s AK, nonce %x, into %s\n", attest.FormatSelection(sel), kind, nonce, *out)
	if c.BackendPCR(tpm.IMAPCR) != tpm.IMAPCR {
		fmt.Fprintf(stdout, "PCR %d stands in for PCR 10: verify with --ima-pcr %d\n", c.BackendPCR(tpm.IMAPCR), c.BackendPCR(tpm.IMAPCR))
	}
	fmt.Fprintf(stdout, "check with: tpm2_checkquote -u %s -m %s -s %s -f %s -l %s -g sha256 -q %x\n",
		filepath.Join(*out, attest.AKPEMFile), filepath.Join(*out, attest.AttestFile), filepath.Join(*out, attest.SignatureFile),
		filepath.Join(*out, attest.PCRsFile), attest.FormatSelection(sel), nonce)
	return exitOK
}

// readEntries reads a whole list (binary or ASCII), entries as listed
// (cloned: the readers reuse an entry's memory for the next).
func readEntries(path string) ([]*measure.Entry, error) {
	ol, err := measure.OpenList(context.Background(), path, measure.OpenOptions{Order: "auto"})
	if err != nil {
		return nil, err
	}
	defer ol.Close()
	var out []*measure.Entry
	for {
		e, err := ol.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e.Clone())
	}
}

// entryReader reads a slice of entries.
type entryReader struct {
	es []*measure.Entry
	i  int
}

func (r *entryReader) Next() (*measure.Entry, error) {
	if r.i >= len(r.es) {
		return nil, io.EOF
	}
	r.i++
	return r.es[r.i-1], nil
}

// verification is the verifier's view of one quote, list and policy.
type verification struct {
	Quote struct {
		OK        bool              `json:"ok"`
		Error     string            `json:"error,omitempty"`
		Selection string            `json:"selection,omitempty"`
		SigHash   string            `json:"signature_hash,omitempty"`
		PCRs      map[string]string `json:"pcrs,omitempty"` // "sha256:10" -> hex
		Clock     uint64            `json:"clock_ms,omitempty"`
		Resets    uint32            `json:"reset_count"`
		Restarts  uint32            `json:"restart_count"`
	} `json:"quote"`
	List   *replayCheck `json:"list,omitempty"`
	Policy *allowCheck  `json:"policy,omitempty"`
	OK     bool         `json:"verified"`
}

// replayCheck is the replay of a list against the quoted PCR.
type replayCheck struct {
	Entries int `json:"entries"`
	// Attested is how many entries the quoted PCR covers (the replay
	// equals the quote after entry Attested-1); 0 when it does not match.
	Attested int      `json:"attested"`
	Banks    []string `json:"banks"` // "sha256 per-bank"
	Error    string   `json:"error,omitempty"`
}

// allowCheck is the check of the attested entries against a policy.
type allowCheck struct {
	File     string            `json:"file"`
	Checked  int               `json:"checked"`
	Failed   int               `json:"failed"`
	Excluded int               `json:"excluded"`
	Signed   int               `json:"signed"`
	Findings []keylime.Finding `json:"failures,omitempty"`
	// last is the last finding per path: the verifier's view of the file.
	last map[string]keylime.Finding
}

// verifyAll checks a quote, then replays entries (if any) against the
// quoted IMA PCR, then checks the attested entries against pol (if any).
// It returns an error only for bad input.
func verifyAll(ev *attest.Evidence, nonce []byte, entries []*measure.Entry, imaPCR int, pol *keylime.Policy, polFile string, keys []digsig.Key) (*verification, error) {
	v := &verification{}
	q, err := attest.Verify(ev, nonce)
	var fe *attest.FormatError
	if errors.As(err, &fe) {
		return nil, err
	}
	if err != nil {
		v.Quote.Error = err.Error()
		return v, nil
	}
	v.Quote.OK = true
	v.Quote.Selection = attest.FormatSelection(q.Selection)
	v.Quote.SigHash = attest.HashName(q.SigHash)
	v.Quote.Clock, v.Quote.Resets, v.Quote.Restarts = q.Clock.Clock, q.Clock.ResetCount, q.Clock.RestartCount
	v.Quote.PCRs = map[string]string{}
	quote := measure.Quote{}
	for _, s := range q.Selection {
		for _, i := range s.PCRs {
			v.Quote.PCRs[fmt.Sprintf("%s:%d", attest.HashName(s.Hash), i)] = hex.EncodeToString(q.PCRs[s.Hash][i])
		}
		if val, ok := q.PCRs[s.Hash][imaPCR]; ok {
			if a, ok := measure.AlgoFromCrypto(s.Hash); ok {
				quote[a] = map[int][]byte{tpm.IMAPCR: val}
			}
		}
	}
	v.OK = true
	if entries == nil {
		return v, nil
	}
	v.List = &replayCheck{Entries: len(entries)}
	if len(quote) == 0 {
		v.List.Error = fmt.Sprintf("the quote does not hold PCR %d", imaPCR)
		v.OK = false
		return v, nil
	}
	rp, err := measure.NewReplayer(measure.ReplayConfig{Quote: quote, OnlyExtended: true})
	if err != nil {
		return nil, err
	}
	if err := rp.AddAll(&entryReader{es: entries}); err != nil {
		return nil, err
	}
	res := rp.Result()
	if verr := res.Verify(); verr != nil {
		v.List.Error = verr.Error()
		v.OK = false
		return v, nil
	}
	verdicts := res.Verdicts()
	if len(verdicts) == 0 {
		v.List.Error = fmt.Sprintf("the list does not extend PCR 10 (%d entries)", len(entries))
		v.OK = false
		return v, nil
	}
	v.List.Attested = len(entries)
	for _, bv := range verdicts {
		v.List.Banks = append(v.List.Banks, bv.Bank.String()+" "+bv.Mode.String())
		v.List.Attested = min(v.List.Attested, bv.Index[tpm.IMAPCR]+1)
	}
	if pol == nil {
		return v, nil
	}
	fs, err := pol.CheckKeys(&entryReader{es: entries[:v.List.Attested]}, 0, keys)
	if err != nil {
		return nil, err
	}
	v.Policy = &allowCheck{File: polFile, Checked: len(fs), last: map[string]keylime.Finding{}}
	for _, f := range fs {
		v.Policy.last[f.Path] = f
		switch {
		case f.Failed():
			v.Policy.Failed++
			v.Policy.Findings = append(v.Policy.Findings, f)
			v.OK = false
		case f.Verdict == keylime.Excluded:
			v.Policy.Excluded++
		case f.Verdict == keylime.Signed:
			v.Policy.Signed++
		}
	}
	return v, nil
}

func writeVerification(w io.Writer, v *verification) {
	if !v.Quote.OK {
		fmt.Fprintf(w, "quote   REJECTED: %s\n", v.Quote.Error)
		return
	}
	fmt.Fprintf(w, "quote   ok: signature (%s), nonce, PCR digest over %s; clock %d ms, resets %d, restarts %d\n",
		v.Quote.SigHash, v.Quote.Selection, v.Quote.Clock, v.Quote.Resets, v.Quote.Restarts)
	for _, k := range sortedStrings(v.Quote.PCRs) {
		bank, pcr, _ := strings.Cut(k, ":")
		fmt.Fprintf(w, "        %-6s PCR %2s %s\n", bank, pcr, v.Quote.PCRs[k])
	}
	if v.List != nil {
		switch {
		case v.List.Error != "":
			fmt.Fprintf(w, "list    REJECTED: %d entries do not replay to the quoted PCR: %s\n", v.List.Entries, v.List.Error)
		case v.List.Attested < v.List.Entries:
			fmt.Fprintf(w, "list    ok: entries 0-%d of %d replay to the quoted PCR (%s); the %d after them are not covered by this quote\n",
				v.List.Attested-1, v.List.Entries, strings.Join(v.List.Banks, ", "), v.List.Entries-v.List.Attested)
		default:
			fmt.Fprintf(w, "list    ok: all %d entries replay to the quoted PCR (%s)\n", v.List.Entries, strings.Join(v.List.Banks, ", "))
		}
	}
	if v.Policy != nil {
		status := "ok"
		if v.Policy.Failed > 0 {
			status = "REJECTED"
		}
		fmt.Fprintf(w, "policy  %s: %d attested entries checked against %s: %d failed, %d excluded, %d accepted by signature\n",
			status, v.Policy.Checked, v.Policy.File, v.Policy.Failed, v.Policy.Excluded, v.Policy.Signed)
		for _, f := range v.Policy.Findings {
			fmt.Fprintf(w, "        entry %d %s %s: %s", f.Entry, f.Path, f.Digest, f.Verdict)
			if len(f.Accepted) > 0 {
				fmt.Fprintf(w, " (policy accepts %s)", strings.Join(f.Accepted, ", "))
			}
			if f.Signature != "" {
				fmt.Fprintf(w, "; signature: %s", f.Signature)
			}
			fmt.Fprintln(w)
		}
	}
}

func sortedStrings(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	// sha1 before sha256 before sha384…, then by PCR
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && pcrKeyLess(out[j], out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func pcrKeyLess(a, b string) bool {
	ba, pa, _ := strings.Cut(a, ":")
	bb, pb, _ := strings.Cut(b, ":")
	if ba != bb {
		if len(ba) != len(bb) {
			return len(ba) < len(bb)
		}
		return ba < bb
	}
	if len(pa) != len(pb) {
		return len(pa) < len(pb)
	}
	return pa < pb
}

// readKeys reads --keys: comma-separated certificate or key files.
func readKeys(ctx context.Context, list string) ([]digsig.Key, error) {
	var keys []digsig.Key
	for _, f := range splitList(list) {
		b, err := input.ReadFile(ctx, f, maxKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--keys: %w", err)
		}
		k, err := digsig.ParseKeys(b, f)
		if err != nil {
			return nil, fmt.Errorf("--keys: %w", err)
		}
		keys = append(keys, k...)
	}
	return keys, nil
}

// maxKeyFile bounds a --keys file (PEM or DER certificates and keys).
const maxKeyFile = 1 << 20

func readPolicy(ctx context.Context, path string) (*keylime.Policy, error) {
	f, err := input.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := keylime.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

func attestVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("attest verify", "attest verify DIR --nonce HEX [--ak PEM] [--list FILE] [--policy FILE]", stderr)
	nonceF := fs.String("nonce", "", "the nonce the verifier chose, hex (required; @FILE reads it from a file)")
	akF := fs.String("ak", "", "the AK public key the verifier trusts, PEM or TPM2B_PUBLIC (default: DIR/ak.pub.pem, which proves only that the quote is self-consistent)")
	listF := fs.String("list", "", "measurement list (binary or ASCII) to replay against the quoted PCR")
	polF := fs.String("policy", "", "keylime runtime policy to check the attested entries against (needs --list)")
	imaPCR := fs.Int("ima-pcr", tpm.IMAPCR, "the quoted PCR that holds IMA's PCR 10 (23 when a device quoted its stand-in)")
	keysF := fs.String("keys", "", "x509 certificates (PEM or DER) or PEM public keys, comma-separated: ima-sig signatures that verify are accepted without the policy")
	ff := addFormat(fs, "text", "json")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	format, err := ff.get("text", "json")
	if err != nil || len(pos) != 1 || *nonceF == "" || (*polF != "" && *listF == "") {
		if err != nil {
			fmt.Fprintln(stderr, err)
		}
		fs.Usage()
		return exitUsage
	}
	bad := func(err error) int { fmt.Fprintln(stderr, "imasim attest verify:", err); return exitUsage }
	ns := *nonceF
	if strings.HasPrefix(ns, "@") {
		b, err := input.ReadFile(context.Background(), ns[1:], 4096) // a nonce is 64 bytes or less
		if err != nil {
			return bad(err)
		}
		ns = string(b)
	}
	nonce, err := parseNonce(ns)
	if err != nil {
		return bad(err)
	}
	if *imaPCR < 0 || *imaPCR >= attest.NumPCRs {
		return bad(fmt.Errorf("--ima-pcr %d out of range", *imaPCR))
	}
	ev, err := attest.ReadDir(pos[0], *akF)
	if err != nil {
		return bad(err)
	}
	var entries []*measure.Entry
	if *listF != "" {
		if entries, err = readEntries(*listF); err != nil {
			return bad(err)
		}
		if entries == nil {
			entries = []*measure.Entry{}
		}
	}
	var pol *keylime.Policy
	if *polF != "" {
		if pol, err = readPolicy(ctx, *polF); err != nil {
			return bad(err)
		}
	}
	keys, err := readKeys(ctx, *keysF)
	if err != nil {
		return bad(err)
	}
	v, err := verifyAll(ev, nonce, entries, *imaPCR, pol, *polF, keys)
	if err != nil {
		return bad(err)
	}
	if format == "json" {
		b, _ := json.MarshalIndent(v, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		writeVerification(stdout, v)
	}
	if !v.OK {
		return exitFail
	}
	return exitOK
}

func attestPolicy(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("attest policy", "attest policy LIST [-o FILE]", stderr)
	out := fs.String("o", "", "write the policy here (default: stdout)")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	entries, err := readEntries(pos[0])
	if err == nil {
		var p *keylime.Policy
		if p, err = keylime.FromList(&entryReader{es: entries}, time.Now()); err == nil {
			if *out == "" {
				_, err = stdout.Write(p.Marshal())
			} else {
				err = os.WriteFile(*out, p.Marshal(), 0o644)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "imasim attest policy:", err)
		return exitUsage
	}
	return exitOK
}

func attestBootAggregate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("attest boot-aggregate", "attest boot-aggregate EVENTLOG [--list LIST] [--quote DIR --nonce HEX]", stderr)
	listF := fs.String("list", "", "measurement list whose first entry (boot_aggregate) is checked")
	quoteF := fs.String("quote", "", "a quote directory (attest quote --select sha256:0-9) whose PCRs the log must replay to")
	nonceF := fs.String("nonce", "", "the quote's nonce, hex (with --quote)")
	akF := fs.String("ak", "", "trusted AK public key, PEM (with --quote; default: the quote's)")
	ff := addFormat(fs, "text", "json")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	format, err := ff.get("text", "json")
	if err != nil || len(pos) != 1 || (*quoteF != "") != (*nonceF != "") {
		fs.Usage()
		return exitUsage
	}
	bad := func(err error) int { fmt.Fprintln(stderr, "imasim attest boot-aggregate:", err); return exitUsage }
	f, err := os.Open(pos[0])
	if err != nil {
		return bad(err)
	}
	l, err := eventlog.Read(f)
	f.Close()
	if err != nil {
		return bad(fmt.Errorf("%s: %w", pos[0], err))
	}
	type bank struct {
		Bank          string   `json:"bank"`
		PCRs          []string `json:"pcrs_0_9"`
		BootAggregate string   `json:"boot_aggregate"`
	}
	doc := struct {
		Events  int      `json:"events"`
		Banks   []bank   `json:"banks"`
		Skipped []string `json:"skipped_banks,omitempty"`
		List    string   `json:"list_boot_aggregate,omitempty"`
		Quote   string   `json:"quote,omitempty"`
		OK      bool     `json:"ok"`
		Error   string   `json:"error,omitempty"`
	}{Events: l.Events, Skipped: l.Skipped, OK: true}
	for _, h := range l.Banks {
		a, _ := measure.AlgoFromCrypto(h)
		ba, err := l.BootAggregate(a)
		if err != nil {
			return bad(err)
		}
		b := bank{Bank: a.String(), BootAggregate: hex.EncodeToString(ba)}
		for i := 0; i < 10; i++ {
			b.PCRs = append(b.PCRs, hex.EncodeToString(l.PCRs[h][i]))
		}
		doc.Banks = append(doc.Banks, b)
	}
	fail := func(msg string) {
		doc.OK = false
		if doc.Error != "" {
			doc.Error += "; "
		}
		doc.Error += msg
	}
	if *quoteF != "" {
		nonce, err := parseNonce(*nonceF)
		if err != nil {
			return bad(err)
		}
		ev, err := attest.ReadDir(*quoteF, *akF)
		if err != nil {
			return bad(err)
		}
		q, err := attest.Verify(ev, nonce)
		var fe *attest.FormatError
		switch {
		case errors.As(err, &fe):
			return bad(err)
		case err != nil:
			fail("quote: " + err.Error())
		default:
			if err := l.Verify(q.PCRs); err != nil {
				fail("the event log does not replay to the quoted PCRs: " + err.Error())
			} else {
				doc.Quote = "the event log replays to the quoted " + attest.FormatSelection(q.Selection)
			}
		}
	}
	if *listF != "" {
		entries, err := readEntries(*listF)
		if err != nil {
			return bad(err)
		}
		if len(entries) == 0 {
			return bad(fmt.Errorf("%s: empty list", *listF))
		}
		want, a, err := l.CheckList(entries[0])
		var me *eventlog.MismatchError
		switch {
		case errors.As(err, &me):
			fail(err.Error())
		case err != nil:
			return bad(fmt.Errorf("%s: %w", *listF, err))
		default:
			doc.List = fmt.Sprintf("%s:%x matches the event log", a, want)
		}
	}
	if format == "json" {
		b, _ := json.MarshalIndent(doc, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		fmt.Fprintf(stdout, "event log: %d events, banks %s\n", doc.Events, strings.Join(func() []string {
			var n []string
			for _, b := range doc.Banks {
				n = append(n, b.Bank)
			}
			return n
		}(), ","))
		for _, s := range doc.Skipped {
			fmt.Fprintf(stdout, "  bank %s skipped (imasim cannot hash it)\n", s)
		}
		for _, b := range doc.Banks {
			fmt.Fprintf(stdout, "%-6s boot_aggregate %s\n", b.Bank, b.BootAggregate)
		}
		if doc.Quote != "" {
			fmt.Fprintln(stdout, "quote:", doc.Quote)
		}
		if doc.List != "" {
			fmt.Fprintln(stdout, "list: boot_aggregate", doc.List)
		}
		if doc.Error != "" {
			fmt.Fprintln(stdout, "MISMATCH:", doc.Error)
		}
	}
	if !doc.OK {
		return exitFail
	}
	return exitOK
}

func attestCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("attest check", "attest check POLICY LIST [--keys CERT,...]", stderr)
	keysF := fs.String("keys", "", "x509 certificates (PEM or DER) or PEM public keys, comma-separated: ima-sig signatures that verify are accepted without the policy")
	ff := addFormat(fs, "text", "json")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	format, err := ff.get("text", "json")
	if err != nil || len(pos) != 2 {
		fs.Usage()
		return exitUsage
	}
	bad := func(err error) int { fmt.Fprintln(stderr, "imasim attest check:", err); return exitUsage }
	pol, err := readPolicy(ctx, pos[0])
	if err != nil {
		return bad(err)
	}
	entries, err := readEntries(pos[1])
	if err != nil {
		return bad(err)
	}
	keys, err := readKeys(ctx, *keysF)
	if err != nil {
		return bad(err)
	}
	fs2, err := pol.CheckKeys(&entryReader{es: entries}, 0, keys)
	if err != nil {
		return bad(err)
	}
	failed := 0
	for _, f := range fs2 {
		if f.Failed() {
			failed++
		}
	}
	if format == "json" {
		b, _ := json.MarshalIndent(struct {
			Entries  int               `json:"entries"`
			Failed   int               `json:"failed"`
			Findings []keylime.Finding `json:"findings"`
		}{len(fs2), failed, fs2}, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		for _, f := range fs2 {
			fmt.Fprintf(stdout, "%4d  %-13s %s %s\n", f.Entry, f.Verdict, f.Digest, f.Path)
			if f.Signature != "" {
				fmt.Fprintf(stdout, "      signature: %s\n", f.Signature)
			}
		}
		fmt.Fprintf(stdout, "%d entries, %d failed\n", len(fs2), failed)
	}
	if failed > 0 {
		return exitFail
	}
	return exitOK
}
