package scenarios

// runSaved is a runner's state as Save recorded it (see Runner.Save).
type runSaved struct {
	ok       bool
	e        engine
	res      Result
	handles  handleSet
	listed   []string
	lastEval []evaluated
	audit    []auditCount // Result.AuditRecords
}

type auditCount struct {
	path string
	n    int
}

// Save records the run's state for Restore, and reports whether it
// could: only a quiet runner made by Clone or CloneInto, with nothing
// recorded for its caller (no hook calls, audit texts or observations
// since they were last dropped), no interpreter state, and open files
// only on inodes its world's Save covers. A search that tries several
// operations on one state saves it once and restores it before each
// instead of cloning it again: the restore copies back the same blocks a
// clone would copy, without fixing up pointers.
func (r *Runner) Save() bool {
	e := r.e
	sc := e.engineScratch
	if sc.saved == nil {
		sc.saved = &runSaved{}
	}
	s := sc.saved
	s.ok = false
	res := r.res
	if !e.quiet || e.ix != nil || res.ML != nil || len(res.Steps) > 0 || len(res.Audit) > 0 ||
		len(res.Seen) > 0 || len(res.List) > 0 || len(res.Expects) > 0 {
		return false
	}
	for _, nh := range e.handles {
		if !e.w.Owns(nh.h.f.Inode) || !e.w.Owns(nh.h.f.Backing) {
			return false
		}
	}
	if !e.w.Save() {
		return false
	}
	e.ima.Save()
	s.e = *e
	s.res = *res
	s.handles = copyInto(s.handles, e.handles)
	s.listed = copyInto(s.listed, e.listed)
	s.lastEval = copyInto(s.lastEval, e.lastEval)
	s.audit = s.audit[:0]
	for p, n := range res.AuditRecords {
		s.audit = append(s.audit, auditCount{p, n})
	}
	s.ok = true
	return true
}

// Restore brings back the state the last Save recorded, which must have
// reported true, with no CloneInto into r since. What the steps since
// recorded for the caller is dropped.
func (r *Runner) Restore() {
	e := r.e
	s := e.engineScratch.saved
	if s == nil || !s.ok {
		panic("scenarios: Restore without a successful Save")
	}
	// The slices keep the memory they have now (they may have grown
	// since), with the saved contents.
	handles, listed, lastEval := e.handles, e.listed, e.lastEval
	*e = s.e
	e.handles = copyInto(handles, s.handles)
	e.listed = copyInto(listed, s.listed)
	e.lastEval = copyInto(lastEval, s.lastEval)
	res := r.res
	steps, audits, seen, list, audit := res.Steps[:0], res.Audit[:0], res.Seen[:0], res.List[:0], res.AuditRecords
	*res = s.res // Save saw these empty
	res.Steps, res.Audit, res.Seen, res.List, res.AuditRecords = steps, audits, seen, list, audit
	if len(audit) > 0 {
		clear(audit)
	}
	for _, a := range s.audit {
		audit[a.path] = a.n
	}
	e.w.Restore()
	e.ima.Restore()
}
