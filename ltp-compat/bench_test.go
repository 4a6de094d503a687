package ltpcompat

import (
	"fmt"
	"io"
	"testing"
)

// bigReport is a matrix-sized report: 200 scenarios x 5 profiles.
func bigReport() Report {
	r := Report{Verb: "matrix"}
	for i := 0; i < 1000; i++ {
		st := []Status{Pass, Pass, Fail, Conf, Pass}[i%5]
		r.Cases = append(r.Cases, Case{
			Name: fmt.Sprintf("scenario-%d/profile-%d", i/5, i%5), Status: st,
			Message: "3 audit records, want 1",
			Subtests: []Subtest{
				{Name: "expect audit /ovl/test_prog 1", Status: st},
				{Name: "expect verdict ok", Status: Pass},
			},
		})
	}
	return r
}

func BenchmarkWrite(b *testing.B) {
	r := bigReport()
	env := Environment{Kernel: "Linux 7.1.0"}
	for _, f := range Formats {
		b.Run(f, func(b *testing.B) {
			for b.Loop() {
				if err := Write(io.Discard, f, r, Options{Env: &env}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
