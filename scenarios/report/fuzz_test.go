package report

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/imasim/imasim/scenarios"
)

// Any scenario file the parser accepts gives a reproducer within its
// bounds whose quoting holds (dash -n reads it, when dash is here), or
// a NoReproError.
func FuzzReproducer(f *testing.F) {
	for _, n := range []string{"xfs-write", "xfs-overlay", "tmpfs-overwrite", "truncate-exec"} {
		b, ok := scenarios.BuiltinSource(n)
		if !ok {
			f.Fatalf("no built-in %s", n)
		}
		f.Add(string(b))
	}
	f.Add("name: q\npolicy: audit func=BPRM_CHECK\nfs tmpfs /t\nwrite /t/a \"it's $(x) `y` \\\\n\" mode=0755 uid=7\nexec /t/a uid=7\nexpect audit /t/a 1\n")
	dash, _ := exec.LookPath("dash")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := scenarios.Parse(strings.NewReader(text), "fuzz.scn")
		if err != nil {
			return
		}
		out, err := Reproducer(s)
		if err != nil {
			var nr *NoReproError
			if !errors.As(err, &nr) {
				t.Fatalf("error of another kind: %v", err)
			}
			return
		}
		if n := strings.Count(out, "\n"); n > MaxReproLines || !strings.HasSuffix(out, "exit $rc\n") {
			t.Fatalf("%d lines, ending %q", n, out[max(0, len(out)-20):])
		}
		if got, want := strings.Count(out, "\ncheck '"), countKinds(s); got != want {
			t.Fatalf("%d checks for %d counted expects", got, want)
		}
		if dash != "" {
			c := exec.Command(dash, "-n")
			c.Stdin = bytes.NewReader([]byte(out))
			if b, err := c.CombinedOutput(); err != nil {
				t.Fatalf("dash -n: %v: %s\n%s", err, b, out)
			}
		}
	})
}
