package scenarios

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// One judge for every source: what an observation does not know is not
// judged, what it knows is judged the same way.
func TestJudge(t *testing.T) {
	s, err := Parse(strings.NewReader("name: j\nfs tmpfs /t\nwrite /t/f x\n"+
		"expect audit /t/f 1\nexpect measurements 2\nexpect measure /t/f 1\nexpect violations 0\nexpect no missed\nexpect no excessive\n"), "j.scn")
	require.NoError(t, err)
	log := &Observation{Audit: map[string]int{"/t/f": 1}, Measurements: -1}
	var texts []string
	for _, r := range log.Judge(s.Expects) {
		texts = append(texts, r.Text)
		assert.True(t, r.OK, r.Text)
	}
	assert.Equal(t, []string{"expect audit /t/f 1", "expect violations 0"}, texts, "a log without a list or verdicts")

	full := &Observation{Audit: map[string]int{"/t/f": 2}, Measurements: 2, Measured: map[string]int{"/t/f": 1},
		Violations: 1, Verdicts: map[string]int{Missed: 1}}
	got := full.Judge(s.Expects)
	require.Len(t, got, 6)
	for i, want := range []struct {
		ok  bool
		got string
	}{{false, "2"}, {true, "2"}, {true, "1"}, {false, "1"}, {false, "1 missed"}, {true, "0 excessive"}} {
		assert.Equal(t, want.ok, got[i].OK, got[i].Text)
		assert.Equal(t, want.got, got[i].Got, got[i].Text)
		assert.Equal(t, s.Expects[i].Line, got[i].Line)
	}
}
