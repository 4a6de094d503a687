package audit

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzParseRelease (kernel versions from banners and DAEMON_START): parts
// are non-negative, Extra is the input's tail, and the numbers print
// back as the input's head when it has no leading zeros.
func FuzzParseRelease(f *testing.F) {
	for _, s := range []string{"6.12.57+deb13-cloud-amd64", "6.1.0-41-amd64", "7.2-rc1", "6", "6.", "1234567.1", "06.01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := ParseRelease(s)
		if !ok {
			return
		}
		if r.Major < 0 || r.Minor < 0 || r.Patch < -1 {
			t.Fatalf("%q: %+v", s, r)
		}
		if !strings.HasSuffix(s, r.Extra) {
			t.Fatalf("%q: Extra %q is not its tail", s, r.Extra)
		}
		head := fmt.Sprintf("%d.%d", r.Major, r.Minor)
		if r.Patch >= 0 {
			head += fmt.Sprintf(".%d", r.Patch)
		}
		if p := s[:len(s)-len(r.Extra)]; p != head && !strings.Contains(p, ".0") && !strings.HasPrefix(p, "0") {
			t.Fatalf("%q: head %q prints as %q", s, p, head)
		}
	})
}
