package vm

import (
	"fmt"
	"strings"

	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/vm/guest"
)

// SeenCmp is model vs real for what one step saw (scenarios.Seen): the
// content a read or mapping returned, what fstat/statx showed.
type SeenCmp struct {
	Line  int    `json:"line"`
	Op    string `json:"op"`
	Model string `json:"model"`
	Real  string `json:"real"`
}

// compareSeen compares what each step saw. A capture made before steps
// reported what they saw has nothing to compare.
func (r *Run) compareSeen(rep *guest.ScenarioReport) {
	real := map[int]string{}
	for _, st := range rep.Steps {
		if st.Seen != "" {
			real[st.Line] = st.Seen
		}
	}
	for _, s := range r.Model.Seen {
		got, ok := real[s.Line]
		if !ok {
			continue
		}
		r.Seen = append(r.Seen, SeenCmp{Line: s.Line, Op: s.Op, Model: s.Text, Real: got})
		if got != s.Text {
			r.Defects = append(r.Defects, fmt.Sprintf("line %d %s: model %s sees %q, kernel %s saw %q", s.Line, s.Op, r.Profile, s.Text, r.Kernel, got))
		}
	}
}

// contentOf is the "N bytes sha256:X" part of a content Seen text.
func contentOf(seen string) string {
	seen = strings.TrimPrefix(seen, "checked ")
	f := strings.Fields(seen)
	if len(f) < 3 || f[1] != "bytes" || !strings.HasPrefix(f[2], "sha256:") {
		return ""
	}
	return f[0] + " bytes " + f[2]
}

// interpFindings judges, from what the guest's steps saw alone, content
// that reached an interpreter: a read or mapping of a handle whose file
// passed execveat(AT_EXECVE_CHECK) while it was open, returning other
// content than the check's, is missed unless a later fstat of the handle
// saw its dev, ino or ctime change, or a later statx saw
// STATX_ATTR_VERITY go (the interpreter refuses then).
func (r *Run) interpFindings(rep *guest.ScenarioReport) {
	real := map[int]string{}
	for _, st := range rep.Steps {
		real[st.Line] = st.Seen
	}
	type checked struct {
		line    int
		content string
		pending []Finding
	}
	open := map[string]string{} // handle -> path
	verity := map[string]bool{} // the last statx of a handle saw STATX_ATTR_VERITY
	chk := map[string]*checked{}
	pending := func(h, what string, line int, seen string) {
		c := chk[h]
		got := contentOf(seen)
		if c == nil || got == "" || got == c.content {
			return
		}
		c.pending = append(c.pending, Finding{Verdict: scenarios.Missed, Path: open[h], Line: line,
			Why: fmt.Sprintf("the %s on %s returned %s; AT_EXECVE_CHECK at line %d checked %s", what, h, got, c.line, c.content)})
	}
	look := func(h string, statx bool, seen string) {
		had := verity[h]
		verity[h] = strings.HasSuffix(seen, "; verity")
		c := chk[h]
		if c == nil {
			return
		}
		caught := false
		if statx {
			caught = had && !verity[h]
		} else {
			for _, f := range changedFields(seen) {
				caught = caught || f == "dev" || f == "ino" || f == "ctime"
			}
		}
		if caught {
			c.pending = nil
		}
	}
	for _, st := range r.Scenario.Steps {
		seen := real[st.Line]
		switch o := st.Op.(type) {
		case scenarios.Open:
			if st.Fails == "" {
				open[o.Handle] = o.Path
			}
		case scenarios.Close:
			if c := chk[o.Handle]; c != nil {
				r.Findings = append(r.Findings, c.pending...)
			}
			delete(open, o.Handle)
			delete(chk, o.Handle)
		case scenarios.Execveat:
			if c := contentOf(seen); c != "" {
				for h, p := range open {
					if p == o.Path {
						chk[h] = &checked{line: st.Line, content: c}
					}
				}
			}
		case scenarios.Read:
			pending(o.Handle, "read", st.Line, seen)
		case scenarios.Mmap:
			pending(o.Handle, "mmap", st.Line, seen)
			if o.Exec {
				r.mappedUnmeasured(open[o.Handle], st.Line, seen)
			}
		case scenarios.Fstat:
			look(o.Handle, false, seen)
		case scenarios.Statx:
			if o.Handle != "" {
				look(o.Handle, true, seen)
			}
		}
	}
	for _, c := range chk {
		r.Findings = append(r.Findings, c.pending...)
	}
}

// changedFields lists the fields a StatSeen text says changed.
func changedFields(seen string) []string {
	before, _, ok := strings.Cut(seen, " changed")
	if !ok {
		return nil
	}
	return strings.Split(before, ",")
}

// mappedUnmeasured: an mmap(PROT_EXEC) that IMA measured (a 1805 record
// at its line) while the mapping holds content no record of the file
// ever hashed is missed. Comparable when the file has no executable
// prefix (the record's hash is then the content's): the scenario writes
// it without an exec mode.
func (r *Run) mappedUnmeasured(p string, line int, seen string) {
	f := strings.Fields(seen)
	if len(f) < 3 || !strings.HasPrefix(f[2], "sha256:") {
		return
	}
	mapped := strings.TrimPrefix(f[2], "sha256:")
	at, ever := false, false
	for _, a := range r.Audit {
		if a.Type != 1805 || a.Path != p || a.Line > line {
			continue
		}
		h := a.Hash[strings.IndexByte(a.Hash, ':')+1:]
		if strings.HasPrefix(h, mapped) {
			ever = true
		}
		at = at || a.Line == line
	}
	if at && !ever {
		r.Findings = append(r.Findings, Finding{Verdict: scenarios.Missed, Path: p, Line: line,
			Why: fmt.Sprintf("the mapping holds %s, which no audit record of %s hashed; the record at this line hashed other content", strings.Join(f[:3], " "), p)})
	}
}
