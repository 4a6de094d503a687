package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/vm"
)

// Width is the text format's line width (mail).
const Width = 72

// block is one piece of a section: a paragraph, a list, verbatim lines
// (code) or a table.
type block struct {
	para   string
	list   []string
	code   []string
	lang   string
	header []string
	rows   [][]string
}

type section struct {
	title  string
	blocks []block
}

// doc is the report as sections, rendered as text or markdown.
func (r *Report) doc() (string, []section) {
	s := r.Scenario
	var out []section
	add := func(title string, b ...block) { out = append(out, section{title, b}) }

	add("Summary", block{para: r.summary()})

	if r.ReproErr != nil {
		add("Reproducer", block{para: "No minimal reproducer: " + r.ReproErr.Error() +
			". imasim scenario export " + s.Name + " --sh writes the full harness."})
	} else {
		add("Reproducer (POSIX sh, run as root on a test machine)",
			block{code: strings.Split(strings.TrimSuffix(r.Repro, "\n"), "\n"), lang: "sh"},
			block{para: r.predictions()})
	}
	add("Kernel config fragment", block{code: r.Kconfig})
	if c := r.chain(); len(c.list) > 0 {
		add("Causal chain (model, profile "+r.Affected[0].Era.Profile.Name+")", c)
	}
	if t := r.modelTable(); t != nil {
		add("Model per step, audit records per kernel era", t...)
	}
	add("Affected versions (model)", r.versions()...)
	if cs := r.commits(); len(cs) > 0 {
		add("Commits named, and where their ids were read", block{list: cs})
	}
	if len(r.Runs) > 0 {
		add("Results: model vs real kernel, audit records per step", r.results()...)
	}
	return r.subject(), out
}

// subject fits "Subject: " on one 72-column line.
func (r *Report) subject() string {
	s := r.Scenario
	what := ""
	var where []string
	for _, a := range r.Affected {
		if what == "" {
			what = "changed file not re-measured"
			if a.Era.Verdict == scenarios.Excessive {
				what = "unchanged file re-measured"
			}
		}
		if a.Era.Profile.Auto {
			where = append(where, rangeText(a.Era.Profile))
		}
	}
	if what == "" {
		return clip("ima: "+s.Name+": no missed or excessive re-measurement (model)", Width-9)
	}
	subj := "ima: " + s.Name + ": " + what
	if len(where) > 0 {
		subj += " on " + where[0]
		if len(where) > 1 {
			subj += fmt.Sprintf(" and %d more", len(where)-1)
		}
	}
	return clip(subj, Width-9)
}

// rangeText is a profile's kernels for prose: "7.1 and later".
func rangeText(p *cache.Profile) string {
	if p.Kernels.Open {
		return p.Kernels.Min.String() + " and later"
	}
	return p.Kernels.String()
}

func (r *Report) summary() string {
	s := r.Scenario
	var b strings.Builder
	b.WriteString(s.About)
	var bads, oks []string
	for _, e := range r.Eras {
		if bad(e.Verdict) {
			bads = append(bads, fmt.Sprintf("%s on %s (%s)", strings.ToUpper(e.Verdict), e.Profile.Name, e.Profile.Kernels))
		} else {
			oks = append(oks, e.Profile.Name)
		}
	}
	if len(bads) == 0 {
		b.WriteString(" The model finds no missed or excessive re-measurement under any of the profiles " + strings.Join(oks, ", ") + ".")
	} else {
		b.WriteString(" The model finds it " + strings.Join(bads, "; ") + ".")
		if len(oks) > 0 {
			b.WriteString(" It is ok on " + strings.Join(oks, ", ") + ".")
		}
	}
	if len(r.Runs) > 0 {
		byVerdict := map[string][]string{}
		var order []string
		disagree := 0
		for _, run := range r.Runs {
			v := realVerdict(run)
			if _, ok := byVerdict[v]; !ok {
				order = append(order, v)
			}
			byVerdict[v] = append(byVerdict[v], fmt.Sprintf("%s (%s)", run.Label, run.Release))
			if !agrees(run.Cmp) {
				disagree++
			}
		}
		var parts []string
		for _, v := range order {
			parts = append(parts, verdictWord(v)+" on "+strings.Join(byVerdict[v], ", "))
		}
		b.WriteString(" Real kernels: " + strings.Join(parts, "; ") + ".")
		if disagree == 0 {
			fmt.Fprintf(&b, " The model agrees with every one of them (%d).", len(r.Runs))
		} else {
			fmt.Fprintf(&b, " The model DISAGREES with %d of %d (see Results).", disagree, len(r.Runs))
		}
	}
	return b.String()
}

// realVerdict is what the real kernel's run shows by itself.
func realVerdict(run Run) string {
	v := scenarios.OK
	for _, f := range run.Cmp.Findings {
		if v == scenarios.OK || f.Verdict == scenarios.Missed {
			v = f.Verdict
		}
	}
	return v
}

// agrees: the run completed, its log lost nothing, and the model
// matched the kernel (an expect the kernel breaks is the finding, not a
// disagreement).
func agrees(c *vm.Run) bool { return c.Err == nil && c.Lossy == "" && len(c.Defects) == 0 }

func (r *Report) predictions() string {
	groups := map[string][]string{}
	var order []string
	for _, e := range r.Eras {
		if e.Verdict == "n/a" {
			continue
		}
		var parts []string
		for _, x := range e.Checks {
			st := "PASS"
			if !x.OK {
				st = "FAIL"
			}
			parts = append(parts, fmt.Sprintf("%s: %s (got %s)", st, x.Text, x.Got))
		}
		k := strings.Join(parts, "; ") + fmt.Sprintf("; exit %d", e.Exit)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], e.Profile.Name)
	}
	var b strings.Builder
	b.WriteString("What the model predicts it prints:")
	for _, k := range order {
		fmt.Fprintf(&b, " on %s: %s.", strings.Join(groups[k], ", "), k)
	}
	return b.String()
}

// chain is the model's account of the first affected era, for the
// steps on the file whose verdict is wrong.
func (r *Report) chain() block {
	if len(r.Affected) == 0 {
		return block{}
	}
	res := r.Affected[0].Era.Result
	path := ""
	for _, st := range res.Steps {
		if bad(st.Verdict) {
			path = st.Path
			break
		}
	}
	var items []string
	for _, st := range res.Steps {
		if st.Path != path {
			continue
		}
		what := st.Hook
		if st.Hook == "last_writer" {
			what = "last-writer check at the close"
		} else if st.Evaluated {
			what += " evaluated"
		} else {
			what += " skipped"
		}
		if st.Verdict != scenarios.OK {
			what += ", " + strings.ToUpper(st.Verdict)
		}
		items = append(items, fmt.Sprintf("line %d, %s: %s: %s", st.Line, st.Op, what, st.Cause))
	}
	return block{list: items}
}

func (r *Report) versions() []block {
	var bs []block
	var rows [][]string
	for _, e := range r.released() {
		rows = append(rows, []string{e.Profile.Kernels.String(), e.Profile.Name, verdictWord(e.Verdict)})
	}
	if len(rows) > 0 {
		bs = append(bs, block{header: []string{"kernels", "profile", "verdict"}, rows: rows})
	}
	var patches []string
	for _, e := range r.Eras {
		if !e.Profile.Auto {
			patches = append(patches, e.Profile.Name+" "+verdictWord(e.Verdict))
		}
	}
	if len(patches) > 0 {
		bs = append(bs, block{para: "Patched kernels (no release): " + strings.Join(patches, ", ") + "."})
	}
	var items []string
	for _, a := range r.Affected {
		e := a.Era
		var b strings.Builder
		fmt.Fprintf(&b, "%s (%s), %s.", e.Profile.Name, e.Profile.Kernels, verdictWord(e.Verdict))
		if len(a.Introduced) == 0 {
			b.WriteString(" No single switch of the profile explains it.")
		}
		for _, g := range groupCauses(a.Introduced) {
			var needs []string
			for _, c := range g {
				needs = append(needs, fmt.Sprintf("%s = %s (%s, as in %s, gives ok)", c.Key, c.Value, c.Avoid, c.AvoidIn))
			}
			fmt.Fprintf(&b, " It needs %s, since %s; introduced by %s.", strings.Join(needs, " and "), g[0].Since, commitText(g[0].Commit))
		}
		switch {
		case !e.Profile.Auto:
		case a.FixedIn == nil:
			b.WriteString(" Not fixed in any later kernel profile.")
		case len(a.Fixed) == 0:
			fmt.Fprintf(&b, " Ok again in %s (%s), by no single switch.", a.FixedIn.Profile.Name, a.FixedIn.Profile.Kernels)
		default:
			fmt.Fprintf(&b, " Ok again in %s (%s):", a.FixedIn.Profile.Name, a.FixedIn.Profile.Kernels)
			for i, c := range a.Fixed {
				sep := ";"
				if i == len(a.Fixed)-1 {
					sep = "."
				}
				fmt.Fprintf(&b, " %s = %s, fixed by %s%s", c.Key, c.Avoid, commitText(c.Commit), sep)
			}
		}
		items = append(items, b.String())
	}
	if len(items) > 0 {
		bs = append(bs, block{list: items})
	}
	return bs
}

// groupCauses puts causes with the same commit and start together.
func groupCauses(cs []Cause) [][]Cause {
	var out [][]Cause
	idx := map[string]int{}
	for _, c := range cs {
		k := commitText(c.Commit) + "\x00" + c.Since
		if i, ok := idx[k]; ok && c.Commit != nil {
			out[i] = append(out[i], c)
			continue
		}
		idx[k] = len(out)
		out = append(out, []Cause{c})
	}
	return out
}

// commits lists every commit the report names, with where it was read.
func (r *Report) commits() []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range r.Affected {
		for _, c := range append(append([]Cause(nil), a.Introduced...), a.Fixed...) {
			if c.Commit == nil || seen[c.Commit.String()] {
				continue
			}
			seen[c.Commit.String()] = true
			id := c.Commit.String()
			if c.Commit.ID == "" {
				id += " (no id: not verified)"
			}
			out = append(out, id+": "+c.Commit.ReadAt)
		}
	}
	return out
}

func commitText(c *cache.Commit) string {
	if c == nil {
		return "a commit the profile does not name"
	}
	return c.String()
}

func verdictWord(v string) string {
	if v == scenarios.OK || v == "n/a" {
		return v
	}
	return strings.ToUpper(v)
}

// compared are the eras the per-step model table shows: all of up to
// six, else the affected ones with the eras their causes and fixes name.
func (r *Report) compared() []*Era {
	if len(r.Eras) <= 6 {
		return r.Eras
	}
	// The latest affected eras first: they are what a report is about.
	want := map[string]bool{}
	add := func(n string) {
		if len(want) < 6 {
			want[n] = true
		}
	}
	for i := len(r.Affected) - 1; i >= 0; i-- {
		a := r.Affected[i]
		add(a.Era.Profile.Name)
		if a.FixedIn != nil {
			add(a.FixedIn.Profile.Name)
		}
		for _, c := range a.Introduced {
			add(c.AvoidIn)
		}
	}
	var out []*Era
	for _, e := range r.Eras {
		if want[e.Profile.Name] {
			out = append(out, e)
		}
	}
	return out
}

// modelTable: per step, the audit records the model has each era emit,
// with the verdict where it is not ok.
func (r *Report) modelTable() []block {
	eras := r.compared()
	if len(eras) < 2 {
		return nil
	}
	header := []string{"line", "step"}
	for _, e := range eras {
		header = append(header, e.Profile.Name)
	}
	var rows [][]string
	for _, st := range r.Scenario.Steps {
		row := []string{strconv.Itoa(st.Line), st.Text}
		for _, e := range eras {
			cell := "-"
			if e.Verdict != "n/a" {
				n, v := 0, ""
				for _, h := range e.Result.Steps {
					if h.Line != st.Line {
						continue
					}
					for _, a := range e.Result.Audit {
						if a.Step == h.Index {
							n++
						}
					}
					if bad(h.Verdict) {
						v = map[string]string{scenarios.Missed: " MISS", scenarios.Excessive: " EXC"}[h.Verdict]
					}
				}
				cell = strconv.Itoa(n) + v
			}
			row = append(row, cell)
		}
		rows = append(rows, row)
	}
	return []block{{header: header, rows: rows}, {para: "MISS: a change the era does not re-measure; EXC: a re-measurement of unchanged content."}}
}

// results is the per-step table: one column per real kernel, each cell
// model/real audit records.
func (r *Report) results() []block {
	var legend []string
	header := []string{"line", "step"}
	for i, run := range r.Runs {
		col := string(rune('A' + i%26))
		header = append(header, col)
		legend = append(legend, fmt.Sprintf("%s: %s, %s, model profile %s", col, run.Label, run.Release, run.Cmp.Profile))
	}
	var rows [][]string
	for _, st := range r.Scenario.Steps {
		row := []string{strconv.Itoa(st.Line), st.Text}
		for _, run := range r.Runs {
			m, re, any := 0, 0, false
			for _, c := range run.Cmp.Steps {
				if c.Line == st.Line {
					m, re, any = m+c.Model, re+c.Real, true
				}
			}
			cell := "-"
			if any {
				cell = fmt.Sprintf("%d/%d", m, re)
				if m != re {
					cell += "!"
				}
			}
			row = append(row, cell)
		}
		rows = append(rows, row)
	}
	verdicts := []string{"", "real kernel"}
	agreeRow := []string{"", "model agrees"}
	for _, run := range r.Runs {
		verdicts = append(verdicts, verdictWord(realVerdict(run)))
		if agrees(run.Cmp) {
			agreeRow = append(agreeRow, "yes")
		} else {
			agreeRow = append(agreeRow, "NO")
		}
	}
	rows = append(rows, verdicts, agreeRow)
	return []block{{list: legend}, {header: header, rows: rows},
		{para: "Cells are model/real audit records the step produced ('!' where they differ)."}}
}

// WriteText writes the report as plain ASCII mail text, 72 columns.
func (r *Report) WriteText(w io.Writer) error {
	subj, secs := r.doc()
	var b strings.Builder
	b.WriteString("Subject: " + subj + "\n")
	for _, s := range secs {
		b.WriteString("\n" + s.title + "\n" + strings.Repeat("-", min(len(s.title), Width)) + "\n")
		for i, bl := range s.blocks {
			if i > 0 {
				b.WriteString("\n")
			}
			switch {
			case bl.para != "":
				for _, l := range wrap(bl.para, Width) {
					b.WriteString(l + "\n")
				}
			case bl.list != nil:
				for _, it := range bl.list {
					for j, l := range wrap(it, Width-2) {
						if j == 0 {
							b.WriteString("- " + l + "\n")
						} else {
							b.WriteString("  " + l + "\n")
						}
					}
				}
			case bl.code != nil:
				for _, l := range bl.code {
					b.WriteString(l + "\n")
				}
			case bl.header != nil:
				for _, l := range textTable(bl.header, bl.rows) {
					b.WriteString(l + "\n")
				}
			}
		}
	}
	_, err := io.WriteString(w, ascii(b.String()))
	return err
}

// WriteMarkdown writes the same report as markdown.
func (r *Report) WriteMarkdown(w io.Writer) error {
	subj, secs := r.doc()
	var b strings.Builder
	b.WriteString("# " + subj + "\n")
	for _, s := range secs {
		b.WriteString("\n## " + s.title + "\n\n")
		for i, bl := range s.blocks {
			if i > 0 {
				b.WriteString("\n")
			}
			switch {
			case bl.para != "":
				for _, l := range wrap(mdEscape(bl.para), Width) {
					b.WriteString(l + "\n")
				}
			case bl.list != nil:
				for _, it := range bl.list {
					for j, l := range wrap(mdEscape(it), Width-2) {
						if j == 0 {
							b.WriteString("- " + l + "\n")
						} else {
							b.WriteString("  " + l + "\n")
						}
					}
				}
			case bl.code != nil:
				b.WriteString("```" + bl.lang + "\n")
				for _, l := range bl.code {
					b.WriteString(l + "\n")
				}
				b.WriteString("```\n")
			case bl.header != nil:
				b.WriteString("| " + strings.Join(mdCells(bl.header), " | ") + " |\n")
				b.WriteString("|" + strings.Repeat("---|", len(bl.header)) + "\n")
				for _, row := range bl.rows {
					b.WriteString("| " + strings.Join(mdCells(row), " | ") + " |\n")
				}
			}
		}
	}
	_, err := io.WriteString(w, ascii(b.String()))
	return err
}

func mdCells(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = strings.ReplaceAll(mdEscape(c), "|", `\|`)
		if out[i] == "" {
			out[i] = " "
		}
	}
	return out
}

// mdEscape keeps markdown from reading * _ ` < as markup.
func mdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "<", "&lt;").Replace(s)
}

// textTable aligns columns; the widest column (the step) is clipped so
// the table fits Width.
func textTable(header []string, rows [][]string) []string {
	all := append([][]string{header}, rows...)
	ws := make([]int, len(header))
	for _, r := range all {
		for i, c := range r {
			ws[i] = max(ws[i], len(c))
		}
	}
	total := len(ws) - 1
	wide := 0
	for i, w := range ws {
		total += w
		if w > ws[wide] {
			wide = i
		}
	}
	if total > Width {
		ws[wide] = max(4, ws[wide]-(total-Width))
	}
	var out []string
	for _, r := range all {
		var cells []string
		for i, c := range r {
			c = clip(c, ws[i])
			if i == len(r)-1 {
				cells = append(cells, c)
			} else {
				cells = append(cells, c+strings.Repeat(" ", ws[i]-len(c)))
			}
		}
		out = append(out, strings.TrimRight(strings.Join(cells, " "), " "))
	}
	return out
}

// ascii replaces what is not printable ASCII (tabs and newlines stay).
func ascii(s string) string {
	r := strings.NewReplacer("\u2014", "--", "\u2013", "-", "\u2026", "...", "\u00d7", "x", "\u2192", "->", "\u2264", "<=", "\u2265", ">=")
	s = r.Replace(s)
	var b strings.Builder
	for _, c := range s {
		if c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f) {
			b.WriteRune(c)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n < 4 {
		return string([]rune(s)[:n])
	}
	return string([]rune(s)[:n-3]) + "..."
}

// wrap breaks s into lines of at most n runes at spaces; a word longer
// than n stays whole on its own line.
func wrap(s string, n int) []string {
	var out []string
	line := ""
	var words []string
	for _, w := range strings.Fields(s) {
		for utf8.RuneCountInString(w) > n {
			rs := []rune(w)
			words, w = append(words, string(rs[:n])), string(rs[n:])
		}
		words = append(words, w)
	}
	for _, w := range words {
		if line != "" && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(w) > n {
			out = append(out, line)
			line = w
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
