package ltpcompat

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseLTPRoundTrip(t *testing.T) {
	for name, tc := range sampleReports() {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, WriteLTP(&b, tc.r, Options{Color: true}))
			got, sum, err := ParseLTP(&b)
			require.NoError(t, err)
			require.NotNil(t, sum)
			assert.Equal(t, tc.sum, *sum)
			assert.Equal(t, tc.sum, got.Counts(), "counts of the parsed results")
			assert.Equal(t, ExitCode(tc.r), ExitCode(got))
			if len(tc.r.Cases) > 0 {
				assert.Equal(t, tc.r.ID(), got.ID())
				assert.Len(t, got.Cases, len(tc.r.Cases))
			}
		})
	}
}

func TestParseLTPShell(t *testing.T) {
	out := "imasim_overlay_xfs 1 TINFO: timeout per run is 0h 5m 0s\n" +
		"mkfs output\n" +
		"imasim_overlay_xfs 1 \x1b[1;32mTPASS\x1b[0m: 1 INTEGRITY_RULE record for /ovl/prog\n" +
		"imasim_overlay_xfs 2 TCONF: IMA not enabled in kernel\n" +
		"\nSummary:\npassed   1\nfailed   0\nbroken   0\nskipped  1\nwarnings 0\n"
	r, sum, err := ParseLTP(strings.NewReader(out))
	require.NoError(t, err)
	require.NotNil(t, sum)
	assert.Equal(t, Counts{Passed: 1, Skipped: 1}, *sum)
	assert.Equal(t, "imasim_overlay_xfs", r.Verb)
	require.Len(t, r.Cases, 2)
	assert.Equal(t, "imasim_overlay_xfs:1", r.Cases[0].Name)
	assert.Equal(t, Pass, r.Cases[0].Status)
	assert.Equal(t, "mkfs output\n", r.Cases[0].Log)
	assert.Equal(t, Conf, r.Cases[1].Status)
	assert.Equal(t, "", r.Cases[1].Log, "Summary dropped from the log")
	assert.Equal(t, 0, ExitCode(r))

	_, sum, err = ParseLTP(strings.NewReader("no results at all\n"))
	require.NoError(t, err)
	assert.Nil(t, sum)
}

func TestParseSummary(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Counts
		ok   bool
	}{
		{"plain", "\nSummary:\npassed   1\nfailed   2\nbroken   3\nskipped  4\nwarnings 5\n", Counts{1, 2, 3, 4, 5}, true},
		{"tight spaces", "Summary:\npassed1\nfailed0\nbroken0\nskipped0\nwarnings0\n", Counts{Passed: 1}, true},
		{"old LTP without broken", "Summary:\npassed   1\nfailed   0\nskipped  0\nwarnings 0\n", Counts{}, false},
		{"no final newline", "Summary:\npassed 1\nfailed 0\nbroken 0\nskipped 0\nwarnings 0", Counts{}, false},
		{"huge", "Summary:\npassed 99999999999999999999999\nfailed 0\nbroken 0\nskipped 0\nwarnings 0\n", Counts{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseSummary(tc.in)
			assert.Equal(t, tc.ok, ok, "ParseSummary(%q) ok", tc.in)
			assert.Equal(t, tc.want, got)
		})
	}
}

func FuzzParseLTP(f *testing.F) {
	for _, tc := range sampleReports() {
		var b bytes.Buffer
		require.NoError(f, WriteLTP(&b, tc.r, Options{Color: true, Logs: true}))
		f.Add(b.String())
	}
	f.Add("x 99999999999999999999999 TPASS: big\n")
	f.Add("a 1 TINFO: only info\n\nSummary:\npassed 0\nfailed 0\nbroken 0\nskipped 0\nwarnings 0\n")
	f.Fuzz(func(t *testing.T, in string) {
		r, _, err := ParseLTP(strings.NewReader(in))
		if err != nil {
			return
		}
		// Whatever was parsed writes back as LTP output that parses to the
		// same counters.
		var b bytes.Buffer
		require.NoError(t, WriteLTP(&b, r, Options{}))
		again, sum, err := ParseLTP(&b)
		require.NoError(t, err)
		require.NotNil(t, sum)
		assert.Equal(t, r.Counts(), *sum)
		assert.Equal(t, r.Counts(), again.Counts())
	})
}
