package scenarios

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/imasim/imasim/measure"
	"github.com/imasim/imasim/measure/audit"
)

// Observation is what one run of a scenario shows, whoever ran it: the
// model (Result.Observation), a real kernel in a VM (scenarios/vm), an
// exported shell script (its verdict lines) or a captured log
// (ReadObserved). The expect lines are judged over it (Judge). Parts a
// source cannot know are marked unknown: Measurements -1, Measured and
// Verdicts nil.
type Observation struct {
	Form   string `json:"form"`
	Kernel string `json:"kernel,omitempty"`
	// Audit counts INTEGRITY_RULE (1805) records per scenario path.
	Audit map[string]int `json:"audit_records"`
	// ByLine counts them per scenario line (the step they followed) and
	// path, when the source knows the steps (markers in a log).
	ByLine       map[int]map[string]int `json:"by_line,omitempty"`
	Markers      bool                   `json:"markers"`
	Violations   int                    `json:"violations"`
	Measurements int                    `json:"measurements"` // list entries besides boot_aggregate; -1: no list
	Loss         audit.Loss             `json:"loss"`
	Unmapped     map[string]int         `json:"unmapped,omitempty"` // 1805 for other files
	// Measured counts list entries per path, violations excluded (nil:
	// unknown).
	Measured map[string]int `json:"-"`
	// Verdicts counts missed and excessive hook calls (nil: not judged).
	Verdicts map[string]int `json:"-"`
	// Records and List are the audit records (at their step's line) and
	// the measurement list entries of the scenario's files, when known.
	Records []AuditRecord     `json:"-"`
	List    []ListEntry       `json:"-"`
	PCRs    map[string]string `json:"-"`
}

// AuditRecord is one integrity audit record of a run.
type AuditRecord struct {
	Type int `json:"type"`
	// Line is the scenario line of the step it appeared in; Step, in the
	// model, the hook call (1-based, Result.Steps) that emitted it.
	Line int    `json:"line"`
	Step int    `json:"-"`
	Path string `json:"path"` // file= or name=, without a run's root
	Hash string `json:"hash,omitempty"`
	// Cause and Res are the cause= and res= fields of INTEGRITY_DATA
	// records (ima_file_mprotect's "failed-mprotect"), for comparison.
	Cause  string            `json:"-"`
	Res    int               `json:"-"`
	Fields map[string]string `json:"-"` // a real record's fields
	Text   string            `json:"raw"`
}

// ListEntry is one measurement-list entry.
type ListEntry struct {
	PCR          int    `json:"pcr"`
	TemplateHash string `json:"template_hash"`
	Template     string `json:"template"`
	FileHash     string `json:"file_hash"` // "sha256:hex", bare hex for a "d" field
	Path         string `json:"path"`
	Violation    bool   `json:"violation,omitempty"`
	// Entry is the parsed entry (a real list's, for replay).
	Entry *measure.Entry `json:"-"`
}

// NewListEntry describes en.
func NewListEntry(en *measure.Entry) ListEntry {
	m := ListEntry{PCR: en.PCR, TemplateHash: hex.EncodeToString(en.Digest), Violation: en.IsViolation(), Entry: en}
	if en.Template != nil {
		m.Template = en.Template.ListName()
	}
	if pre, d, ok := en.FileDigest(); ok {
		m.FileHash = hex.EncodeToString(d) // the "d" field: bare hex, as the kernel shows it
		if pre != "" {
			m.FileHash = strings.TrimSuffix(pre, ":") + ":" + m.FileHash
		}
	}
	m.Path, _ = en.FileName()
	return m
}

// AddRule counts an INTEGRITY_RULE record of path p, in ByLine too when
// the step's line is known (> 0).
func (o *Observation) AddRule(line int, p string) {
	o.Audit[p]++
	o.addLine(line, p)
}

func (o *Observation) addLine(line int, p string) {
	if line > 0 {
		if o.ByLine[line] == nil {
			o.ByLine[line] = map[string]int{}
		}
		o.ByLine[line][p]++
	}
}

// Observation is the model run's observation.
func (r *Result) Observation() *Observation {
	o := &Observation{Form: "model", Audit: r.AuditRecords, ByLine: map[int]map[string]int{}, Markers: true,
		Violations: r.Violations, Measurements: r.Measurements,
		Measured: map[string]int{}, Verdicts: map[string]int{Missed: r.Count(Missed), Excessive: r.Count(Excessive)},
		Records: r.Audit, List: r.List, PCRs: r.PCRs}
	for _, a := range r.Audit {
		if a.Type == 1805 {
			o.addLine(a.Line, a.Path)
		}
	}
	for _, m := range r.List {
		if !m.Violation {
			o.Measured[m.Path]++
		}
	}
	return o
}

// Judge checks expect lines against the observation, skipping those it
// cannot decide (a count it does not know).
func (o *Observation) Judge(xs []Expect) []ExpectResult {
	var out []ExpectResult
	for _, x := range xs {
		n, ok := 0, true
		switch x.Kind {
		case "audit":
			n = o.Audit[x.Path]
		case "measurements":
			n, ok = o.Measurements, o.Measurements >= 0
		case "measure":
			n, ok = o.Measured[x.Path], o.Measured != nil
		case "violations":
			n = o.Violations
		case "no-missed":
			n, ok = o.Verdicts[Missed], o.Verdicts != nil
		case "no-excessive":
			n, ok = o.Verdicts[Excessive], o.Verdicts != nil
		default:
			ok = false
		}
		if !ok {
			continue
		}
		r := ExpectResult{Line: x.Line, Text: x.Text, OK: n == x.N, Got: strconv.Itoa(n)}
		if x.Kind == "no-missed" || x.Kind == "no-excessive" {
			v := x.Kind[len("no-"):]
			r.OK, r.Got = n == 0, fmt.Sprintf("%d %s", n, v)
		}
		out = append(out, r)
	}
	return out
}
