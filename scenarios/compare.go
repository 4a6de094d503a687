package scenarios

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/imasim/imasim/measure"
	"github.com/imasim/imasim/measure/audit"
)

// StepMarker is the text the real-kernel runner writes to /dev/kmsg before
// each scenario step ("imasim-step line=14"), so audit records can be
// mapped onto steps.
const StepMarker = "imasim-step"

// Observed is what a real kernel's log (and measurement list) shows for a
// scenario's files.
type Observed struct {
	Form         string                 `json:"form"`
	Kernel       string                 `json:"kernel,omitempty"`
	Audit        map[string]int         `json:"audit_records"` // 1805 per scenario path
	ByLine       map[int]map[string]int `json:"by_line,omitempty"`
	Markers      bool                   `json:"markers"`
	Violations   int                    `json:"violations"`
	Measurements int                    `json:"measurements"` // -1: no list given
	Loss         audit.Loss             `json:"loss"`
	Unmapped     map[string]int         `json:"unmapped,omitempty"` // 1805 for other files
}

// ReadObserved reads an audit log (any form package audit knows) and an
// optional binary measurement list, mapping paths onto the scenario's
// (a real run prefixes them with its root: root strips it; empty root
// matches by path suffix).
func ReadObserved(s *Scenario, log io.Reader, list io.Reader, root string) (*Observed, error) {
	paths := scenarioPaths(s)
	ob := &Observed{Audit: map[string]int{}, ByLine: map[int]map[string]int{}, Unmapped: map[string]int{}, Measurements: -1}
	for _, p := range paths {
		ob.Audit[p] = 0
	}
	sc := audit.NewScannerOptions(log, audit.Options{Marker: StepMarker})
	line := 0
	forms := map[string]bool{}
	for sc.Scan() {
		r := sc.Record()
		if r.Marker != "" {
			ob.Markers = true
			if v, ok := markerLine(r.Marker); ok {
				line = v
			}
			continue
		}
		forms[fmt.Sprint(r.Form)] = true
		switch r.Type {
		case audit.TypeRule:
			p, ok := mapPath(r.Path(), paths, root)
			if !ok {
				ob.Unmapped[r.Path()]++
				continue
			}
			ob.Audit[p]++
			if line > 0 {
				if ob.ByLine[line] == nil {
					ob.ByLine[line] = map[string]int{}
				}
				ob.ByLine[line][p]++
			}
		case audit.TypePCR:
			if r.Violation() {
				if _, ok := mapPath(r.Path(), paths, root); ok {
					ob.Violations++
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading log: %w", err)
	}
	if st := sc.Stats(); st.Recognized == 0 {
		// Text that is no log is an audit.NotLogError above; this is a
		// log with nothing in it (blank lines at most).
		return nil, fmt.Errorf("not an IMA log: no line in a known log form (dmesg/kmsg, audit.log, ausearch -i, journalctl -o json): %d lines read", st.Lines)
	}
	ob.Loss = sc.Loss()
	if k, ok := sc.Kernel(); ok {
		ob.Kernel = k.Upstream
		if ob.Kernel == "" {
			ob.Kernel = k.Release
		}
	}
	var fs []string
	for f := range forms {
		fs = append(fs, f)
	}
	sort.Strings(fs)
	ob.Form = strings.Join(fs, ",")
	if list != nil {
		// Streamed: memory stays at one entry, whatever the list's length.
		rd := measure.NewReader(list, measure.ReadOptions{})
		ob.Measurements = 0
		n := 0
		for ; ; n++ {
			e, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, &ListError{err}
			}
			if name, ok := e.FileName(); ok && name == "boot_aggregate" {
				continue
			}
			ob.Measurements++
		}
		if n == 0 {
			return nil, &ListError{errors.New("not an IMA list: empty input (a kernel's measurement list starts with boot_aggregate)")}
		}
	}
	return ob, nil
}

// ListError wraps a measurement-list error, so callers name the list file.
type ListError struct{ Err error }

func (e *ListError) Error() string { return "reading measurement list: " + e.Err.Error() }
func (e *ListError) Unwrap() error { return e.Err }

func markerLine(m string) (int, bool) {
	i := strings.Index(m, "line=")
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(m[i+5:])
	if len(f) == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(f[0])
	return n, err == nil
}

// scenarioPaths lists every absolute path the scenario's steps name.
func scenarioPaths(s *Scenario) []string {
	seen := map[string]bool{}
	var out []string
	for _, st := range s.Steps {
		for _, a := range st.Touches().Paths {
			if strings.HasPrefix(a, "/") && !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	sort.Strings(out)
	return out
}

func mapPath(p string, paths []string, root string) (string, bool) {
	if root != "" {
		r := strings.TrimSuffix(root, "/")
		if !strings.HasPrefix(p, r+"/") {
			return "", false
		}
		p = p[len(r):]
	}
	best := ""
	for _, sp := range paths {
		// sp starts with "/": a suffix match is at a path boundary.
		if (p == sp || (root == "" && strings.HasSuffix(p, sp))) && len(sp) > len(best) {
			best = sp
		}
	}
	return best, best != ""
}

// PathCmp is one file's audit count, model vs observed.
type PathCmp struct {
	Path     string `json:"path"`
	Model    int    `json:"model"`
	Observed int    `json:"observed"`
}

// StepCmp is one hook call of the model and what the log shows at its line.
type StepCmp struct {
	Index    int    `json:"index"`
	Line     int    `json:"line"`
	Op       string `json:"op"`
	Hook     string `json:"hook"`
	Model    bool   `json:"model_audit"`
	Observed int    `json:"observed_audit"` // -1 without markers
	Verdict  string `json:"model_verdict"`
}

// Comparison is a model result set against an observation.
type Comparison struct {
	Profile      string    `json:"profile"`
	Agree        bool      `json:"agree"`
	Paths        []PathCmp `json:"paths"`
	Steps        []StepCmp `json:"steps"`
	Measurements [2]int    `json:"measurements"` // model, observed (-1: no list)
	Violations   [2]int    `json:"violations"`
}

// Compare sets a model result against an observation.
func Compare(res *Result, ob *Observed) Comparison {
	c := Comparison{Profile: res.Profile, Agree: true,
		Measurements: [2]int{res.Measurements, ob.Measurements}, Violations: [2]int{res.Violations, ob.Violations}}
	var paths []string
	for p := range ob.Audit {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		pc := PathCmp{Path: p, Model: res.AuditRecords[p], Observed: ob.Audit[p]}
		if pc.Model == 0 && pc.Observed == 0 {
			continue
		}
		if pc.Model != pc.Observed {
			c.Agree = false
		}
		c.Paths = append(c.Paths, pc)
	}
	if ob.Measurements >= 0 && ob.Measurements != res.Measurements {
		c.Agree = false
	}
	if ob.Violations != res.Violations {
		c.Agree = false
	}
	// Which hook calls audited, per scenario line, in the model.
	audited := map[int]int{}
	for _, a := range res.Audit {
		if a.Type == 1805 && a.Step >= 1 && a.Step <= len(res.Steps) {
			audited[res.Steps[a.Step-1].Index]++
		}
	}
	lineSeen := map[int]bool{}
	for _, st := range res.Steps {
		sc := StepCmp{Index: st.Index, Line: st.Line, Op: st.Op, Hook: st.Hook, Model: audited[st.Index] > 0, Observed: -1, Verdict: st.Verdict}
		if ob.Markers && !lineSeen[st.Line] {
			sc.Observed = ob.ByLine[st.Line][st.Path]
		} else if ob.Markers {
			sc.Observed = 0 // counted on the line's first hook call
		}
		lineSeen[st.Line] = true
		c.Steps = append(c.Steps, sc)
	}
	return c
}
