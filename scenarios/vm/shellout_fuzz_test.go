package vm

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzParseShellOutput (an exported script's output from a guest): each
// check comes from one of the script's own "NAME: PASS|FAIL:" lines, in
// order, its count is a number, and the checks written back as such
// lines parse to the same checks.
func FuzzParseShellOutput(f *testing.F) {
	f.Add("xfs-write: PASS: expect audit /mnt/test_prog 2 (got 2)\nxfs-write: TCONF: no xfs\n")
	f.Add("xfs-write: FAIL: expect measurements 1 (got -1)\nother: PASS: x (got 1)\n")
	f.Add("xfs-write: PASS: (got 99999999999999999999999)\n")
	f.Fuzz(func(t *testing.T, out string) {
		const name = "xfs-write"
		checks, conf := ParseShellOutput(name, out)
		lines := 0
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, name+": PASS: ") || strings.HasPrefix(l, name+": FAIL: ") {
				lines++
			}
		}
		if len(checks) > lines {
			t.Fatalf("%d checks from %d verdict lines", len(checks), lines)
		}
		var b strings.Builder
		for _, c := range checks {
			if c.Status != "PASS" && c.Status != "FAIL" {
				t.Fatalf("status %q", c.Status)
			}
			if strings.Trim(strings.TrimPrefix(c.Real, "-"), "0123456789") != "" || c.Real == "" {
				t.Fatalf("count %q", c.Real)
			}
			fmt.Fprintf(&b, "%s: %s: %s (got %s)\n", name, c.Status, c.Text, c.Real)
		}
		if conf != "" && strings.Contains(conf, "\n") {
			t.Fatalf("TCONF reason %q spans lines", conf)
		}
		again, _ := ParseShellOutput(name, b.String())
		if fmt.Sprint(again) != fmt.Sprint(checks) {
			t.Fatalf("%v -> %q -> %v", checks, b.String(), again)
		}
	})
}
