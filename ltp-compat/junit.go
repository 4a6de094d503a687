package ltpcompat

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// JUnit XML in the shape CI systems (Jenkins, GitLab, GitHub test reporters)
// read: testsuites > testsuite > testcase with failure, error or skipped,
// valid against Jenkins xunit's junit-10.xsd (which allows a skipped count
// on <testsuite> only).
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string    `xml:"name,attr"`
	Classname string    `xml:"classname,attr"`
	Time      string    `xml:"time,attr"`
	Failure   *junitMsg `xml:"failure,omitempty"`
	Error     *junitMsg `xml:"error,omitempty"`
	Skipped   *junitMsg `xml:"skipped,omitempty"`
	SystemOut string    `xml:"system-out,omitempty"`
}

type junitMsg struct {
	Message string `xml:"message,attr,omitempty"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

func junitTime(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes r as JUnit XML: one testsuite named r.ID(), one
// testcase per case (classname r.ID()). A case whose Outcome is TFAIL or
// TWARN gets a <failure>, TBROK an <error>, TCONF <skipped>; the element's
// message is the first such result and its text lists every result line of
// the case ("TFAIL: …"), subtests included. The case's Log goes to
// <system-out>. Output is deterministic: no timestamps or host names.
func WriteJUnit(w io.Writer, r Report, o Options) error {
	id := r.ID()
	s := junitSuite{Name: id}
	var total time.Duration
	for _, c := range r.Cases {
		d := o.duration(c.Duration)
		total += d
		jc := junitCase{Name: c.Name, Classname: id, Time: junitTime(d), SystemOut: c.Log}
		results := c.Results()
		var lines []string
		for _, res := range results {
			lines = append(lines, res.Status.String()+": "+oneLine(res.Message))
		}
		out := c.Outcome()
		msg := func() *junitMsg {
			m := &junitMsg{Type: out.String(), Text: strings.Join(lines, "\n")}
			for _, res := range results {
				if res.Status == out || (out == Fail && res.Status != Pass && res.Status != Info) {
					m.Message = oneLine(res.Message)
					break
				}
			}
			return m
		}
		switch out {
		case Fail, Warn:
			jc.Failure = msg()
			s.Failures++
		case Brok:
			jc.Error = msg()
			s.Errors++
		case Conf:
			jc.Skipped = msg()
			s.Skipped++
		}
		s.Tests++
		s.Cases = append(s.Cases, jc)
	}
	s.Time = junitTime(total)
	doc := junitSuites{Name: id, Tests: s.Tests, Failures: s.Failures, Errors: s.Errors,
		Time: s.Time, Suites: []junitSuite{s}}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding JUnit report: %w", err)
	}
	ew := &errWriter{w: w}
	ew.write(xml.Header)
	ew.write(string(b))
	ew.write("\n")
	if ew.err != nil {
		return fmt.Errorf("writing JUnit report: %w", ew.err)
	}
	return nil
}
