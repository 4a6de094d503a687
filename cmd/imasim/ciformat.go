package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	ltpcompat "github.com/imasim/imasim/ltp-compat"
	"github.com/imasim/imasim/scenarios"
)

// ciFormats are the --format values written through package ltpcompat.
var ciFormats = ltpcompat.Formats

func isCIFormat(f string) bool {
	for _, c := range ciFormats {
		if c == f {
			return true
		}
	}
	return false
}

// scenarioCases turns simulated results into CI test cases: one case per
// scenario x profile, one subtest per IMA hook call and per expect line.
// A simulated verdict fails only when --fail-on names it; expect lines
// state correct kernel behaviour and are informational here. took[i] is
// how long profile i took.
func scenarioCases(rep *scenarios.Report, fail map[string]bool, args []string, took []time.Duration) []ltpcompat.Case {
	var cases []ltpcompat.Case
	for i, res := range rep.Results {
		c := ltpcompat.Case{Name: rep.Scenario.Name + "/" + rep.Profiles[i].Name,
			Args: append([]string{"scenario", rep.Scenario.Name, "--profile", rep.Profiles[i].Name}, args...)}
		if i < len(took) {
			c.Duration = took[i]
		}
		if res.NA != "" {
			c.Status, c.Message = ltpcompat.Conf, res.NA
			cases = append(cases, c)
			continue
		}
		var log strings.Builder
		for _, st := range res.Steps {
			s := ltpcompat.Subtest{Name: fmt.Sprintf("step %d %s %s", st.Index, st.Hook, st.Op), Message: st.Verdict + ": " + st.Cause}
			if fail[st.Verdict] {
				s.Status = ltpcompat.Fail
			}
			c.Subtests = append(c.Subtests, s)
			fmt.Fprintf(&log, "#%d line %d %s [%s] %s: %s\n", st.Index, st.Line, st.Op, st.Hook, st.Verdict, st.Cause)
		}
		for _, x := range res.Expects {
			msg := "holds in the model (got " + x.Got + ")"
			sub := ltpcompat.Subtest{Name: x.Text}
			if !x.OK {
				msg = "model predicts a kernel of this era breaks it (got " + x.Got + ")"
				// "expect no missed" fails with --fail-on missed, like its steps.
				if (x.Text == "expect no missed" && fail[scenarios.Missed]) || (x.Text == "expect no excessive" && fail[scenarios.Excessive]) {
					sub.Status = ltpcompat.Fail
				}
			}
			sub.Message = msg
			c.Subtests = append(c.Subtests, sub)
		}
		var ss []ltpcompat.Status
		for _, s := range c.Subtests {
			ss = append(ss, s.Status)
		}
		c.Status = ltpcompat.Worst(ss...)
		c.Message = fmt.Sprintf("%d missed, %d excessive, %d audit records", res.Count(scenarios.Missed), res.Count(scenarios.Excessive), sumCounts(res.AuditRecords))
		c.Log = log.String()
		cases = append(cases, c)
	}
	return cases
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// writeCI writes a report in a CI format and returns the exit code the
// format implies (LTP's bits for ltp; ours otherwise).
func writeCI(w io.Writer, format, verb string, cases []ltpcompat.Case, ours int) (int, error) {
	r := ltpcompat.Report{Verb: verb, Cases: cases}
	o := ltpcompat.OptionsFromEnv(os.Getenv)
	if err := ltpcompat.Write(w, format, r, o); err != nil {
		return exitUsage, err
	}
	if format == "ltp" {
		return ltpcompat.ExitCode(r), nil
	}
	return ours, nil
}
