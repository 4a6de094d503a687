package scenarios

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQuietAgrees runs every built-in scenario under every built-in
// profile in normal and quiet mode (the mode explore searches in): the
// verdicts, evaluations, audit counts and measurements must be the same.
// Quiet with causes (how explore groups its findings) must also give
// the causes up to their " -- " details.
func TestQuietAgrees(t *testing.T) {
	quietAgrees(t, loadAll(t))
}

// TestQuietAgreesCases: the same for cases the catalogue lacks (resets on
// top of a failed appraisal, a utimes that EVM does not protect, an empty
// file, recycled tmpfs inodes).
func TestQuietAgreesCases(t *testing.T) {
	head := "policy: appraise func=BPRM_CHECK uid=65534\npolicy: audit func=BPRM_CHECK uid=65534\n"
	steps := []string{
		"fs ext4 /m\nwrite /m/p \"v1\" mode=0755\nexec /m/p uid=65534\ntouch /m/p\nexec /m/p uid=65534\nchmod /m/p 0700\nexec /m/p uid=65534",
		"fs xfs /m\nwrite /m/p \"v1\" mode=0755\nexec /m/p uid=65534\nsetxattr /m/p security.ima \"\\x04\\x04x\"\nexec /m/p uid=65534\ntruncate /m/p 0\nexec /m/p uid=65534",
		"fs tmpfs /l\nfs tmpfs /t\nmkdir /t/u\nmkdir /t/w\nwrite /l/p \"v1\" mode=0755\nunlink /l/p\nwrite /l/p \"v1\" mode=0755\noverlay /o lower=/l upper=/t/u work=/t/w\nexec /o/p uid=65534\ntouch /o/p\nexec /o/p uid=65534",
		"fs xfs /m\nwrite /m/e \"\" mode=0755\nexec /m/e uid=65534\nappend /m/e \"x\"\nexec /m/e uid=65534",
	}
	var ss []*Scenario
	for k, st := range steps {
		for _, pol := range []string{head, strings.ReplaceAll(head, "appraise", "measure")} {
			src := fmt.Sprintf("name: case-%d\n%srequires: root\n\n%s\n", k, pol, st)
			sc, err := Parse(strings.NewReader(src), fmt.Sprintf("case-%d", k))
			require.NoError(t, err, src)
			ss = append(ss, sc)
		}
	}
	quietAgrees(t, ss)
}

func quietAgrees(t *testing.T, ss []*Scenario) {
	for i, s := range ss {
		for _, p := range profiles(t) {
			name := fmt.Sprintf("%s.%d/%s", s.Name, i, p.Name)
			t.Run(name, func(t *testing.T) {
				full, err := RunWith(s, p, Options{})
				require.NoError(t, err)
				quiet, err := RunWith(s, p, Options{Quiet: true})
				require.NoError(t, err)
				causes, err := RunWith(s, p, Options{Quiet: true, Causes: true})
				require.NoError(t, err)
				require.Equal(t, full.NA, quiet.NA)
				require.Len(t, quiet.Steps, len(full.Steps))
				require.Len(t, causes.Steps, len(full.Steps))
				for k, st := range full.Steps {
					q := quiet.Steps[k]
					where := fmt.Sprintf("line %d %s %s", st.Line, st.Hook, st.Path)
					assert.Equal(t, st.Verdict, q.Verdict, "%s: normal cause: %s", where, st.Cause)
					assert.Equal(t, st.Evaluated, q.Evaluated, where)
					c := causes.Steps[k]
					assert.Equal(t, st.Verdict, c.Verdict, where)
					head, _, _ := strings.Cut(st.Cause, " -- ")
					got, _, _ := strings.Cut(c.Cause, " -- ")
					assert.Equal(t, head, got, where)
				}
				assert.Equal(t, full.AuditRecords, quiet.AuditRecords)
				assert.Equal(t, full.Measurements, quiet.Measurements)
				assert.Equal(t, full.Violations, quiet.Violations)
			})
		}
	}
}

// A quiet run's list entries are pcr/name/content, whether built or
// reused from the recent ones, and listedHas finds exactly those.
func TestListEntry(t *testing.T) {
	e := &engine{engineScratch: &engineScratch{}}
	var listed []string
	for k := range 40 {
		name := fmt.Sprintf("/p%d", k%11)
		d := []byte(strings.Repeat("x", k%5))
		pcr := []byte(fmt.Sprint(10 + k%2))
		want := string(pcr) + "/" + name + "/" + string(d)
		assert.Equal(t, slices.Contains(listed, want), listedHas(listed, pcr, name, d), want)
		got := e.listEntry(pcr, name, d)
		require.Equal(t, want, got)
		if !slices.Contains(listed, want) {
			listed = append(listed, got)
		}
		assert.True(t, listedHas(listed, pcr, name, d))
		assert.False(t, listedHas(listed, pcr, name+"x", d))
	}
}

// The open handles keep their order of opening; set replaces, del
// closes, get finds only open ones.
func TestHandleSet(t *testing.T) {
	var s handleSet
	for k, n := range []string{"%a", "%b", "%c"} {
		s.set(n, handle{uid: uint32(k)})
	}
	s.set("%b", handle{uid: 7})
	h, ok := s.get("%b")
	require.True(t, ok)
	assert.Equal(t, uint32(7), h.uid)
	s.del("%a")
	s.del("%x")
	_, ok = s.get("%a")
	assert.False(t, ok)
	var names []string
	for _, nh := range s {
		names = append(names, nh.name)
	}
	assert.Equal(t, []string{"%b", "%c"}, names)
	s.set("%a", handle{uid: 9})
	assert.Equal(t, "%a", s[len(s)-1].name)
}
