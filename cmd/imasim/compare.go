package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/internal/input"
	ltpcompat "github.com/imasim/imasim/ltp-compat"
	"github.com/imasim/imasim/scenarios"
)

var compareFormats = append([]string{"text", "json"}, ciFormats...)

func cmdCompare(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	t0 := time.Now()
	fs := newFlags("compare", "compare SCENARIO --log FILE [--list binary_runtime_measurements] [--profile P|auto] [--root PREFIX] [--format text|json|ltp|kirk-json|junit|ktap]", stderr)
	logf := fs.String("log", "", "audit log: dmesg/kmsg text, audit.log (raw or ausearch -i), journalctl -o json; - for stdin")
	listf := fs.String("list", "", "binary measurement list captured with the log (optional)")
	prof := fs.String("profile", "auto", "profile the log is judged against: a name, a path, or auto (kernel version from the log)")
	kver := fs.String("kernel-version", "", "kernel release or upstream version for --profile auto when the log carries none")
	root := fs.String("root", "", "prefix the real run put before the scenario's paths (default: match by path suffix)")
	force := fs.Bool("force", false, "give a count-based verdict even when the log shows evidence of lost records")
	format := addFormat(fs, compareFormats...)
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || *logf == "" {
		fs.Usage()
		return exitUsage
	}
	ff, err := format.get(compareFormats...)
	if err != nil {
		fmt.Fprintln(stderr, "imasim compare:", err)
		return exitUsage
	}
	s, err := scenarios.LoadContext(ctx, pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "imasim compare:", err)
		return exitUsage
	}
	log, err := input.Open(ctx, *logf)
	if err != nil {
		fmt.Fprintln(stderr, "imasim compare:", err)
		return exitUsage
	}
	defer log.Close()
	var list io.Reader
	if *listf != "" {
		f, err := input.Open(ctx, *listf)
		if err != nil {
			fmt.Fprintln(stderr, "imasim compare:", err)
			return exitUsage
		}
		defer f.Close()
		list = f
	}
	ob, err := scenarios.ReadObserved(s, log, list, *root)
	if err != nil {
		where := *logf
		var le *scenarios.ListError
		if errors.As(err, &le) {
			where = *listf
		}
		fmt.Fprintf(stderr, "imasim compare: %s: %v\n", where, err)
		return exitUsage
	}
	// The profile to judge against.
	var judge *cache.Profile
	why, noJudge := "", "the log names no kernel; give --profile or --kernel-version"
	if *prof == "auto" {
		v, from := ob.Kernel, "from the log"
		if v == "" {
			v, from = *kver, "(--kernel-version)"
		}
		if v != "" {
			var reason string
			if judge, reason, err = cache.Resolve("auto", v, ""); err == nil {
				why = "kernel " + v + " " + from + ": " + reason
			} else {
				noJudge = fmt.Sprintf("kernel %s %s: %v", v, from, err)
			}
		}
	} else if judge, err = cache.LoadProfileContext(ctx, *prof); err != nil {
		fmt.Fprintln(stderr, "imasim compare:", err)
		return exitUsage
	} else {
		why = "--profile " + *prof
	}
	// Every built-in's prediction, to name the ones the log is consistent with.
	var consistent []string
	var cmps []scenarios.Comparison
	var judged *scenarios.Comparison
	var judgedRes *scenarios.Result
	profiles := cache.Builtins()
	if judge != nil && !isBuiltin(judge.Name) {
		profiles = append(profiles, judge)
	}
	for _, p := range profiles {
		if ctx.Err() != nil {
			return exitInconcl
		}
		res, err := scenarios.Run(s, p)
		if err != nil {
			fmt.Fprintf(stderr, "imasim compare: profile %s: %v\n", p.Name, err)
			return exitUsage
		}
		if res.NA != "" {
			continue
		}
		c := scenarios.Compare(res, ob)
		cmps = append(cmps, c)
		if c.Agree {
			consistent = append(consistent, p.Name)
		}
		if judge != nil && p.Name == judge.Name {
			judged, judgedRes = &cmps[len(cmps)-1], res
		}
	}
	lossy := ob.Loss.Lossy() && !*force
	code = exitOK
	verdict := ""
	// The scenario's expect lines state correct IMA behaviour: a real
	// kernel that breaks one fails, whatever the model predicted.
	broken := brokenExpects(s, ob)
	expects := "the log satisfies the scenario's expect lines"
	if len(broken) > 0 {
		expects = "the kernel breaks the scenario's expect lines: " + strings.Join(broken, "; ")
	}
	switch {
	case lossy:
		code, verdict = exitInconcl, "inconclusive: the log shows evidence of lost audit records; counts may be short (use a log from auditd or printk_ratelimit=0, or --force)"
	case judged != nil && judged.Agree:
		verdict = fmt.Sprintf("the log agrees with the model of %s (%s); %s", judge.Name, why, expects)
		if len(broken) > 0 {
			code = exitFail
		}
	case judged != nil:
		code, verdict = exitFail, fmt.Sprintf("the log DISAGREES with the model of %s (%s): a model defect, or a kernel unlike its profile; %s", judge.Name, why, expects)
	default:
		verdict = "no profile to judge by (" + noJudge + "); " + expects
		if len(broken) > 0 {
			code = exitFail
		}
	}
	switch {
	case ff == "json":
		doc := map[string]any{"schema": 1, "scenario": s.Name, "observed": ob, "consistent_with": consistent, "verdict": verdict, "exit": code}
		if judged != nil {
			doc["profile"] = judge.Name
			doc["comparison"] = judged
		}
		if c := printJSON(stdout, stderr, doc); c != exitOK {
			return c
		}
	case isCIFormat(ff):
		c := ltpcompat.Case{Name: s.Name + "/" + *logf, Message: verdict, Duration: time.Since(t0)}
		switch code {
		case exitFail:
			c.Status = ltpcompat.Fail
		case exitInconcl:
			c.Status = ltpcompat.Conf
		}
		// A lossy log decides nothing: its checks are skipped (TCONF), so
		// no format counts them as passed.
		if judged != nil {
			for _, p := range judged.Paths {
				st := ltpcompat.Pass
				switch {
				case lossy:
					st = ltpcompat.Conf
				case p.Model != p.Observed:
					st = ltpcompat.Fail
				}
				c.Subtests = append(c.Subtests, ltpcompat.Subtest{Name: "model audit " + p.Path, Status: st, Message: notJudged(lossy) + fmt.Sprintf("model %d, observed %d", p.Model, p.Observed)})
			}
		}
		// The expect lines are subtests too, so a kernel that breaks one
		// fails a subtest and not only the case (kunit.py counts subtests).
		for _, x := range ob.Judge(s.Expects) {
			st := ltpcompat.Pass
			switch {
			case lossy:
				st = ltpcompat.Conf
			case !x.OK:
				st = ltpcompat.Fail
			}
			c.Subtests = append(c.Subtests, ltpcompat.Subtest{Name: x.Text, Status: st, Message: notJudged(lossy) + "observed " + x.Got})
		}
		var err error
		if code, err = writeCI(stdout, ff, "compare", []ltpcompat.Case{c}, code); err != nil {
			fmt.Fprintln(stderr, "imasim compare:", err)
			return exitUsage
		}
	default:
		writeCompareText(safeWriter{stdout}, s, ob, judge, judged, judgedRes, consistent, verdict)
	}
	return code
}

// notJudged prefixes the message of a check a lossy log cannot decide.
func notJudged(lossy bool) string {
	if lossy {
		return "not judged, the log lost audit records: "
	}
	return ""
}

func isBuiltin(name string) bool {
	for _, n := range cache.BuiltinNames() {
		if n == name {
			return true
		}
	}
	return false
}

// brokenExpects lists the expect lines the observation breaks.
func brokenExpects(s *scenarios.Scenario, ob *scenarios.Observation) []string {
	var out []string
	for _, x := range ob.Judge(s.Expects) {
		if !x.OK {
			out = append(out, fmt.Sprintf("%s (observed %s)", x.Text, x.Got))
		}
	}
	return out
}

func writeCompareText(w io.Writer, s *scenarios.Scenario, ob *scenarios.Observation, judge *cache.Profile, c *scenarios.Comparison, res *scenarios.Result, consistent []string, verdict string) {
	kern := ob.Kernel
	if kern == "" {
		kern = "not named in the log"
	}
	fmt.Fprintf(w, "compare %s with a %s log (kernel: %s)\n", s.Name, ob.Form, kern)
	if judge != nil {
		fmt.Fprintf(w, "model profile: %s (%s)\n", judge.Name, judge.About)
	}
	fmt.Fprintf(w, "\n%-40s %7s %9s\n", "INTEGRITY_RULE records", "model", "observed")
	if c != nil {
		for _, p := range c.Paths {
			mark := ""
			if p.Model != p.Observed {
				mark = "  <- differs"
			}
			fmt.Fprintf(w, "%-40s %7d %9d%s\n", p.Path, p.Model, p.Observed, mark)
		}
		if ob.Measurements >= 0 {
			fmt.Fprintf(w, "%-40s %7d %9d\n", "measurement entries (no boot_aggregate)", c.Measurements[0], c.Measurements[1])
		}
		fmt.Fprintf(w, "%-40s %7d %9d\n", "violations", c.Violations[0], c.Violations[1])
		fmt.Fprintln(w, "\nper step:")
		for _, st := range c.Steps {
			m := "cached"
			if st.Model {
				m = "audit"
			}
			o := "?"
			if st.Observed >= 0 {
				o = fmt.Sprint(st.Observed)
			}
			fmt.Fprintf(w, "  #%-2d line %-3d %-34s %-11s model: %-6s (%s)  observed: %s\n", st.Index, st.Line, clipLine(st.Op, 34), st.Hook, m, st.Verdict, o)
		}
		if !ob.Markers {
			fmt.Fprintln(w, "  (the log has no imasim-step markers: records are compared per file, not per step)")
		}
	} else {
		var ps []string
		for p, n := range ob.Audit {
			if n > 0 {
				ps = append(ps, p)
			}
		}
		sort.Strings(ps)
		for _, p := range ps {
			fmt.Fprintf(w, "%-40s %7s %9d\n", p, "-", ob.Audit[p])
		}
	}
	_ = res
	if ob.Loss.Lossy() {
		fmt.Fprintln(w, "\nevidence of lost records:")
		for _, e := range ob.Loss.Evidence {
			fmt.Fprintf(w, "  line %d: %s\n", e.Line, e.String())
		}
	}
	if len(consistent) == 1 {
		fmt.Fprintf(w, "\nthe log behaves like %s\n", consistent[0])
	} else if len(consistent) > 1 {
		fmt.Fprintf(w, "\nthe log is consistent with each of: %s\n", strings.Join(consistent, ", "))
	} else {
		fmt.Fprintln(w, "\nthe log is consistent with no built-in profile")
	}
	fmt.Fprintln(w, "verdict:", verdict)
}
