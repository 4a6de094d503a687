package scenarios

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"
)

// Report is a scenario's results under several profiles.
type Report struct {
	Scenario *Scenario
	Profiles []ProfileInfo
	Results  []*Result
}

// ProfileInfo is what a report says about a profile.
type ProfileInfo struct {
	Name, About, Kernels string
}

// JSON is the --format json document (schema 1).
type JSON struct {
	Schema   int       `json:"schema"`
	Scenario string    `json:"scenario"`
	Results  []*Result `json:"results"`
}

// WriteJSON writes the schema-1 JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	doc := JSON{Schema: 1, Scenario: r.Scenario.Name, Results: r.Results}
	for _, res := range doc.Results {
		if res.Steps == nil {
			res.Steps = []HookCall{}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// Width is the text output width.
const Width = 100

// TextOptions tune the text output.
type TextOptions struct {
	Verbose bool // full audit records
	Color   bool
}

// WriteText writes the human-readable report.
func (r *Report) WriteText(w io.Writer, o TextOptions) error {
	s := r.Scenario
	bw := &errWriter{w: w}
	for i, l := range wrap(s.Name+": "+s.About, Width) {
		if i > 0 {
			l = "  " + l
		}
		bw.printf("%s\n", l)
	}
	for _, p := range s.Policy {
		bw.printf("policy: %s\n", p.Rule)
	}
	for i, res := range r.Results {
		pi := r.Profiles[i]
		bw.printf("\n== %s (kernels %s)\n", pi.Name, pi.Kernels)
		for _, l := range wrap(pi.About, Width-3) {
			bw.printf("   %s\n", l)
		}
		if res.NA != "" {
			bw.printf("  n/a: %s\n", res.NA)
			continue
		}
		for _, n := range res.Notes {
			for i, l := range wrap("note: "+n, Width-2) {
				if i > 0 {
					l = "  " + l
				}
				bw.printf("  %s\n", l)
			}
		}
		for _, st := range res.Steps {
			ev := "skipped"
			if st.Evaluated {
				ev = "evaluated"
			}
			if st.Hook == "last_writer" || st.Hook == "interpreter" {
				ev = "check"
			}
			v := st.Verdict
			if v != OK {
				v = strings.ToUpper(v)
				if o.Color {
					v = "\x1b[1;31m" + v + "\x1b[0m"
				}
			}
			bw.printf("  #%-2d line %-3d %s\n", st.Index, st.Line, clip(st.Op, Width-16))
			bw.printf("       %-11s %-9s %s\n", st.Hook, ev, v)
			for _, l := range wrap(st.Cause, Width-7) {
				bw.printf("       %s\n", l)
			}
		}
		if len(res.Seen) > 0 {
			bw.printf("  what the steps saw:\n")
			for _, sn := range res.Seen {
				bw.printf("    line %-3d %s\n", sn.Line, clip(sn.Text, Width-14))
			}
		}
		bw.printf("  audit records:")
		if len(res.AuditRecords) == 0 {
			bw.printf(" none\n")
		} else {
			bw.printf("\n")
			for _, p := range res.SortedPaths() {
				bw.printf("    %-40s %d\n", p, res.AuditRecords[p])
			}
		}
		for _, a := range res.Audit {
			t := a.Text
			if !o.Verbose {
				t = compactAudit(a)
			}
			bw.printf("    %s\n", t)
		}
		bw.printf("  measurement list: %d entries besides boot_aggregate, %d violations\n", res.Measurements, res.Violations)
		for _, m := range res.List {
			// whole digests: they are what people paste into policies
			bw.printf("    %2d %s %s %s %s\n", m.PCR, m.TemplateHash, m.Template, m.FileHash, m.Path)
		}
		if len(res.PCRs) > 0 {
			var banks []string
			for b := range res.PCRs {
				banks = append(banks, b)
			}
			sort.Strings(banks)
			for _, b := range banks {
				bw.printf("  PCR 10 %-7s %s\n", b+":", res.PCRs[b])
			}
		}
		for _, x := range res.Expects {
			mark := "holds"
			if !x.OK {
				mark = "BROKEN (a real kernel like this fails it)"
			}
			bw.printf("  %s: got %s — %s\n", x.Text, x.Got, mark)
		}
		bw.printf("  verdicts: %d missed, %d excessive, %d ok\n", res.Count(Missed), res.Count(Excessive), res.Count(OK))
	}
	if len(r.Results) > 1 {
		kw := 16
		for _, pi := range r.Profiles {
			kw = max(kw, len(pi.Kernels))
		}
		bw.printf("\n%-12s %-*s %7s %6s %7s %10s\n", "profile", kw, "kernels", "audit", "meas", "missed", "excessive")
		for i, res := range r.Results {
			pi := r.Profiles[i]
			if res.NA != "" {
				bw.printf("%-12s %-*s %7s\n", pi.Name, kw, pi.Kernels, "n/a")
				continue
			}
			n := 0
			for _, c := range res.AuditRecords {
				n += c
			}
			bw.printf("%-12s %-*s %7d %6d %7d %10d\n", pi.Name, kw, pi.Kernels, n, res.Measurements, res.Count(Missed), res.Count(Excessive))
		}
	}
	return bw.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(f string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, f, a...)
	}
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// wrap breaks s into lines of at most n runes at spaces.
func wrap(s string, n int) []string {
	var out []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(w) > n {
			out = append(out, line)
			line = "  " + w
			continue
		}
		if line == "" {
			line = w
		} else {
			line += " " + w
		}
	}
	if line != "" {
		out = append(out, line)
	}
	return out
}

// compactAudit shortens an audit record for the text view: the type, the
// hook call it came from, and the fields that identify it.
func compactAudit(a AuditRecord) string {
	keep := []string{"file=", "hash=", "uid=", "comm=", "op=", "cause=", "name="}
	out := []string{fmt.Sprintf("#%d type=%d", a.Step, a.Type)}
	for _, f := range strings.Fields(a.Text) {
		for _, k := range keep {
			if strings.HasPrefix(f, k) {
				out = append(out, f)
			}
		}
	}
	return strings.Join(out, " ")
}
