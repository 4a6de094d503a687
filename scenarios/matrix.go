package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/imasim/imasim/cache"
)

// NA is the matrix verdict of a scenario whose requires: a profile cannot
// meet (Result.NA is set).
const NA = "n/a"

// verdictRank orders verdicts worst first: the matrix lists scenarios
// with a missed verdict first.
var verdictRank = map[string]int{Missed: 0, Excessive: 1, Indeterminate: 2, OK: 3, NA: 4}

// MatrixProfile names one matrix column.
type MatrixProfile struct {
	Name    string `json:"name"`
	Kernels string `json:"kernels"`
	About   string `json:"about"`
	// Evidence: "kernel" (run on a real kernel) or "source" (read only).
	Evidence string `json:"evidence"`
}

// MatrixCell is one scenario run under one profile, reduced to what the
// table shows: the worst verdict and the counts behind it.
type MatrixCell struct {
	Profile string `json:"profile"`
	// Verdict is the worst hook-call verdict (missed, excessive,
	// indeterminate, ok), or n/a.
	Verdict       string         `json:"verdict"`
	NA            string         `json:"not_applicable,omitempty"`
	Missed        int            `json:"missed"`
	Excessive     int            `json:"excessive"`
	Indeterminate int            `json:"indeterminate"`
	AuditRecords  int            `json:"audit_records"`
	Measurements  int            `json:"measurements"`
	Violations    int            `json:"violations"`
	ExpectsBroken int            `json:"expects_broken"`
	Expects       []ExpectResult `json:"expects,omitempty"`
	// Took is how long the model took (CI reports' durations); not in
	// the JSON, which stays the same from run to run.
	Took time.Duration `json:"-"`
}

// MatrixRow is one scenario across the profiles.
type MatrixRow struct {
	Scenario string       `json:"scenario"`
	About    string       `json:"about"`
	Cells    []MatrixCell `json:"cells"`
}

// Matrix is the scenario × profile table of verdicts.
type Matrix struct {
	Profiles []MatrixProfile `json:"profiles"`
	Rows     []MatrixRow     `json:"rows"`
}

// RunMatrix runs every scenario under every profile and sorts the rows
// worst verdict first (missed, excessive, indeterminate, ok, n/a), then
// by name. It stops with ctx's error when ctx is cancelled.
func RunMatrix(ctx context.Context, scens []*Scenario, profiles []*cache.Profile) (*Matrix, error) {
	m := &Matrix{}
	for _, p := range profiles {
		m.Profiles = append(m.Profiles, MatrixProfile{Name: p.Name, Kernels: p.Kernels.String(), About: p.About, Evidence: p.Evidence})
	}
	for _, s := range scens {
		row := MatrixRow{Scenario: s.Name, About: s.About}
		for _, p := range profiles {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("matrix interrupted at %s under %s: %w", s.Name, p.Name, err)
			}
			t0 := time.Now()
			res, err := Run(s, p)
			if err != nil {
				return nil, fmt.Errorf("matrix: scenario %s under profile %s: %w", s.Name, p.Name, err)
			}
			cell := NewMatrixCell(res)
			cell.Took = time.Since(t0)
			row.Cells = append(row.Cells, cell)
		}
		m.Rows = append(m.Rows, row)
	}
	m.sort()
	return m, nil
}

// NewMatrixCell reduces a scenario result to a matrix cell.
func NewMatrixCell(r *Result) MatrixCell {
	c := MatrixCell{Profile: r.Profile, NA: r.NA}
	if r.NA != "" {
		c.Verdict = NA
		return c
	}
	c.Missed, c.Excessive, c.Indeterminate = r.Count(Missed), r.Count(Excessive), r.Count(Indeterminate)
	switch {
	case c.Missed > 0:
		c.Verdict = Missed
	case c.Excessive > 0:
		c.Verdict = Excessive
	case c.Indeterminate > 0:
		c.Verdict = Indeterminate
	default:
		c.Verdict = OK
	}
	for _, n := range r.AuditRecords {
		c.AuditRecords += n
	}
	c.Measurements, c.Violations = r.Measurements, r.Violations
	c.Expects = r.Expects
	for _, x := range r.Expects {
		if !x.OK {
			c.ExpectsBroken++
		}
	}
	return c
}

func (r MatrixRow) worst() int {
	w := verdictRank[NA]
	for _, c := range r.Cells {
		if k := verdictRank[c.Verdict]; k < w {
			w = k
		}
	}
	return w
}

func (m *Matrix) sort() {
	sort.SliceStable(m.Rows, func(i, j int) bool {
		a, b := m.Rows[i], m.Rows[j]
		if wa, wb := a.worst(), b.worst(); wa != wb {
			return wa < wb
		}
		return a.Scenario < b.Scenario
	})
}

// Failing reports whether any cell's verdict is in failOn (the
// --fail-on set: missed, excessive, indeterminate).
func (m *Matrix) Failing(failOn map[string]bool) bool {
	for _, r := range m.Rows {
		for _, c := range r.Cells {
			if failOn[c.Verdict] {
				return true
			}
		}
	}
	return false
}

// ParseShard reads "i/N" (1 <= i <= N), the --shard syntax.
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	if ok {
		i, err = strconv.Atoi(a)
		if err == nil {
			n, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || n < 1 || i < 1 || i > n {
		return 0, 0, fmt.Errorf("--shard %q: want i/N with 1 <= i <= N, e.g. 2/4", s)
	}
	return i, n, nil
}

// Shard returns shard i of n (1-based) of names: every n-th name of the
// sorted list, starting at the i-th, so the shards are disjoint, cover the
// list and stay balanced whatever order the names came in.
func Shard(names []string, i, n int) []string {
	s := append([]string(nil), names...)
	sort.Strings(s)
	var out []string
	for k := i - 1; k < len(s); k += n {
		out = append(out, s[k])
	}
	return out
}

// MatrixDiff is the --diff view: the scenarios on which profiles A and B
// disagree.
type MatrixDiff struct {
	A, B  MatrixProfile
	Total int // scenarios compared
	Rows  []DiffRow
}

// DiffRow is one scenario where the two profiles disagree.
type DiffRow struct {
	Scenario string     `json:"scenario"`
	A        MatrixCell `json:"a"`
	B        MatrixCell `json:"b"`
	What     []string   `json:"what"`
}

// Diff compares the columns of profiles a and b. Two cells disagree when
// their verdicts, audit-record, measurement or violation counts, or the
// number of broken expect lines differ; n/a differs from any verdict.
func (m *Matrix) Diff(a, b string) (*MatrixDiff, error) {
	ia, ib := m.column(a), m.column(b)
	if ia < 0 || ib < 0 {
		missing := a
		if ia >= 0 {
			missing = b
		}
		return nil, fmt.Errorf("--diff: profile %q is not in the matrix (have %s)", missing, strings.Join(m.profileNames(), ", "))
	}
	d := &MatrixDiff{A: m.Profiles[ia], B: m.Profiles[ib], Total: len(m.Rows)}
	for _, r := range m.Rows {
		ca, cb := r.Cells[ia], r.Cells[ib]
		if what := cellDiff(ca, cb); len(what) > 0 {
			d.Rows = append(d.Rows, DiffRow{Scenario: r.Scenario, A: ca, B: cb, What: what})
		}
	}
	return d, nil
}

func cellDiff(a, b MatrixCell) []string {
	var what []string
	if a.Verdict != b.Verdict {
		what = append(what, "verdict")
	}
	if a.Verdict == NA || b.Verdict == NA {
		return what
	}
	for _, f := range []struct {
		name string
		x, y int
	}{
		{"audit", a.AuditRecords, b.AuditRecords},
		{"measurements", a.Measurements, b.Measurements},
		{"violations", a.Violations, b.Violations},
		{"expects", a.ExpectsBroken, b.ExpectsBroken},
	} {
		if f.x != f.y {
			what = append(what, f.name)
		}
	}
	return what
}

func (m *Matrix) column(name string) int {
	for i, p := range m.Profiles {
		if p.Name == name {
			return i
		}
	}
	return -1
}

func (m *Matrix) profileNames() []string {
	var out []string
	for _, p := range m.Profiles {
		out = append(out, p.Name)
	}
	return out
}

// MatrixCase is one scenario × profile as a CI test case, the neutral
// shape the CI formatters (ltp, kirk-json, junit, ktap: the ltp-compat
// package) render: the case status and its expect lines as subtests.
type MatrixCase struct {
	Name     string // "scenario/profile"
	Scenario string
	Profile  string
	// Status: "pass", "fail" (a verdict in the --fail-on set) or "skip"
	// (n/a: the profile cannot meet the scenario's requires:).
	Status  string
	Message string
	// Expects are the scenario's expect lines checked against the model.
	// They state correct IMA behaviour, so a broken one in a simulation
	// reports the modelled kernel's bug; it fails the case only through
	// --fail-on.
	Expects []ExpectResult
	// Took is the model's run time.
	Took time.Duration
}

// Cases lists the matrix as CI test cases in table order.
func (m *Matrix) Cases(failOn map[string]bool) []MatrixCase {
	var out []MatrixCase
	for _, r := range m.Rows {
		for _, c := range r.Cells {
			mc := MatrixCase{Name: r.Scenario + "/" + c.Profile, Scenario: r.Scenario, Profile: c.Profile,
				Status: "pass", Message: c.summary(), Expects: c.Expects, Took: c.Took}
			switch {
			case c.Verdict == NA:
				mc.Status, mc.Message = "skip", c.NA
			case failOn[c.Verdict]:
				mc.Status = "fail"
			}
			out = append(out, mc)
		}
	}
	return out
}

func (c MatrixCell) summary() string {
	if c.Verdict == NA {
		return NA + ": " + c.NA
	}
	s := fmt.Sprintf("%s: %d missed, %d excessive; %d audit records, %d measurements, %d violations",
		c.Verdict, c.Missed, c.Excessive, c.AuditRecords, c.Measurements, c.Violations)
	if c.ExpectsBroken > 0 {
		s += fmt.Sprintf("; %d expect lines broken", c.ExpectsBroken)
	}
	return s
}

// short is the text/markdown cell: the verdict, "a" and the number of
// INTEGRITY_RULE records (or "m" and the measurement-list entries when
// there are none), "!" when an expect line is broken.
func (c MatrixCell) short() string {
	if c.Verdict == NA {
		return NA
	}
	v := c.Verdict
	switch v {
	case Missed:
		v = "MISSED"
	case Excessive:
		v = "EXCESS"
	case Indeterminate:
		v = "INDET"
	}
	s := fmt.Sprintf("%s a%d", v, c.AuditRecords)
	if c.AuditRecords == 0 && c.Measurements > 0 {
		s = fmt.Sprintf("%s m%d", v, c.Measurements) // a measure-only policy
	}
	if c.ExpectsBroken > 0 {
		s += " !"
	}
	return s
}

const (
	ansiRed    = "\x1b[1;31m"
	ansiYellow = "\x1b[33m"
	ansiDim    = "\x1b[2m"
	ansiOff    = "\x1b[0m"
)

func (c MatrixCell) color() string {
	switch c.Verdict {
	case Missed:
		return ansiRed
	case Excessive, Indeterminate:
		return ansiYellow
	case NA:
		return ansiDim
	}
	return ""
}

// matrixLegend explains the cells in text and markdown output.
const matrixLegend = "cells: the worst verdict (MISSED, EXCESS(ive), INDET(erminate), ok; n/a: requires: not met),\n" +
	"aN: INTEGRITY_RULE audit records (mN: measurement entries, incl. violations, when there are none),\n" +
	"!: an expect line (correct IMA behaviour) is broken"

// WriteText writes the table for people; Color adds ANSI colours.
func (m *Matrix) WriteText(w io.Writer, o TextOptions) error {
	ew := &errWriter{w: &trimWriter{w: w}}
	nameW := len("scenario")
	for _, r := range m.Rows {
		nameW = max(nameW, len(r.Scenario))
	}
	widths := m.widths()
	ew.printf("%-*s", nameW, "scenario")
	for i, p := range m.Profiles {
		ew.printf("  %-*s", widths[i], p.Name)
	}
	ew.printf("\n")
	for _, r := range m.Rows {
		ew.printf("%-*s", nameW, r.Scenario)
		for i, c := range r.Cells {
			cell := fmt.Sprintf("%-*s", widths[i], c.short())
			if o.Color && c.color() != "" {
				cell = c.color() + cell + ansiOff
			}
			ew.printf("  %s", cell)
		}
		ew.printf("\n")
	}
	ew.printf("\n%-*s", nameW, "missed/excessive")
	for i := range m.Profiles {
		mi, ex := 0, 0
		for _, r := range m.Rows {
			switch r.Cells[i].Verdict {
			case Missed:
				mi++
			case Excessive:
				ex++
			}
		}
		ew.printf("  %-*s", widths[i], fmt.Sprintf("%d/%d", mi, ex))
	}
	ew.printf("\n\n%s\n", matrixLegend)
	for _, p := range m.Profiles {
		ew.printf("  %-12s %-20s %-8s %s\n", p.Name, p.Kernels, p.Evidence, p.About)
	}
	return ew.err
}

func (m *Matrix) widths() []int {
	ws := make([]int, len(m.Profiles))
	for i, p := range m.Profiles {
		ws[i] = max(len(p.Name), len("EXCESS a10 !"))
	}
	for _, r := range m.Rows {
		for i, c := range r.Cells {
			ws[i] = max(ws[i], len(c.short()))
		}
	}
	return ws
}

// WriteMarkdown writes the table as GitHub-flavoured markdown.
func (m *Matrix) WriteMarkdown(w io.Writer) error {
	ew := &errWriter{w: w}
	ew.printf("| scenario |")
	for _, p := range m.Profiles {
		ew.printf(" %s |", mdEscape(p.Name))
	}
	ew.printf("\n|---|")
	for range m.Profiles {
		ew.printf("---|")
	}
	ew.printf("\n")
	for _, r := range m.Rows {
		ew.printf("| %s |", mdEscape(r.Scenario))
		for _, c := range r.Cells {
			s := mdEscape(c.short())
			if c.Verdict == Missed || c.Verdict == Excessive {
				s = "**" + s + "**"
			}
			ew.printf(" %s |", s)
		}
		ew.printf("\n")
	}
	ew.printf("\n%s.\n\n", mdEscape(strings.ReplaceAll(matrixLegend, "\n", " ")))
	for _, p := range m.Profiles {
		ew.printf("- **%s** (%s; evidence: %s): %s\n", mdEscape(p.Name), mdEscape(p.Kernels), mdEscape(p.Evidence), mdEscape(p.About))
	}
	return ew.err
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "*", `\*`, "_", `\_`).Replace(s)
}

// MatrixJSON is the --format json document of a matrix (schema 1).
type MatrixJSON struct {
	Schema   int             `json:"schema"`
	Profiles []MatrixProfile `json:"profiles"`
	Rows     []MatrixRow     `json:"rows"`
}

// WriteJSON writes the schema-1 JSON document.
func (m *Matrix) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(MatrixJSON{Schema: 1, Profiles: m.Profiles, Rows: m.Rows})
}

// WriteText writes the disagreements as a two-column table.
func (d *MatrixDiff) WriteText(w io.Writer, o TextOptions) error {
	ew := &errWriter{w: &trimWriter{w: w}}
	ew.printf("profiles %s (%s) and %s (%s) disagree on %d of %d scenarios\n",
		d.A.Name, d.A.Kernels, d.B.Name, d.B.Kernels, len(d.Rows), d.Total)
	if len(d.Rows) == 0 {
		return ew.err
	}
	nameW := len("scenario")
	for _, r := range d.Rows {
		nameW = max(nameW, len(r.Scenario))
	}
	wa, wb := max(len(d.A.Name), 12), max(len(d.B.Name), 12)
	ew.printf("\n%-*s  %-*s  %-*s  %s\n", nameW, "scenario", wa, d.A.Name, wb, d.B.Name, "differs in")
	for _, r := range d.Rows {
		ca, cb := fmt.Sprintf("%-*s", wa, r.A.short()), fmt.Sprintf("%-*s", wb, r.B.short())
		if o.Color {
			if c := r.A.color(); c != "" {
				ca = c + ca + ansiOff
			}
			if c := r.B.color(); c != "" {
				cb = c + cb + ansiOff
			}
		}
		ew.printf("%-*s  %s  %s  %s\n", nameW, r.Scenario, ca, cb, strings.Join(r.What, ","))
	}
	ew.printf("\n%s\n", matrixLegend)
	return ew.err
}

// WriteMarkdown writes the disagreements as a markdown table.
func (d *MatrixDiff) WriteMarkdown(w io.Writer) error {
	ew := &errWriter{w: w}
	ew.printf("Profiles **%s** and **%s** disagree on %d of %d scenarios.\n\n",
		mdEscape(d.A.Name), mdEscape(d.B.Name), len(d.Rows), d.Total)
	if len(d.Rows) == 0 {
		return ew.err
	}
	ew.printf("| scenario | %s | %s | differs in |\n|---|---|---|---|\n", mdEscape(d.A.Name), mdEscape(d.B.Name))
	for _, r := range d.Rows {
		ew.printf("| %s | %s | %s | %s |\n", mdEscape(r.Scenario), mdEscape(r.A.short()), mdEscape(r.B.short()), strings.Join(r.What, ", "))
	}
	return ew.err
}

// WriteJSON writes the diff as a schema-1 JSON document.
func (d *MatrixDiff) WriteJSON(w io.Writer) error {
	doc := struct {
		Schema int           `json:"schema"`
		A      MatrixProfile `json:"a"`
		B      MatrixProfile `json:"b"`
		Total  int           `json:"scenarios"`
		Rows   []DiffRow     `json:"disagree"`
	}{1, d.A, d.B, d.Total, d.Rows}
	if doc.Rows == nil {
		doc.Rows = []DiffRow{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// trimWriter drops blanks at the end of each line (padded table cells).
type trimWriter struct {
	w       io.Writer
	pending []byte
}

func (t *trimWriter) Write(p []byte) (int, error) {
	for _, c := range p {
		switch c {
		case ' ':
			t.pending = append(t.pending, c)
			continue
		case '\n':
			t.pending = t.pending[:0]
		default:
			if len(t.pending) > 0 {
				if _, err := t.w.Write(t.pending); err != nil {
					return 0, err
				}
				t.pending = t.pending[:0]
			}
		}
		if _, err := t.w.Write([]byte{c}); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
