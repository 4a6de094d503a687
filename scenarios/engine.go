package scenarios

import (
	"crypto"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/cache/vfs"
	"github.com/imasim/imasim/measure"
	"github.com/imasim/imasim/measure/policy"
	"github.com/imasim/imasim/tpm"
)

// Verdicts.
const (
	OK            = "ok"
	Missed        = "missed"
	Excessive     = "excessive"
	Indeterminate = "indeterminate"
)

// HookCall is one IMA hook call (or last-writer check) and its judgement.
type HookCall struct {
	Index     int    `json:"index"`
	Line      int    `json:"line"`
	Op        string `json:"op"`
	Hook      string `json:"hook"`
	Path      string `json:"path"`
	Evaluated bool   `json:"evaluated"`
	Verdict   string `json:"verdict"`
	Cause     string `json:"cause"`
}

// ExpectResult is one expect line checked against the run.
type ExpectResult struct {
	Line int    `json:"line"`
	Text string `json:"text"`
	OK   bool   `json:"ok"`
	Got  string `json:"got"`
}

// Result is one scenario run under one profile.
type Result struct {
	Profile      string         `json:"profile"`
	NA           string         `json:"not_applicable,omitempty"`
	Notes        []string       `json:"notes,omitempty"`
	AuditRecords map[string]int `json:"audit_records"`
	Measurements int            `json:"measurements"`
	Violations   int            `json:"violations"`
	Steps        []HookCall     `json:"steps"`
	Expects      []ExpectResult `json:"expects,omitempty"`
	// Seen is what reads, mappings and fstat/statx steps saw (observe.go).
	Seen  []Seen        `json:"seen,omitempty"`
	Audit []AuditRecord `json:"-"`
	List  []ListEntry   `json:"-"`
	// ML is the measurement list as the kernel would hold it.
	ML   *measure.List     `json:"-"`
	PCRs map[string]string `json:"pcrs,omitempty"`
}

// Count returns how many hook calls got verdict v.
func (r *Result) Count(v string) int {
	n := 0
	for _, s := range r.Steps {
		if s.Verdict == v {
			n++
		}
	}
	return n
}

// StepGap is the simulated time between two steps.
const StepGap = 10 * 1_000_000

// engine is one run's state. A search clones it at every step
// (CloneInto), so what stays fixed after NewRunnerWith is shared by
// clones (engineConf), and what a step only uses while it runs is each
// runner's own and never copied (engineScratch).
type engine struct {
	*engineConf
	*engineScratch
	grown   int // file content bytes the run has written (MaxModelBytes)
	w       *vfs.World
	ima     *cache.IMA
	handles handleSet
	res     *Result
	// listed: "pcr/name/content" of each quiet-mode list entry, for
	// dedup. A few entries: a slice clones cheaper than a map.
	listed []string
	// lastEval: content each path had when IMA last hashed it through
	// that path — the ground truth for "excessive". Sorted by path.
	lastEval []evaluated
	pid      int
	err      error        // first list or TPM failure, reported after the step
	ix       *interpState // interpreter steps (interp.go); nil until used
}

// engineConf is what a run fixes when it starts; clones share it.
type engineConf struct {
	s       *Scenario
	p       *cache.Profile
	pol     *policy.Policy
	measure bool // the policy has a measure rule (ima_policy_flag & IMA_MEASURE)
	// appraise: the policy has an appraise rule (ima_policy_flag &
	// IMA_APPRAISE; with ima_appraise=log too).
	appraise bool
	quiet    bool
	causes   causeLevel
	noAudit  bool // Options.NoAuditText
	// decisions caches policy decisions.
	decisions *decisionCache
	tpm       tpm.PCRs // extended for every list entry; nil in quiet mode
	hashAlgo  measure.Algo
	// dField: the template has a "d" field (SHA-1 or MD5); dSHA1: and
	// hashAlgo is neither, so entries need the file's SHA-1 too.
	dField, dSHA1 bool
}

// engineScratch is what a step uses while it runs, kept off the heap,
// and the runner's caches.
type engineScratch struct {
	st  Step     // the step being run
	cf  vfsFile  // reused by file() so hooks do not allocate
	tmp vfs.File // a file opened and closed within one step
	hs  handle   // the open handle a step works on (a copy, as in e.handles)
	// entries are recent quiet-mode list entries (listEntry).
	entries   [8]string
	nextEntry int
	// saved is the state Save recorded (restore.go).
	saved *runSaved
}

// evaluated is the content a path had when IMA last hashed it, and the
// appraisal-relevant metadata at its last appraisal ("" if none).
type evaluated struct {
	path  string
	truth []byte
	meta  string
}

// lastEvaluated returns what p had at its last evaluation.
func (e *engine) lastEvaluated(p string) (evaluated, bool) {
	for i := range e.lastEval {
		if e.lastEval[i].path == p {
			return e.lastEval[i], true
		}
	}
	return evaluated{}, false
}

// setEvaluated records p's content (and, when appraised, metadata) at an
// evaluation, keeping the list sorted.
func (e *engine) setEvaluated(p string, truth []byte, meta string) {
	k := 0
	for k < len(e.lastEval) && e.lastEval[k].path < p {
		k++
	}
	if k < len(e.lastEval) && e.lastEval[k].path == p {
		if truth != nil {
			e.lastEval[k].truth = truth
		}
		if meta != "" {
			e.lastEval[k].meta = meta
		}
		return
	}
	e.lastEval = append(e.lastEval, evaluated{})
	copy(e.lastEval[k+1:], e.lastEval[k:])
	e.lastEval[k] = evaluated{p, truth, meta}
}

// handle is an open file of the scenario. Held by value: the world keeps
// no pointers to files, so a copy is the same open file.
type handle struct {
	f        vfs.File
	uid, gid uint32
}

// handleSet is the open handles by name, in the order they were opened:
// a few at most, which a slice holds, clones and searches cheaper than a
// map.
type handleSet []namedHandle

type namedHandle struct {
	name string
	h    handle
}

// get returns the handle named name.
func (s handleSet) get(name string) (handle, bool) {
	for i := range s {
		if s[i].name == name {
			return s[i].h, true
		}
	}
	return handle{}, false
}

// set opens (or replaces) the handle named name.
func (s *handleSet) set(name string, h handle) {
	for i := range *s {
		if (*s)[i].name == name {
			(*s)[i].h = h
			return
		}
	}
	*s = append(*s, namedHandle{name, h})
}

// del closes the handle named name, if open.
func (s *handleSet) del(name string) {
	for i := range *s {
		if (*s)[i].name == name {
			*s = append((*s)[:i], (*s)[i+1:]...)
			return
		}
	}
}

// Run runs s through the model under profile p with software PCR banks.
func Run(s *Scenario, p *cache.Profile) (*Result, error) {
	return RunWith(s, p, Options{})
}

// Options tune a run.
type Options struct {
	// Quiet skips causes, audit texts and the measurement list (search).
	Quiet bool
	// TPM receives the PCR extends; nil means fresh software SHA-1 and
	// SHA-256 banks. The caller owns (and closes) it.
	TPM tpm.PCRs
	// NoAuditText skips the INTEGRITY_RULE records of Result.Audit (their
	// text costs a Sprintf; AuditRecords still counts them): a search
	// that replays found sequences reads causes, not audit logs.
	NoAuditText bool
	// Causes, with Quiet, still explains each hook call: the causes a
	// full run gives, without their " -- " details (which name digests; a
	// quiet run's truth is the content). Still no measurement list,
	// TPM or hashing: a search groups its findings by cause this way.
	Causes bool
}

// RunWith runs s through the model under profile p.
func RunWith(s *Scenario, p *cache.Profile, o Options) (*Result, error) {
	r, err := NewRunnerWith(s, p, o)
	if err != nil || r.e == nil {
		if r != nil {
			return r.res, err
		}
		return nil, err
	}
	for _, st := range s.Steps {
		if err := r.Step(st); err != nil {
			return nil, err
		}
	}
	r.e.checkExpects()
	if err := r.e.readPCRs(); err != nil {
		return nil, fmt.Errorf("%s: %w", s.File, err)
	}
	return r.res, nil
}

// Runner runs steps one at a time and can be cloned, so a search can
// share prefixes (imasim explore).
type Runner struct {
	e   *engine
	res *Result
}

// NewRunner prepares a run of s under p without running its steps. quiet
// skips building cause strings and audit texts. When the profile cannot
// meet the scenario's requires:, the runner's Result has NA set and Step
// must not be called (Ready reports it).
func NewRunner(s *Scenario, p *cache.Profile, quiet bool) (*Runner, error) {
	return NewRunnerWith(s, p, Options{Quiet: quiet})
}

// NewRunnerWith is NewRunner with options.
func NewRunnerWith(s *Scenario, p *cache.Profile, o Options) (*Runner, error) {
	quiet := o.Quiet
	res := &Result{Profile: p.Name, AuditRecords: map[string]int{}}
	for _, rq := range s.Requires {
		if rq.Kind == "feature" {
			all, partial := p.HasFeature(rq.Value)
			if !all && !partial {
				res.NA = fmt.Sprintf("requires feature %s, which kernels %s lack", rq.Value, p.Kernels)
				return &Runner{res: res}, nil
			}
			if partial {
				res.Notes = append(res.Notes, fmt.Sprintf("feature %s exists only in %s of this profile's kernels %s: modelled as a kernel that has it", rq.Value, p.Features[rq.Value], p.Kernels))
			}
		}
		if rq.Kind == "kernel" {
			v, err := cache.ParseKernelVersion(rq.Value)
			if err != nil {
				return nil, &Error{s.File, rq.Line, err.Error()}
			}
			if !p.Kernels.Overlaps(cache.Range{Min: v, Open: true}) {
				res.NA = fmt.Sprintf("requires kernel >= %s; profile covers %s", v, p.Kernels)
				return &Runner{res: res}, nil
			}
		}
	}
	pol, err := ParsePolicyFor(s, p)
	if err != nil {
		return nil, err
	}
	e := &engine{engineConf: &engineConf{s: s, p: p, pol: pol, quiet: quiet, decisions: &decisionCache{}},
		engineScratch: &engineScratch{}, w: vfs.NewWorld(p.ChangeCookie), ima: cache.New(p),
		res: res, pid: 1000}
	e.causes = allCauses
	if quiet {
		e.causes = noCauses
		if o.Causes {
			e.causes = causeHeads
		}
	}
	e.ima.Quiet = e.causes == noCauses
	e.noAudit = o.NoAuditText
	for _, r := range pol.Rules {
		switch {
		case r.Func == policy.SetxattrCheck:
			// Not in ima_policy_flag (Linux v7.2:
			// ima_policy.c:ima_update_policy_flags).
		case r.Action == policy.Measure:
			e.measure = true
		case r.Action == policy.Appraise:
			e.appraise = true
		}
	}
	if e.hashAlgo, err = measure.ParseFileAlgo(p.HashAlgo); err != nil {
		return nil, fmt.Errorf("profile %s: hash: %w", p.Name, err)
	}
	if !quiet {
		res.ML = &measure.List{}
		e.tpm = o.TPM
		if e.tpm == nil {
			e.tpm = tpm.NewSoftware(crypto.SHA1, crypto.SHA256)
		}
		t, err := measure.LookupTemplate(p.Template)
		if err != nil {
			return nil, fmt.Errorf("profile %s: template: %w", p.Name, err)
		}
		for _, f := range t.Fields {
			e.dField = e.dField || f.ID == "d"
		}
		// a d field takes sha1 and md5 digests as they are
		e.dSHA1 = e.dField && e.hashAlgo != measure.SHA1 && e.hashAlgo != measure.MD5
		if err := e.addBootAggregate(); err != nil {
			return nil, fmt.Errorf("%s: %w", s.File, err)
		}
	}
	return &Runner{e: e, res: res}, nil
}

// ParsePolicy parses the scenario's policy lines as the newest kernel
// would, locating errors at the scenario line that holds the rule.
func ParsePolicy(s *Scenario) (*policy.Policy, error) { return ParsePolicyFor(s, nil) }

// ParsePolicyFor parses the policy as the oldest kernel of profile p
// would (the language changed across eras: dont_audit, comments...).
func ParsePolicyFor(s *Scenario, p *cache.Profile) (*policy.Policy, error) {
	var rules strings.Builder
	for _, pl := range s.Policy {
		rules.WriteString(pl.Rule + "\n")
	}
	var k policy.Kernel
	if p != nil {
		k.Version = policy.Version{Major: p.Kernels.Min.Major, Minor: p.Kernels.Min.Minor}
	}
	pol, err := policy.ParseKernel(strings.NewReader(rules.String()), s.File, k)
	if err != nil {
		var pe *policy.Error
		if errors.As(err, &pe) && pe.Line >= 1 && pe.Line <= len(s.Policy) {
			return nil, &Error{s.File, s.Policy[pe.Line-1].Line, "policy: " + pe.Msg}
		}
		return nil, fmt.Errorf("%s: policy: %w", s.File, err)
	}
	return pol, nil
}

// Ready reports whether steps can run (the profile meets requires:).
func (r *Runner) Ready() bool { return r.e != nil }

// Step runs one step after advancing the clock by StepGap.
func (r *Runner) Step(st Step) error { return r.StepAfter(StepGap, st) }

// StepAfter runs one step after advancing the clock by gap.
func (r *Runner) StepAfter(gap vfs.Time, st Step) error {
	e := r.e
	e.w.Advance(gap)
	err := e.step(st)
	if st.Fails != "" {
		err = wantFailure(st.Fails, ModelErrno(err), err)
		if err == nil {
			e.seen("failed with " + st.Fails)
		}
	}
	if err != nil {
		return &Error{e.s.File, st.Line, fmt.Sprintf("%s: %v", opName(st), err)}
	}
	e.trackChecked()
	if e.err != nil {
		return fmt.Errorf("%s:%d: %s: %w", e.s.File, st.Line, opName(st), e.err)
	}
	return nil
}

// Result is the run so far.
func (r *Runner) Result() *Result { return r.res }

// World is the modelled filesystems (for the host probe, which compares
// them with the real ones).
func (r *Runner) World() *vfs.World { return r.e.w }

// CloseAll closes the scenario's open handles (as unmounting requires),
// in the order they were opened.
func (r *Runner) CloseAll() {
	for len(r.e.handles) > 0 {
		f := r.e.handles[0].h.f
		r.e.st = Step{Op: Close{}}
		r.e.fileFree(&f)
		r.e.handles.del(r.e.handles[0].name)
	}
}

// Clone copies the whole run state. It only reads r, so goroutines may
// clone one runner at once.
func (r *Runner) Clone() *Runner { return r.CloneInto(nil) }

// CloneInto is Clone reusing the memory of dst, a runner made by an
// earlier Clone or CloneInto that the caller no longer needs (nil: fresh
// memory). A search clones into the same few runners and stops allocating.
func (r *Runner) CloneInto(dst *Runner) *Runner {
	if dst == nil || dst.e == nil || dst.e == r.e {
		// One allocation for the runner, its engine and its result.
		b := &struct {
			r   Runner
			e   engine
			sc  engineScratch
			res Result
		}{}
		b.r = Runner{e: &b.e, res: &b.res}
		b.e.engineScratch = &b.sc
		dst = &b.r
	}
	e, res := dst.e, dst.res
	sc := e.engineScratch
	// The destination's own buffers, reused below.
	w, ima, handles, lastEval := e.w, e.ima, e.handles, e.lastEval
	audit, listed := res.AuditRecords, e.listed
	steps, audits, list := res.Steps, res.Audit, res.List
	*e = *r.e
	*res = *r.res
	e.res = res
	e.engineScratch = sc // the destination's own
	if sc.saved != nil {
		sc.saved.ok = false // the state it restores is overwritten
	}
	if r.res.ML != nil {
		// Verbose clones get their own list; quiet runs have none. They
		// share the TPM, so only quiet runners should be cloned for a search.
		res.ML = r.res.ML.Clone()
	}
	e.w = r.e.w.CloneInto(w)
	e.ima = r.e.ima.CloneInto(ima)
	e.handles = handles[:0]
	for _, nh := range r.e.handles {
		nh.h.f.Inode, nh.h.f.Backing = e.w.Translate(r.e.w, nh.h.f.Inode), e.w.Translate(r.e.w, nh.h.f.Backing)
		e.handles = append(e.handles, nh)
	}
	e.res.AuditRecords = copyMap(audit, r.res.AuditRecords)
	e.listed = copyInto(listed, r.e.listed)
	e.lastEval = copyInto(lastEval, r.e.lastEval)
	e.ix = r.e.ix.clone()
	res.Seen = slices.Clone(r.res.Seen)
	res.Steps = copyInto(steps, r.res.Steps)
	res.Audit = copyInto(audits, r.res.Audit)
	res.List = copyInto(list, r.res.List)
	return dst
}

// copyInto is append(dst[:0], src...) without the copy call when src is
// empty, as a search's runners mostly are.
func copyInto[T any](dst, src []T) []T {
	if len(src) == 0 {
		return dst[:0]
	}
	return append(dst[:0], src...)
}

// copyMap copies src into dst, emptied first (nil dst: a new map).
func copyMap[K comparable, V any](dst, src map[K]V) map[K]V {
	if dst == nil || src == nil {
		return maps.Clone(src)
	}
	if len(dst) == 0 && len(src) == 0 {
		return dst // a search's runners: nothing to clear or copy
	}
	clear(dst)
	for k, v := range src {
		dst[k] = v
	}
	return dst
}

// StateHash folds the model state that can influence later verdicts
// (world, iint cache, ground truth) into a 64-bit hash.
func (r *Runner) StateHash() uint64 {
	var h vfs.Hasher
	r.e.w.Hash(&h)
	r.e.ima.Hash(&h)
	for _, le := range r.e.lastEval { // sorted by path
		h.S(le.path)
		h.Bytes(le.truth)
		h.S(le.meta)
	}
	h.U(uint64(len(r.e.handles)))
	return h.Sum64()
}

// processMeasurement runs one IMA hook call (Linux v6.12:
// ima_main.c:process_measurement, through cache.IMA) with the policy's
// decision, emits what it records, and classifies it.
func (e *engine) processMeasurement(f *vfs.File, fn policy.Func, mask policy.Mask, uid, gid uint32) {
	ino := f.Inode
	real := e.w.RealInode(ino)
	d := e.decisions.decide(e.pol, decisionKey{fn: fn, mask: mask, uid: uid, gid: gid,
		fowner: real.UID, fgroup: real.GID, magic: ino.SB.Model.Magic, fsName: ino.SB.Model.Type})
	actions := d.actions
	pcr := d.pcr
	if pcr == 0 {
		pcr = 10
	}
	vc := e.measure && (fn == policy.FileCheck || fn == policy.MmapCheck || fn == policy.MmapCheckReqprot)
	cf := e.file(f)
	content := real.Content
	var truth []byte
	if e.quiet {
		truth = content // the search compares contents; no hashing needed
	} else {
		truth = e.calcFileHash(content)
	}
	// Appraisal-relevant metadata (EVM-protected) counts as a relevant
	// change only under an appraise action.
	appraise := actions&cache.FlagAppraise != 0
	metaNow := ""
	if appraise {
		metaNow = real.MetaKey()
	}
	out := e.ima.ProcessMeasurement(cf, cache.Hook{Actions: actions, PCR: pcr, ViolationCheck: vc,
		MustMeasure: actions&cache.FlagMeasure != 0}, func() []byte { return truth })
	for _, v := range out.Violation {
		e.addViolation(f, v)
	}
	if out.Evaluated {
		// IMA hashes through the kernel read path, which updates atime
		// (Linux v6.12: ima_crypto.c:ima_calc_file_hash -> __kernel_read ->
		// file_accessed); overlay lowers are opened O_NOATIME. On XFS a
		// queried i_version moves with it (real 6.1/6.12 confirm).
		e.w.Read(f)
	}
	if actions == 0 {
		return
	}
	last, seen := e.lastEvaluated(f.Path) // what the hook call is judged by
	metaSame := !appraise || last.meta == "" || last.meta == metaNow
	verdict, cause := classify(out, judged{seen: seen, before: last.truth, now: truth, metaSame: metaSame, appraise: appraise}, e.causes)
	evaluatedAny := out.Evaluated || out.Appraised
	if evaluatedAny {
		var t []byte
		if out.Evaluated {
			t = truth
		}
		e.setEvaluated(f.Path, t, metaNow)
	}
	e.record(fn.String(), f.Path, evaluatedAny, verdict, cause)
	if out.Measure {
		e.storeMeasurement(f, f.Path, truth, pcr)
	}
	if out.Audit {
		e.res.AuditRecords[f.Path]++
	}
	if out.Audit && !e.quiet && !e.noAudit {
		e.auditMeasurement(f, truth, uid, gid)
	}
}

// SortedPaths returns the audit-record paths, sorted.
func (r *Result) SortedPaths() []string {
	var ps []string
	for p := range r.AuditRecords {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}
