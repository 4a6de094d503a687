package vm

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/vm/guest"
)

// What the guest's steps saw decides the interpreter findings: a read of
// unchecked content is missed unless a later fstat saw ctime change; and
// a step that saw something else than the model is a model defect.
func TestInterpreterFindingsFromWhatStepsSaw(t *testing.T) {
	s, err := scenarios.Load("interp-check-fstat")
	require.NoError(t, err)
	p, err := cache.LoadProfile("7.1")
	require.NoError(t, err)
	m, err := scenarios.Run(s, p)
	require.NoError(t, err)
	report := func(lastLook string) *guest.ScenarioReport {
		rep := &guest.ScenarioReport{Name: s.Name, Root: "/r"}
		for _, st := range s.Steps {
			sr := guest.StepReport{Line: st.Line, Op: st.Text}
			for _, sn := range m.Seen {
				if sn.Line == st.Line {
					sr.Seen = sn.Text
				}
			}
			if _, ok := st.Op.(scenarios.Fstat); ok && sr.Seen != "first look" {
				sr.Seen = lastLook
			}
			rep.Steps = append(rep.Steps, sr)
		}
		return rep
	}
	cases := []struct {
		lastLook string
		missed   int
		defects  int
	}{
		{"ctime changed, dev,ino,mode same", 0, 0}, // as the model says: caught
		{"unchanged", 1, 1},                        // the interpreter would run it
		{"dev,ino changed, ctime,mode same", 0, 1}, // caught, but not what the model says
	}
	for _, tc := range cases {
		t.Run(tc.lastLook, func(t *testing.T) {
			r := &Run{Scenario: s, Name: s.Name, Model: m, Profile: p.Name, Kernel: "k"}
			rep := report(tc.lastLook)
			r.compareSeen(rep)
			r.interpFindings(rep)
			n := 0
			for _, f := range r.Findings {
				if f.Verdict == scenarios.Missed {
					n++
					assert.Contains(t, f.Why, "AT_EXECVE_CHECK at line")
				}
			}
			assert.Equal(t, tc.missed, n)
			assert.Len(t, r.Defects, tc.defects)
		})
	}
}

func TestChangedFieldsAndContentOf(t *testing.T) {
	assert.Equal(t, []string{"dev", "ctime"}, changedFields("dev,ctime changed, ino,mode same; verity"))
	assert.Nil(t, changedFields("unchanged"))
	assert.Nil(t, changedFields("first look"))
	assert.Equal(t, "3 bytes sha256:abc", contentOf(`checked 3 bytes sha256:abc "x"`))
	assert.Equal(t, "", contentOf("failed with EROFS"))
	assert.Equal(t, "", contentOf(""))
}

// FuzzStatSeenRoundTrip: the fields the host reads back from a look's
// text are exactly the ones that changed, whatever the values.
func FuzzStatSeenRoundTrip(f *testing.F) {
	f.Add(uint64(1), uint64(2), int64(3), uint32(4), uint64(1), uint64(2), int64(5), uint32(4), true, false)
	f.Fuzz(func(t *testing.T, d1, i1 uint64, c1 int64, m1 uint32, d2, i2 uint64, c2 int64, m2 uint32, v1, v2 bool) {
		prev := scenarios.StatFacts{Dev: d1, Ino: i1, Ctime: c1, Mode: m1, Verity: v1}
		cur := scenarios.StatFacts{Dev: d2, Ino: i2, Ctime: c2, Mode: m2, Verity: v2}
		var want []string
		for _, c := range []struct {
			n  string
			ch bool
		}{{"dev", d1 != d2}, {"ino", i1 != i2}, {"ctime", c1 != c2}, {"mode", m1 != m2}} {
			if c.ch {
				want = append(want, c.n)
			}
		}
		text := scenarios.StatSeen(&prev, cur, true)
		assert.Equal(t, want, changedFields(text), text)
		assert.Equal(t, v2, len(text) > 8 && text[len(text)-8:] == "; verity", text)
	})
}

// The committed captures of the interpreter scenarios carry what their
// steps saw, and it is what the model says (on every kernel captured).
func TestInterpreterCapturesSeeWhatTheModelSays(t *testing.T) {
	for _, c := range []struct{ dir, profile string }{
		{"debian-6.1/overlay-fd-after-copyup", "6.1-stable"},
		{"debian-6.12/overlay-verity-copyup", "6.12"},
		{"debian-7.2/interp-check-fstat", "7.1"},
		{"debian-7.2/execve-check-toctou", "7.1"},
		{"debian-6.1/mmap-exec-after-copyup", "6.1-stable"},
		{"debian-7.2/mmap-exec-after-copyup", "7.1"},
	} {
		t.Run(c.dir, func(t *testing.T) {
			br, info, err := LoadCapture(filepath.Join("../../testdata/vm", c.dir))
			require.NoError(t, err)
			s, err := scenarios.Parse(bytes.NewReader(br.Files["scenario.scn"]), c.dir)
			require.NoError(t, err)
			p, err := cache.LoadProfile(c.profile)
			require.NoError(t, err)
			r, err := Compare(s, p, info["release"], br, 0)
			require.NoError(t, err)
			require.NotEmpty(t, r.Seen)
			for _, sc := range r.Seen {
				assert.Equal(t, sc.Model, sc.Real, "line %d", sc.Line)
			}
			assert.Empty(t, r.Defects)
			missed := 0
			for _, f := range r.Findings {
				if f.Verdict == scenarios.Missed {
					missed++
				}
			}
			assert.Equal(t, m(t, s, p).Count(scenarios.Missed), missed, "the real run's misses are the model's")
		})
	}
}

func m(t *testing.T, s *scenarios.Scenario, p *cache.Profile) *scenarios.Result {
	t.Helper()
	res, err := scenarios.Run(s, p)
	require.NoError(t, err)
	return res
}
