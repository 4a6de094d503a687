package scenarios

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/cache"
)

const mprotectSteps = `
fs xfs /lower
fs tmpfs /t
mkdir /t/upper
mkdir /t/work
write /lower/lib.so "v1" mode=0755
overlay /ovl lower=/lower upper=/t/upper work=/t/work
open %h /ovl/lib.so r uid=65534
mprotect %h
close %h
`

// runText runs a scenario given as text under a built-in profile.
func runText(t *testing.T, text, profile string) *Result {
	t.Helper()
	s, err := Parse(strings.NewReader(text), "mp.scn")
	require.NoError(t, err)
	p, err := cache.LoadProfile(profile)
	require.NoError(t, err)
	r, err := Run(s, p)
	require.NoError(t, err)
	return r
}

func mprotectRun(t *testing.T, policy, profile string) *Result {
	t.Helper()
	return runText(t, "name: mp\n"+policy+mprotectSteps, profile)
}

func mprotectRecords(r *Result) []AuditRecord {
	var out []AuditRecord
	for _, a := range r.Audit {
		if a.Type == 1800 {
			out = append(out, a)
		}
	}
	return out
}

// ima_file_mprotect: nothing without an appraise rule; with one, a match
// on the backing inode audits failed-mprotect (never measures), named as
// each era's kernel names the backing file.
func TestMprotect(t *testing.T) {
	measureOnly := "policy: measure func=MMAP_CHECK uid=65534\n"
	r := mprotectRun(t, measureOnly, "7.1")
	assert.Empty(t, mprotectRecords(r))
	require.NotEmpty(t, r.Steps)
	assert.Contains(t, r.Steps[0].Cause, "no appraise rule")
	assert.Equal(t, Missed, r.Steps[0].Verdict, "the policy measures MMAP_CHECK; this executable mapping never is")

	withAppraise := "policy: appraise func=MMAP_CHECK fsmagic=0x794c7630\n" + measureOnly
	for profile, name := range map[string]string{"6.1-stable": "/ovl/lib.so", "6.12": "lib.so", "7.1": "lib.so"} {
		r := mprotectRun(t, withAppraise, profile)
		recs := mprotectRecords(r)
		require.Len(t, recs, 1, profile)
		assert.Equal(t, name, recs[0].Path, "%s: the backing file's name in the record", profile)
		assert.Contains(t, recs[0].Text, "cause=failed-mprotect")
		assert.Contains(t, recs[0].Text, "res=1", "a measure match only audits")
		assert.Contains(t, r.Steps[0].Cause, "backing inode xfs:")
		assert.Equal(t, Missed, r.Steps[0].Verdict, "%s: executable, never measured", profile)
		assert.Zero(t, r.Measurements, "mprotect never measures")
	}

	// An appraise rule matching the backing inode (no fsmagic) denies.
	r = mprotectRun(t, "policy: appraise func=MMAP_CHECK uid=65534\n", "7.1")
	recs := mprotectRecords(r)
	require.Len(t, recs, 1)
	assert.Contains(t, recs[0].Text, "res=0")
	assert.Contains(t, r.Steps[0].Cause, "denied (-EPERM)")
	assert.Equal(t, OK, r.Steps[0].Verdict, "a denied mapping does not run")
}

// Cases a review of the model against 6.1.176/6.12.107/7.2.13 raised.
func TestMprotectBackingFileAndPolicyFlags(t *testing.T) {
	run := func(policy, steps, profile string) *Result {
		t.Helper()
		return runText(t, "name: mp\n"+policy+steps, profile)
	}
	last := func(r *Result) HookCall { return r.Steps[len(r.Steps)-1] }

	// The mapping keeps the real file opened with the handle: opened
	// before the copy-up, it is the lower (XFS) inode.
	before := strings.Replace(mprotectSteps, "mprotect %h\n", "append /ovl/lib.so \"+\"\nmprotect %h\n", 1)
	r := run("policy: appraise func=MMAP_CHECK fsmagic=0x58465342\npolicy: measure func=MMAP_CHECK uid=65534\n", before, "7.1")
	require.Len(t, mprotectRecords(r), 1)
	assert.Contains(t, mprotectRecords(r)[0].Text, "res=0", "the lower XFS inode matches the XFS appraise rule")
	assert.Contains(t, last(r).Cause, "backing inode xfs:")
	assert.Equal(t, OK, last(r).Verdict, "denied: never executable")

	// MMAP_CHECK_REQPROT rules count too (6.4+).
	r = run("policy: appraise func=MMAP_CHECK_REQPROT uid=65534\n", mprotectSteps, "7.1")
	require.Len(t, mprotectRecords(r), 1)
	assert.Contains(t, mprotectRecords(r)[0].Text, "res=0")

	// SETXATTR_CHECK rules are not in ima_policy_flag.
	r = run("policy: appraise func=SETXATTR_CHECK appraise_algos=sha256\npolicy: measure func=MMAP_CHECK uid=65534\n", mprotectSteps, "7.1")
	assert.Empty(t, mprotectRecords(r))
	assert.Contains(t, last(r).Cause, "no appraise rule")

	// Hashed for appraisal is not measured.
	r = run("policy: appraise func=FILE_CHECK uid=65534\npolicy: measure func=MMAP_CHECK uid=65534\n", mprotectSteps, "7.1")
	assert.Zero(t, r.Measurements)
	assert.Equal(t, Missed, last(r).Verdict, "hashed when opened (FILE_CHECK appraisal), never measured")
}

func TestMprotectNeedsReadableHandle(t *testing.T) {
	_, err := Parse(strings.NewReader("name: w\nfs tmpfs /t\nopen %h /t/f w\nmprotect %h\n"), "w.scn")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "w.scn:4")
	assert.Contains(t, err.Error(), "not open for reading")
}
