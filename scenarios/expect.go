package scenarios

import (
	"fmt"
	"strconv"
)

func (e *engine) checkExpects() {
	for _, x := range e.s.Expects {
		r := ExpectResult{Line: x.Line, Text: x.Text}
		switch x.Kind {
		case "audit":
			n := e.res.AuditRecords[x.Path]
			r.OK, r.Got = n == x.N, strconv.Itoa(n)
		case "measurements":
			r.OK, r.Got = e.res.Measurements == x.N, strconv.Itoa(e.res.Measurements)
		case "measure":
			n := 0
			for _, m := range e.res.List {
				if m.Path == x.Path && !m.Violation {
					n++
				}
			}
			r.OK, r.Got = n == x.N, strconv.Itoa(n)
		case "violations":
			r.OK, r.Got = e.res.Violations == x.N, strconv.Itoa(e.res.Violations)
		case "no-missed":
			n := e.res.Count(Missed)
			r.OK, r.Got = n == 0, fmt.Sprintf("%d missed", n)
		case "no-excessive":
			n := e.res.Count(Excessive)
			r.OK, r.Got = n == 0, fmt.Sprintf("%d excessive", n)
		}
		e.res.Expects = append(e.res.Expects, r)
	}
}
