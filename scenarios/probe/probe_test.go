package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/real"
)

func parse(t testing.TB, text string) *scenarios.Scenario {
	t.Helper()
	s, err := scenarios.Parse(strings.NewReader(text), "test.scn")
	require.NoError(t, err)
	return s
}

func TestTrackedPaths(t *testing.T) {
	s := parse(t, `name: t
fs xfs /lower
fs tmpfs /t
overlay /ovl lower=/lower upper=/t/upper work=/t/work
write /lower/prog "/not/a/path" mode=0755
open %h /ovl/data r
read %h
close %h
copy /ovl/prog /t/copy
rename /t/copy /t/moved
chmod /t/x 0600
`)
	assert.Equal(t, []string{
		"/lower/data", "/lower/prog", "/ovl/data", "/ovl/prog",
		"/t/copy", "/t/moved", "/t/upper/data", "/t/upper/prog", "/t/x",
	}, TrackedPaths(s))
}

func TestModelCopyUpIdentity(t *testing.T) {
	p, err := cache.LoadProfile("6.13")
	require.NoError(t, err)
	s := parse(t, `name: t
fs xfs /lower
fs tmpfs /t
mkdir /t/upper
mkdir /t/work
write /lower/prog "v1" mode=0755
overlay /ovl lower=/lower upper=/t/upper work=/t/work
append /ovl/prog "-up"
`)
	m := NewModel(p)
	for _, st := range s.Steps {
		require.NoError(t, m.Step(st), st.Text)
	}
	st, _, err := m.Stat("/ovl/prog")
	require.NoError(t, err)
	lower, _, err := m.Stat("/lower/prog")
	require.NoError(t, err)
	assert.NotEqual(t, lower.Dev, st.Dev, "cross-fs overlay: an anonymous per-layer st_dev, not the lower fs's")
	assert.Equal(t, lower.Ino, st.Ino, "the lower origin's st_ino after copy-up")
	up, _, err := m.Stat("/t/upper/prog")
	require.NoError(t, err)
	assert.Equal(t, 5, up.Size)
	mp, ok := m.MountOf(lower.Dev)
	require.True(t, ok)
	assert.Equal(t, "/lower", mp)
	v, err := m.IVersion("/lower/prog")
	require.NoError(t, err)
	assert.Equal(t, uint64(2), v, "xfs-mg: created at 2, nothing forced a bump yet")
	assert.Error(t, m.Step(scenarios.Step{}), "a step without an operation")
}

func TestParseXFSChangeCount(t *testing.T) {
	tests := []struct {
		name, in string
		want     uint64
		wantErr  bool
	}{
		{"plain", "v3.change_count = 6\n", 6, false},
		{"among others", "core.version = 3\nv3.change_count = 12\nv3.lsn = 0x1\n", 12, false},
		{"missing", "field v3.change_count not found\n", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseXFSChangeCount(tc.in)
			if tc.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseDebugfsVersion(t *testing.T) {
	tests := []struct {
		name, in string
		want     uint64
		wantErr  bool
	}{
		{"large inode", "Inode: 12   Type: regular    Mode:  0755   Flags: 0x80000\nGeneration: 3062212819    Version: 0x00000000:00000002\n", 2, false},
		{"hi part", "Generation: 1    Version: 0x00000001:0000000a\n", 1<<32 | 10, false},
		{"small inode", "Generation: 1    Version: 0x0000000b\n", 11, false},
		{"missing", "stat: Filesystem not open\n", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDebugfsVersion(tc.in)
			if tc.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

const dumpTree = `	item 3 key (256 DIR_INDEX 2) itemoff 16049 itemsize 31
		location key (257 INODE_ITEM 0) type FILE
	item 4 key (257 INODE_ITEM 0) itemoff 15889 itemsize 160
		generation 7 transid 7 size 5 nbytes 5
		block group 0 mode 100755 links 1 uid 0 gid 0 rdev 0
		sequence 3 flags 0x0(none)
	item 5 key (258 INODE_ITEM 0) itemoff 15729 itemsize 160
		sequence 9 flags 0x0(none)
`

func TestParseBtrfsSequence(t *testing.T) {
	got, err := ParseBtrfsSequence(dumpTree, 257)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), got)
	got, err = ParseBtrfsSequence(dumpTree, 258)
	require.NoError(t, err)
	assert.Equal(t, uint64(9), got)
	_, err = ParseBtrfsSequence(dumpTree, 256)
	assert.Error(t, err)
}

func FuzzParseOnDisk(f *testing.F) {
	f.Add("v3.change_count = 6\n", uint64(0))
	f.Add("Version: 0x00000001:0000000a\n", uint64(0))
	f.Add(dumpTree, uint64(257))
	f.Fuzz(func(t *testing.T, s string, ino uint64) {
		// Parsers must not panic on any tool output.
		ParseXFSChangeCount(s)
		ParseDebugfsVersion(s)
		ParseBtrfsSequence(s, ino)
	})
}

func TestReportText(t *testing.T) {
	r := &Report{Schema: 1, Scenario: "t", Kernel: "6.18", Profile: "6.13", Models: map[string]string{"xfs": "xfs-mg"},
		Steps: []StepRecord{{Index: 0, Line: 3, Text: "write /m/f x", Files: []FileRecord{{Path: "/m/f",
			Real: RealStat{Exists: true, Dev: "7:0", Ino: 131, Ctime: 1}, Model: ModelStat{Exists: true, Dev: 7, Ino: 131}}}}},
		Mismatches: []Mismatch{{Line: 3, Text: "write /m/f x", Path: "/m/f", Check: CheckCtime, Model: "changed yes", Real: "changed no"}},
		IVersion:   []IVersionCheck{{Path: "/m/f", FS: "xfs", Ino: 131, Model: 3, Disk: 5}}}
	var b bytes.Buffer
	require.NoError(t, r.WriteText(&b, true))
	out := b.String()
	assert.Contains(t, out, "line 3 `write /m/f x`: /m/f: ctime-changed: model changed yes, host changed no")
	assert.Contains(t, out, "MISMATCH model 3, disk 5")
	assert.Contains(t, out, "host:  dev 7:0 ino 131")
	assert.True(t, r.Failed())
	b.Reset()
	require.NoError(t, r.WriteJSON(&b))
	var back Report
	require.NoError(t, json.Unmarshal(b.Bytes(), &back))
	assert.Equal(t, 1, back.Schema)
	assert.Equal(t, r.Mismatches, back.Mismatches)
}

// needProbe skips unless this host can probe s.
func needProbe(t *testing.T, s *scenarios.Scenario) {
	t.Helper()
	var cr *real.CannotRunError
	if err := Check(s); errors.As(err, &cr) {
		t.Skipf("%s: %s", s.Name, cr.Reason)
	} else {
		require.NoError(t, err)
	}
}

// workDir is a private work directory for one probe run, so the leak
// checks see only this run's mounts and loop devices (other processes may
// probe at the same time).
func workDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "imasim-probe-test-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// leftovers lists mounts and loop devices under dir.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	mi, err := real.ReadMountinfo()
	require.NoError(t, err)
	for _, m := range mi {
		if strings.Contains(m.Mountpoint, dir) {
			out = append(out, "mount "+m.Mountpoint)
		}
	}
	if lo, err := exec.Command("losetup", "-a").Output(); err == nil {
		for _, l := range strings.Split(string(lo), "\n") {
			if strings.Contains(l, dir) {
				out = append(out, "loop "+l)
			}
		}
	}
	sort.Strings(out)
	return out
}

// probeScenarios are the built-in scenarios and testdata/probe.
func probeScenarios(t *testing.T) []*scenarios.Scenario {
	var out []*scenarios.Scenario
	for _, n := range scenarios.BuiltinNames() {
		s, err := scenarios.Load(n)
		require.NoError(t, err)
		out = append(out, s)
	}
	files, err := filepath.Glob("../../testdata/probe/*.scn")
	require.NoError(t, err)
	for _, f := range files {
		s, err := scenarios.Load(f)
		require.NoError(t, err)
		out = append(out, s)
	}
	return out
}

// TestProbeScenarios probes every built-in scenario and every
// testdata/probe scenario this host can run. Mismatches are findings
// about the models, not test failures; the test checks the run itself:
// every step observed, statx recorded, i_version read, nothing left over.
// Sleeps are capped at 1s to keep the suite short.
func TestProbeScenarios(t *testing.T) {
	for _, s := range probeScenarios(t) {
		t.Run(s.Name, func(t *testing.T) {
			needProbe(t, s)
			dir := workDir(t)
			before := leftovers(t, dir)
			rep, err := Run(context.Background(), s, Options{MaxSleep: time.Second, WorkDir: dir})
			var cr *real.CannotRunError
			if errors.As(err, &cr) {
				t.Skipf("the host cannot perform a step: %s", cr.Reason)
			}
			require.NoError(t, err)
			assert.Equal(t, before, leftovers(t, dir), "mounts and loop devices left behind")
			if rep.Stopped != "" && strings.HasPrefix(s.File, "builtin:") {
				// A built-in scenario may use a step this host refuses
				// where the model allows it: that is a finding, reported.
				t.Skipf("the host cannot perform all steps: %s", rep.Stopped)
			}
			assert.Empty(t, rep.Stopped)
			require.Len(t, rep.Steps, len(s.Steps))
			for _, st := range rep.Steps {
				assert.Empty(t, st.RealErr, "line %d", st.Line)
				assert.Empty(t, st.ModelErr, "line %d", st.Line)
			}
			seen := false
			for _, f := range rep.Steps[len(rep.Steps)-1].Files {
				seen = seen || f.Real.Exists && f.Real.Ino != 0 && f.Real.Ctime != 0
			}
			assert.True(t, seen, "statx recorded")
			for _, c := range rep.IVersion {
				assert.Empty(t, c.Err, "%s: reading the on-disk i_version", c.Path)
			}
			// The running kernel's profile choice is reported with the findings.
			det, _ := cache.DetectHost()
			require.NotNil(t, det)
			assert.Equal(t, det.ProfileName(), rep.KernelProfile)
			assert.NotEmpty(t, rep.KernelProfileWhy)
			var b bytes.Buffer
			require.NoError(t, rep.WriteText(&b, false))
			assert.Contains(t, b.String(), "kernel profile: ")
			t.Logf("%s", b.String())
		})
	}
}

// TestProbeFindsADifference compares a multigrain host (6.13+) with the
// 6.12 XFS model, which is not multigrain, with no gap between steps: the
// append right after statx queried the ctime must move it on the host
// (fine-grained), while the coarse model clock has not ticked. On a
// pre-6.13 host the append lands in the same tick and nothing differs.
func TestProbeFindsADifference(t *testing.T) {
	s := parse(t, "name: t\nfs xfs /x\nwrite /x/f \"a\"\nappend /x/f \"b\"\n")
	needProbe(t, s)
	rel, err := HostKernel()
	require.NoError(t, err)
	v, err := cache.ParseKernelVersion(rel)
	require.NoError(t, err)
	if v.Less(cache.KernelVersion{Major: 6, Minor: 13}) {
		t.Skipf("host kernel %s has no multigrain timestamps", rel)
	}
	p, err := cache.LoadProfile("6.12")
	require.NoError(t, err)
	rep, err := Run(context.Background(), s, Options{Profile: p, Gap: -1})
	require.NoError(t, err)
	assert.Equal(t, "xfs", rep.Models["xfs"])
	assert.Contains(t, rep.Mismatches, Mismatch{Step: 2, Line: 4, Text: `append /x/f "b"`, Path: "/x/f",
		Check: CheckCtime, Model: "changed no", Real: "changed yes"})
	assert.True(t, rep.Failed())
}

func TestProbeStopsAndCleansUpOnHostOnlyFailure(t *testing.T) {
	// The model lets uid 65534 exec a 0700 root file; the host does not.
	s := parse(t, "name: t\nfs tmpfs /t\nwrite /t/p \"x\" mode=0700\nexec /t/p uid=65534\nsync\n")
	needProbe(t, s)
	dir := workDir(t)
	before := leftovers(t, dir)
	rep, err := Run(context.Background(), s, Options{WorkDir: dir})
	require.NoError(t, err)
	assert.Equal(t, before, leftovers(t, dir))
	assert.Contains(t, rep.Stopped, "line 4 failed on the host only")
	require.Len(t, rep.Steps, 3, "fs, write and the failing exec")
	require.NotEmpty(t, rep.Mismatches)
	assert.Equal(t, CheckOutcome, rep.Mismatches[0].Check)
	assert.True(t, rep.Failed())
}

func TestProbeCancelled(t *testing.T) {
	s, err := scenarios.Load("xfs-write")
	require.NoError(t, err)
	needProbe(t, s)
	dir := workDir(t)
	before := leftovers(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Run(ctx, s, Options{WorkDir: dir})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, before, leftovers(t, dir))
}

func TestProbeKeep(t *testing.T) {
	s := parse(t, "name: t\nfs tmpfs /t\nwrite /t/f \"x\"\n")
	needProbe(t, s)
	rep, err := Run(context.Background(), s, Options{Keep: true})
	require.NoError(t, err)
	require.NotEmpty(t, rep.WorkDir)
	defer os.RemoveAll(rep.WorkDir)
	_, err = os.Stat(filepath.Join(rep.WorkDir, "root"))
	assert.NoError(t, err)
}

func TestProbeQueryCookie(t *testing.T) {
	// On a multigrain host the probe's own statx already makes every later
	// change move the ctime (and so force an ext4 bump), so the query
	// shows no extra bump here; the run must still work and be read back.
	s := parse(t, "name: t\nfs ext4 /e\nwrite /e/f \"a\"\nappend /e/f \"b\"\n")
	needProbe(t, s)
	rep, err := Run(context.Background(), s, Options{Gap: -1, QueryCookie: true})
	require.NoError(t, err)
	require.Len(t, rep.IVersion, 1)
	assert.Empty(t, rep.IVersion[0].Err)
	assert.NotZero(t, rep.IVersion[0].Disk)
}

func TestCheckKernelRequirement(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("Check stops at the root test first")
	}
	s := parse(t, "name: t\nrequires: kernel>=99.0\nfs tmpfs /t\n")
	var cr *real.CannotRunError
	require.ErrorAs(t, Check(s), &cr)
	assert.Contains(t, cr.Reason, "requires kernel >= 99.0")
	_, err := Run(context.Background(), s, Options{})
	require.ErrorAs(t, err, &cr, "Run checks first and creates nothing")
}
