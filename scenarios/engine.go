package scenarios

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

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

// AuditRecord is one emitted audit record.
type AuditRecord struct {
	Type int    `json:"type"`
	Step int    `json:"step"`
	Text string `json:"text"`
	Path string `json:"path"`
	// Cause and Res are the cause= and res= fields of INTEGRITY_DATA
	// records (ima_file_mprotect's "failed-mprotect"), for comparison.
	Cause string `json:"cause,omitempty"`
	Res   int    `json:"res,omitempty"`
}

// Measurement is one measurement-list entry.
type Measurement struct {
	PCR          int    `json:"pcr"`
	TemplateHash string `json:"template_hash"`
	Template     string `json:"template"`
	FileHash     string `json:"file_hash"`
	Path         string `json:"path"`
	Violation    bool   `json:"violation,omitempty"`
	Data         []byte `json:"-"`
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
	List  []Measurement `json:"-"`
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

type engine struct {
	grown   int // file content bytes the run has written (MaxModelBytes)
	s       *Scenario
	p       *cache.Profile
	w       *vfs.World
	ima     *cache.IMA
	pol     *policy.Policy
	measure bool // the policy has a measure rule (ima_policy_flag & IMA_MEASURE)
	// appraise: the policy has an appraise rule (ima_policy_flag &
	// IMA_APPRAISE; with ima_appraise=log too).
	appraise bool
	handles  map[string]handle
	res      *Result
	listed   map[string]bool // template hash + pcr, for dedup
	// lastEval: content each path had when IMA last hashed it through
	// that path — the ground truth for "excessive". Sorted by path.
	lastEval []evaluated
	pid      int
	quiet    bool
	// decisions caches policy decisions; shared by clones.
	decisions *decisionCache
	cf        vfsFile  // reused by file() so hooks do not allocate
	tmp       vfs.File // a file opened and closed within one step
	tpm       tpm.PCRs // extended for every list entry; nil in quiet mode
	hashAlgo  measure.Algo
	// dField: the template has a "d" field (SHA-1 or MD5); dSHA1: and
	// hashAlgo is neither, so entries need the file's SHA-1 too.
	dField, dSHA1 bool
	err           error        // first list or TPM failure, reported after the step
	ix            *interpState // interpreter steps (interp.go); nil until used
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
	for _, le := range e.lastEval {
		if le.path == p {
			return le, true
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

// readPCRs records PCR 10 of every bank in the result.
func (e *engine) readPCRs() error {
	if e.tpm == nil {
		return nil
	}
	v, err := e.tpm.Read(10)
	if err != nil {
		return fmt.Errorf("reading PCR 10: %w", err)
	}
	e.res.PCRs = map[string]string{}
	for h, d := range v {
		if a, ok := measure.AlgoFromCrypto(h); ok {
			e.res.PCRs[a.String()] = hex.EncodeToString(d)
		}
	}
	return nil
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
	e := &engine{s: s, p: p, w: vfs.NewWorld(p.ChangeCookie), ima: cache.New(p), pol: pol,
		handles: map[string]handle{}, res: res, listed: map[string]bool{}, pid: 1000, quiet: quiet, decisions: &decisionCache{}}
	e.ima.Quiet = quiet
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
		if err := e.bootAggregate(); err != nil {
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
	if want := st.Opts["fails"]; want != "" {
		err = wantFailure(want, ModelErrno(err), err)
		if err == nil {
			e.seen(st, "failed with "+want)
		}
	}
	if err != nil {
		return &Error{e.s.File, st.Line, fmt.Sprintf("%s: %v", st.Op, err)}
	}
	e.trackChecked(st)
	if e.err != nil {
		return fmt.Errorf("%s:%d: %s: %w", e.s.File, st.Line, st.Op, e.err)
	}
	return nil
}

// Result is the run so far.
func (r *Runner) Result() *Result { return r.res }

// World is the modelled filesystems (for the host probe, which compares
// them with the real ones).
func (r *Runner) World() *vfs.World { return r.e.w }

// CloseAll closes the scenario's open handles (as unmounting requires).
func (r *Runner) CloseAll() {
	for name, h := range r.e.handles {
		f := h.f
		r.e.close(Step{Op: "close"}, &f)
		delete(r.e.handles, name)
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
			res Result
		}{}
		b.r = Runner{e: &b.e, res: &b.res}
		dst = &b.r
	}
	e, res := dst.e, dst.res
	// The destination's own buffers, reused below.
	w, ima, handles, lastEval := e.w, e.ima, e.handles, e.lastEval
	audit, listed := res.AuditRecords, e.listed
	steps, audits, list := res.Steps, res.Audit, res.List
	*e = *r.e
	*res = *r.res
	e.res = res
	if r.res.ML != nil {
		// Verbose clones get their own list; quiet runs have none. They
		// share the TPM, so only quiet runners should be cloned for a search.
		res.ML = &measure.List{DisableHTable: r.res.ML.DisableHTable}
		for _, en := range r.res.ML.Entries {
			res.ML.Append(en)
		}
	}
	e.w = r.e.w.CloneInto(w)
	e.ima = r.e.ima.CloneInto(ima)
	e.handles = handles // step makes the map when a file is opened
	clear(e.handles)
	for k, h := range r.e.handles {
		if e.handles == nil {
			e.handles = map[string]handle{}
		}
		h.f.Inode, h.f.Backing = e.w.Translate(r.e.w, h.f.Inode), e.w.Translate(r.e.w, h.f.Backing)
		e.handles[k] = h
	}
	e.res.AuditRecords = copyMap(audit, r.res.AuditRecords)
	e.listed = copyMap(listed, r.e.listed)
	e.lastEval = append(lastEval[:0], r.e.lastEval...)
	e.ix = r.e.ix.clone()
	res.Seen = slices.Clone(r.res.Seen)
	res.Steps = append(steps[:0], r.res.Steps...)
	res.Audit = append(audits[:0], r.res.Audit...)
	res.List = append(list[:0], r.res.List...)
	return dst
}

// copyMap copies src into dst, emptied first (nil dst: a new map).
func copyMap[K comparable, V any](dst, src map[K]V) map[K]V {
	if dst == nil || src == nil {
		return maps.Clone(src)
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
		h.S(string(le.truth))
		h.S(le.meta)
	}
	h.U(uint64(len(r.e.handles)))
	return h.Sum64()
}

// decisionCache remembers policy decisions by the attributes the engine
// passes: the policy is fixed for a run, and a search asks the same few
// questions millions of times. Readers load an immutable slice; a miss
// publishes a longer copy.
type decisionCache struct {
	list atomic.Pointer[[]decision]
}

type decisionKey struct {
	fn             policy.Func
	mask           policy.Mask
	uid, gid       uint32
	fowner, fgroup uint32
	magic          uint64
	fsName         string
}

type decision struct {
	key     decisionKey
	actions uint64 // cache.Flag* bits
	pcr     int
}

// decide returns the cached decision for k, asking pol on a miss.
func (c *decisionCache) decide(pol *policy.Policy, k decisionKey) decision {
	if l := c.list.Load(); l != nil {
		for _, d := range *l {
			if d.key == k {
				return d
			}
		}
	}
	d := pol.Match(policy.Attrs{Func: k.fn, Mask: k.mask, UID: k.uid, EUID: k.uid, GID: k.gid, EGID: k.gid,
		FOwner: k.fowner, FGrp: k.fgroup, FSMagic: k.magic, FSName: k.fsName}.WithDefaultCaps())
	out := decision{key: k, pcr: d.PCR}
	if d.Actions&policy.Measure != 0 {
		out.actions |= cache.FlagMeasure
	}
	if d.Actions&policy.Appraise != 0 {
		out.actions |= cache.FlagAppraise
	}
	if d.Actions&policy.Audit != 0 {
		out.actions |= cache.FlagAudit
	}
	if d.Actions&policy.Hash != 0 {
		out.actions |= cache.FlagHash
	}
	for {
		old := c.list.Load()
		var l []decision
		if old != nil {
			l = append(l, *old...)
		}
		l = append(l, out)
		if c.list.CompareAndSwap(old, &l) {
			return out
		}
	}
}

func (e *engine) step(st Step) error {
	a := st.Args
	uid, gid := st.IDs()
	switch st.Op {
	case "fs":
		m, err := vfs.LookupModel(e.p.FSModel(a[0]))
		if err != nil {
			return err
		}
		if m.Overlay {
			return fmt.Errorf("use the overlay step for overlayfs")
		}
		if err := e.mountpoint(a[1]); err != nil {
			return err
		}
		_, err = e.w.Mount(m, a[1], a[2:])
		return err
	case "mkdir":
		return e.w.Mkdir(a[0])
	case "overlay":
		m, _ := vfs.LookupModel("overlay")
		if err := e.mountpoint(a[0]); err != nil {
			return err
		}
		_, err := e.w.MountOverlay(m, a[0], st.Opts["lower"], st.Opts["upper"], st.Opts["work"])
		return err
	case "write", "append", "overwrite":
		if err := e.grow(len(a[1])); err != nil {
			return err
		}
		data := []byte(a[1])
		if h, ok := e.handles[a[0]]; ok {
			if st.Op == "overwrite" {
				if len(data) > len(h.f.Backing.Content) {
					return fmt.Errorf("overwrite is in place: %d bytes do not fit in %d", len(data), len(h.f.Backing.Content))
				}
			}
			return e.w.Write(&h.f, data, st.Op == "append")
		}
		fl := vfs.OpenFlags{Write: true, Create: st.Op == "write", Trunc: st.Op == "write", Append: st.Op == "append",
			Mode: st.Mode(0o644)}
		if st.Op == "overwrite" {
			cur, err := e.w.Lookup(a[0])
			if err != nil {
				return err
			}
			if len(data) > len(e.w.RealInode(cur).Content) {
				return fmt.Errorf("overwrite is in place: %d bytes do not fit", len(data))
			}
		}
		f, err := e.open(st, a[0], fl, uid, gid, &e.tmp)
		if err != nil {
			return err
		}
		if err := e.w.Write(f, data, st.Op == "append"); err != nil {
			return err
		}
		e.close(st, f)
		return nil
	case "truncate":
		n, _ := strconv.Atoi(a[1])
		if err := e.grow(n); err != nil {
			return err
		}
		// security_path_truncate runs before the size changes.
		if ino, err := e.w.Lookup(a[0]); err == nil {
			e.ima.Truncate(ino)
		}
		if err := e.w.Truncate(a[0], n); err != nil {
			return err
		}
		e.setattr(a[0])
		return nil
	case "copy":
		src, err := e.w.Lookup(a[0])
		if err != nil {
			return err
		}
		data := e.w.RealInode(src).Content
		if err := e.grow(len(data)); err != nil {
			return err
		}
		f, err := e.open(st, a[1], vfs.OpenFlags{Write: true, Create: true, Trunc: true, Mode: st.Mode(0o644)}, 0, 0, &e.tmp)
		if err != nil {
			return err
		}
		if err := e.w.Write(f, data, false); err != nil {
			return err
		}
		e.close(st, f)
		return nil
	case "chmod":
		m, _ := strconv.ParseUint(a[1], 8, 32)
		if err := e.w.Chmod(a[0], uint32(m)); err != nil {
			return err
		}
		e.setattr(a[0])
		return nil
	case "chown":
		u, g, _ := strings.Cut(a[1], ":")
		uu, _ := strconv.ParseUint(u, 10, 32)
		gg := uu
		if g != "" {
			gg, _ = strconv.ParseUint(g, 10, 32)
		}
		if err := e.w.Chown(a[0], uint32(uu), uint32(gg)); err != nil {
			return err
		}
		e.setattr(a[0])
		return nil
	case "touch":
		if err := e.w.Touch(a[0]); err != nil {
			return err
		}
		e.setattr(a[0])
		return nil
	case "setxattr":
		if err := e.w.Setxattr(a[0], a[1], a[2]); err != nil {
			return err
		}
		if a[1] == "security.ima" {
			// ima_inode_setxattr (it runs before the value is stored;
			// the flags it sets are read at the next access).
			for _, ino := range e.notified(a[0]) {
				e.ima.ResetAppraiseFlags(ino, e.appraise)
			}
		}
		return nil
	case "open":
		fl := vfs.OpenFlags{}
		switch a[2] {
		case "r":
			fl.Read = true
		case "w":
			fl.Write = true
		case "rw":
			fl.Read, fl.Write = true, true
		case "a":
			fl.Write, fl.Append = true, true
		case "trunc":
			fl.Write, fl.Trunc = true, true
		}
		h := handle{uid: uid, gid: gid}
		if _, err := e.open(st, a[1], fl, uid, gid, &h.f); err != nil {
			return err
		}
		if e.handles == nil {
			e.handles = map[string]handle{}
		}
		e.handles[a[0]] = h
		return nil
	case "read":
		return e.readHandle(st, a[0], -1)
	case "pread":
		off, _ := strconv.Atoi(a[1])
		return e.readHandle(st, a[0], off)
	case "mmap":
		return e.mmapHandle(st, a[0], a[1] == "exec")
	case "fstat", "statx":
		return e.look(st, a[0], st.Op == "statx")
	case "fsverity":
		return e.enableVerity(a[1])
	case "sh":
		return e.sh(st, a[0], uid, gid)
	case "mprotect":
		h := e.handles[a[0]]
		e.w.Mmap(&h.f) // the PROT_READ mapping: no IMA hook
		e.mprotect(st, &h.f, h.uid, h.gid)
		return nil
	case "close":
		h := e.handles[a[0]]
		delete(e.handles, a[0])
		e.close(st, &h.f)
		return nil
	case "exec", "execveat":
		if err := e.exec(st, a[0], uid, gid, st.Op == "execveat"); err != nil {
			return err
		}
		if st.Op == "execveat" {
			e.checkHandles(st, a[0])
			if ino, err := e.w.Lookup(a[0]); err == nil {
				e.seen(st, "checked "+ContentSeen(e.w.RealInode(ino).Content))
			}
		}
		return nil
	case "rename":
		return e.w.Rename(a[0], a[1])
	case "unlink":
		return e.w.Unlink(a[0])
	case "sync":
		e.w.Sync()
		return nil
	case "drop_caches":
		// Evicted inodes take their iint with them
		// (Linux v6.12: security/integrity/ima/ima_iint.c:ima_inode_free).
		for _, i := range e.w.DropCaches() {
			e.ima.Forget(i)
		}
		return nil
	case "sleep":
		d, _ := ParseDuration(a[0])
		e.w.Advance(vfs.Time(d))
		return nil
	case "remount":
		return e.w.Remount(a[0], a[1:], e.remountClears)
	}
	return fmt.Errorf("operation not implemented")
}

// MaxModelBytes bounds the file content one run writes into the model,
// which holds contents in memory: each write, append, copy and truncate
// counts its full size, checked before anything is allocated.
const MaxModelBytes = 64 << 20

func (e *engine) grow(n int) error {
	if n < 0 || n > MaxModelBytes-e.grown {
		return fmt.Errorf("the scenario writes more than %d MiB of file content into the model (MaxModelBytes)", MaxModelBytes>>20)
	}
	e.grown += n
	return nil
}

func (e *engine) remountClears(fsType string) bool {
	return e.p.RemountClearsIVersion[fsType]
}

func (e *engine) mountpoint(p string) error {
	if p == "/" {
		return nil
	}
	parent := path.Dir(p)
	if parent == "/" {
		return nil
	}
	if !e.w.IsDir(p) {
		if err := e.w.Mkdir(p); err != nil {
			return fmt.Errorf("mount point %s: %w", p, err)
		}
	}
	return nil
}

// open runs open(2) and IMA's FILE_CHECK hook
// (Linux v6.12: fs/namei.c:do_open -> ima_file_check).
// The file is opened into f.
func (e *engine) open(st Step, p string, fl vfs.OpenFlags, uid, gid uint32, f *vfs.File) (*vfs.File, error) {
	// Whether an O_TRUNC open truncates an existing file (a lookup only
	// then: it is the hot path of a search).
	existed := false
	if fl.Trunc {
		_, err := e.w.Lookup(p)
		existed = err == nil
	}
	if err := e.w.OpenInto(f, p, fl, uid, gid); err != nil {
		return nil, err
	}
	// O_TRUNC on an existing file: handle_truncate -> security_file_truncate
	// (Linux v6.12: fs/namei.c:do_open, after ima_file_check).
	if fl.Trunc && existed {
		// handle_truncate -> do_truncate -> notify_change also runs
		// ima_inode_post_setattr.
		defer e.ima.PostSetattr(f.Inode, e.appraise)
		defer e.ima.Truncate(f.Inode)
	}
	var mask policy.Mask
	if fl.Read {
		mask |= policy.MayRead
	}
	if fl.Write {
		mask |= policy.MayWrite
	}
	if fl.Append {
		mask |= policy.MayAppend
	}
	e.hook(st, f, policy.FileCheck, mask, uid, gid)
	return f, nil
}

// notified lists the inodes whose dentries a metadata change at p went
// through: the inode at p and, behind an overlay, the real (copied-up)
// inode overlay passed the change on to (Linux v6.12: fs/overlayfs/inode.c:ovl_setattr,
// fs/overlayfs/xattrs.c:ovl_xattr_set).
func (e *engine) notified(p string) []*vfs.Inode {
	ino, err := e.w.Lookup(p)
	if err != nil {
		return nil
	}
	if real := e.w.RealInode(ino); real != ino {
		return []*vfs.Inode{ino, real}
	}
	return []*vfs.Inode{ino}
}

// setattr runs ima_inode_post_setattr for a notify_change at p
// (chmod, chown, utimes, truncate).
func (e *engine) setattr(p string) {
	for _, ino := range e.notified(p) {
		e.ima.PostSetattr(ino, e.appraise)
	}
}

// close runs ima_file_free (last-writer check) then drops the file.
func (e *engine) close(st Step, f *vfs.File) {
	applies, _, cause := e.ima.LastWriter(e.file(f))
	if applies {
		e.record(st, "last_writer", f.Path, false, OK, cause)
	}
	e.w.Close(f)
}

// exec models execve(2) of a binary: FILE_CHECK at open with MAY_EXEC,
// BPRM_CHECK, MMAP_CHECK of the PROT_EXEC segments, then the close.
// execveat AT_EXECVE_CHECK stops after BPRM_CHECK
// (Linux v6.14: fs/exec.c:bprm_execve, is_check).
func (e *engine) exec(st Step, p string, uid, gid uint32, check bool) error {
	ino, err := e.w.Lookup(p)
	if err != nil {
		return err
	}
	if e.w.RealInode(ino).Mode&0o111 == 0 {
		return fmt.Errorf("%s: permission denied (not executable; write it with mode=0755 or chmod)", p)
	}
	if check {
		if all, partial := e.p.HasFeature("execve-check"); !all && !partial {
			return fmt.Errorf("AT_EXECVE_CHECK is not in kernels %s", e.p.Kernels)
		}
	}
	f := &e.tmp
	if err := e.w.OpenInto(f, p, vfs.OpenFlags{Read: true}, uid, gid); err != nil {
		return err
	}
	e.hook(st, f, policy.FileCheck, policy.MayExec, uid, gid)
	e.w.Read(f) // prepare_binprm reads the header: atime
	e.hook(st, f, policy.BprmCheck, policy.MayExec, uid, gid)
	if !check {
		e.hook(st, f, policy.MmapCheck, policy.MayExec, uid, gid)
	}
	e.close(st, f)
	e.pid++
	return nil
}

// hook runs one IMA hook call and classifies it.
func (e *engine) hook(st Step, f *vfs.File, fn policy.Func, mask policy.Mask, uid, gid uint32) {
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
		truth = e.fileDigest(content)
	}
	last, seen := e.lastEvaluated(f.Path)
	before := last.truth
	// Appraisal-relevant metadata (EVM-protected) counts as a relevant
	// change only under an appraise action.
	appraise := actions&cache.FlagAppraise != 0
	metaNow := ""
	if appraise {
		metaNow = real.MetaKey()
	}
	metaSame := !appraise || last.meta == "" || last.meta == metaNow
	out := e.ima.Process(cf, cache.Hook{Actions: actions, PCR: pcr, ViolationCheck: vc,
		MustMeasure: actions&cache.FlagMeasure != 0, Readonly: !f.Flags.Write}, func() []byte { return truth })
	for _, v := range out.Violation {
		e.violation(st, f, v)
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
	verdict := OK
	cause := out.Cause
	evaluatedAny := out.Evaluated || out.Appraised
	switch {
	case out.Indeterminate != "":
		verdict = Indeterminate
		cause += " -- indeterminate: " + out.Indeterminate
	case out.Retried:
		// A failed appraisal is re-done at every access by design.
	case evaluatedAny && seen && bytes.Equal(before, truth) && out.First:
		// The inode was evicted: its iint went with it. Re-evaluating is
		// the design, not a cache decision (Linux: ima_inode_free).
		if !e.quiet {
			cause = "new iint (the inode was evicted and read back; IMA's cache went with it, so re-evaluating is by design): " + cause
		}
	case evaluatedAny && seen && bytes.Equal(before, truth) && metaSame:
		verdict = Excessive
		if e.quiet {
			break
		}
		cause += " -- content unchanged since the last evaluation"
		if appraise {
			cause += ", and so is its EVM-protected metadata"
		}
	case !evaluatedAny && out.Digest != nil && !bytes.Equal(out.Digest, truth):
		verdict = Missed
		if !e.quiet {
			cause += fmt.Sprintf(" -- but content changed: measured %s, now %s", short(out.Digest), short(truth))
		}
	case !evaluatedAny && !metaSame:
		verdict = Missed
		if !e.quiet {
			cause += " -- but its EVM-protected metadata (mode, owner, security.* xattrs) changed since the last appraisal"
		}
	case out.Appraised && !out.Evaluated && !e.quiet:
		cause = "re-appraised from the cached hash: " + cause
	}
	if evaluatedAny {
		var t []byte
		if out.Evaluated {
			t = truth
		}
		e.setEvaluated(f.Path, t, metaNow)
	}
	e.record(st, fn.String(), f.Path, evaluatedAny, verdict, cause)
	if out.Measure {
		e.addMeasurement(f, f.Path, truth, pcr)
	}
	if out.Audit {
		e.res.AuditRecords[f.Path]++
	}
	if out.Audit && !e.quiet {
		e.res.Audit = append(e.res.Audit, AuditRecord{Type: 1805, Step: len(e.res.Steps), Path: f.Path,
			Text: fmt.Sprintf("type=1805 audit: file=%q hash=\"%s:%x\" ppid=1 pid=%d auid=4294967295 uid=%d gid=%d euid=%d suid=%d fsuid=%d egid=%d sgid=%d fsgid=%d tty=(none) ses=4294967295 comm=%q exe=%q res=1",
				f.Path, e.hashAlgo, truth, e.pid, uid, gid, uid, uid, uid, gid, gid, gid, path.Base(f.Path), f.Path)})
	}
}

// mprotect follows ima_file_mprotect (Linux v6.1.176, v6.12.107,
// v7.2.13: ima_main.c): only with an appraise rule in the policy; the
// policy (MMAP_CHECK, and MMAP_CHECK_REQPROT since 6.4) is matched on
// file_inode(vma->vm_file), which overlay's mmap made the real file opened
// with the handle (6.1: ovl_mmap, 7.2: backing_file_mmap, vma_set_file);
// a measure or appraise match audits "collect_data failed-mprotect"
// (AUDIT_INTEGRITY_DATA) and an appraise match also denies (-EPERM, in
// log mode too). Nothing is hashed or measured.
func (e *engine) mprotect(st Step, f *vfs.File, uid, gid uint32) {
	const hook = "MMAP_CHECK(mprotect)"
	backing := f.Backing
	if backing == nil {
		backing = e.w.RealInode(f.Inode)
	}
	// The verdict: is content the policy would measure at mmap(PROT_EXEC)
	// (ima_file_mmap's match, on the file itself) now executable without
	// ever having been measured? The mapping holds the backing content.
	mm := e.decisions.decide(e.pol, decisionKey{fn: policy.MmapCheck, mask: policy.MayExec, uid: uid, gid: gid,
		fowner: backing.UID, fgroup: backing.GID, magic: f.Inode.SB.Model.Magic, fsName: f.Inode.SB.Model.Type})
	verdict, missed := OK, ""
	if mm.actions&cache.FlagMeasure != 0 && !e.wasMeasured(f.Path, backing.Content) {
		verdict, missed = Missed, " -- the mapping is now executable and this content was never measured (a limit of ima_file_mprotect, not of the cache)"
	}
	if !e.appraise {
		e.record(st, hook, f.Path, false, verdict,
			"ima_file_mprotect: no appraise rule in the policy (ima_policy_flag lacks IMA_APPRAISE): nothing checked, nothing measured"+missed)
		return
	}
	name := f.Path // 6.1: overlay's real file has the overlay path (open_with_fake_path)
	bp := e.w.LayerPath(f.Inode, backing)
	if bp == "" {
		bp = f.Path
	}
	if all, _ := e.p.HasFeature("backing-file"); all && bp != f.Path {
		// 6.7+: the backing file's own path is on overlay's private
		// layer mount, which d_absolute_path cannot name: ima_d_path
		// falls back to the dentry name (Linux v7.2: ima_api.c:ima_d_path).
		name = path.Base(bp)
	}
	key := decisionKey{fn: policy.MmapCheck, mask: policy.MayExec, uid: uid, gid: gid,
		fowner: backing.UID, fgroup: backing.GID, magic: backing.SB.Model.Magic, fsName: backing.SB.Model.Type}
	actions := e.decisions.decide(e.pol, key).actions
	// MMAP_CHECK_REQPROT rules parse only for kernels that have them.
	key.fn = policy.MmapCheckReqprot
	actions |= e.decisions.decide(e.pol, key).actions
	where := fmt.Sprintf("ima_file_mprotect matches the backing inode %s:dev=%d:ino=%d (%s, named %q)", backing.SB.Model.Type, backing.SB.Dev, backing.Ino, bp, name)
	if all, partial := e.p.HasFeature("mmap-backing-file-hook"); (all || partial) && bp != f.Path {
		// Linux v7.2.13: fs/backing-file.c:backing_file_mmap calls
		// security_mmap_backing_file; only SELinux implements it.
		where += "; security_mmap_backing_file exists here (SELinux checks the user file too), but IMA registers no such hook: its view is unchanged"
	}
	if actions&(cache.FlagMeasure|cache.FlagAppraise) == 0 {
		e.record(st, hook, f.Path, false, verdict, where+": not in policy; nothing measured"+missed)
		return
	}
	res, outcome := 1, "audited failed-mprotect; never measured"
	if actions&cache.FlagAppraise != 0 {
		res, outcome = 0, "audited failed-mprotect and denied (-EPERM)"
		verdict, missed = OK, "" // the mapping does not become executable
	}
	e.record(st, hook, f.Path, false, verdict, where+": "+outcome+missed)
	if e.quiet {
		return
	}
	e.res.Audit = append(e.res.Audit, AuditRecord{Type: 1800, Step: len(e.res.Steps), Path: name, Cause: "failed-mprotect", Res: res,
		Text: fmt.Sprintf("type=1800 audit: pid=%d uid=%d auid=4294967295 ses=4294967295 op=collect_data cause=failed-mprotect comm=%q name=%q dev=%q ino=%d res=%d",
			e.pid, uid, path.Base(f.Path), name, backing.SB.Model.Type, backing.Ino, res)})
}

// wasMeasured reports whether the measurement list holds path p with this
// content's digest.
func (e *engine) wasMeasured(p string, content []byte) bool {
	if e.quiet {
		for k := range e.listed { // "pcr/name/content"
			if strings.HasSuffix(k, "/"+p+"/"+string(content)) {
				return true
			}
		}
		return false
	}
	d := e.fileDigest(content)
	if e.dSHA1 {
		s := sha1.Sum(content)
		d = s[:]
	}
	want := hex.EncodeToString(d)
	for _, m := range e.res.List {
		if m.Path == p && !m.Violation && (m.FileHash == want || strings.HasSuffix(m.FileHash, ":"+want)) {
			return true
		}
	}
	return false
}

func (e *engine) record(st Step, hook, p string, evaluated bool, verdict, cause string) {
	e.res.Steps = append(e.res.Steps, HookCall{Index: len(e.res.Steps) + 1, Line: st.Line, Op: st.Text,
		Hook: hook, Path: p, Evaluated: evaluated, Verdict: verdict, Cause: cause})
}

func (e *engine) violation(st Step, f *vfs.File, cause string) {
	e.res.Violations++
	e.res.Audit = append(e.res.Audit, AuditRecord{Type: 1804, Step: len(e.res.Steps), Path: f.Path,
		Text: fmt.Sprintf("type=1804 audit: pid=%d uid=0 auid=4294967295 ses=4294967295 op=invalid_pcr cause=%s comm=%q name=%q dev=%q ino=%d res=1",
			e.pid, cause, path.Base(f.Path), f.Path, f.Inode.SB.Model.Type, f.Inode.Ino)})
	e.res.Measurements++
	if e.quiet {
		return
	}
	v, err := measure.NewViolationInfo(e.p.Template, 10, e.hashAlgo, f.Path, e.fileInfo(f))
	if err == nil {
		err = e.append(v)
	}
	if err != nil && e.err == nil {
		e.err = err
	}
}

func (e *engine) bootAggregate() error {
	// Linux v6.12: security/integrity/ima/ima_init.c:ima_add_boot_aggregate,
	// ima_crypto.c:ima_calc_boot_aggregate: PCRs 0-9 of the chosen bank.
	if e.quiet {
		return nil
	}
	var banks []measure.Algo
	for _, h := range e.tpm.Banks() {
		if a, ok := measure.AlgoFromCrypto(h); ok {
			banks = append(banks, a)
		}
	}
	bank, ok := measure.BootAggregateBank(banks, e.hashAlgo)
	if !ok {
		bank = e.hashAlgo
	}
	d, err := e.bootAggregateIn(banks, bank)
	if err != nil {
		return err
	}
	var fi *measure.FileInfo
	if e.dField && bank != measure.SHA1 {
		// A "d" field takes only SHA-1: the kernel computes the
		// aggregate again from the SHA-1 bank, zero without one
		// (Linux v7.2.13: ima_template_lib.c:ima_eventdigest_init).
		fi = &measure.FileInfo{SHA1: make([]byte, 20)}
		if b, _ := measure.BootAggregateBank(banks, measure.SHA1); b == measure.SHA1 {
			if fi.SHA1, err = e.bootAggregateIn(banks, b); err != nil {
				return err
			}
		}
	}
	ba, err := measure.NewFileEntryInfo(e.p.Template, 10, bank, d, "boot_aggregate", fi)
	if err != nil {
		return fmt.Errorf("boot_aggregate: %w", err)
	}
	return e.append(ba)
}

// bootAggregateIn is the boot_aggregate of PCRs 0-9 of bank b, zero if the
// TPM has no such bank (no TPM: the kernel records zeros).
func (e *engine) bootAggregateIn(banks []measure.Algo, b measure.Algo) ([]byte, error) {
	ch, ok := b.CryptoHash()
	if !ok || !slices.Contains(banks, b) {
		return make([]byte, b.Size()), nil
	}
	var pcrs [][]byte
	for i := 0; i < 10; i++ {
		v, err := e.tpm.Read(i)
		if err != nil {
			return nil, fmt.Errorf("boot_aggregate: %w", err)
		}
		pcrs = append(pcrs, v[ch])
	}
	d, err := measure.BootAggregate(b, pcrs)
	if err != nil {
		return nil, fmt.Errorf("boot_aggregate: %w", err)
	}
	return d, nil
}

// append adds an entry under the kernel's dedup rule and extends the PCR
// in every bank when it was added: the template hash in the bank's
// algorithm, or for a violation 0xFF over the bank's digest size while the
// list shows zeros (Linux v6.1.176, v6.12.107, v7.2.13:
// ima_queue.c:ima_add_template_entry, ima_init_digests; ima_crypto.c:
// ima_calc_field_array_hash). The captured lists of those kernels replay
// this way against their TPM (testdata/lists/kernel). A bank the kernel
// has no hash for (profile fallback-banks) gets the SHA-1 digest padded.
func (e *engine) append(en *measure.Entry) error {
	if !e.res.ML.Append(en) {
		return nil
	}
	digests := map[crypto.Hash][]byte{}
	for _, h := range e.tpm.Banks() {
		a, ok := measure.AlgoFromCrypto(h)
		if !ok {
			return fmt.Errorf("tpm bank %v has no IMA hash algorithm", h)
		}
		mode := measure.PerBank
		if slices.Contains(e.p.FallbackBanks, a.String()) {
			mode = measure.Fallback
		}
		digests[h] = en.ExtendDigest(a, mode)
	}
	if err := e.tpm.Extend(en.PCR, digests); err != nil {
		return err
	}
	m := Measurement{PCR: en.PCR, TemplateHash: hex.EncodeToString(en.Digest), Template: en.Template.Name, Violation: en.IsViolation()}
	if pre, d, ok := en.FileDigest(); ok {
		m.FileHash = hex.EncodeToString(d) // the "d" field: bare hex, as the kernel shows it
		if pre != "" {
			m.FileHash = strings.TrimSuffix(pre, ":") + ":" + m.FileHash
		}
	}
	m.Path, _ = en.FileName()
	e.res.List = append(e.res.List, m)
	return nil
}

// addMeasurement adds a list entry unless the same template digest is
// already listed for that PCR (Linux v6.12: ima_queue.c:ima_add_template_entry).
func (e *engine) addMeasurement(f *vfs.File, name string, d []byte, pcr int) {
	if e.quiet {
		key := strconv.Itoa(pcr) + "/" + name + "/" + string(d)
		if !e.listed[key] {
			e.listed[key] = true
			e.res.Measurements++
		}
		return
	}
	en, err := measure.NewFileEntryInfo(e.p.Template, pcr, e.hashAlgo, d, name, e.fileInfo(f))
	if err == nil {
		before := e.res.ML.Len()
		err = e.append(en)
		if e.res.ML.Len() > before {
			e.res.Measurements++
		}
	}
	if err != nil && e.err == nil {
		e.err = err
	}
}

func (e *engine) checkExpects() {
	for _, x := range e.s.Expects {
		r := ExpectResult{Line: x.Line, Text: x.Text}
		switch x.Kind {
		case "audit":
			n := e.res.AuditRecords[x.Path]
			r.OK, r.Got = n == x.N, strconv.Itoa(n)
		case "measurements":
			r.OK, r.Got = e.res.Measurements == x.N, strconv.Itoa(e.res.Measurements)
		case "measure":
			n := 0
			for _, m := range e.res.List {
				if m.Path == x.Path && !m.Violation {
					n++
				}
			}
			r.OK, r.Got = n == x.N, strconv.Itoa(n)
		case "violations":
			r.OK, r.Got = e.res.Violations == x.N, strconv.Itoa(e.res.Violations)
		case "no-missed":
			n := e.res.Count(Missed)
			r.OK, r.Got = n == 0, fmt.Sprintf("%d missed", n)
		case "no-excessive":
			n := e.res.Count(Excessive)
			r.OK, r.Got = n == 0, fmt.Sprintf("%d excessive", n)
		}
		e.res.Expects = append(e.res.Expects, r)
	}
}

// vfsFile adapts a vfs.File to cache.File.
type vfsFile struct {
	w     *vfs.World
	f     *vfs.File
	quiet bool
	algo  measure.Algo // the profile's hash, which the model collects with
}

func (e *engine) file(f *vfs.File) cache.File {
	e.cf = vfsFile{e.w, f, e.quiet, e.hashAlgo}
	return &e.cf
}

func (v vfsFile) Inode() cache.Inode     { return v.f.Inode }
func (v vfsFile) RealInode() cache.Inode { return v.w.RealInode(v.f.Inode) }
func (v vfsFile) Getattr(ctime bool) cache.Stat {
	st := v.w.Getattr(v.f.Inode, true, ctime)
	return cache.Stat{HasCookie: st.HasCookie, Cookie: st.Cookie, Ctime: int64(st.Ctime)}
}
func (v vfsFile) Writable() bool     { return v.f.Flags.Write }
func (v vfsFile) Unverifiable() bool { return v.f.Inode.SB.Model.Overlay }

// IMAXattrVerifies follows ima_appraise.c:xattr_verify for
// IMA_XATTR_DIGEST_NG (0x04, then the hash algorithm, then the digest)
// in the profile's hash, the one the model collects with. (The kernel
// collects with the xattr's algorithm when it has one,
// ima_appraise.c:ima_get_hash_algo; the model does not, so an xattr of
// another algorithm does not verify here.)
func (v vfsFile) IMAXattrVerifies(collected []byte) bool {
	algo := v.algo
	x, ok := v.w.RealInode(v.f.Inode).Xattrs["security.ima"]
	if !ok || len(x) != 2+algo.Size() || x[0] != 0x04 || x[1] != algo.HashAlgoID() {
		return false
	}
	if v.quiet {
		// the quiet engine's truth is the content
		h := algo.New()
		h.Write(collected)
		collected = h.Sum(nil)
	}
	return x[2:] == string(collected)
}

func (v vfsFile) FSName() string {
	r := v.w.RealInode(v.f.Inode)
	if v.f.Inode.SB.Model.Overlay {
		return "overlay->" + r.SB.Model.Name
	}
	return r.SB.Model.Name
}

// fileDigest hashes content with the profile's hash, as
// ima_collect_measurement does with ima_hash_algo (Linux v7.2.13:
// ima_api.c, ima_crypto.c:ima_calc_file_hash).
func (e *engine) fileDigest(content []byte) []byte {
	h := e.hashAlgo.New()
	h.Write(content)
	return h.Sum(nil)
}

// fileInfo is what the template fields read from f's inode: owner and
// mode (an overlay inode carries its real inode's, Linux v7.2.13:
// fs/overlayfs/util.c:ovl_copyattr), xattrs, and the SHA-1 digest a "d"
// field needs when the list's hash is another.
func (e *engine) fileInfo(f *vfs.File) *measure.FileInfo {
	r := e.w.RealInode(f.Inode)
	fi := &measure.FileInfo{File: true, UID: r.UID, GID: r.GID, Mode: uint16(r.Mode)}
	if r.Mode&0o170000 == 0 {
		fi.Mode |= 0o100000 // S_IFREG: the model's files are regular
	}
	if e.dSHA1 {
		s := sha1.Sum(r.Content)
		fi.SHA1 = s[:]
	}
	if len(r.Xattrs) > 0 {
		fi.Xattrs = map[string][]byte{}
		for k, v := range r.Xattrs {
			fi.Xattrs[k] = []byte(v)
		}
	}
	return fi
}

func short(b []byte) string {
	if len(b) < 4 {
		return "none"
	}
	return hex.EncodeToString(b[:4])
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
