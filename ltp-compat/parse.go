package ltpcompat

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

var (
	// ansiRE matches the colour escapes kirk strips before parsing.
	ansiRE = regexp.MustCompile(`\x1b\[[0-9;]+[a-zA-Z]`)
	// resultRE matches one LTP result line.
	resultRE = regexp.MustCompile(`^(\S+) (\d+) (TPASS|TFAIL|TBROK|TWARN|TINFO|TCONF): ?(.*)$`)
	// summaryRE matches LTP's Summary block (the same pattern kirk uses).
	summaryRE = regexp.MustCompile(`Summary:\npassed\s*(\d+)\nfailed\s*(\d+)\nbroken\s*(\d+)\nskipped\s*(\d+)\nwarnings\s*(\d+)\n`)
)

// ParseSummary finds LTP's Summary block in output, after removing colour
// escapes, the way kirk does; ok is false when there is none.
func ParseSummary(output string) (c Counts, ok bool) {
	m := summaryRE.FindStringSubmatch(ansiRE.ReplaceAllString(output, ""))
	if m == nil {
		return Counts{}, false
	}
	n := make([]int, 5)
	for i := range n {
		v, err := strconv.Atoi(m[i+1])
		if err != nil { // digits too long for int
			return Counts{}, false
		}
		n[i] = v
	}
	return Counts{Passed: n[0], Failed: n[1], Broken: n[2], Skipped: n[3], Warnings: n[4]}, true
}

// ParseLTP reads the output of an LTP test (or of WriteLTP) back into a
// Report: Verb is the TST_ID of the first result line, each test number N
// becomes a case named "<TST_ID>:<N>" whose subtests are its results (with
// empty names) and whose Status is their Worst (TINFO only: Info); lines
// that are no result and not part of the Summary go to the Log of the case
// they follow (or the first case). Colour escapes are removed. The
// Summary's counters are returned too, nil when there is none.
//
// It fails only when reading fails or a test number does not fit an int.
func ParseLTP(r io.Reader) (Report, *Counts, error) {
	var (
		rep     Report
		all     strings.Builder
		pre     strings.Builder
		byNum   = map[int]int{} // test number → index in rep.Cases
		current = -1
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := ansiRE.ReplaceAllString(sc.Text(), "")
		all.WriteString(line)
		all.WriteByte('\n')
		m := resultRE.FindStringSubmatch(line)
		if m == nil {
			if current >= 0 {
				rep.Cases[current].Log += line + "\n"
			} else {
				pre.WriteString(line + "\n")
			}
			continue
		}
		n, err := strconv.Atoi(m[2])
		if err != nil {
			return Report{}, nil, fmt.Errorf("parsing LTP output: test number %q: %w", m[2], err)
		}
		st, _ := ParseStatus(m[3])
		if rep.Verb == "" {
			rep.Verb = m[1]
		}
		i, ok := byNum[n]
		if !ok {
			i = len(rep.Cases)
			byNum[n] = i
			rep.Cases = append(rep.Cases, Case{Name: m[1] + ":" + m[2], Status: Info})
		}
		current = i
		c := &rep.Cases[i]
		c.Subtests = append(c.Subtests, Subtest{Status: st, Message: m[4]})
		var ss []Status
		for _, s := range c.Subtests {
			if s.Status != Info {
				ss = append(ss, s.Status)
			}
		}
		if len(ss) > 0 {
			c.Status = Worst(ss...)
		}
	}
	if err := sc.Err(); err != nil {
		return Report{}, nil, fmt.Errorf("reading LTP output: %w", err)
	}
	if len(rep.Cases) > 0 {
		rep.Cases[0].Log = pre.String() + rep.Cases[0].Log
	}
	for i := range rep.Cases {
		rep.Cases[i].Log = trimSummary(rep.Cases[i].Log)
	}
	var sum *Counts
	if c, ok := ParseSummary(all.String()); ok {
		sum = &c
	}
	return rep, sum, nil
}

// trimSummary drops a Summary block (and the empty line before it) from a
// case log.
func trimSummary(log string) string {
	loc := summaryRE.FindStringIndex(log)
	if loc == nil {
		return log
	}
	head := strings.TrimRight(log[:loc[0]], "\n")
	if head != "" {
		head += "\n"
	}
	return head + log[loc[1]:]
}
