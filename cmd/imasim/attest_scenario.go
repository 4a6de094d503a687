package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/measure"
	"github.com/imasim/imasim/measure/keylime"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/tpm"
	"github.com/imasim/imasim/tpm/attest"
)

// fileView is, for one file of the scenario, what the verifier accepted
// and what is on disk at the end.
type fileView struct {
	Path      string `json:"path"`
	Installed string `json:"installed"`            // digest as first installed (the policy's)
	Line      int    `json:"installed_at"`         // scenario line that installed it
	Measured  string `json:"measured,omitempty"`   // last attested measurement's digest
	Entry     int    `json:"entry,omitempty"`      // its list entry
	EntryLine int    `json:"entry_line,omitempty"` // the scenario line that measured it
	Verdict   string `json:"verdict,omitempty"`    // the policy check's verdict on that entry
	OnDisk    string `json:"on_disk"`              // digest at the end; "" if deleted
	Changed   int    `json:"changed_at,omitempty"` // last line that changed the content
	// Status: unmeasured, matches, accepted-changed (a missed change the
	// verifier accepts), rejected (a measured change the policy refuses),
	// rejected-changed.
	Status string `json:"status"`
}

// attestRun is one scenario × profile attestation.
type attestRun struct {
	Scenario string `json:"scenario"`
	Profile  string `json:"profile"`
	Kernel   string `json:"kernel,omitempty"` // a real kernel under QEMU (--kernel)
	// BootAggregate says whether the list's boot_aggregate matches the
	// guest's firmware event log (--kernel).
	BootAggregate string        `json:"boot_aggregate,omitempty"`
	NA            string        `json:"not_applicable,omitempty"`
	Notes         []string      `json:"notes,omitempty"`
	Dir           string        `json:"dir,omitempty"`
	Verify        *verification `json:"verification,omitempty"`
	Files         []fileView    `json:"files,omitempty"`
	Missed        int           `json:"accepted_changed"`
	// ModelMissed is the model's count of missed re-evaluations.
	ModelMissed int `json:"model_missed"`
}

func attestScenario(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("attest", "attest SCENARIO [--profile P] [--tpm swtpm] [--out DIR] [--fail-on missed]", stderr)
	prof := fs.String("profile", "", "kernel profiles (default: the scenario's, else every built-in)")
	tpmSpec := fs.String("tpm", "swtpm", "TPM backend: swtpm, swtpm:unix:…,ctrl=…, swtpm:tcp:…,ctrl=…, simulator, device[:PATH]")
	pcrF := fs.Int("pcr", 0, "backend PCR standing in for PCR 10 (default 10; 23 on a device)")
	allowReal := fs.Bool("allow-real-pcr", false, "let a device backend extend a PCR that cannot be reset")
	akF := fs.String("ak", "rsa", "AK algorithm: rsa or ecc")
	outDir := fs.String("out", "", "keep the quote, list and policy here (DIR/PROFILE with several profiles)")
	failOn := fs.String("fail-on", "", "exit 1 when the verifier accepted a changed file: missed")
	kernel := fs.String("kernel", "", "run the scenario on this real kernel under QEMU with swtpm instead (debian:7.2, …; as imasim vm --kernel)")
	ff := addFormat(fs, "text", "json")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	format, err := ff.get("text", "json")
	if err != nil || len(pos) != 1 {
		if err != nil {
			fmt.Fprintln(stderr, err)
		} else {
			fmt.Fprintf(stderr, "imasim attest: unknown subcommand or missing scenario\n%s", attestUsage)
		}
		return exitUsage
	}
	bad := func(err error) int { fmt.Fprintln(stderr, "imasim attest:", err); return exitUsage }
	failMissed := false
	for _, f := range splitList(*failOn) {
		if f != scenarios.Missed {
			return bad(fmt.Errorf("--fail-on: %q (want missed)", f))
		}
		failMissed = true
	}
	kind, err := attest.ParseKeyType(*akF)
	if err != nil {
		return bad(err)
	}
	s, err := scenarios.Load(pos[0])
	if err != nil {
		return bad(err)
	}
	profiles, err := resolveProfiles(ctx, *prof, s.Profiles, "", stderr)
	if err != nil {
		return bad(err)
	}
	if *kernel != "" {
		profiles = profiles[:1] // the kernel's own profile is picked by its version
	}
	if len(profiles) > 1 && !tpmResettable(*tpmSpec) {
		return bad(fmt.Errorf("--tpm %s cannot be reset between profiles (give ctrl=, or one --profile)", *tpmSpec))
	}
	s, note := withMeasureRules(s)
	rc := exitOK
	var runs []*attestRun
	for _, p := range profiles {
		dir := *outDir
		if dir != "" && len(profiles) > 1 {
			dir = filepath.Join(dir, p.Name)
		}
		var run *attestRun
		var code int
		if *kernel != "" {
			run, code = attestVM(ctx, s, *kernel, kind, dir, stderr)
		} else {
			run, code = attestOne(ctx, s, p, *tpmSpec, tpm.Options{PCR: *pcrF, AllowRealPCR: *allowReal}, kind, dir, stderr)
		}
		if run == nil {
			return code
		}
		if note != "" {
			run.Notes = append([]string{note}, run.Notes...)
		}
		runs = append(runs, run)
		switch {
		case run.NA != "":
		case !run.Verify.OK:
			rc = exitFail
		case run.Missed > 0 && failMissed && rc == exitOK:
			rc = exitFail
		}
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "imasim attest: interrupted")
			return exitInconcl
		}
	}
	if format == "json" {
		b, _ := json.MarshalIndent(map[string]any{"results": runs}, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		for _, r := range runs {
			writeAttestRun(stdout, r, failMissed)
		}
	}
	return rc
}

// withMeasureRules returns s with a measure rule for each audit rule when
// its policy has no measure rule: an audit-only policy leaves the list
// with nothing to attest.
func withMeasureRules(s *scenarios.Scenario) (*scenarios.Scenario, string) {
	var add []scenarios.PolicyLine
	for _, pl := range s.Policy {
		act, rest, _ := strings.Cut(strings.TrimSpace(pl.Rule), " ")
		switch act {
		case "measure":
			return s, ""
		case "audit":
			add = append(add, scenarios.PolicyLine{Line: pl.Line, Rule: "measure " + rest})
		}
	}
	if len(add) == 0 {
		return s, ""
	}
	s2 := *s
	s2.Policy = append(slices.Clone(s.Policy), add...)
	var rules []string
	for _, a := range add {
		rules = append(rules, a.Rule)
	}
	return &s2, fmt.Sprintf("the scenario's policy only audits; attested with %q added", strings.Join(rules, "; "))
}

// attestOne runs s under p on a fresh TPM, quotes PCR 10, and verifies the
// quote, the list and the policy of the files as first installed.
func attestOne(ctx context.Context, s *scenarios.Scenario, p *cache.Profile, spec string, o tpm.Options,
	kind attest.KeyType, dir string, stderr io.Writer) (*attestRun, int) {
	run := &attestRun{Scenario: s.Name, Profile: p.Name}
	fail := func(code int, err error) (*attestRun, int) {
		fmt.Fprintf(stderr, "imasim attest: %s under %s: %v\n", s.Name, p.Name, err)
		return nil, code
	}
	algo, err := measure.ParseAlgo(p.HashAlgo)
	if err != nil {
		return fail(exitUsage, err)
	}
	t, c, code := openTPMForQuote(ctx, "attest", spec, o, stderr)
	if t == nil {
		return nil, code
	}
	defer t.Close()
	m, err := runModel(ctx, s, p, t, algo, nil)
	if err != nil {
		if ctx.Err() != nil {
			return fail(exitInconcl, err)
		}
		return fail(exitUsage, err)
	}
	if m.na != "" {
		run.NA = m.na
		return run, exitOK
	}
	res, files, order := m.res, m.files, m.order
	run.Notes = append(run.Notes, res.Notes...)
	run.ModelMissed = res.Count(scenarios.Missed)
	entries := res.ML.Entries

	// The verifier's policy: boot_aggregate as listed, every file as first
	// installed.
	pol := keylime.Empty()
	pol.Meta.Generator = keylime.GeneratorLegacyAllowList
	pol.Meta.Timestamp, pol.Meta.HasTime = keylime.PythonTime(time.Now()), true
	if len(entries) > 0 {
		if _, d, ok := entries[0].FileDigest(); ok {
			pol.Digests.Add("boot_aggregate", hex.EncodeToString(d))
		}
	}
	for _, path := range order {
		pol.Digests.Add(path, files[path].Installed)
	}

	// Quote PCR 10 of every bank with a fresh nonce, and verify from the
	// files as a remote verifier would.
	nonce := newNonce()
	sel, _ := quoteSelection(t, c, "")
	ev, err := quoteWith(c, kind, nonce, sel)
	if err != nil {
		return fail(exitFail, err)
	}
	keep := dir != ""
	if !keep {
		if dir, err = os.MkdirTemp("", "imasim-attest-"); err != nil {
			return fail(exitCannot, err)
		}
		defer os.RemoveAll(dir)
	} else {
		run.Dir = dir
	}
	polFile := filepath.Join(dir, "runtime-policy.json")
	if err := attest.WriteDir(dir, ev); err != nil {
		return fail(exitFail, err)
	}
	err = os.WriteFile(filepath.Join(dir, "nonce"), []byte(hex.EncodeToString(nonce)+"\n"), 0o644)
	if err == nil {
		err = os.WriteFile(polFile, pol.Marshal(), 0o644)
	}
	if err == nil {
		err = writeList(filepath.Join(dir, "binary_runtime_measurements"), res.ML, false)
	}
	if err != nil {
		return fail(exitFail, err)
	}
	back, err := attest.ReadDir(dir, "")
	if err != nil {
		return fail(exitFail, err)
	}
	pol2, err := readPolicy(ctx, polFile)
	if err != nil {
		return fail(exitFail, err)
	}
	name := polFile
	if !keep {
		name = "the policy of the files as first installed"
	}
	v, err := verifyAll(back, nonce, entries, c.BackendPCR(tpm.IMAPCR), pol2, name, nil)
	if err != nil {
		return fail(exitFail, err)
	}
	run.Verify = v

	classify(run, m, v, func(p string) string { return p })
	return run, exitOK
}

// classify compares, per file, what the verifier accepted (the last
// attested measurement of the file's listed name) with the file at the end.
func classify(run *attestRun, m *modelRun, v *verification, listed func(string) string) {
	for _, path := range m.order {
		fv := m.files[path]
		if v.Policy != nil {
			if f, ok := v.Policy.last[listed(path)]; ok {
				fv.Measured, fv.Entry, fv.Verdict = f.Digest, f.Entry, f.Verdict
				if f.Entry < len(m.entryLine) {
					fv.EntryLine = m.entryLine[f.Entry]
				}
			}
		}
		switch {
		case fv.Measured == "":
			fv.Status = "unmeasured"
		case fv.Verdict == keylime.OK && fv.Measured == fv.OnDisk:
			fv.Status = "matches"
		case fv.Verdict == keylime.OK:
			fv.Status = "accepted-changed"
			run.Missed++
		case fv.Measured == fv.OnDisk:
			fv.Status = "rejected"
		default:
			fv.Status = "rejected-changed"
		}
		run.Files = append(run.Files, *fv)
	}
}

// modelRun is a scenario run through the model, step by step.
type modelRun struct {
	na        string
	res       *scenarios.Result
	files     map[string]*fileView // by scenario path
	order     []string             // paths in the order they were installed
	entryLine []int                // the scenario line that added each list entry
}

// runModel steps s through the model under p, extending t, noting each
// file's content as first installed, the last line that changed it, and
// which line added each list entry.
//
// digest gives a file's digest from its modelled content after step st
// (nil: the content's own digest in algo).
func runModel(ctx context.Context, s *scenarios.Scenario, p *cache.Profile, t tpm.PCRs, algo measure.Algo,
	digest func(st scenarios.Step, path string, content []byte) string) (*modelRun, error) {
	if digest == nil {
		digest = func(_ scenarios.Step, _ string, content []byte) string { return hashHex(algo, content) }
	}
	r, err := scenarios.NewRunnerWith(s, p, scenarios.Options{TPM: t})
	if err != nil {
		return nil, err
	}
	m := &modelRun{files: map[string]*fileView{}}
	if !r.Ready() {
		m.na = r.Result().NA
		return m, nil
	}
	var candidates []string
	for _, st := range s.Steps {
		for _, a := range st.Touches().Paths {
			if strings.HasPrefix(a, "/") && !slices.Contains(candidates, a) {
				candidates = append(candidates, a)
			}
		}
	}
	for _, st := range s.Steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := r.Step(st); err != nil {
			return nil, err
		}
		for len(m.entryLine) < r.Result().ML.Len() {
			m.entryLine = append(m.entryLine, st.Line)
		}
		for _, path := range candidates {
			content, exists := fileContent(r, path)
			d := ""
			if exists {
				d = digest(st, path, content)
			}
			fv := m.files[path]
			switch {
			case fv == nil && exists:
				m.files[path] = &fileView{Path: path, Installed: d, Line: st.Line, OnDisk: d}
				m.order = append(m.order, path)
			case fv != nil && d != fv.OnDisk:
				fv.OnDisk, fv.Changed = d, st.Line
			}
		}
	}
	m.res = r.Result()
	return m, nil
}

func hashHex(algo measure.Algo, b []byte) string {
	h := algo.New()
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// fileContent is path's content at the end of the last step (through an
// overlay: the real file's), and whether it exists.
func fileContent(r *scenarios.Runner, path string) ([]byte, bool) {
	w := r.World()
	if w.IsDir(path) {
		return nil, false
	}
	i, err := w.Lookup(path)
	if err != nil || i == nil {
		return nil, false
	}
	real := w.RealInode(i)
	if real == nil {
		return nil, false
	}
	return real.Content, true
}

func writeAttestRun(w io.Writer, r *attestRun, failMissed bool) {
	if r.Kernel != "" {
		fmt.Fprintf(w, "== %s on %s (real kernel, model profile %s)\n", r.Scenario, r.Kernel, r.Profile)
	} else {
		fmt.Fprintf(w, "== %s under %s\n", r.Scenario, r.Profile)
	}
	if r.NA != "" {
		fmt.Fprintf(w, "   not applicable: %s\n", r.NA)
		return
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "   note: %s\n", n)
	}
	var b bytes.Buffer
	writeVerification(&b, r.Verify)
	w.Write(b.Bytes())
	if r.BootAggregate != "" {
		fmt.Fprintf(w, "boot    boot_aggregate %s\n", r.BootAggregate)
	}
	if r.Dir != "" {
		fmt.Fprintf(w, "files   quote, list and policy in %s\n", r.Dir)
	}
	for _, f := range r.Files {
		fmt.Fprintf(w, "file    %s\n", f.Path)
		fmt.Fprintf(w, "        installed  %s (line %d): in the policy\n", f.Installed, f.Line)
		if f.Measured == "" {
			fmt.Fprintln(w, "        attested   not measured: the verifier knows nothing of it")
		} else {
			fmt.Fprintf(w, "        attested   %s (entry %d, measured at line %d): %s\n", f.Measured, f.Entry, f.EntryLine, f.Verdict)
		}
		switch {
		case f.OnDisk == "":
			fmt.Fprintln(w, "        on disk    deleted")
		case f.OnDisk == f.Installed:
			fmt.Fprintf(w, "        on disk    %s, as installed\n", f.OnDisk)
		default:
			fmt.Fprintf(w, "        on disk    %s, changed at line %d\n", f.OnDisk, f.Changed)
		}
	}
	for _, f := range r.Files {
		switch f.Status {
		case "accepted-changed":
			fmt.Fprintf(w, "ACCEPTED A CHANGED FILE: the verifier accepts this machine, but %s on disk is not what it attested: "+
				"the content changed at line %d after its last measurement (entry %d, line %d) and IMA did not measure it again (missed)\n",
				f.Path, f.Changed, f.Entry, f.EntryLine)
		case "rejected":
			fmt.Fprintf(w, "detected: %s changed at line %d and IMA measured the new content (entry %d, line %d); the policy of the files as installed refuses it\n",
				f.Path, f.Changed, f.Entry, f.EntryLine)
		case "rejected-changed":
			fmt.Fprintf(w, "detected: %s was measured with content outside the policy (entry %d), and changed again at line %d without a new measurement\n",
				f.Path, f.Entry, f.Changed)
		}
	}
	switch {
	case !r.Verify.OK:
		fmt.Fprintln(w, "result  REJECTED by the verifier")
	case r.Missed > 0 && failMissed:
		fmt.Fprintf(w, "result  verified, but %d changed file(s) accepted (--fail-on missed)\n", r.Missed)
	case r.Missed > 0:
		fmt.Fprintf(w, "result  verified; %d changed file(s) accepted: an integrity hole, not a verification failure (--fail-on missed to fail)\n", r.Missed)
	default:
		fmt.Fprintln(w, "result  verified; the verifier's view matches the files on disk")
	}
	fmt.Fprintf(w, "model   %d missed re-evaluation(s) under %s\n", r.ModelMissed, r.Profile)
	if r.Kernel != "" {
		fmt.Fprintln(w, "        (attested: the real kernel's list, quoted by the guest's swtpm; on disk: the content the steps wrote)")
	}
}
