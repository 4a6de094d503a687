package cache

import (
	"strings"
	"testing"
)

// FuzzParseKernelVersion: a parsed version has no negative part, prints
// as something that parses back to it, and its range form round-trips.
func FuzzParseKernelVersion(f *testing.F) {
	for _, s := range []string{"6.12", "6.1.176", "6.12.57+deb13-cloud-amd64", "7.2-rc1", "6.", ".6.1", "99999999999999999999.1", " 6.1 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseKernelVersion(s)
		if err != nil {
			return
		}
		if v.Major < 0 || v.Minor < 0 || v.Patch < 0 {
			t.Fatalf("%q: negative part in %+v", s, v)
		}
		w, err := ParseKernelVersion(v.String())
		if err != nil || w != v {
			t.Fatalf("%q -> %v -> %v, %v", s, v, w, err)
		}
		if !strings.Contains(s, v.String()[:strings.IndexByte(v.String(), '.')]) {
			t.Fatalf("%q: major %d not in the input", s, v.Major)
		}
		r, err := ParseRange(v.String() + " ..")
		if err != nil || !r.Contains(v) {
			t.Fatalf("range %q: %v %v", v.String()+" ..", r, err)
		}
	})
}

