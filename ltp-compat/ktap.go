package ltpcompat

import (
	"fmt"
	"io"
	"strings"
)

// WriteKTAP writes r as KTAP version 1 (Linux: Documentation/dev-tools/
// ktap.rst), the format of kselftest and KUnit:
//
//	KTAP version 1
//	1..2
//	  KTAP version 1
//	  1..1
//	  ok 1 expect audit /ovl/test_prog 1
//	ok 1 xfs-overlay/6.12
//	# 3 audit records, want 1
//	not ok 2 xfs-overlay/6.13
//
// Each case is a top-level test; its subtests (TINFO ones excepted, which
// become diagnostics; plus an "overall" one when the case fails beyond its
// subtests, see ktapSubtests) are a nested KTAP document indented two spaces before
// the case's result line. TPASS is "ok", TFAIL and TWARN "not ok", TBROK
// "not ok … # ERROR", TCONF "ok … # SKIP". Messages are "# " diagnostic
// lines before the result they explain (after "# SKIP"/"# ERROR" on the same
// line). '#' in names becomes '_' since it would start a directive.
func WriteKTAP(w io.Writer, r Report, o Options) error {
	ew := &errWriter{w: w}
	ew.write("KTAP version 1\n")
	ew.printf("1..%d\n", len(r.Cases))
	for i, c := range r.Cases {
		if o.Logs && c.Log != "" {
			ktapDiag(ew, "", c.Log)
		}
		subs := ktapSubtests(c)
		counted := 0
		for _, s := range subs {
			if s.Status != Info {
				counted++
			}
		}
		if counted > 0 {
			ew.write("  KTAP version 1\n")
			ew.printf("  1..%d\n", counted)
		}
		j := 0
		for _, s := range subs {
			if s.Status == Info {
				ktapDiag(ew, "  ", joinNonEmpty(": ", s.Name, s.Message))
				continue
			}
			j++
			ktapLine(ew, "  ", j, s.Name, s.Status, s.Message)
		}
		// The case line carries the overall outcome; its message explains it.
		msg := c.Message
		out := c.Outcome()
		if msg == "" && out != Pass {
			for _, res := range c.Results() {
				if res.Status == out {
					msg = res.Message
					break
				}
			}
		}
		ktapLine(ew, "", i+1, c.Name, out, msg)
	}
	if ew.err != nil {
		return fmt.Errorf("writing KTAP report: %w", ew.err)
	}
	return nil
}

// ktapSubtests returns the case's subtests plus, when it has any, a last
// one for each result the case adds beyond them (Case.Results: a failure
// or breakage that no subtest reported). Readers such as the kernel's
// kunit.py count only the leaves, so a failing case must have a failing
// leaf.
func ktapSubtests(c Case) []Subtest {
	if len(c.Subtests) == 0 {
		return nil
	}
	subs := c.Subtests
	for _, res := range c.Results()[len(c.Subtests):] {
		subs = append(subs[:len(subs):len(subs)], Subtest{Name: "overall", Status: res.Status,
			Message: strings.TrimPrefix(res.Message, c.Name+": ")})
	}
	return subs
}

// ktapLine writes one test result line, with its message as a diagnostic
// before it or as the directive's reason.
func ktapLine(ew *errWriter, indent string, n int, name string, s Status, msg string) {
	desc := ktapDesc(name)
	switch s {
	case Pass:
		ktapDiag(ew, indent, msg)
		ew.printf("%sok %d %s\n", indent, n, desc)
	case Conf:
		ew.printf("%sok %d %s # SKIP%s\n", indent, n, desc, prefixSpace(oneLine(msg)))
	case Brok:
		ew.printf("%snot ok %d %s # ERROR%s\n", indent, n, desc, prefixSpace(oneLine(msg)))
	case Warn:
		ktapDiag(ew, indent, joinNonEmpty(": ", "TWARN", msg))
		ew.printf("%snot ok %d %s\n", indent, n, desc)
	default:
		ktapDiag(ew, indent, msg)
		ew.printf("%snot ok %d %s\n", indent, n, desc)
	}
}

// ktapDiag writes text as "# " diagnostic lines, one per line of text.
func ktapDiag(ew *errWriter, indent, text string) {
	if text == "" {
		return
	}
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		ew.printf("%s# %s\n", indent, strings.TrimRight(l, "\r"))
	}
}

func ktapDesc(name string) string {
	d := strings.ReplaceAll(oneLine(name), "#", "_")
	if d == "" {
		return "unnamed"
	}
	return d
}

func prefixSpace(s string) string {
	if s == "" {
		return ""
	}
	return " " + s
}
