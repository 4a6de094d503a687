// Package ltpcompat is imasim's bridge to the Linux Test Project (LTP) world:
// a neutral report model that every verb fills, and writers that render it
// the way LTP tests print results (the `<TST_ID> <N> <TYPE>: <msg>` lines and
// the Summary block that kirk parses), as kirk's JSON report, as JUnit XML
// and as KTAP.
//
// The formats are re-implemented from their documentation and observed
// behaviour (LTP's testcases/lib/tst_test.sh, kirk's libkirk/ltp.py and
// libkirk/export.py, the kernel's Documentation/dev-tools/ktap.rst); no LTP
// or kirk code is copied (both are GPL).
//
// The directory also holds LTP shell tests (imasim_*.sh), a small shim of
// LTP's shell library (tst_test.sh) for running them without an LTP
// install, the runtest file runtest/imasim and install.sh.
package ltpcompat

import (
	"encoding"
	"fmt"
	"strings"
	"time"
)

// Status is an LTP result type. The values are LTP's own (TPASS 0, TFAIL 1,
// TBROK 2, TWARN 4, TINFO 16, TCONF 32), so that OR-ing the statuses of the
// reported results gives LTP's exit code, except for TCONF (see
// Counts.ExitCode). The zero value is Pass.
type Status int

// LTP result types (LTP: include/tst_res_flags.h).
const (
	Pass Status = 0  // TPASS: the test did what it should
	Fail Status = 1  // TFAIL: the test found a bug
	Brok Status = 2  // TBROK: the test could not run to the end
	Warn Status = 4  // TWARN: something went wrong besides the test (cleanup)
	Info Status = 16 // TINFO: information only, not counted
	Conf Status = 32 // TCONF: the test cannot run on this system (skipped)
)

var statusNames = []struct {
	s    Status
	ltp  string
	kirk string
}{
	{Pass, "TPASS", "pass"},
	{Fail, "TFAIL", "fail"},
	{Brok, "TBROK", "brok"},
	{Warn, "TWARN", "warn"},
	{Info, "TINFO", "info"},
	{Conf, "TCONF", "conf"},
}

// String returns LTP's name of the status: TPASS, TFAIL, TBROK, TWARN, TINFO
// or TCONF; an unknown value prints as Status(N).
func (s Status) String() string {
	for _, n := range statusNames {
		if n.s == s {
			return n.ltp
		}
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Kirk returns kirk's lower-case name of the status (pass, fail, brok, warn,
// conf; info for TINFO), as used in kirk's JSON report.
func (s Status) Kirk() string {
	for _, n := range statusNames {
		if n.s == s {
			return n.kirk
		}
	}
	return "fail"
}

// Valid reports whether s is one of the six LTP result types.
func (s Status) Valid() bool {
	for _, n := range statusNames {
		if n.s == s {
			return true
		}
	}
	return false
}

// ParseStatus accepts LTP's names (TPASS…) and kirk's (pass…), in any case.
func ParseStatus(name string) (Status, error) {
	for _, n := range statusNames {
		if strings.EqualFold(name, n.ltp) || strings.EqualFold(name, n.kirk) {
			return n.s, nil
		}
	}
	return 0, fmt.Errorf("unknown LTP result type %q", name)
}

// MarshalText encodes the status by its kirk name, so a Report marshals to
// readable JSON.
func (s Status) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("marshalling status: invalid value %d", int(s))
	}
	return []byte(s.Kirk()), nil
}

// UnmarshalText is the inverse of MarshalText; it also accepts LTP names.
func (s *Status) UnmarshalText(b []byte) error {
	v, err := ParseStatus(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

var (
	_ encoding.TextMarshaler   = Status(0)
	_ encoding.TextUnmarshaler = (*Status)(nil)
)

// Report is what one verb run produced: a list of test cases. In imasim a
// test case is one scenario under one profile (or one real kernel), and its
// expectations are the subtests.
type Report struct {
	// Verb names the imasim verb (scenario, matrix, compare, vm, or an LTP
	// shell test's name); the LTP TST_ID is "imasim_" + Verb.
	Verb  string `json:"verb"`
	Cases []Case `json:"cases"`
}

// Case is one test case: an LTP test number, a kirk result, a JUnit
// testcase, a KTAP top-level test.
type Case struct {
	// Name identifies the case, e.g. "xfs-overlay/6.13"; kirk's test_fqn.
	Name string `json:"name"`
	// Status is the case's own outcome. With subtests it is normally their
	// worst status (see Worst); a different non-pass status adds a result.
	Status Status `json:"status"`
	// Message is a one-line reason or summary.
	Message string `json:"message,omitempty"`
	// Log is free text (trace, command output) shown where a format has room
	// for it: kirk's log, JUnit's system-out, KTAP and LTP with Options.Logs.
	Log      string        `json:"log,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
	// Command and Args describe how to re-run the case; kirk's command and
	// arguments. Command defaults to "imasim".
	Command  string    `json:"command,omitempty"`
	Args     []string  `json:"args,omitempty"`
	Subtests []Subtest `json:"subtests,omitempty"`
}

// Subtest is one checked expectation inside a case.
type Subtest struct {
	Name    string `json:"name"`
	Status  Status `json:"status"`
	Message string `json:"message,omitempty"`
}

// ID returns the LTP TST_ID of the report: "imasim_" followed by the verb,
// with characters other than letters, digits and '_' turned into '_'. A verb
// already starting with "imasim_" is kept as it is.
func (r Report) ID() string {
	v := r.Verb
	if v == "" {
		v = "report"
	}
	v = strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
			return c
		}
		return '_'
	}, v)
	if strings.HasPrefix(v, "imasim_") {
		return v
	}
	return "imasim_" + v
}

// Result is one reported LTP result (one tst_res call).
type Result struct {
	Status  Status
	Message string
}

// Results returns the LTP results a case reports, in order:
//   - without subtests, one result with the case's status and message;
//   - with subtests, one result per subtest ("<case>: <subtest>: <msg>"),
//     plus one with the case's own status and message when that status is
//     not Pass and no subtest reported it (so a case broken after its
//     checks still shows as broken), or when no subtest counted (all TINFO).
//
// A case whose only results are TINFO is reported as TBROK "Test didn't
// report any results", as LTP does for such a test function.
func (c Case) Results() []Result {
	var out []Result
	counted := false
	seen := false
	for _, s := range c.Subtests {
		msg := joinNonEmpty(": ", c.Name, s.Name, s.Message)
		out = append(out, Result{s.Status, msg})
		if s.Status != Info {
			counted = true
		}
		if s.Status == c.Status {
			seen = true
		}
	}
	if len(c.Subtests) == 0 || !counted || (c.Status != Pass && !seen) {
		out = append(out, Result{c.Status, joinNonEmpty(": ", c.Name, c.Message)})
		if c.Status != Info {
			counted = true
		}
	}
	if !counted {
		out = append(out, Result{Brok, joinNonEmpty(": ", c.Name, "Test didn't report any results")})
	}
	return out
}

// Counts are LTP's Summary counters.
type Counts struct {
	Passed   int `json:"passed"`
	Failed   int `json:"failed"`
	Broken   int `json:"broken"`
	Skipped  int `json:"skipped"`
	Warnings int `json:"warnings"`
}

// Add counts one result of status s; TINFO is not counted.
func (c *Counts) Add(s Status) {
	switch s {
	case Pass:
		c.Passed++
	case Fail:
		c.Failed++
	case Brok:
		c.Broken++
	case Warn:
		c.Warnings++
	case Conf:
		c.Skipped++
	}
}

// Plus returns the sum of two counters.
func (c Counts) Plus(d Counts) Counts {
	return Counts{c.Passed + d.Passed, c.Failed + d.Failed, c.Broken + d.Broken,
		c.Skipped + d.Skipped, c.Warnings + d.Warnings}
}

// ExitCode returns the exit code an LTP test with these counters ends with:
// TFAIL sets bit 1, TBROK 2, TWARN 4, and TCONF 32 only when nothing passed
// (LTP: testcases/lib/tst_test.sh:_tst_do_exit, lib/tst_test.c:do_exit).
func (c Counts) ExitCode() int {
	code := 0
	if c.Failed > 0 {
		code |= int(Fail)
	}
	if c.Broken > 0 {
		code |= int(Brok)
	}
	if c.Warnings > 0 {
		code |= int(Warn)
	}
	if c.Skipped > 0 && c.Passed == 0 {
		code |= int(Conf)
	}
	return code
}

// Counts returns the counters of the case's results.
func (c Case) Counts() Counts {
	var n Counts
	for _, r := range c.Results() {
		n.Add(r.Status)
	}
	return n
}

// Outcome is the case's overall status, the way kirk judges a test from its
// exit code: 0 pass, 2 brok, 4 warn, 32 conf, anything else fail.
func (c Case) Outcome() Status {
	return StatusOfExit(c.Counts().ExitCode())
}

// Counts returns the Summary counters of the whole report.
func (r Report) Counts() Counts {
	var n Counts
	for _, c := range r.Cases {
		n = n.Plus(c.Counts())
	}
	return n
}

// ExitCode returns LTP's exit code for the report (see Counts.ExitCode).
func ExitCode(r Report) int { return r.Counts().ExitCode() }

// StatusOfExit maps an LTP test's exit code to its overall status as kirk
// does: 0 pass, 2 brok, 4 warn, 32 conf, anything else fail.
func StatusOfExit(code int) Status {
	switch code {
	case 0:
		return Pass
	case 2:
		return Brok
	case 4:
		return Warn
	case 32:
		return Conf
	}
	return Fail
}

// Worst returns the most severe of the given statuses, in the order
// Brok > Fail > Warn > Conf > Pass > Info; it is Pass for none. Callers use
// it to set a case's Status from its subtests.
func Worst(ss ...Status) Status {
	rank := func(s Status) int {
		switch s {
		case Brok:
			return 5
		case Fail:
			return 4
		case Warn:
			return 3
		case Conf:
			return 2
		case Pass:
			return 1
		}
		return 0
	}
	w := Pass
	for i, s := range ss {
		if i == 0 || rank(s) > rank(w) {
			w = s
		}
	}
	return w
}

// joinNonEmpty joins the non-empty parts with sep.
func joinNonEmpty(sep string, parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, sep)
}

// oneLine turns line breaks into spaces so a message stays on one line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), " ")
}
