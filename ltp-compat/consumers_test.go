package ltpcompat

import (
	"bytes"
	"testing"

	"github.com/imasim/imasim/ltp-compat/ltptest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every sample report's JUnit is valid for Jenkins xunit's junit-10.xsd,
// which xmllint does reject on the attribute earlier versions wrote.
func TestJUnitSchema(t *testing.T) {
	bad := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="x" tests="0" failures="0" errors="0" skipped="0" time="0.000"></testsuites>
`)
	assert.Contains(t, ltptest.ValidateJUnit(t, bad), "skipped", "the schema forbids skipped on <testsuites>")
	for name, tc := range sampleReports() {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, WriteJUnit(&b, tc.r, Options{}))
			assert.Empty(t, ltptest.ValidateJUnit(t, b.Bytes()), b.String())
		})
	}
}

// The kernel's own KTAP reader agrees with LTP's verdict on every sample:
// it fails exactly when LTP's exit code has a failure bit, and counts a
// skip for every case or check LTP skips.
func TestKTAPKunit(t *testing.T) {
	for name, tc := range sampleReports() {
		t.Run(name, func(t *testing.T) {
			if len(tc.r.Cases) == 0 {
				t.Skip("kunit.py has no verdict on an empty plan")
			}
			var b bytes.Buffer
			require.NoError(t, WriteKTAP(&b, tc.r, Options{Logs: true}))
			n, out := ltptest.KunitParse(t, b.Bytes())
			failing := tc.exit&(int(Fail)|int(Brok)|int(Warn)) != 0
			assert.Equal(t, failing, n.Failed+n.Crashed > 0, "kunit.py failures\n%s\n%s", b.String(), out)
			// (kunit.py of 6.1 also exits 1 when everything was skipped.)
			if failing || n.Passed > 0 {
				assert.Equal(t, failing, n.Exit != 0, "kunit.py exit %d\n%s", n.Exit, out)
			}
			assert.Zero(t, n.Errors, "kunit.py found the document malformed:\n%s", out)
			assert.Equal(t, tc.sum.Skipped > 0, n.Skipped > 0, "kunit.py skips\n%s", out)
		})
	}
}
