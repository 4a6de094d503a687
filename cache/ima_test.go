package cache

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeInode is a hand-written inode for decision tests.
type fakeInode struct {
	id       string
	iver     uint64
	queried  bool
	hasIVer  bool
	dev, ino uint64
	writers  int
}

func (i *fakeInode) ID() string               { return i.id }
func (i *fakeInode) IsIVersion() bool         { return i.hasIVer }
func (i *fakeInode) QueryIVersion() uint64    { i.queried = true; return i.iver }
func (i *fakeInode) PeekIVersion() uint64     { return i.iver }
func (i *fakeInode) EqIVersion(v uint64) bool { return i.iver == v }
func (i *fakeInode) Queried() bool            { return i.queried }
func (i *fakeInode) IVersionStale() bool      { return false }
func (i *fakeInode) DevIno() (uint64, uint64) { return i.dev, i.ino }
func (i *fakeInode) WriteCount() int          { return i.writers }
func (i *fakeInode) ReadCount() int           { return 0 }

// fakeFile: file inode, real inode, and what getattr reports.
type fakeFile struct {
	inode, real *fakeInode
	cookie      bool // real fs reports change_cookie
	ctime       int64
	writable    bool
	imaXattr    bool // security.ima present and matching
}

func (f *fakeFile) Inode() Inode     { return f.inode }
func (f *fakeFile) RealInode() Inode { return f.real }
func (f *fakeFile) Getattr(bool) Stat {
	if f.cookie {
		return Stat{HasCookie: true, Cookie: f.real.QueryIVersion(), Ctime: f.ctime}
	}
	return Stat{Ctime: f.ctime}
}
func (f *fakeFile) Writable() bool               { return f.writable }
func (f *fakeFile) Unverifiable() bool           { return f.inode != f.real }
func (f *fakeFile) FSName() string               { return "fake" }
func (f *fakeFile) IMAXattrVerifies([]byte) bool { return f.imaXattr }

func profile(t *testing.T, n string) *Profile {
	t.Helper()
	p, err := LoadProfile(n)
	require.NoError(t, err)
	return p
}

func overlayFile(cookie bool) *fakeFile {
	real := &fakeInode{id: "real", iver: 2, hasIVer: true, dev: 7, ino: 131}
	ovl := &fakeInode{id: "ovl", dev: 9, ino: 1}
	return &fakeFile{inode: ovl, real: real, cookie: cookie, ctime: 100}
}

var audit = Hook{Actions: FlagAudit, PCR: 10}

func TestStackedCheckPerProfile(t *testing.T) {
	// Two accesses to an unchanged lower file through overlay: does the
	// second one re-evaluate?
	cases := []struct {
		profile string
		cookie  bool // real fs reports a change_cookie (xfs before 6.13)
		reeval  bool
	}{
		{"6.1-stable", false, true},  // caches the overlay inode's 0
		{"6.1-interim", false, true}, // SB_I_IMA_UNVERIFIABLE_SIGNATURE
		{"6.12", true, false},
		{"6.13", false, true}, // caches 0, real i_version 2
		{"6.13", true, false}, // ext4/tmpfs lower still report a cookie
		{"fix-v2", false, false},
		{"7.1", false, false},
		{"7.1", true, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/cookie=%v", c.profile, c.cookie), func(t *testing.T) {
			m := New(profile(t, c.profile))
			f := overlayFile(c.cookie)
			hash := func() []byte { return []byte{1} }
			o1 := m.ProcessMeasurement(f, audit, hash)
			require.True(t, o1.Evaluated && o1.First && o1.Audit)
			o2 := m.ProcessMeasurement(f, audit, hash)
			assert.Equal(t, c.reeval, o2.Evaluated, "second access: %s", o2.Cause)
			assert.Equal(t, c.reeval, o2.Audit)
		})
	}
}

func TestStackedCheckSeesCopyUp(t *testing.T) {
	for _, n := range BuiltinNames() {
		p := profile(t, n)
		if p.Stacked == StackedNone {
			continue
		}
		m := New(p)
		f := overlayFile(true)
		m.ProcessMeasurement(f, audit, func() []byte { return []byte{1} })
		f.real = &fakeInode{id: "upper", iver: 2, hasIVer: true, dev: 8, ino: 5}
		o := m.ProcessMeasurement(f, audit, func() []byte { return []byte{1} })
		assert.True(t, o.Evaluated, "%s: copy-up must re-evaluate", n)
		assert.Contains(t, o.Cause, "real inode changed", n)
	}
}

func TestLastWriterPerProfile(t *testing.T) {
	// A direct (non-stacked) file, measured, then written without any
	// i_version movement (an unqueried XFS timestamp-only write).
	cases := []struct {
		profile string
		cookie  bool
		bumped  bool
		reset   bool
	}{
		{"6.1-stable", false, false, false},
		{"6.1-stable", false, true, true},
		{"6.12", true, false, false},
		{"6.12", true, true, true},
		{"6.13", false, false, true},    // no cookie: assume changed
		{"fix-v2", false, false, false}, // ctime did not move either
		{"fix-v2", false, true, true},
		{"7.1", false, false, false}, // peek == cached: the XFS miss
		{"7.1", false, true, true},
		{"7.1", true, true, true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/cookie=%v/bumped=%v", c.profile, c.cookie, c.bumped), func(t *testing.T) {
			m := New(profile(t, c.profile))
			ino := &fakeInode{id: "x", iver: 2, hasIVer: true, dev: 7, ino: 131}
			f := &fakeFile{inode: ino, real: ino, cookie: c.cookie, ctime: 100}
			m.ProcessMeasurement(f, audit, func() []byte { return []byte{1} })
			ino.writers = 1
			f.writable = true
			if c.bumped {
				ino.iver++
				f.ctime++
			}
			applies, reset, cause := m.CheckLastWriter(f)
			require.True(t, applies)
			assert.Equal(t, c.reset, reset, cause)
			o := m.ProcessMeasurement(&fakeFile{inode: ino, real: ino, cookie: c.cookie, ctime: f.ctime}, audit, func() []byte { return []byte{2} })
			assert.Equal(t, c.reset, o.Evaluated, o.Cause)
		})
	}
}

func TestLastWriterOnlyLast(t *testing.T) {
	m := New(profile(t, "6.13"))
	ino := &fakeInode{id: "x", iver: 2, hasIVer: true, writers: 2}
	f := &fakeFile{inode: ino, real: ino, writable: true}
	m.ProcessMeasurement(f, audit, func() []byte { return nil })
	applies, reset, cause := m.CheckLastWriter(f)
	assert.True(t, applies)
	assert.False(t, reset)
	assert.Contains(t, cause, "not the last writer")
	applies, _, _ = m.CheckLastWriter(&fakeFile{inode: ino, real: ino})
	assert.False(t, applies, "read-only close runs no last-writer check")
}

func TestMeasuredPerPCR(t *testing.T) {
	m := New(profile(t, "6.12"))
	f := overlayFile(true)
	o := m.ProcessMeasurement(f, Hook{Actions: FlagMeasure, PCR: 10}, func() []byte { return []byte{1} })
	assert.True(t, o.Measure)
	o = m.ProcessMeasurement(f, Hook{Actions: FlagMeasure, PCR: 11}, func() []byte { t.Fatal("no re-hash for another PCR"); return nil })
	assert.True(t, o.Measure, "a new PCR is measured again from the cached hash")
	assert.False(t, o.Evaluated)
}

func TestViolations(t *testing.T) {
	for _, c := range []struct {
		profile string
		second  bool
	}{{"6.1-stable", true}, {"6.12", false}} {
		m := New(profile(t, c.profile))
		ino := &fakeInode{id: "x", iver: 2, hasIVer: true, writers: 1}
		f := &fakeFile{inode: ino, real: ino}
		h := Hook{Actions: FlagMeasure, PCR: 10, ViolationCheck: true, MustMeasure: true}
		o := m.ProcessMeasurement(f, h, func() []byte { return []byte{1} })
		assert.Equal(t, []string{"open_writers"}, o.Violation, c.profile)
		o = m.ProcessMeasurement(f, h, func() []byte { return []byte{1} })
		assert.Equal(t, c.second, len(o.Violation) == 1, "%s: second open_writers", c.profile)
	}
}

// EVM's check in the stacked block (6.12+) clears only IMA_APPRAISED: the
// file is re-appraised from the cached hash, not re-hashed. Here IMA's own
// check sees no change (as with a metacopy upper holding the metadata)
// while the metadata inode's i_version moved.
func TestEVMMetadataChanged(t *testing.T) {
	for _, c := range []struct {
		profile string
		evm     bool
	}{{"6.12", true}, {"7.1", true}, {"6.1-stable", false}} {
		m := New(profile(t, c.profile))
		f := overlayFile(true)
		f.imaXattr = true // appraisal passes and is cached
		h := Hook{Actions: FlagAppraise | FlagMeasure, PCR: 10}
		o := m.ProcessMeasurement(f, h, func() []byte { return []byte{1} })
		require.True(t, o.Appraised && o.Evaluated, c.profile)
		f.real.iver++ // a metadata change on the metadata inode
		m.Find(f.inode).Version = f.real.iver
		o = m.ProcessMeasurement(f, h, func() []byte { t.Fatal("no re-hash"); return nil })
		assert.False(t, o.Evaluated, c.profile)
		assert.Equal(t, c.evm, o.Appraised, "%s: re-appraised", c.profile)
		if c.evm {
			assert.Contains(t, o.Cause, "EVM: inode_eq_iversion(metadata inode real")
		}
	}
}

// TestAppraiseResetsPerProfile: ima_inode_post_setattr (IMA_CHANGE_ATTR)
// makes the next access re-appraise without re-hashing or re-auditing;
// ima_reset_appraise_flags (IMA_CHANGE_XATTR) redoes everything. Same in
// every era; without an appraise rule neither hook does anything.
func TestAppraiseResetsPerProfile(t *testing.T) {
	hook := Hook{Actions: FlagAppraise | FlagAudit, PCR: 10}
	hash := func() []byte { return []byte{1} }
	for _, n := range BuiltinNames() {
		t.Run(n, func(t *testing.T) {
			m := New(profile(t, n))
			ino := &fakeInode{id: "ext4", iver: 1, hasIVer: true, dev: 7, ino: 12}
			f := &fakeFile{inode: ino, real: ino, cookie: true, imaXattr: true}
			o := m.ProcessMeasurement(f, hook, hash)
			require.True(t, o.Evaluated && o.Appraised && o.Audit)
			o = m.ProcessMeasurement(f, hook, hash)
			assert.False(t, o.Appraised || o.Evaluated, "unchanged: cached (%s)", o.Cause)

			m.InodePostSetattr(ino, false) // no appraise rule: no effect
			o = m.ProcessMeasurement(f, hook, hash)
			assert.False(t, o.Appraised, o.Cause)

			m.InodePostSetattr(ino, true)
			o = m.ProcessMeasurement(f, hook, hash)
			assert.True(t, o.Appraised, "CHANGE_ATTR re-appraises: %s", o.Cause)
			assert.False(t, o.Evaluated || o.Audit, "from the cached hash, no new audit record")
			assert.Contains(t, o.Cause, "IMA_CHANGE_ATTR")
			o = m.ProcessMeasurement(f, hook, hash)
			assert.False(t, o.Appraised, "the bit is consumed: %s", o.Cause)

			m.ResetAppraiseFlags(ino, true)
			o = m.ProcessMeasurement(f, hook, hash)
			assert.True(t, o.Evaluated && o.Appraised && o.Audit, "CHANGE_XATTR redoes everything: %s", o.Cause)
			assert.Contains(t, o.Cause, "IMA_CHANGE_XATTR")
		})
	}
}

// TestFailedAppraisalNotCached: without security.ima appraisal fails, so
// IMA_APPRAISED is never cached and every access re-appraises.
func TestFailedAppraisalNotCached(t *testing.T) {
	m := New(profile(t, "6.12"))
	ino := &fakeInode{id: "ext4", iver: 1, hasIVer: true, dev: 7, ino: 12}
	f := &fakeFile{inode: ino, real: ino, cookie: true}
	hook := Hook{Actions: FlagAppraise | FlagAudit, PCR: 10}
	hash := func() []byte { return []byte{1} }
	m.ProcessMeasurement(f, hook, hash)
	o := m.ProcessMeasurement(f, hook, hash)
	assert.True(t, o.Appraised, o.Cause)
	assert.False(t, o.Evaluated || o.Audit, o.Cause)
}

// FlagString names every set flag bit in flagNames' order, joined by |,
// for any combination of them.
func TestFlagString(t *testing.T) {
	assert.Equal(t, "0", FlagString(0))
	assert.Equal(t, "MEASURED|COLLECTED|AUDITED", FlagString(FlagAudited|FlagMeasured|FlagCollected))
	for f := uint64(0); f < 1<<len(flagNames); f++ {
		var bits uint64
		var want []string
		for k, n := range flagNames {
			if f&(1<<k) != 0 {
				bits |= n.bit
				want = append(want, n.name)
			}
		}
		if len(want) == 0 {
			want = []string{"0"}
		}
		require.Equal(t, strings.Join(want, "|"), FlagString(bits|1<<40), "%#x", bits)
	}
}
