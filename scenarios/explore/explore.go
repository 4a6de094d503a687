// Package explore searches sequences of operations for missed and
// excessive re-evaluation: exhaustively up to a depth, randomly beyond,
// under one profile or the difference between two. Findings are shrunk to
// minimal counterexamples, grouped by cause, and written out as scenario
// files that `imasim scenario` and `imasim vm` accept.
//
// The exhaustive search shares prefixes: each state is a clone of its
// parent (into runners reused per depth, so the hot path barely
// allocates) with one more operation applied, in the model's quiet mode.
// States already seen at no greater depth are skipped (see exhaustive for
// how that stays deterministic across worker counts). Bad sequences are
// then replayed with causes, again sharing prefixes, to group them.
package explore

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios"
)

// Op is one operation of the search alphabet: a few scenario steps.
type Op struct {
	Name  string
	Lines []string
	steps []scenarios.Step
}

// World is the search's fixed starting point and its operations.
type World struct {
	Prelude string // scenario text without steps beyond the setup
	Ops     []Op
}

// DefaultWorld is a program on a lowerFS lower layer under an overlay with
// a tmpfs upper, reachable directly and through the overlay, with the
// default operation set (12 operations).
func DefaultWorld(lowerFS string) World {
	return World{
		Prelude: fmt.Sprintf(`name: explore
about: found by imasim explore
policy: measure func=BPRM_CHECK
policy: audit func=BPRM_CHECK
fs %s /lower
fs tmpfs /t
mkdir /t/upper
mkdir /t/work
write /lower/prog "v0" mode=0755
overlay /ovl lower=/lower upper=/t/upper work=/t/work
`, lowerFS),
		Ops: []Op{
			{Name: "exec-ovl", Lines: []string{"exec /ovl/prog uid=65534"}},
			{Name: "exec-direct", Lines: []string{"exec /lower/prog uid=65534"}},
			{Name: "append-lower", Lines: []string{`append /lower/prog "+"`}},
			{Name: "overwrite-lower", Lines: []string{`overwrite /lower/prog "X"`}},
			{Name: "append-ovl", Lines: []string{`append /ovl/prog "*"`}},
			{Name: "chmod-lower", Lines: []string{"chmod /lower/prog 755"}},
			{Name: "chmod-ovl", Lines: []string{"chmod /ovl/prog 755"}},
			{Name: "rdwr-close", Lines: []string{"open %h /lower/prog rw", "close %h"}},
			{Name: "read-direct", Lines: []string{"open %h /lower/prog r", "read %h", "close %h"}},
			{Name: "sync", Lines: []string{"sync"}},
			{Name: "sleep-31s", Lines: []string{"sleep 31s"}},
			{Name: "drop-caches", Lines: []string{"drop_caches"}},
		},
	}
}

// OpNames lists the world's operation names.
func (w World) OpNames() []string {
	var out []string
	for _, o := range w.Ops {
		out = append(out, o.Name)
	}
	return out
}

// Select keeps only the named operations.
func (w World) Select(names []string) (World, error) {
	if len(names) == 0 {
		return w, nil
	}
	byName := map[string]Op{}
	for _, o := range w.Ops {
		byName[o.Name] = o
	}
	var ops []Op
	for _, n := range names {
		o, ok := byName[n]
		if !ok {
			return w, fmt.Errorf("unknown operation %q (have %s)", n, strings.Join(w.OpNames(), ", "))
		}
		ops = append(ops, o)
	}
	w.Ops = ops
	return w, nil
}

// Options tune a search.
type Options struct {
	Depth    int   // exhaustive up to this many operations
	Random   int   // random sequences beyond the exhaustive part
	Length   int   // length of random sequences
	Seed     int64 // for random sequences
	Workers  int   // default GOMAXPROCS
	Progress func(states, findings int64)

	groupFull    bool // see search.groupFull
	noRestore    bool // see search.noRestore
	checkRestore bool // see search.checkRestore
}

// Finding is one minimal counterexample and how many sequences hit its group.
type Finding struct {
	Verdict  string   `json:"verdict"` // missed, excessive, or "differs"
	Group    string   `json:"group"`   // the cause with values abstracted
	Cause    string   `json:"cause"`   // the shrunk example's full cause
	Hook     string   `json:"hook"`
	Ops      []string `json:"ops"`
	Hits     int      `json:"hits"`
	Profiles []string `json:"profiles"`
}

// Stats counts the work done.
type Stats struct {
	States     int64 `json:"states"`     // operation applications
	Operations int64 `json:"operations"` // scenario steps simulated
	Deduped    int64 `json:"deduped"`    // subtrees skipped as already seen
	Complete   bool  `json:"complete"`   // not interrupted
}

// Search looks for missed and excessive verdicts under profile p, or, with
// q non-nil, for sequences on which p and q disagree.
func Search(ctx context.Context, w World, p, q *cache.Profile, o Options) ([]Finding, Stats, error) {
	prelude, err := scenarios.Parse(strings.NewReader(w.Prelude), "explore-prelude")
	if err != nil {
		return nil, Stats{}, err
	}
	for i := range w.Ops {
		if err := w.Ops[i].parse(i); err != nil {
			return nil, Stats{}, err
		}
	}
	if o.Depth > maxDepth {
		return nil, Stats{}, fmt.Errorf("depth %d: at most %d", o.Depth, maxDepth)
	}
	s := &search{w: w, prelude: prelude, p: p, q: q, opt: o, width: keyWidth(len(w.Ops)), groupFull: o.groupFull, noRestore: o.noRestore, checkRestore: o.checkRestore}
	root, err := s.start()
	if err != nil {
		return nil, Stats{}, err
	}
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	restore := limitMemory(o.Depth)
	s.exhaustive(ctx, root, workers)
	restore()
	if o.Random > 0 && ctx.Err() == nil {
		s.random(ctx, root, workers)
	}
	st := Stats{States: s.states.Load(), Operations: s.ops.Load(), Deduped: s.dedup.Load(), Complete: ctx.Err() == nil}
	return s.finish(workers), st, nil
}

// memoryLimit is the soft limit on the Go runtime's memory while the
// exhaustive search runs to a depth of at most limitedDepth, unless the
// user set one (GOMEMLIMIT). At depth 7 the search keeps about 35 MB
// live, and the heap peaks near 70 MB before a collection when a batch's
// seen tables grow at once; the limit makes the collector start early
// enough that such a burst stays under the 100 MB the search is held to
// (scripts/bench-explore.sh). Far above the live heap, it costs no
// collections otherwise. Deeper searches keep more states than it
// would hold, and a limit below the live heap keeps the collector
// running, so they get none.
//
// Under that limit the collector runs only when the heap nears it
// (gcPercent off), not each time the heap doubles: at depth 7 the
// search allocates about 12 MB between collections at the default, and
// collecting only near the limit took about 5% less CPU in paired runs
// than letting the heap triple (and that 4% less than doubling), the peak
// RSS 83-88 MB instead of 80-85. A search that allocates less than the
// limit in all never collects.
const (
	memoryLimit  = 80 << 20
	limitedDepth = 7
	gcPercent    = -1
)

// limitMemory sets memoryLimit for a search to the given depth when no
// limit is set, and returns what restores the limit before it.
func limitMemory(depth int) (restore func()) {
	if depth > limitedDepth {
		return func() {}
	}
	old := debug.SetMemoryLimit(-1)
	if old != math.MaxInt64 {
		return func() {}
	}
	debug.SetMemoryLimit(memoryLimit)
	gc := debug.SetGCPercent(gcPercent)
	return func() {
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(old)
	}
}

// exhaustive searches every sequence up to the depth. It runs in batches
// by first operation. In a batch each second operation is a job with its
// own table of states seen (hash -> least depth); every job also skips
// states that earlier batches saw, in a table frozen while the batch runs
// and merged into after it. So what is explored depends neither on the
// worker count nor on timing.
func (s *search) exhaustive(ctx context.Context, root pair, workers int) {
	type job struct {
		from pair
		seq  []int
		seen *seenSet
	}
	frozen := newSeenSet()
	jobs := make(chan job)
	var batch, wg sync.WaitGroup
	for k := 0; k < workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk := s.newWorker()
			defer wk.flush()
			for j := range jobs {
				wk.dfs(ctx, j.from, j.seq, j.seen, frozen)
				batch.Done()
			}
		}()
	}
	first := s.newWorker() // applies each batch's first operation
	for i := range s.w.Ops {
		if s.opt.Depth < 1 || ctx.Err() != nil {
			break
		}
		seen := newSeenSet()
		pr, ok := first.node(root, []int{i}, seen, frozen)
		if !ok {
			continue
		}
		var batchJobs []job
		for k := range s.w.Ops {
			seq := make([]int, 2, s.opt.Depth+1)
			seq[0], seq[1] = i, k
			batchJobs = append(batchJobs, job{pr, seq, seen.clone()})
		}
		batch.Add(len(batchJobs))
		for _, j := range batchJobs {
			jobs <- j
		}
		batch.Wait()
		frozen.merge(seen)
		for _, j := range batchJobs {
			frozen.merge(j.seen)
		}
	}
	first.flush()
	close(jobs)
	wg.Wait()
}

// random runs random sequences beyond the depth, deterministic per seed.
func (s *search) random(ctx context.Context, root pair, workers int) {
	rng := rand.New(rand.NewSource(s.opt.Seed))
	seqs := make([][]int, s.opt.Random)
	for i := range seqs {
		seqs[i] = make([]int, s.opt.Length)
		for j := range seqs[i] {
			seqs[i][j] = rng.Intn(len(s.w.Ops))
		}
	}
	var next int64 = -1
	var wg sync.WaitGroup
	for k := 0; k < workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk := s.newWorker()
			defer wk.flush()
			for ctx.Err() == nil {
				i := atomic.AddInt64(&next, 1)
				if int(i) >= len(seqs) {
					return
				}
				wk.walk(root, seqs[i])
			}
		}()
	}
	wg.Wait()
}

func (o *Op) parse(idx int) error {
	if o.steps != nil {
		return nil
	}
	sc, err := scenarios.Parse(strings.NewReader("name: op\n"+strings.Join(o.Lines, "\n")+"\n"), "op "+o.Name)
	if err != nil {
		return err
	}
	for _, st := range sc.Steps {
		st.Line = 1000 + idx
		o.steps = append(o.steps, st)
	}
	return nil
}

type search struct {
	w       World
	prelude *scenarios.Scenario
	p, q    *cache.Profile
	opt     Options

	mu    sync.Mutex
	found foundSet // the bad sequences (under mu)
	// groupIdx numbers the group names of groupAll (under mu).
	groupIdx   map[string]int32
	groupNames []string
	// rankMid, rankLast: sprintLess's order of the operations.
	rankMid, rankLast []int
	width             int // bytes an operation takes in a key

	states, ops, dedup atomic.Int64
	findings           atomic.Int64

	fullOnce sync.Once
	full     pair // the prelude run with causes, for replays
	fullErr  error
	// groupFull groups findings by replays with the measurement list
	// and digests, as bad does, instead of quiet ones with causes (the
	// tests compare the two).
	groupFull bool
	// noRestore clones the parent for every leaf instead of restoring
	// a saved clone (the tests compare the two); checkRestore compares
	// each restored state's hash with its parent's.
	noRestore, checkRestore bool
}

// worker is one goroutine's share of a search: runners to clone into,
// one per depth, and counters flushed to the search now and then (shared
// counters bumped per state cost more than the state).
type worker struct {
	s                  *search
	scratch            []pair
	states, ops, dedup int64
	reported           int64              // states already added to s.states
	groups             map[string]int32   // groupIndex's cache
	causes             map[causeKey]int32 // groupOf's cache
}

func (s *search) newWorker() *worker { return &worker{s: s} }

// flush adds the worker's counts to the search's.
func (wk *worker) flush() {
	wk.s.states.Add(wk.states - wk.reported)
	wk.reported = wk.states
	wk.s.ops.Add(wk.ops)
	wk.s.dedup.Add(wk.dedup)
	wk.ops, wk.dedup = 0, 0
}

// at returns the runner pair for depth d, cloned from parent.
func (wk *worker) at(d int, parent pair) pair {
	for len(wk.scratch) <= d {
		wk.scratch = append(wk.scratch, pair{})
	}
	pr := &wk.scratch[d]
	pr.a = parent.a.CloneInto(pr.a)
	if parent.b != nil {
		pr.b = parent.b.CloneInto(pr.b)
	}
	return *pr
}

// raw is one bad sequence found: its key and verdict code.
type raw struct {
	key     string
	verdict uint8
	width   int
}

func (r raw) seq() []int    { return decodeSeq(r.key, r.width) }
func (r raw) vname() string { return verdictNames[r.verdict] }

// verdictNames are the verdicts a bad sequence is recorded with, by code.
var verdictNames = []string{"", scenarios.Missed, scenarios.Excessive, "differs"}

func verdictCode(v string) uint8 {
	for i, n := range verdictNames {
		if n == v {
			return uint8(i)
		}
	}
	panic("explore: unknown verdict " + v)
}

// foundSet maps bad sequences to verdict codes. Keys of up to 7 bytes
// (depth 7 with up to 256 operations) are packed into a uint64 after a
// leading 1 byte, which takes half the memory of a string key.
type foundSet struct {
	short map[uint64]uint8
	long  map[string]uint8
}

// add records seq's verdict unless it is already there.
func (f *foundSet) add(seq []int, width int, v uint8) {
	if n := len(seq) * width; n <= 7 {
		k := uint64(1)
		for _, i := range seq {
			for b := width - 1; b >= 0; b-- {
				k = k<<8 | uint64(byte(i>>(8*b)))
			}
		}
		if f.short == nil {
			f.short = map[uint64]uint8{}
		}
		if _, ok := f.short[k]; !ok {
			f.short[k] = v
		}
		return
	}
	k := encodeSeq(seq, width)
	if f.long == nil {
		f.long = map[string]uint8{}
	}
	if _, ok := f.long[k]; !ok {
		f.long[k] = v
	}
}

// keys returns every key in encodeSeq's form.
func (f *foundSet) keys() []string {
	out := make([]string, 0, len(f.short)+len(f.long))
	var b [8]byte
	for k := range f.short {
		n := 0
		for k > 1 {
			b[7-n] = byte(k)
			k >>= 8
			n++
		}
		out = append(out, string(b[8-n:]))
	}
	for k := range f.long {
		out = append(out, k)
	}
	return out
}

// get returns the verdict code of a key in encodeSeq's form.
func (f *foundSet) get(key string) uint8 {
	if len(key) <= 7 {
		k := uint64(1)
		for _, c := range []byte(key) {
			k = k<<8 | uint64(c)
		}
		return f.short[k]
	}
	return f.long[key]
}

// keyWidth is how many bytes an operation index takes in a sequence
// key: the fewest that hold every index of n operations.
func keyWidth(n int) int {
	switch {
	case n <= 1<<8:
		return 1
	case n <= 1<<16:
		return 2
	}
	return 4
}

// encodeSeq packs a sequence into a key of width bytes per operation,
// big-endian: keys of equal length compare as the sequences do.
func encodeSeq(seq []int, width int) string {
	b := make([]byte, 0, len(seq)*width)
	for _, i := range seq {
		for k := width - 1; k >= 0; k-- {
			b = append(b, byte(i>>(8*k)))
		}
	}
	return string(b)
}

func opAt(key string, d, width int) int {
	v := 0
	for _, c := range []byte(key[d*width : (d+1)*width]) {
		v = v<<8 | int(c)
	}
	return v
}

func decodeSeq(key string, width int) []int {
	seq := make([]int, len(key)/width)
	for d := range seq {
		seq[d] = opAt(key, d, width)
	}
	return seq
}

// pair is the model under p (and q when diffing).
type pair struct{ a, b *scenarios.Runner }

func (s *search) start() (pair, error) {
	mk := func(p *cache.Profile) (*scenarios.Runner, error) {
		if p == nil {
			return nil, nil
		}
		r, err := scenarios.NewRunner(s.prelude, p, true)
		if err != nil {
			return nil, err
		}
		if !r.Ready() {
			return nil, fmt.Errorf("profile %s: %s", p.Name, r.Result().NA)
		}
		for _, st := range s.prelude.Steps {
			if err := r.Step(st); err != nil {
				return nil, err
			}
		}
		return r, nil
	}
	a, err := mk(s.p)
	if err != nil {
		return pair{}, err
	}
	b, err := mk(s.q)
	return pair{a, b}, err
}

func (pr pair) hash() uint64 {
	h := pr.a.StateHash()
	if pr.b != nil {
		h = h*1099511628211 ^ pr.b.StateHash()
	}
	return h
}

// apply runs op i and reports the worst new verdict ("" when none).
func (wk *worker) apply(pr pair, i int) (string, bool) {
	v, ok := wk.run(pr, i)
	pr.forget()
	return v, ok
}

// run is apply without forget.
func (wk *worker) run(pr pair, i int) (string, bool) {
	s := wk.s
	wk.states++
	na := len(pr.a.Result().Steps)
	nb := 0
	if pr.b != nil {
		nb = len(pr.b.Result().Steps)
	}
	for _, st := range s.w.Ops[i].steps {
		wk.ops++
		if pr.a.Step(st) != nil {
			return "", false // the operation does not apply in this state
		}
		if pr.b != nil && pr.b.Step(st) != nil {
			return "", false
		}
	}
	if pr.b != nil {
		va, vb := verdicts(pr.a.Result().Steps[na:]), verdicts(pr.b.Result().Steps[nb:])
		if va != vb {
			return "differs", true
		}
		return "", true
	}
	worst := ""
	for _, h := range pr.a.Result().Steps[na:] {
		if h.Verdict == scenarios.Missed {
			return scenarios.Missed, true
		}
		if h.Verdict == scenarios.Excessive {
			worst = scenarios.Excessive
		}
	}
	return worst, true
}

// forget drops what the quiet runners recorded for their caller: hook
// calls, audit records and counts. The search reads only the calls of
// the operation it just applied, and the engine decides nothing from
// them, so the clones of a state then copy none of its history.
func (pr pair) forget() {
	forget(pr.a)
	if pr.b != nil {
		forget(pr.b)
	}
}

func forget(r *scenarios.Runner) {
	res := r.Result()
	res.Steps = res.Steps[:0]
	res.Audit = res.Audit[:0]
	if len(res.AuditRecords) > 0 {
		clear(res.AuditRecords)
	}
}

// trim drops the hook calls and audit records the runners hold (as
// forget does, but keeping the audit counts of a run with causes).
func (pr pair) trim() {
	for _, r := range []*scenarios.Runner{pr.a, pr.b} {
		if r != nil {
			res := r.Result()
			res.Steps, res.Audit = res.Steps[:0], res.Audit[:0]
		}
	}
}

func verdicts(hs []scenarios.HookCall) string {
	var b strings.Builder
	for _, h := range hs {
		b.WriteString(h.Hook)
		b.WriteByte('=')
		b.WriteString(h.Verdict)
		b.WriteByte(';')
	}
	return b.String()
}

func (s *search) record(seq []int, verdict string) {
	s.findings.Add(1)
	s.mu.Lock()
	s.found.add(seq, s.width, verdictCode(verdict))
	s.mu.Unlock()
}

// dfs explores below the sequence seq (whose last element is not applied
// yet) from the state parent.
func (wk *worker) dfs(ctx context.Context, parent pair, seq []int, seen, frozen *seenSet) {
	if ctx.Err() != nil {
		return
	}
	if pr, ok := wk.node(parent, seq, seen, frozen); ok {
		wk.children(ctx, pr, seq, seen, frozen)
	}
}

// children explores below pr, the state seq reached (this worker's
// scratch). The children run in one clone of pr, saved once and
// restored before each but the first (Runner.Save), each explored below
// before the next. When they are leaves (nothing below them is
// explored) the last runs in pr itself, not needed after it.
func (wk *worker) children(ctx context.Context, pr pair, seq []int, seen, frozen *seenSet) {
	n := len(wk.s.w.Ops)
	d := len(seq) + 1
	leaves := d >= wk.s.opt.Depth
	saved := false
	for i := range n {
		if ctx.Err() != nil {
			return
		}
		c := wk.child(d, pr, leaves && i == n-1, &saved, false)
		if cs := append(seq, i); wk.visit(c, cs, seen, frozen) && !leaves {
			wk.children(ctx, c, cs, seen, frozen)
		}
	}
}

// child returns the state a child of parent runs in, at depth d: parent
// itself when inParent (the caller no longer needs it), else this
// worker's scratch of depth d, cloned from parent and saved for the
// first child (after trim when trim) and restored to that for the next
// ones (*saved says which).
func (wk *worker) child(d int, parent pair, inParent bool, saved *bool, trim bool) pair {
	switch {
	case inParent:
		return parent
	case *saved:
		c := wk.restore(d)
		if wk.s.checkRestore && c.hash() != parent.hash() {
			panic(fmt.Sprintf("explore: a state restored at depth %d differs from its parent's", d))
		}
		return c
	}
	c := wk.at(d, parent)
	if trim {
		c.trim()
	}
	*saved = !wk.s.noRestore && c.save()
	return c
}

// save saves the pair's state (Runner.Save), reporting whether both
// runners could.
func (pr pair) save() bool {
	return pr.a.Save() && (pr.b == nil || pr.b.Save())
}

// restore brings the scratch pair of depth d back to its saved state.
func (wk *worker) restore(d int) pair {
	pr := wk.scratch[d]
	pr.a.Restore()
	if pr.b != nil {
		pr.b.Restore()
	}
	return pr
}

// node applies seq's last operation to a clone of parent and reports
// whether to explore below the state reached: not when the operation
// does not apply, shows a bad verdict (recorded), ends the depth, or
// reaches a state seen before at a depth no greater (in seen or frozen;
// seen gains the state otherwise).
func (wk *worker) node(parent pair, seq []int, seen, frozen *seenSet) (pair, bool) {
	pr := wk.at(len(seq), parent)
	return pr, wk.visit(pr, seq, seen, frozen)
}

// visit is node for the state pr, a copy of the parent's that the
// caller owns.
func (wk *worker) visit(pr pair, seq []int, seen, frozen *seenSet) bool {
	s := wk.s
	v, ok := wk.apply(pr, seq[len(seq)-1])
	if !ok {
		return false
	}
	if wk.states-wk.reported >= 4096 {
		wk.flush()
		if s.opt.Progress != nil {
			s.opt.Progress(s.states.Load(), s.findings.Load())
		}
	}
	if v != "" {
		s.record(seq, v)
		return false // a shorter prefix already shows it; deeper ones add nothing new
	}
	if len(seq) >= s.opt.Depth {
		return false
	}
	h := pr.hash()
	slot, d, ok := seen.lookup(h)
	if ok && d <= len(seq) {
		wk.dedup++
		return false
	}
	if d, ok := frozen.get(h); ok && d <= len(seq) {
		wk.dedup++
		return false
	}
	seen.putAt(slot, h, len(seq))
	return true
}

// walk runs one random sequence and records its first bad prefix.
func (wk *worker) walk(root pair, seq []int) {
	pr := wk.at(0, root)
	for n, i := range seq {
		v, ok := wk.apply(pr, i)
		if !ok {
			return
		}
		if v != "" {
			wk.s.record(seq[:n+1], v)
			return
		}
	}
}

// fullRoot returns the prelude run with causes, for the replays of the
// goroutine that calls Search (built once).
func (s *search) fullRoot() (pair, error) {
	s.fullOnce.Do(func() { s.full, s.fullErr = s.newFullRoot(scenarios.Options{NoAuditText: true}) })
	return s.full, s.fullErr
}

// newFullRoot runs the prelude with causes, with options o. Runners
// that are not quiet keep a measurement list and extend a TPM their
// clones share, so each goroutine replays from a root of its own.
func (s *search) newFullRoot(o scenarios.Options) (pair, error) {
	mk := func(p *cache.Profile) (*scenarios.Runner, error) {
		r, err := scenarios.NewRunnerWith(s.prelude, p, o)
		if err != nil {
			return nil, err
		}
		for _, st := range s.prelude.Steps {
			if err := r.Step(st); err != nil {
				return nil, err
			}
		}
		return r, nil
	}
	var pr pair
	var err error
	if pr.a, err = mk(s.p); err == nil && s.q != nil {
		pr.b, err = mk(s.q)
	}
	return pr, err
}

// replay runs seq with causes and returns the hook calls of its last op
// under p and q.
func (s *search) replay(seq []int) ([]scenarios.HookCall, []scenarios.HookCall, error) {
	root, err := s.fullRoot()
	if err != nil {
		return nil, nil, err
	}
	run := func(r *scenarios.Runner) (int, error) {
		last := 0
		for n, i := range seq {
			if n == len(seq)-1 {
				last = len(r.Result().Steps)
			}
			for _, st := range s.w.Ops[i].steps {
				if err := r.Step(st); err != nil {
					return 0, err
				}
			}
		}
		return last, nil
	}
	pr := pair{a: root.a.Clone()}
	la, err := run(pr.a)
	if err != nil {
		return nil, nil, err
	}
	var hb []scenarios.HookCall
	if s.q != nil {
		pr.b = root.b.Clone()
		lb, err := run(pr.b)
		if err != nil {
			return nil, nil, err
		}
		hb = pr.b.Result().Steps[lb:]
	}
	return pr.a.Result().Steps[la:], hb, nil
}

// group abstracts a cause: values and inode numbers become N.
func group(verdict, hook, cause string) string {
	c := cause
	if i := strings.Index(c, " -- "); i >= 0 {
		c = c[:i]
	}
	return verdict + " " + hook + ": " + abstractNumbers(c)
}

// abstractNumbers replaces each match of [0-9a-f]{6,}|\d+ (leftmost
// first, as regexp.ReplaceAllString would) with N, without a regexp: it
// runs for every bad sequence found.
func abstractNumbers(c string) string {
	isHex := func(b byte) bool { return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' }
	isDigit := func(b byte) bool { return '0' <= b && b <= '9' }
	var b strings.Builder
	b.Grow(len(c))
	for i := 0; i < len(c); {
		j := i
		for j < len(c) && isHex(c[j]) {
			j++
		}
		if j-i < 6 {
			for j = i; j < len(c) && isDigit(c[j]); j++ {
			}
		}
		if j > i {
			b.WriteByte('N')
			i = j
			continue
		}
		b.WriteByte(c[i])
		i++
	}
	return b.String()
}

// bad reports whether seq still ends in the given verdict, and its group.
func (s *search) bad(seq []int, verdict string) (string, string, string, bool) {
	ha, hb, err := s.replay(seq)
	if err != nil {
		return "", "", "", false
	}
	return s.classify(verdict, ha, hb)
}

// classify finds the group of a sequence from the hook calls (with
// causes) of its last operation under p and q.
func (s *search) classify(verdict string, ha, hb []scenarios.HookCall) (string, string, string, bool) {
	if s.q != nil {
		if verdicts(ha) == verdicts(hb) {
			return "", "", "", false
		}
		var c []string
		for i := range ha {
			if i < len(hb) && ha[i].Verdict != hb[i].Verdict {
				return group("differs", ha[i].Hook, s.p.Name+" "+ha[i].Verdict+" vs "+s.q.Name+" "+hb[i].Verdict+": "+ha[i].Cause), ha[i].Cause + " | " + hb[i].Cause, ha[i].Hook, true
			}
			c = append(c, ha[i].Verdict)
		}
		return group("differs", "", strings.Join(c, ",")), "", "", true
	}
	for _, h := range ha {
		if h.Verdict == verdict {
			return group(verdict, h.Hook, h.Cause), h.Cause, h.Hook, true
		}
	}
	return "", "", "", false
}

// groupAll replays every found sequence with causes to find its group,
// as bad would (in quiet runners with causes unless groupFull: the same
// groups, see scenarios.Options.Causes), sharing common prefixes: the sequences, sorted, form a
// trie walked depth first with one runner pair per depth. Subtrees of
// different first operations run in parallel. It returns each
// sequence's group as an index into names, -1 when the sequence no
// longer shows its verdict when replayed with causes.
func (s *search) groupAll(keys []string, verdicts []uint8, workers int) ([]int32, []string) {
	gs := make([]int32, len(keys))
	idx := make([]int, len(keys))
	for n := range idx {
		idx[n], gs[n] = n, -1
	}
	// Keys compare as their sequences do (encodeSeq).
	sort.Slice(idx, func(i, j int) bool { return keys[idx[i]] < keys[idx[j]] })
	// Jobs: runs of idx with the same first operation.
	var jobs [][]int
	for lo := 0; lo < len(idx); {
		hi := lo
		for hi < len(idx) && opAt(keys[idx[hi]], 0, s.width) == opAt(keys[idx[lo]], 0, s.width) {
			hi++
		}
		jobs = append(jobs, idx[lo:hi])
		lo = hi
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for k := 0; k < workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk := s.newWorker()
			// Quiet runners with causes: the groups need only the
			// causes, not the measurement list or digests.
			o := scenarios.Options{Quiet: true, Causes: true}
			if s.groupFull {
				o = scenarios.Options{NoAuditText: true}
			}
			root, err := s.newFullRoot(o)
			if err != nil {
				return // the sequences stay ungrouped, as bad would leave them
			}
			for {
				j := int(next.Add(1) - 1)
				if j >= len(jobs) {
					return
				}
				wk.groupTrie(jobs[j], 0, root, keys, verdicts, gs)
			}
		}()
	}
	wg.Wait()
	return gs, s.groupNames
}

// groupTrie replays the sorted sequences ns, which share their first d
// operations (applied in parent) and are all longer than d.
func (wk *worker) groupTrie(ns []int, d int, parent pair, keys []string, verdicts []uint8, gs []int32) {
	s := wk.s
	w := s.width
	saved := false
	for lo := 0; lo < len(ns); {
		op := opAt(keys[ns[lo]], d, w)
		hi := lo
		for hi < len(ns) && opAt(keys[ns[hi]], d, w) == op {
			hi++
		}
		// The last operation below parent runs in parent itself when it
		// is this worker's scratch (not the shared root at depth 0), the
		// others in one clone of parent, saved once and restored before
		// each but the first (Runner.Save).
		pr := wk.child(d+1, parent, d > 0 && hi == len(ns), &saved, true)
		// pr is this worker's scratch, never the shared root. The hook
		// calls of its prefix are judged already: clones need not copy them.
		pr.trim()
		na := len(pr.a.Result().Steps)
		ok := runOp(pr.a, s.w.Ops[op].steps)
		nb := 0
		if ok && pr.b != nil {
			nb = len(pr.b.Result().Steps)
			ok = runOp(pr.b, s.w.Ops[op].steps)
		}
		// Sorted: the sequences ending here come first.
		mid := lo
		for ; mid < hi && len(keys[ns[mid]]) == (d+1)*w; mid++ {
			if !ok {
				continue
			}
			var hb []scenarios.HookCall
			if pr.b != nil {
				hb = pr.b.Result().Steps[nb:]
			}
			if g, good := wk.groupOf(verdictNames[verdicts[ns[mid]]], pr.a.Result().Steps[na:], hb); good {
				gs[ns[mid]] = g
			}
		}
		if ok && mid < hi {
			wk.groupTrie(ns[mid:hi], d+1, pr, keys, verdicts, gs)
		}
		lo = hi
	}
}

// groupOf is classify's group as groupIndex numbers it. Under one
// profile it remembers the group of each cause: a search finds hundreds
// of thousands of sequences whose causes repeat, and abstracting a
// cause's numbers costs more than looking it up.
func (wk *worker) groupOf(verdict string, ha, hb []scenarios.HookCall) (int32, bool) {
	if wk.s.q != nil {
		g, _, _, ok := wk.s.classify(verdict, ha, hb)
		if !ok {
			return 0, false
		}
		return wk.groupIndex(g), true
	}
	for _, h := range ha {
		if h.Verdict != verdict {
			continue
		}
		k := causeKey{verdict, h.Hook, h.Cause}
		if i, ok := wk.causes[k]; ok {
			return i, true
		}
		i := wk.groupIndex(group(verdict, h.Hook, h.Cause))
		if wk.causes == nil || len(wk.causes) >= maxCauses {
			wk.causes = map[causeKey]int32{} // bounded memory
		}
		wk.causes[k] = i
		return i, true
	}
	return 0, false
}

// causeKey is what classify derives a group from under one profile.
type causeKey struct{ verdict, hook, cause string }

// maxCauses bounds a worker's table of causes.
const maxCauses = 1 << 14

// groupIndex numbers a group name (the search's table, through the
// worker's cache of it): a search may find hundreds of thousands of
// sequences in a few groups.
func (wk *worker) groupIndex(g string) int32 {
	if i, ok := wk.groups[g]; ok {
		return i
	}
	s := wk.s
	s.mu.Lock()
	i, ok := s.groupIdx[g]
	if !ok {
		if s.groupIdx == nil {
			s.groupIdx = map[string]int32{}
		}
		i = int32(len(s.groupNames))
		s.groupIdx[g] = i
		s.groupNames = append(s.groupNames, g)
	}
	s.mu.Unlock()
	if wk.groups == nil {
		wk.groups = map[string]int32{}
	}
	wk.groups[g] = i
	return i
}

// sprintLess orders two keys as fmt.Sprint writes their sequences,
// shorter sequences first. At the first operation that differs the
// texts agree up to its number, and the numbers with the character after
// them (" " or "]", never a digit) decide: sprintRanks numbers the
// operations in that order.
func (s *search) sprintLess(a, b string) bool {
	la, lb := len(a)/s.width, len(b)/s.width
	if la != lb {
		return la < lb
	}
	if s.rankMid == nil {
		s.rankMid, s.rankLast = sprintRanks(len(s.w.Ops), ' '), sprintRanks(len(s.w.Ops), ']')
	}
	for d := range la {
		x, y := opAt(a, d, s.width), opAt(b, d, s.width)
		if x == y {
			continue
		}
		if d == la-1 {
			return s.rankLast[x] < s.rankLast[y]
		}
		return s.rankMid[x] < s.rankMid[y]
	}
	return false
}

// sprintRanks ranks 0..n-1 by their decimal text followed by t.
func sprintRanks(n int, t byte) []int {
	ops := make([]int, n)
	text := make([]string, n)
	for i := range ops {
		ops[i], text[i] = i, strconv.Itoa(i)+string(t)
	}
	sort.Slice(ops, func(i, j int) bool { return text[ops[i]] < text[ops[j]] })
	rank := make([]int, n)
	for r, i := range ops {
		rank[i] = r
	}
	return rank
}

// runOp runs an operation's steps, reporting whether all applied.
func runOp(r *scenarios.Runner, steps []scenarios.Step) bool {
	for _, st := range steps {
		if r.Step(st) != nil {
			return false
		}
	}
	return true
}

// shrink removes operations one at a time while the same group persists.
func (s *search) shrink(seq []int, verdict, grp string) []int {
	cur := append([]int(nil), seq...)
	for changed := true; changed; {
		changed = false
		for i := 0; i < len(cur)-1; i++ {
			cand := append(append([]int(nil), cur[:i]...), cur[i+1:]...)
			if g, _, _, ok := s.bad(cand, verdict); ok && g == grp {
				cur, changed = cand, true
				break
			}
		}
	}
	return cur
}

func (s *search) finish(workers int) []Finding {
	// Shortest first, then in the order of the sequences' text as
	// fmt.Sprint writes it ("[0 10 2]" before "[0 2 1]"): the first
	// sequence of each group is the one shrunk.
	keys := s.found.keys()
	sort.Slice(keys, func(i, j int) bool { return s.sprintLess(keys[i], keys[j]) })
	verdicts := make([]uint8, len(keys))
	for n, k := range keys {
		verdicts[n] = s.found.get(k)
	}
	s.found = foundSet{} // keys and verdicts hold it now
	gs, names := s.groupAll(keys, verdicts, workers)
	groups := map[string]*Finding{}
	var order []string
	for n, k := range keys {
		if gs[n] < 0 {
			continue
		}
		r, g := raw{k, verdicts[n], s.width}, names[gs[n]]
		if f, ok := groups[g]; ok {
			f.Hits++
			continue
		}
		min := s.shrink(r.seq(), r.vname(), g)
		_, cause, hook, _ := s.bad(min, r.vname())
		f := &Finding{Verdict: r.vname(), Group: g, Cause: cause, Hook: hook, Hits: 1, Profiles: []string{s.p.Name}}
		if s.q != nil {
			f.Profiles = append(f.Profiles, s.q.Name)
		}
		for _, i := range min {
			f.Ops = append(f.Ops, s.w.Ops[i].Name)
		}
		groups[g] = f
		order = append(order, g)
	}
	out := make([]Finding, 0, len(order))
	for _, g := range order {
		out = append(out, *groups[g])
	}
	rank := map[string]int{scenarios.Missed: 0, "differs": 1, scenarios.Excessive: 2}
	sort.SliceStable(out, func(i, j int) bool {
		if rank[out[i].Verdict] != rank[out[j].Verdict] {
			return rank[out[i].Verdict] < rank[out[j].Verdict]
		}
		if len(out[i].Ops) != len(out[j].Ops) {
			return len(out[i].Ops) < len(out[j].Ops)
		}
		return out[i].Group < out[j].Group
	})
	return out
}

// Scenario renders a finding as a scenario file.
func (w World) Scenario(f Finding, name string) string {
	var b strings.Builder
	pre := strings.Replace(w.Prelude, "name: explore", "name: "+name, 1)
	b.WriteString(pre)
	fmt.Fprintf(&b, "# found by imasim explore under %s: %s\n", strings.Join(f.Profiles, " vs "), f.Group)
	byName := map[string]Op{}
	for _, o := range w.Ops {
		byName[o.Name] = o
	}
	for _, n := range f.Ops {
		fmt.Fprintf(&b, "# op %s\n", n)
		for _, l := range byName[n].Lines {
			b.WriteString(l + "\n")
		}
	}
	b.WriteString("\nexpect no missed\nexpect no excessive\n")
	return b.String()
}
