package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/measure/audit"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/vm/frame"
	"github.com/imasim/imasim/scenarios/vm/guest"
)

// ParseAuditRecord reads one record as the agent stores it: the kernel
// log text after "audit: " (Linux v6.12: kernel/audit.c:kauditd_printk_skb),
// with package measure/audit.
func ParseAuditRecord(s string) (scenarios.AuditRecord, error) {
	r := scenarios.AuditRecord{Text: s, Fields: map[string]string{}}
	sc := audit.NewScanner(strings.NewReader("audit: " + s + "\n"))
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return r, fmt.Errorf("audit record %q: %w", s, err)
		}
		return r, fmt.Errorf("not an integrity audit record: %q", s)
	}
	rec := sc.Record()
	r.Type = int(rec.Type)
	for _, f := range rec.Fields {
		if _, dup := r.Fields[f.Key]; !dup {
			r.Fields[f.Key] = f.Value
		}
	}
	r.Path, r.Hash, r.Cause = rec.Path(), rec.Hash(), r.Fields["cause"]
	r.Res = -1 // no res= field (or not a number)
	if n, err := strconv.Atoi(r.Fields["res"]); err == nil {
		r.Res = n
	}
	return r, nil
}

// lossIn looks for evidence that the kernel log lost audit records
// (serial gaps, printk rate limiting, audit_lost) with measure/audit.
func lossIn(dmesg []byte) string {
	sc := audit.NewScanner(bytes.NewReader(dmesg))
	for sc.Scan() {
	}
	l := sc.Loss()
	if !l.Lossy() {
		return ""
	}
	var parts []string
	for _, e := range l.Evidence {
		parts = append(parts, fmt.Sprintf("%+v", e))
	}
	if l.More > 0 {
		parts = append(parts, fmt.Sprintf("and %d more", l.More))
	}
	return strings.Join(parts, "; ")
}

// compared says which audit records the per-step comparison counts:
// INTEGRITY_RULE (1805) and ima_file_mprotect's INTEGRITY_DATA (1800)
// "failed-mprotect" (appraisal's own 1800 records are not modelled).
func compared(typ int, cause string) bool {
	return typ == 1805 || typ == 1800 && cause == "failed-mprotect"
}

// lineKey is a compared record's key: its scenario line and its path, a
// failed-mprotect record's also with its res (1 audited, 0 denied).
type lineKey struct {
	line int
	path string
}

// perLine counts the compared records by line and key.
func perLine(recs []scenarios.AuditRecord) map[lineKey]int {
	out := map[lineKey]int{}
	for _, a := range recs {
		if !compared(a.Type, a.Cause) {
			continue
		}
		k := lineKey{a.Line, a.Path}
		if a.Type == 1800 {
			k.path += " (mprotect res=" + strconv.Itoa(a.Res) + ")"
		}
		out[k]++
	}
	return out
}

// StepCmp is model vs real for one scenario line and path (1805 records,
// and 1800 failed-mprotect).
type StepCmp struct {
	Line  int    `json:"line"`
	Op    string `json:"op"`
	Path  string `json:"path"`
	Model int    `json:"model"`
	Real  int    `json:"real"`
	Err   string `json:"error,omitempty"`
}

// Finding is a verdict derived from the real run alone.
type Finding struct {
	Verdict string `json:"verdict"` // missed or excessive
	Path    string `json:"path"`
	Line    int    `json:"line"`
	Why     string `json:"why"`
}

// Run is one scenario's real run compared with the model.
type Run struct {
	Scenario *scenarios.Scenario      `json:"-"`
	Name     string                   `json:"scenario"`
	Kernel   string                   `json:"kernel"`
	Version  string                   `json:"kernel_version"`
	Spec     string                   `json:"kernel_spec"`
	Profile  string                   `json:"profile"`
	Model    *scenarios.Result        `json:"-"`
	Real     *guest.ScenarioReport    `json:"-"`
	Audit    []scenarios.AuditRecord  `json:"audit"`
	Steps    []StepCmp                `json:"steps"`
	Paths    []StepCmp                `json:"paths"` // per-path totals (Line 0)
	Meas     []StepCmp                `json:"measurements"`
	Expects  []scenarios.ExpectResult `json:"expects"`
	Findings []Finding                `json:"findings,omitempty"`
	Replay   []BankReplay             `json:"replay"`
	Seen     []SeenCmp                `json:"seen,omitempty"`
	Defects  []string                 `json:"model_defects,omitempty"`
	Lossy    string                   `json:"audit_loss,omitempty"` // evidence the log lost records: counts inconclusive
	Timing   map[string]float64       `json:"timing_s"`
	Boot     *BootResult              `json:"-"`
	List     []scenarios.ListEntry    `json:"-"`
	Observed *scenarios.Observation   `json:"-"` // the real run's
	Err      error                    `json:"-"`
	ErrText  string                   `json:"error,omitempty"`
	BootAgg  *BootAggregateCheck      `json:"boot_aggregate,omitempty"` // list vs the guest's event log or PCRs 0-9; nil without either
}

// Agree reports whether the run completed, the model matched the kernel,
// the list replayed to the real PCRs, and every expect held.
func (r *Run) Agree() bool {
	if r.Err != nil || len(r.Defects) > 0 {
		return false
	}
	for _, b := range r.Replay {
		if !b.OK {
			return false
		}
	}
	if r.BootAgg != nil && !r.BootAgg.OK {
		return false
	}
	for _, x := range r.Expects {
		if !x.OK {
			return false
		}
	}
	return true
}

// RunAll runs the scenarios grouped by policy (one boot per group) and
// compares each with the model under profile p. Scenarios the kernel
// cannot run get ErrCannotRun in their Run.
func RunAll(ctx context.Context, o Options, p *cache.Profile, ss []*scenarios.Scenario) ([]*Run, error) {
	var runs []*Run
	var runnable []*scenarios.Scenario
	byName := map[*scenarios.Scenario]*Run{}
	for _, s := range ss {
		r := &Run{Scenario: s, Name: s.Name, Kernel: o.Kernel.Release, Version: o.Kernel.Version.String(), Spec: o.Kernel.Spec,
			Profile: p.Name, Timing: map[string]float64{}}
		runs = append(runs, r)
		byName[s] = r
		m, err := scenarios.Run(s, p)
		if err != nil {
			r.Err = fmt.Errorf("%w: model: %v", ErrUsage, err)
			continue
		}
		r.Model = m
		if m.NA != "" {
			r.Err = fmt.Errorf("%w: scenario %s on kernel %s: %s", ErrCannotRun, s.Name, o.Kernel.Release, m.NA)
			continue
		}
		runnable = append(runnable, s)
	}
	var (
		firstErr error
		mu       sync.Mutex // guards firstErr
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, max(1, o.Parallel))
	for _, g := range Balance(SplitByDisks(GroupByPolicy(runnable), MaxDisks), o.Parallel, agentCost) {
		// Each boot has its own work dir, swtpm and runs: groups are
		// independent and may boot side by side.
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			runGroup(ctx, o, g, byName, &mu, &firstErr)
		}()
	}
	wg.Wait()
	for _, r := range runs {
		if r.Err != nil {
			r.ErrText = r.Err.Error()
		}
	}
	return runs, firstErr
}

// bootRetrying boots g, again up to o.Retries times while the kernel
// crashes (each crash is logged).
func bootRetrying(ctx context.Context, o Options, g Group) (*BootResult, error) {
	br, err := Boot(ctx, o, g)
	for try := 1; try <= o.Retries && errors.Is(err, ErrKernelCrash) && ctx.Err() == nil; try++ {
		if o.Log != nil {
			fmt.Fprintf(o.Log, "imasim vm: WARNING: %v\nimasim vm: retrying the boot (%d of %d)\n", err, try, o.Retries)
		}
		br, err = Boot(ctx, o, g)
	}
	return br, err
}

// runGroup boots one policy group and fills its scenarios' runs.
func runGroup(ctx context.Context, o Options, g Group, byName map[*scenarios.Scenario]*Run, mu *sync.Mutex, firstErr *error) {
	names := []string{}
	for _, s := range g.Scenarios {
		names = append(names, s.Name)
	}
	if o.Log != nil {
		fmt.Fprintf(o.Log, "imasim vm: booting %s for %s\n", o.Kernel.Release, strings.Join(names, ", "))
	}
	t0 := time.Now()
	br, err := bootRetrying(ctx, o, g)
	total := time.Since(t0)
	for i, s := range g.Scenarios {
		r := byName[s]
		r.Boot = br
		if br != nil {
			for _, ph := range br.Timing {
				r.Timing[ph.Name] = ph.D.Seconds()
			}
			for k, v := range br.Report.Timing {
				r.Timing["guest-"+k] = v
			}
		}
		r.Timing["total"] = total.Seconds()
		if err != nil {
			r.Err = err
			mu.Lock()
			if *firstErr == nil {
				*firstErr = err
			}
			mu.Unlock()
			continue
		}
		if i >= len(br.Report.Scenarios) {
			r.Err = fmt.Errorf("%w: the guest did not report scenario %s (errors: %s)", ErrBoot, s.Name, strings.Join(br.Report.Errors, "; "))
			continue
		}
		r.compare(&br.Report.Scenarios[i], br)
	}
}

// compare fills the run from the guest's report.
func (r *Run) compare(rep *guest.ScenarioReport, br *BootResult) {
	r.Real = rep
	r.Lossy = lossIn(br.Files[guest.FileDmesg])
	switch {
	case rep.Unsupported != "":
		r.Err = fmt.Errorf("%w: scenario %s: the guest cannot run it: %s", ErrCannotRun, r.Name, rep.Unsupported)
	case rep.Err != "":
		r.Err = fmt.Errorf("%w: scenario %s failed in the guest: %s", ErrBoot, r.Name, rep.Err)
	}
	// The steps after a failed one never ran: no model comparison then.
	defer func() {
		if rep.Err != "" {
			r.Defects = nil
		}
	}()
	strip := func(p string) string {
		if rest, ok := strings.CutPrefix(p, rep.Root+"/"); ok {
			return "/" + rest
		}
		return ""
	}
	// stripRecord also keeps a bare dentry name: ima_d_path's fallback
	// when d_absolute_path cannot name the file (a backing file on
	// overlay's private layer mount).
	stripRecord := func(p string) string {
		if p != "" && !strings.HasPrefix(p, "/") {
			return p
		}
		return strip(p)
	}
	ob := &scenarios.Observation{Form: "vm", Kernel: r.Kernel, Audit: map[string]int{}, ByLine: map[int]map[string]int{},
		Markers: true, Measured: map[string]int{}}
	r.Observed = ob
	ops := map[int]string{}
	errs := map[int]string{}
	for _, st := range rep.Steps {
		ops[st.Line] = st.Op
		errs[st.Line] = st.Err
		for _, raw := range st.Audit {
			a, err := ParseAuditRecord(raw)
			if err != nil {
				continue
			}
			p := stripRecord(a.Path)
			if a.Path != "" && p == "" {
				continue // another scenario's file or the agent's own
			}
			a.Path, a.Line = p, st.Line
			ob.Records = append(ob.Records, a)
			if a.Type == 1805 {
				ob.AddRule(st.Line, p) // what "expect audit" counts
			}
		}
	}
	r.Audit = ob.Records
	real, model := perLine(ob.Records), perLine(r.Model.Audit)
	keys := map[lineKey]bool{}
	for k := range real {
		keys[k] = true
	}
	for k := range model {
		keys[k] = true
	}
	var ks []lineKey
	for k := range keys {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].line != ks[j].line {
			return ks[i].line < ks[j].line
		}
		return ks[i].path < ks[j].path
	})
	// Every step is shown; steps without records show 0/0.
	shown := map[int]bool{}
	for _, k := range ks {
		shown[k.line] = true
	}
	for _, st := range r.Scenario.Steps {
		if !shown[st.Line] {
			ks = append(ks, lineKey{st.Line, ""})
		}
	}
	sort.SliceStable(ks, func(i, j int) bool { return ks[i].line < ks[j].line })
	totals := map[string][2]int{}
	for _, k := range ks {
		op := ops[k.line]
		if op == "" {
			op = stepText(r.Scenario, k.line)
		}
		c := StepCmp{Line: k.line, Op: op, Path: k.path, Model: model[k], Real: real[k], Err: errs[k.line]}
		r.Steps = append(r.Steps, c)
		if k.path != "" {
			t := totals[k.path]
			totals[k.path] = [2]int{t[0] + c.Model, t[1] + c.Real}
		}
		if c.Model != c.Real {
			r.Defects = append(r.Defects, fmt.Sprintf("line %d %s: %s: model %s predicts %d audit record(s), kernel %s emitted %d",
				k.line, op, k.path, r.Profile, c.Model, r.Kernel, c.Real))
		}
	}
	for _, p := range sortedKeys(totals) {
		r.Paths = append(r.Paths, StepCmp{Path: p, Model: totals[p][0], Real: totals[p][1]})
	}
	// Measurement list: entries for this scenario's files.
	list, err := ParseBinaryList(br.Files[guest.FileBinList])
	if err != nil && r.Err == nil {
		r.Err = fmt.Errorf("%w: %v", ErrBoot, err)
	}
	r.List, ob.List = list, list
	mm := map[string][2]int{}
	for _, e := range list {
		p := strip(e.Path)
		if p == "" {
			continue
		}
		if e.Violation {
			ob.Violations++
		} else {
			ob.Measured[p]++
		}
		t := mm[p]
		mm[p] = [2]int{t[0], t[1] + 1}
	}
	for _, m := range r.Model.List {
		if m.Path == "boot_aggregate" {
			continue
		}
		t := mm[m.Path]
		mm[m.Path] = [2]int{t[0] + 1, t[1]}
	}
	for _, p := range sortedKeys(mm) {
		c := StepCmp{Path: p, Model: mm[p][0], Real: mm[p][1]}
		ob.Measurements += c.Real
		r.Meas = append(r.Meas, c)
		if c.Model != c.Real {
			r.Defects = append(r.Defects, fmt.Sprintf("measurement list: %s: model %s predicts %d entr(ies), kernel %s has %d", p, r.Profile, c.Model, r.Kernel, c.Real))
		}
	}
	if r.Model.Violations != ob.Violations {
		r.Defects = append(r.Defects, fmt.Sprintf("violations: model %s predicts %d, kernel %s recorded %d", r.Profile, r.Model.Violations, r.Kernel, ob.Violations))
	}
	pcrs := map[string]string{}
	if v, ok := br.Files[guest.FilePCRSHA1]; ok {
		pcrs["sha1"] = string(v)
	}
	if v, ok := br.Files[guest.FilePCR256]; ok {
		pcrs["sha256"] = string(v)
	}
	r.Replay = Replay(list, pcrs)
	ob.PCRs = pcrs
	if ev, ok := br.Files[guest.FileEventLog]; ok {
		r.BootAgg = CheckBootAggregate(ev, br.Files[guest.FileBinList])
	} else if pcrs, ok := br.Files[guest.FilePCRs]; ok {
		r.BootAgg = CheckBootAggregatePCRs(pcrs, br.Files[guest.FileBinList])
	}
	r.compareSeen(rep)
	r.findings(rep)
	r.interpFindings(rep)
	ob.Verdicts = map[string]int{}
	for _, f := range r.Findings {
		ob.Verdicts[f.Verdict]++
	}
	r.Expects = ob.Judge(r.Scenario.Expects)
}

func stepText(s *scenarios.Scenario, line int) string {
	for _, st := range s.Steps {
		if st.Line == line {
			return st.Text
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// findings classifies the real run from its own evidence: a re-audit
// whose hash equals the previous record's is excessive; a hook call on a
// path after its content changed, with no new record and the final
// content differing from the last audited hash, is missed.
func (r *Run) findings(rep *guest.ScenarioReport) {
	last := map[string]scenarios.AuditRecord{}
	for _, a := range r.Audit {
		if a.Type != 1805 {
			continue
		}
		if prev, ok := last[a.Path]; ok && prev.Hash == a.Hash && a.Hash != "" {
			r.Findings = append(r.Findings, Finding{Verdict: scenarios.Excessive, Path: a.Path, Line: a.Line,
				Why: fmt.Sprintf("re-audited with the same hash as line %d: content unchanged", prev.Line)})
		}
		last[a.Path] = a
	}
	changes := map[string]int{} // last content-changing line per base name
	hooks := map[string]int{}   // last audited-hook line per path
	for _, st := range r.Scenario.Steps {
		for _, p := range st.Touches().Changes {
			changes[filepath.Base(p)] = st.Line
		}
	}
	for _, h := range r.Model.Steps {
		// An interpreter's read is no IMA hook: interpFindings judges it.
		if h.Hook != "last_writer" && h.Hook != "interpreter" {
			hooks[h.Path] = max(hooks[h.Path], h.Line)
		}
	}
	for _, p := range sortedKeys(last) { // in path order: the output is stable
		a := last[p]
		fin := rep.Final[p]
		got := a.Hash
		if i := strings.IndexByte(got, ':'); i >= 0 {
			got = got[i+1:]
		}
		ch := changes[filepath.Base(p)]
		if fin != "" && got != fin && ch > a.Line && hooks[p] > ch {
			r.Findings = append(r.Findings, Finding{Verdict: scenarios.Missed, Path: p, Line: hooks[p],
				Why: fmt.Sprintf("content changed at line %d after the last audit (line %d) and line %d was not re-audited", ch, a.Line, hooks[p])})
		}
	}
}

// WriteText prints model vs real per scenario.
func WriteText(w io.Writer, k *Kernel, p *cache.Profile, runs []*Run, verbose bool) error {
	ew := &errW{w: w}
	for _, r := range runs {
		ew.f("== %s on %s (%s) vs model profile %s\n", r.Name, k.Release, shortSpec(k.Spec), p.Name)
		if r.Err != nil && r.Real == nil {
			ew.f("  not run: %v\n\n", r.Err)
			continue
		}
		ew.f("  %-5s %-44s %-22s %6s %5s\n", "line", "step", "path", "model", "real")
		for _, s := range r.Steps {
			mark := ""
			if s.Model != s.Real {
				mark = "  <-- DISAGREE"
			}
			if s.Err != "" {
				mark += "  error: " + s.Err
			}
			ew.f("  %-5d %-44s %-22s %6d %5d%s\n", s.Line, clip(s.Op, 44), clip(s.Path, 22), s.Model, s.Real, mark)
		}
		ew.f("  audit records (type 1805, and 1800 failed-mprotect) per path:\n")
		for _, s := range r.Paths {
			ew.f("    %-40s model %d, real %d\n", s.Path, s.Model, s.Real)
		}
		if len(r.Meas) > 0 {
			ew.f("  measurement list entries per path:\n")
			for _, s := range r.Meas {
				ew.f("    %-40s model %d, real %d\n", s.Path, s.Model, s.Real)
			}
		}
		for _, s := range r.Seen {
			mark := "agree"
			if s.Model != s.Real {
				mark = "DISAGREE: model " + s.Model
			}
			ew.f("  line %d saw %s  (%s)\n", s.Line, s.Real, mark)
		}
		if verbose {
			for _, a := range r.Audit {
				ew.f("    line %d: %s\n", a.Line, a.Text)
			}
		}
		for _, b := range r.Replay {
			st := "matches"
			switch {
			case !b.OK:
				st = "DOES NOT MATCH real " + b.Real
			case b.Collection > 0:
				st = fmt.Sprintf("matches (before the agent's %d reads of its results, measured too)", b.Collection)
			}
			ew.f("  PCR 10 %-6s replayed %s %s\n", b.Bank, b.Replayed, st)
		}
		if ba := r.BootAgg; ba != nil {
			from := "the guest's event log"
			if ba.FromLog == "" && ba.FromPCRs != "" {
				from = "PCRs 0-9 (direct boot: no event log)"
			}
			if ba.OK {
				ew.f("  boot_aggregate %s matches %s\n", ba.Listed, from)
			} else {
				ew.f("  boot_aggregate DOES NOT MATCH %s: %s\n", from, ba.Err)
			}
		}
		for _, f := range r.Findings {
			ew.f("  real kernel: %s at line %d (%s): %s\n", strings.ToUpper(f.Verdict), f.Line, f.Path, f.Why)
		}
		for _, x := range r.Expects {
			mark := "holds"
			if !x.OK {
				mark = "BROKEN on this kernel"
			}
			ew.f("  %s: real %s — %s\n", x.Text, x.Got, mark)
		}
		if r.Lossy != "" {
			ew.f("  INCONCLUSIVE: the kernel log lost audit records: %s\n", r.Lossy)
		}
		if len(r.Defects) == 0 && r.Err == nil && r.Lossy == "" {
			ew.f("  model and kernel agree\n")
		}
		for _, d := range r.Defects {
			ew.f("  MODEL DEFECT: %s\n", d)
		}
		switch {
		case errors.Is(r.Err, ErrCannotRun):
			ew.f("  CANNOT RUN on this kernel (no verdict): %v\n", r.Err)
		case r.Err != nil:
			ew.f("  error: %v\n", r.Err)
		}
		ew.f("  time: %s\n\n", timingLine(r.Timing))
	}
	return ew.err
}

func timingLine(t map[string]float64) string {
	var parts []string
	for _, k := range []string{"disks", "initramfs", "boot", "run", "guest-modules", "guest-scenarios", "guest-collect", "total"} {
		if v, ok := t[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1fs", k, v))
		}
	}
	return strings.Join(parts, ", ")
}

// JSONDoc is the --format json document.
type JSONDoc struct {
	Schema  int    `json:"schema"`
	Kernel  string `json:"kernel"`
	Spec    string `json:"kernel_spec"`
	Profile string `json:"profile"`
	Runs    []*Run `json:"runs"`
}

// WriteJSON writes the schema-1 document.
func WriteJSON(w io.Writer, k *Kernel, p *cache.Profile, runs []*Run) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(JSONDoc{Schema: 1, Kernel: k.Release, Spec: k.Spec, Profile: p.Name, Runs: runs})
}

// Save writes the run's raw captures under dir/<scenario>/ (the name as
// SaveName makes it one path component: it comes from the scenario file).
// A capture whose name (from the guest) is not one plain path component
// is refused; nothing is written outside dir.
func (r *Run) Save(dir string) error {
	if r.Boot == nil || len(r.Boot.Files) == 0 {
		return nil
	}
	name := SaveName(r.Name)
	parent, err := saveRoot(dir)
	if err != nil {
		return err
	}
	defer parent.Close()
	if err := parent.Mkdir(name, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("save: %w", err)
	}
	root, err := parent.OpenRoot(name)
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	defer root.Close()
	errs := []error{saveFiles(root, r.Boot.Files), saveFile(root, "console.log", []byte(r.Boot.Console))}
	if src, err := ScenarioSource(r.Scenario); err == nil {
		errs = append(errs, saveFile(root, "scenario.scn", src))
	}
	info := fmt.Sprintf("release %s\nversion %s\nspec %s\nprofile %s\n", r.Kernel, r.Version, r.Spec, r.Profile)
	errs = append(errs, saveFile(root, "kernel.txt", []byte(info)))
	var sb strings.Builder
	if err := WriteText(&sb, &Kernel{Release: r.Kernel, Spec: r.Kernel}, &cache.Profile{Name: r.Profile}, []*Run{r}, false); err != nil {
		return err
	}
	errs = append(errs, saveFile(root, "compare.txt", []byte(sb.String())))
	return errors.Join(errs...)
}

type errW struct {
	w   io.Writer
	err error
}

func (e *errW) f(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// LoadCapture reads a directory written by Run.Save back as a boot result
// and the kernel facts of kernel.txt (release, version, spec, profile).
func LoadCapture(dir string) (*BootResult, map[string]string, error) {
	br := &BootResult{Files: map[string][]byte{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("capture: %w", err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue // a capture holds regular files only; symlinks are not followed
		}
		if fi, err := e.Info(); err != nil || fi.Size() > frame.MaxFile {
			return nil, nil, fmt.Errorf("capture %s: %s: not readable or over %d bytes", dir, e.Name(), frame.MaxFile)
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, nil, fmt.Errorf("capture: %w", err)
		}
		br.Files[e.Name()] = b
	}
	if err := json.Unmarshal(br.Files[guest.FileReport], &br.Report); err != nil {
		return nil, nil, fmt.Errorf("capture %s: report: %w", dir, err)
	}
	br.Console = string(br.Files["console.log"])
	info := map[string]string{}
	for _, l := range strings.Split(string(br.Files["kernel.txt"]), "\n") {
		if k, v, ok := strings.Cut(l, " "); ok {
			info[k] = v
		}
	}
	return br, info, nil
}

// Compare judges one scenario of a (possibly loaded) boot against the
// model under p.
func Compare(s *scenarios.Scenario, p *cache.Profile, kernel string, br *BootResult, idx int) (*Run, error) {
	m, err := scenarios.Run(s, p)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if idx >= len(br.Report.Scenarios) {
		return nil, fmt.Errorf("capture has %d scenarios, want #%d", len(br.Report.Scenarios), idx)
	}
	r := &Run{Scenario: s, Name: s.Name, Kernel: kernel, Profile: p.Name, Model: m, Boot: br, Timing: map[string]float64{}}
	r.compare(&br.Report.Scenarios[idx], br)
	return r, nil
}

// shortSpec shows file specs by base name.
func shortSpec(spec string) string {
	var out []string
	for _, p := range strings.Split(spec, ",") {
		out = append(out, filepath.Base(p))
	}
	return strings.Join(out, ",")
}
