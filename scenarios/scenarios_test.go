package scenarios

import (
	"bytes"
	"crypto"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/tpm"
)

var update = flag.Bool("update", false, "rewrite golden files")

func run(t testing.TB, scenario, profile string) *Result {
	t.Helper()
	s, err := Load(scenario)
	require.NoError(t, err)
	p, err := cache.LoadProfile(profile)
	require.NoError(t, err)
	r, err := Run(s, p)
	require.NoError(t, err)
	return r
}

// The numbers the seed thread and the project's real-kernel runs give.
func TestXFSOverlayCounts(t *testing.T) {
	cases := []struct {
		profile   string
		audits    int
		excessive int
	}{
		{"6.1-stable", 3, 2}, {"6.12", 1, 0}, {"6.13", 3, 2}, {"fix-v2", 1, 0}, {"7.1", 1, 0},
	}
	for _, c := range cases {
		t.Run(c.profile, func(t *testing.T) {
			r := run(t, "xfs-overlay", c.profile)
			assert.Equal(t, c.audits, r.AuditRecords["/ovl/test_prog"], "audit records")
			assert.Equal(t, c.excessive, r.Count(Excessive), "excessive verdicts")
			assert.Zero(t, r.Count(Missed))
			require.Len(t, r.Steps, 3, "one record per BPRM_CHECK hook call")
			for _, st := range r.Steps {
				assert.Equal(t, "BPRM_CHECK", st.Hook)
				if st.Verdict == Excessive {
					assert.Contains(t, st.Cause, "stacked check", "cause names the comparison")
				}
			}
		})
	}
}

func TestXFSWriteMissedOn71(t *testing.T) {
	r := run(t, "xfs-write", "7.1")
	require.Equal(t, 1, r.Count(Missed))
	var missed HookCall
	for _, st := range r.Steps {
		if st.Verdict == Missed {
			missed = st
		}
	}
	// The causal chain comes from the mechanisms: peek at collect, no
	// QUERIED, so the write did not bump, so the last writer kept flags.
	assert.Contains(t, missed.Cause, "inode_eq_iversion")
	assert.Contains(t, missed.Cause, "peek")
	assert.Equal(t, 1, r.AuditRecords["/mnt/test_prog"])

	for _, p := range []string{"6.1-stable", "6.12", "6.13", "fix-v2"} {
		r := run(t, "xfs-write", p)
		assert.Zero(t, r.Count(Missed), p)
		assert.Equal(t, 2, r.AuditRecords["/mnt/test_prog"], p)
	}
}

// Writeback before the last close logs the XFS core inode (forced bump),
// so 7.1's last-writer check sees the change (FACTS: the miss needs the
// close to come before writeback).
func TestXFSWriteSyncBeforeCloseDetected(t *testing.T) {
	s, err := Parse(strings.NewReader(`name: t
policy: audit func=BPRM_CHECK uid=65534
fs xfs /mnt
write /mnt/p "v1" mode=0755
exec /mnt/p uid=65534
open %w /mnt/p a
append %w "more"
sync
close %w
exec /mnt/p uid=65534
`), "t")
	require.NoError(t, err)
	p, _ := cache.LoadProfile("7.1")
	r, err := Run(s, p)
	require.NoError(t, err)
	assert.Zero(t, r.Count(Missed), "writeback before the last close logs the core inode: forced bump, detected")
	assert.Equal(t, 2, r.AuditRecords["/mnt/p"])
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"unknown op", "name: x\nfrobnicate /a\n", "f:2: unknown operation \"frobnicate\""},
		{"arg count", "name: x\nmkdir\n", "f:2: mkdir: want 1..1 arguments, got 0"},
		{"bad opt", "name: x\nexec /a colour=red\n", "f:2: exec: unknown option \"colour\""},
		{"bad uid", "name: x\nexec /a uid=bob\n", "uid=\"bob\" is not a number"},
		{"no name", "mkdir /a\n", "f:1: missing name"},
		{"no steps", "name: x\n", "no steps"},
		{"bad handle", "name: x\nclose %h\n", "f:2: close: \"%h\" is not an open handle"},
		{"double open", "name: x\nopen %h /a r\nopen %h /a r\n", "f:3: open: handle %h is already open"},
		{"quote", "name: x\nwrite /a \"abc\n", "f:2: unterminated quote"},
		{"expect", "name: x\nmkdir /a\nexpect audit /a many\n", "f:3: expect: \"many\" is not a count"},
		{"require", "name: x\nrequires: wings\nmkdir /a\n", "f:2: requires: unknown requirement"},
		{"header", "name: x\ncolour: red\n", "f:2: unknown header \"colour\""},
		{"sleep", "name: x\nsleep soon\n", "bad duration"},
		{"overlay", "name: x\noverlay /o upper=/u\n", "lower= is required"},
		{"relative path", "name: x\nmkdir tmp/a\n", "f:2: mkdir: \"tmp/a\": paths must be absolute"},
		{"relative layer", "name: x\noverlay /o lower=l\n", "lower=\"l\": paths must be absolute"},
		{"unknown fs", "name: x\nfs zfs /m\n", "f:2: fs: unknown filesystem type \"zfs\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(c.text), "f")
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestLoadChecksPolicy(t *testing.T) {
	f := filepath.Join(t.TempDir(), "p.scn")
	require.NoError(t, os.WriteFile(f, []byte("name: x\npolicy: audit func=NOPE\nmkdir /a\n"), 0o644))
	_, err := Load(f)
	require.Error(t, err)
	assert.Contains(t, err.Error(), f+":2: policy:")
}

func TestRunErrorsHaveLocation(t *testing.T) {
	s, err := Parse(strings.NewReader("name: x\nfs xfs /m\nexec /m/missing\n"), "f.scn")
	require.NoError(t, err)
	p, _ := cache.LoadProfile("6.12")
	_, err = Run(s, p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "f.scn:3: exec:")
}

func TestRequiresFeature(t *testing.T) {
	s, err := Parse(strings.NewReader("name: x\nrequires: feature=execve-check\npolicy: audit func=BPRM_CHECK\nfs xfs /m\nwrite /m/s \"#!\" mode=0755\nexecveat /m/s AT_EXECVE_CHECK\n"), "f")
	require.NoError(t, err)
	for n, na := range map[string]bool{"6.12": true, "6.1-stable": true, "6.13": false, "7.1": false} {
		p, _ := cache.LoadProfile(n)
		r, err := Run(s, p)
		require.NoError(t, err, n)
		assert.Equal(t, na, r.NA != "", "%s: %s", n, r.NA)
	}
}

// Golden files pin every built-in scenario's result per profile, so a
// model change is a visible diff. Regenerate with go test -update.
func TestGolden(t *testing.T) {
	for _, name := range BuiltinNames() {
		t.Run(name, func(t *testing.T) {
			s, err := Load(name)
			require.NoError(t, err)
			rep := &Report{Scenario: s}
			for _, p := range cache.Builtins() {
				r, err := Run(s, p)
				require.NoError(t, err)
				rep.Results = append(rep.Results, r)
				rep.Profiles = append(rep.Profiles, ProfileInfo{p.Name, p.About, p.Kernels.String()})
			}
			var js, txt bytes.Buffer
			require.NoError(t, rep.WriteJSON(&js))
			require.NoError(t, rep.WriteText(&txt, TextOptions{}))
			golden(t, filepath.Join("..", "testdata", "golden", "scenarios", name+".json"), js.Bytes())
			golden(t, filepath.Join("..", "testdata", "golden", "scenarios", name+".txt"), txt.Bytes())
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test ./scenarios -update")
	assert.Equal(t, string(want), string(got), "%s differs; if the model change is intended, run go test ./scenarios -update and review the diff", path)
}

func TestTextWidth(t *testing.T) {
	s, _ := Load("xfs-write")
	rep := &Report{Scenario: s}
	for _, p := range cache.Builtins() {
		r, err := Run(s, p)
		require.NoError(t, err)
		rep.Results = append(rep.Results, r)
		rep.Profiles = append(rep.Profiles, ProfileInfo{p.Name, p.About, p.Kernels.String()})
	}
	var b bytes.Buffer
	require.NoError(t, rep.WriteText(&b, TextOptions{}))
	for i, l := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(l, "  #") || strings.HasPrefix(l, "       ") {
			assert.LessOrEqual(t, len([]rune(l)), Width, "line %d too wide: %q", i+1, l)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range BuiltinNames() {
		b, _ := BuiltinSource(n)
		f.Add(string(b))
	}
	f.Add("name: x\nopen %h /a rw\nwrite %h \"\\x00\"\nclose %h\n")
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := Parse(strings.NewReader(s), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz") {
				t.Fatalf("error without location: %v", err)
			}
			return
		}
		// Each step is typed as its keyword says, and what it touches is
		// among its paths, each a checked scenario path.
		for _, st := range sc.Steps {
			if !strings.HasPrefix(st.Text, st.Op.Name()) {
				t.Fatalf("line %d %q typed as %s", st.Line, st.Text, st.Op.Name())
			}
			tc := st.Touches()
			for _, p := range tc.Paths {
				if err := CheckPath(p); err != nil {
					t.Fatalf("line %d: %v", st.Line, err)
				}
			}
			for _, sub := range [][]string{tc.Files, tc.Changes, tc.Execs, {tc.From, tc.To}} {
				for _, p := range sub {
					if p != "" && !slices.Contains(tc.Paths, p) {
						t.Fatalf("line %d: %q touched but not among its paths %q", st.Line, p, tc.Paths)
					}
				}
			}
		}
		// Whatever parses must run without panicking under every profile.
		for _, p := range cache.Builtins() {
			_, _ = Run(sc, p)
		}
	})
}

func BenchmarkXFSOverlayAllProfiles(b *testing.B) {
	s, err := Load("xfs-overlay")
	require.NoError(b, err)
	ps := cache.Builtins()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for _, p := range ps {
			if _, err := Run(s, p); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// tmpfs never initialises i_version: 6.1-stable's stacked check compares
// the real inode's counter with the overlay inode's 0, so the outcome
// depends on recycled memory — indeterminate, naming that state.
func TestIndeterminateTmpfsLower(t *testing.T) {
	s, err := Parse(strings.NewReader(`name: tmpfs-lower
policy: audit func=BPRM_CHECK uid=65534
fs tmpfs /lower
fs tmpfs /t
mkdir /t/upper
mkdir /t/work
write /lower/p "v1" mode=0755
overlay /ovl lower=/lower upper=/t/upper work=/t/work
exec /ovl/p uid=65534
exec /ovl/p uid=65534
`), "t")
	require.NoError(t, err)
	p, _ := cache.LoadProfile("6.1-stable")
	r, err := Run(s, p)
	require.NoError(t, err)
	require.Len(t, r.Steps, 2)
	assert.Equal(t, Indeterminate, r.Steps[1].Verdict)
	assert.Contains(t, r.Steps[1].Cause, "recycled inode memory")
	// With a chmod the counter is bumped (forced): determinate again.
	s2, err := Parse(strings.NewReader(strings.Replace(`name: t2
policy: audit func=BPRM_CHECK uid=65534
fs tmpfs /lower
fs tmpfs /t
mkdir /t/upper
mkdir /t/work
write /lower/p "v1"
chmod /lower/p 755
overlay /ovl lower=/lower upper=/t/upper work=/t/work
exec /ovl/p uid=65534
exec /ovl/p uid=65534
`, "\t", "", -1)), "t2")
	require.NoError(t, err)
	r, err = Run(s2, p)
	require.NoError(t, err)
	assert.Equal(t, Excessive, r.Steps[1].Verdict)
	p7, _ := cache.LoadProfile("7.1")
	r, err = Run(s, p7)
	require.NoError(t, err)
	assert.Equal(t, OK, r.Steps[1].Verdict, "a cookie read from the same inode is not affected")
}

// An XFS inode read back from disk starts QUERIED (xfs_inode_from_disk).
// With noatime that survives until the append, whose timestamp-only
// transaction then bumps i_version, and 7.1's last writer sees it. With
// relatime the exec's own atime update (prepare_binprm reads the file
// before BPRM_CHECK) spends the QUERIED bit first, and the miss is back.
// The eviction itself costs one re-evaluation (IMA freed the iint): by
// design, so ok.
func TestDropCachesXFSReadQueried(t *testing.T) {
	for opt, missed := range map[string]int{"noatime": 0, "relatime": 1} {
		s, err := Parse(strings.NewReader(`name: t
policy: audit func=BPRM_CHECK uid=65534
fs xfs /mnt `+opt+`
write /mnt/p "v1" mode=0755
drop_caches
exec /mnt/p uid=65534
append /mnt/p "v2"
exec /mnt/p uid=65534
`), "t")
		require.NoError(t, err)
		p, _ := cache.LoadProfile("7.1")
		r, err := Run(s, p)
		require.NoError(t, err)
		assert.Equal(t, missed, r.Count(Missed), opt)
		assert.Equal(t, 2-missed, r.AuditRecords["/mnt/p"], opt)
	}
	p, _ := cache.LoadProfile("7.1")

	s2, err := Parse(strings.NewReader(`name: t
policy: audit func=BPRM_CHECK uid=65534
fs xfs /mnt
write /mnt/p "v1" mode=0755
exec /mnt/p uid=65534
drop_caches
exec /mnt/p uid=65534
`), "t")
	require.NoError(t, err)
	r, err := Run(s2, p)
	require.NoError(t, err)
	assert.Equal(t, OK, r.Steps[1].Verdict, "re-evaluating a re-read inode is by design")
	assert.True(t, r.Steps[1].Evaluated)
	assert.Contains(t, r.Steps[1].Cause, "evicted")
}

// A cloned runner continues exactly as the original would, and does not
// disturb it.
func TestRunnerClone(t *testing.T) {
	s, err := Load("xfs-write")
	require.NoError(t, err)
	p, _ := cache.LoadProfile("7.1")
	full, err := Run(s, p)
	require.NoError(t, err)

	r, err := NewRunner(s, p, false)
	require.NoError(t, err)
	require.True(t, r.Ready())
	for _, st := range s.Steps[:2] {
		require.NoError(t, r.Step(st))
	}
	h := r.StateHash()
	c := r.Clone()
	assert.Equal(t, h, c.StateHash(), "a clone hashes equal")
	for _, st := range s.Steps[2:] {
		require.NoError(t, c.Step(st))
	}
	assert.Equal(t, full.Steps, c.Result().Steps)
	assert.Equal(t, full.AuditRecords, c.Result().AuditRecords)
	assert.Equal(t, h, r.StateHash(), "the original is untouched")
	assert.NotEqual(t, h, c.StateHash())
}

// failingTPM fails its nth extend, as a swtpm killed mid-run does.
type failingTPM struct {
	tpm.PCRs
	n int
}

func (f *failingTPM) Extend(pcr int, d map[crypto.Hash][]byte) error {
	f.n--
	if f.n < 0 {
		return errors.New("tpm swtpm: extend PCR 10 (sha1,sha256): connection lost")
	}
	return f.PCRs.Extend(pcr, d)
}

func TestTPMFailureFailsTheRun(t *testing.T) {
	s, err := Parse(strings.NewReader(`name: m
policy: measure func=BPRM_CHECK
fs xfs /mnt
write /mnt/a "one" mode=0755
write /mnt/b "two" mode=0755
exec /mnt/a
exec /mnt/b
`), "m.scn")
	require.NoError(t, err)
	p, _ := cache.LoadProfile("6.12")
	// boot_aggregate and /mnt/a succeed, /mnt/b's extend fails.
	res, err := RunWith(s, p, Options{TPM: &failingTPM{PCRs: tpm.NewSoftware(crypto.SHA1, crypto.SHA256), n: 2}})
	require.Error(t, err)
	assert.Nil(t, res, "no result with a PCR that was not extended")
	assert.Contains(t, err.Error(), "m.scn:7: exec")
	assert.Contains(t, err.Error(), "tpm swtpm: extend PCR 10")
}

// IMA's truncate hooks (Debian 6.12.105+, 7.2) clear the flags, so the
// next exec re-measures; 6.1 and 6.13 rely on the last writer only
// (found by imasim vm on real kernels: testdata/vm/*/vm-truncate).
func TestTruncateHook(t *testing.T) {
	s, err := Parse(strings.NewReader(`name: t
policy: audit func=BPRM_CHECK uid=65534
fs tmpfs /t
write /t/p "program-v1" mode=0755
exec /t/p uid=65534
truncate /t/p 4
exec /t/p uid=65534
`), "t")
	require.NoError(t, err)
	for prof, audits := range map[string]int{"6.12": 2, "7.1": 2, "6.13": 1, "6.1-stable": 1} {
		p, _ := cache.LoadProfile(prof)
		r, err := Run(s, p)
		require.NoError(t, err)
		assert.Equal(t, audits, r.AuditRecords["/t/p"], prof)
	}
}

// Paths and mount options cannot smuggle mount options or leave the
// scenario's root: each is refused with file:line.
func TestParseRefusesSmuggling(t *testing.T) {
	for _, c := range []struct{ step, msg string }{
		{"overlay /ovl lower=/t/l,upperdir=/host/dir,workdir=/host/wk", "cannot carry"},
		{"overlay /ovl lower=/t/l upper=/t/u,x work=/t/w", "cannot carry"},
		{"write /t/../../etc/f x", "\"..\""},
		{"write \"/t/a\\nb\" x", "control character"},
		{"mkdir /t/a\\b", "cannot carry"},
		{"fs xfs /m logdev=/dev/sda", "logdev"},
		{"fs ext4 /m \"journal_dev=2049\"", "journal_dev"},
		{"remount /t device=/dev/sdb", "device"},
		{"fs xfs /m norecovery", "mount option \"norecovery\" is not one a scenario may give"},
		{"fs tmpfs /m inode64 noatime", ""},
	} {
		_, err := Parse(strings.NewReader("name: x\nfs tmpfs /t\n"+c.step+"\n"), "x.scn")
		if c.msg == "" {
			assert.NoError(t, err, c.step)
			continue
		}
		require.Error(t, err, c.step)
		assert.Contains(t, err.Error(), "x.scn:3:", c.step)
		assert.Contains(t, err.Error(), c.msg, c.step)
	}
}

// Issue 16 item 5: `truncate /f 1099511627776` allocated the whole size
// (a fatal out-of-memory). Sizes are checked against stated limits first.
func TestModelSizeLimits(t *testing.T) {
	for _, c := range []struct{ step, msg string }{
		{"truncate /t/f 1099511627776", "over the limit of 16 MiB"},
		{"truncate /t/f -1", "not a number of bytes"},
		{"truncate /t/f 99999999999999999999999", "not a number of bytes"},
	} {
		_, err := Parse(strings.NewReader("name: x\nfs tmpfs /t\nwrite /t/f x\n"+c.step+"\n"), "x.scn")
		require.Error(t, err, c.step)
		assert.Contains(t, err.Error(), "x.scn:4: truncate: ", c.step)
		assert.Contains(t, err.Error(), c.msg, c.step)
	}
	// Within each file's limit, but a third 16 MiB copy (line 7) goes
	// over the run's 64 MiB.
	text := "name: x\nfs tmpfs /t\nwrite /t/f x\ntruncate /t/f 16777216\n"
	for i := 0; i < 4; i++ {
		text += fmt.Sprintf("copy /t/f /t/c%d\n", i)
	}
	s, err := Parse(strings.NewReader(text), "x.scn")
	require.NoError(t, err)
	_, err = Run(s, cache.Builtins()[0])
	require.Error(t, err)
	assert.Contains(t, err.Error(), "x.scn:7: copy: the scenario writes more than 64 MiB")
}

// Issue 16 item 9: `sleep 2562048h` overflowed int64 silently.
func TestSleepBounded(t *testing.T) {
	for _, d := range []string{"2562048h", "9223372036854775807ns1", "25h", "86400000000001ns"} {
		_, err := Parse(strings.NewReader("name: x\nsleep "+d+"\n"), "x.scn")
		assert.Error(t, err, d)
	}
	n, err := ParseDuration("24h")
	require.NoError(t, err)
	assert.Equal(t, MaxSleep, n)
	_, err = ParseDuration("2562048h")
	assert.ErrorContains(t, err, "over the limit of 24h0m0s")
}

// Issue 16 item 9: repeated about: lines were joined in quadratic time
// (each line copied everything before it). 20000 lines allocated about
// 2 GB that way; joined once they take well under 20 MB.
func TestRepeatedAboutLinear(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: x\n")
	for i := 0; i < 20000; i++ {
		b.WriteString("about: abcdefghij\nsource: abcdefghij\n")
	}
	b.WriteString("fs tmpfs /t\n")
	text := b.String()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s, err := Parse(strings.NewReader(text), "x.scn")
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	assert.Len(t, s.About, 20000*11-1)
	assert.Len(t, s.Source, 20000*11-1)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(20<<20))
}

// A line over the scenario line limit is an error at its line.
func TestScenarioLongLine(t *testing.T) {
	_, err := Parse(strings.NewReader("name: x\nwrite /t/f "+strings.Repeat("a", 2<<20)+"\n"), "x.scn")
	assert.EqualError(t, err, "x.scn:2: line longer than the limit of 1 MiB")
}
