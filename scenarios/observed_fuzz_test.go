package scenarios

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imasim/imasim/measure/audit"
)

// FuzzReadObserved (compare --log): whatever the log, every
// INTEGRITY_RULE record the audit scanner yields is counted once, either
// on a scenario path or as unmapped; per-step counts never exceed the
// totals; a refused log is "not an IMA log" or a read error.
func FuzzReadObserved(f *testing.F) {
	s, err := Load("xfs-write")
	if err != nil {
		f.Fatal(err)
	}
	logs, _ := filepath.Glob("../testdata/vm/*/xfs-write/dmesg.txt")
	for _, l := range logs {
		if b, err := os.ReadFile(l); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("[ 1.0] imasim-step line=10\n[ 1.1] audit: type=1805 audit(1.1:1): file=\"/x/mnt/test_prog\" res=1\n"))
	f.Add([]byte("\x00garbage"))
	f.Add([]byte("[ 1.0] nothing\n"))
	f.Fuzz(func(t *testing.T, log []byte) {
		ob, err := ReadObserved(s, bytes.NewReader(log), nil, "")
		var nl *audit.NotLogError
		if err != nil {
			if !errors.As(err, &nl) && !strings.Contains(err.Error(), "not an IMA log") {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		rules := 0
		sc := audit.NewScannerOptions(bytes.NewReader(log), audit.Options{Marker: StepMarker})
		for sc.Scan() {
			if sc.Record().Type == audit.TypeRule {
				rules++
			}
		}
		got := 0
		for _, n := range ob.Audit {
			got += n
		}
		for _, n := range ob.Unmapped {
			got += n
		}
		if got != rules {
			t.Fatalf("%d INTEGRITY_RULE records, %d counted", rules, got)
		}
		perPath := map[string]int{}
		for _, m := range ob.ByLine {
			for p, n := range m {
				perPath[p] += n
			}
		}
		for p, n := range perPath {
			if n > ob.Audit[p] {
				t.Fatalf("%s: %d per step, %d in total", p, n, ob.Audit[p])
			}
		}
		if ob.Measurements != -1 || ob.Violations < 0 {
			t.Fatalf("measurements %d violations %d without a list", ob.Measurements, ob.Violations)
		}
	})
}
