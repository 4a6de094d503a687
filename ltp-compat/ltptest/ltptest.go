// Package ltptest runs the real consumers of imasim's CI reports in tests:
// the kernel's kunit.py for KTAP and xmllint with Jenkins xunit's
// junit-10.xsd for JUnit. Each helper skips the test, with the reason,
// when its tool is not installed.
package ltptest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/imasim/imasim/internal/sharedtest"
)

// KunitCounts are the totals `kunit.py parse` prints on its last line.
type KunitCounts struct {
	Passed, Failed, Crashed, Skipped, Errors int
	// Exit is kunit.py's exit status: 0 when the run passed (or only
	// skipped), 1 otherwise.
	Exit int
}

// KunitPy returns the path of kunit.py: $IMASIM_KUNIT, else the copy
// .ci/kunit extracts from Debian's linux-source package into
// ~/.cache/imasim/kunit. It skips t when there is none or no python3.
func KunitPy(t testing.TB) string {
	t.Helper()
	p := os.Getenv("IMASIM_KUNIT")
	if p == "" {
		home, _ := os.UserHomeDir()
		p = filepath.Join(home, ".cache", "imasim", "kunit", "tools", "testing", "kunit", "kunit.py")
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("kunit.py not found (%v): run .ci/kunit, which extracts tools/testing/kunit from Debian's linux-source-6.1, or set IMASIM_KUNIT", err)
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("kunit.py needs python3")
	}
	return p
}

var kunitTotalRE = regexp.MustCompile(`Testing complete\. Ran (\d+) tests?(?::(.*))?`)
var kunitCountRE = regexp.MustCompile(`(passed|failed|crashed|skipped|errors): (\d+)`)

// KunitParse feeds ktap to `kunit.py parse` and returns its totals and
// its output.
func KunitParse(t testing.TB, ktap []byte) (KunitCounts, string) {
	t.Helper()
	py := KunitPy(t)
	f := filepath.Join(t.TempDir(), "report.ktap")
	if err := os.WriteFile(f, ktap, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", py, "parse", f)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var n KunitCounts
	if ee, ok := err.(*exec.ExitError); ok {
		n.Exit = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("kunit.py parse: %v\n%s", err, out.String())
	}
	m := kunitTotalRE.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("kunit.py parse printed no totals:\n%s", out.String())
	}
	for _, c := range kunitCountRE.FindAllStringSubmatch(m[2], -1) {
		v, _ := strconv.Atoi(c[2])
		switch c[1] {
		case "passed":
			n.Passed = v
		case "failed":
			n.Failed = v
		case "crashed":
			n.Crashed = v
		case "skipped":
			n.Skipped = v
		case "errors":
			n.Errors = v
		}
	}
	return n, out.String()
}

// JUnitSchema returns Jenkins xunit's junit-10.xsd from the project's
// shared files: $IMASIM_SHARED/schemas, else shared/schemas in the
// nearest directory above the working directory that has one (CI puts
// shared/ beside the clone; a worktree may sit deeper). It skips t when
// there is none.
func JUnitSchema(t testing.TB) string {
	t.Helper()
	return sharedtest.Path(t, "schemas/junit-10.xsd")
}

// ValidateJUnit checks doc against junit-10.xsd with xmllint and returns
// xmllint's complaint, "" when the document is valid.
func ValidateJUnit(t testing.TB, doc []byte) string {
	t.Helper()
	xsd := JUnitSchema(t)
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Skip("xmllint not installed (Debian: libxml2-utils, in .ci/deps)")
	}
	f := filepath.Join(t.TempDir(), "report.xml")
	if err := os.WriteFile(f, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("xmllint", "--noout", "--schema", xsd, f).CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("xmllint: %v", err)
		}
		return string(out)
	}
	return ""
}
