package main

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/imasim/imasim/measure/audit"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/explore"
)

// FuzzParseTypes (audit --types): only integrity types (1800-1899) come
// out, one per list item at most, and the map's numbers written back as
// a list parse to the same map.
func FuzzParseTypes(f *testing.F) {
	for _, s := range []string{"1805,INTEGRITY_PCR", "integrity_rule", "1700", ",,1805,", "INTEGRITY_RULE,1805", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseTypes(s)
		if err != nil || m == nil {
			if err == nil && len(splitList(s)) != 0 {
				t.Fatalf("%q: nil map without error", s)
			}
			return
		}
		if len(m) > len(splitList(s)) {
			t.Fatalf("%q: %d types from %d items", s, len(m), len(splitList(s)))
		}
		var nums []string
		for ty := range m {
			if !ty.Integrity() {
				t.Fatalf("%q: type %d is not an integrity type", s, ty)
			}
			nums = append(nums, strconv.Itoa(int(ty)))
		}
		back, err := parseTypes(strings.Join(nums, ","))
		if err != nil || len(back) != len(m) {
			t.Fatalf("%q -> %v -> %v, %v", s, m, back, err)
		}
		for ty := range m {
			if !back[ty] || !back[audit.Type(int(ty))] {
				t.Fatalf("%q: %d lost", s, ty)
			}
		}
	})
}

// FuzzParseFailOn (scenario/matrix and explore --fail-on): only known
// verdicts, and the set written back parses to itself.
func FuzzParseFailOn(f *testing.F) {
	for _, s := range []string{"missed,excessive", "indeterminate", "differs", " missed , ", "MISSED", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range []struct {
			parse func(string) (map[string]bool, error)
			known []string
		}{
			{parseFailOn, []string{scenarios.Missed, scenarios.Excessive, scenarios.Indeterminate}},
			{parseFailOnExplore, []string{"missed", "excessive", "differs"}},
		} {
			m, err := c.parse(s)
			if err != nil {
				continue
			}
			var keys []string
			for k := range m {
				if !slices.Contains(c.known, k) {
					t.Fatalf("%q: unknown verdict %q accepted", s, k)
				}
				keys = append(keys, k)
			}
			back, err := c.parse(strings.Join(keys, ","))
			if err != nil || len(back) != len(m) {
				t.Fatalf("%q -> %v -> %v, %v", s, m, back, err)
			}
		}
	})
}

// FuzzSelectOps (explore --ops): the selection holds exactly the named
// operations, in the order given.
func FuzzSelectOps(f *testing.F) {
	w := explore.DefaultWorld("xfs")
	f.Add(strings.Join(w.OpNames(), ","))
	f.Add(w.OpNames()[0] + ",nope")
	f.Add(",,")
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := w.Select(splitList(s))
		if err != nil {
			return
		}
		names := splitList(s)
		if len(names) == 0 {
			if len(sel.Ops) != len(w.Ops) {
				t.Fatalf("empty --ops kept %d of %d operations", len(sel.Ops), len(w.Ops))
			}
			return
		}
		if len(sel.Ops) != len(names) {
			t.Fatalf("%q: %d operations for %d names", s, len(sel.Ops), len(names))
		}
		for i, o := range sel.Ops {
			if o.Name != names[i] || !slices.Contains(w.OpNames(), o.Name) {
				t.Fatalf("%q: operation %d is %q", s, i, o.Name)
			}
		}
	})
}
