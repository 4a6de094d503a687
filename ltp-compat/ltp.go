package ltpcompat

import (
	"fmt"
	"io"
	"strings"
)

// ANSI colours LTP puts on result types (LTP: include/tst_ansi_color.h).
const (
	ansiRed     = "\x1b[1;31m"
	ansiGreen   = "\x1b[1;32m"
	ansiYellow  = "\x1b[1;33m"
	ansiBlue    = "\x1b[1;34m"
	ansiMagenta = "\x1b[1;35m"
	ansiReset   = "\x1b[0m"
)

func (s Status) color() string {
	switch s {
	case Pass:
		return ansiGreen
	case Fail, Brok:
		return ansiRed
	case Conf:
		return ansiYellow
	case Warn:
		return ansiMagenta
	case Info:
		return ansiBlue
	}
	return ""
}

// WriteLTP writes r as an LTP test prints its results: one line per result,
//
//	<TST_ID> <N> <TYPE>: <message>
//
// with TST_ID = r.ID() and N the 1-based number of the case, then a blank
// line and the Summary block exactly as LTP's test library ends a test:
//
//	Summary:
//	passed   4
//	failed   0
//	broken   0
//	skipped  1
//	warnings 0
//
// The process should then exit with ExitCode(r). See Case.Results for how
// cases and subtests become result lines.
func WriteLTP(w io.Writer, r Report, o Options) error {
	ew := &errWriter{w: w}
	id := r.ID()
	for i, c := range r.Cases {
		if o.Logs && c.Log != "" {
			ew.write(c.Log)
			if !strings.HasSuffix(c.Log, "\n") {
				ew.write("\n")
			}
		}
		for _, res := range c.Results() {
			writeLTPLine(ew, id, i+1, res, o.Color)
		}
	}
	writeSummary(ew, r.Counts())
	if ew.err != nil {
		return fmt.Errorf("writing LTP report: %w", ew.err)
	}
	return nil
}

func writeLTPLine(ew *errWriter, id string, n int, res Result, color bool) {
	typ := res.Status.String()
	if color {
		typ = res.Status.color() + typ + ansiReset
	}
	ew.printf("%s %d %s: %s\n", id, n, typ, oneLine(res.Message))
}

// writeSummary writes LTP's Summary block, preceded by an empty line
// (LTP: testcases/lib/tst_test.sh:_tst_do_exit).
func writeSummary(ew *errWriter, n Counts) {
	ew.printf("\nSummary:\npassed   %d\nfailed   %d\nbroken   %d\nskipped  %d\nwarnings %d\n",
		n.Passed, n.Failed, n.Broken, n.Skipped, n.Warnings)
}

// caseLTP returns the LTP output of one case run alone as test number n,
// Summary included; kirk's per-test log.
func caseLTP(id string, n int, c Case, withLog bool) string {
	var b strings.Builder
	ew := &errWriter{w: &b}
	if withLog && c.Log != "" {
		ew.write(c.Log)
		if !strings.HasSuffix(c.Log, "\n") {
			ew.write("\n")
		}
	}
	for _, res := range c.Results() {
		writeLTPLine(ew, id, n, res, false)
	}
	writeSummary(ew, c.Counts())
	return b.String()
}
