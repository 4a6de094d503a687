package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/vm/guest"
)

// leftovers lists processes whose command line mentions dir.
func leftovers(t *testing.T, dir string) string {
	out, _ := exec.Command("pgrep", "-af", dir).Output()
	return strings.TrimSpace(string(out))
}

// cachedKernel returns a Debian kernel from the cache, 6.12 preferred.
func cachedKernel(t *testing.T) *Kernel {
	for _, v := range []string{"6.12", "7.2", "6.1"} {
		dirs, _ := filepath.Glob(filepath.Join(DefaultCache(), v+"_*", "root"))
		for _, d := range dirs {
			if k, err := FindKernel(d); err == nil {
				k.Spec = "debian:" + v
				return k
			}
		}
	}
	t.Skip("no Debian kernel in " + DefaultCache() + " (make kernels)")
	return nil
}

func needVM(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM (-short)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (mkfs on disk images is fine, but the agent build and qemu run as root here)")
	}
	for _, b := range []string{"qemu-system-x86_64", "swtpm", "mkfs.xfs", "go"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed", b)
		}
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("no /bin/busybox (apt-get install busybox-static)")
	}
}

// shared holds what the VM tests build and boot once per test run: the
// static agent, and the run of every built-in on each Debian kernel (one
// boot per policy group), which several tests check.
var shared struct {
	dir       string // removed by TestMain
	agentOnce sync.Once
	agent     string
	agentErr  error
	mu        sync.Mutex
	builtins  map[string]*builtinRuns
}

// builtinRuns is every built-in scenario run on one kernel.
type builtinRuns struct {
	once      sync.Once
	k         *Kernel
	p         *cache.Profile
	runs      []*Run
	err       error
	leftovers string // qemu/swtpm still running after RunAll
	workLeft  int    // entries left in the work dir
}

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "imasim-vm-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	shared.dir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// buildAgent builds the static guest agent once per test run.
func buildAgent(t *testing.T) string {
	shared.agentOnce.Do(func() {
		out := filepath.Join(shared.dir, "imasim")
		cmd := exec.Command("go", "build", "-o", out, "github.com/imasim/imasim/cmd/imasim")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			shared.agentErr = fmt.Errorf("building the static guest agent: %v: %s", err, b)
		}
		shared.agent = out
	})
	require.NoError(t, shared.agentErr)
	return shared.agent
}

// runBuiltins runs every built-in scenario on kernel k once per test run
// and returns the runs;
// later callers get the same runs without booting again.
func runBuiltins(t *testing.T, k *Kernel) *builtinRuns {
	shared.mu.Lock()
	if shared.builtins == nil {
		shared.builtins = map[string]*builtinRuns{}
	}
	br := shared.builtins[k.Release]
	if br == nil {
		br = &builtinRuns{k: k}
		shared.builtins[k.Release] = br
	}
	shared.mu.Unlock()
	br.once.Do(func() {
		ss := loadAll(t, scenarios.BuiltinNames()...)
		agent := buildAgent(t)
		br.p, br.err = cache.ProfileFor(k.Version)
		if br.err != nil {
			return
		}
		work, err := os.MkdirTemp(shared.dir, "work-")
		if err != nil {
			br.err = err
			return
		}
		t0 := time.Now()
		fmt.Fprintf(os.Stderr, "scenarios/vm: %d built-ins on %s (one boot per policy, 2 at a time)\n", len(ss), k.Release)
		// Two VMs at a time and generous boot and idle timeouts: CI's 2
		// cores may be busy, and a TCG boot (or mkfs.xfs in the guest)
		// then takes well over the defaults (90 s, 60 s).
		o := Options{Kernel: k, Agent: agent, WorkDir: work, Boot: 3 * time.Minute, Idle: 3 * time.Minute, Total: 6 * time.Minute,
			Log: testWriter{t}, Retries: 2, Parallel: 2}
		br.runs, br.err = RunAll(context.Background(), o, br.p, ss)
		fmt.Fprintf(os.Stderr, "scenarios/vm: %s done in %.0fs\n", k.Release, time.Since(t0).Seconds())
		br.leftovers = leftovers(t, work)
		ents, _ := os.ReadDir(work)
		br.workLeft = len(ents)
	})
	require.NoError(t, br.err)
	return br
}

// TestBootXFSOverlay: xfs-overlay on a cached Debian kernel (from the
// shared run of the built-ins: the same kernel and policy boot once).
func TestBootXFSOverlay(t *testing.T) {
	needVM(t)
	k := cachedKernel(t)
	br := runBuiltins(t, k)
	var r *Run
	for _, x := range br.runs {
		if x.Name == "xfs-overlay" {
			r = x
		}
	}
	require.NotNil(t, r)
	require.NoError(t, r.Err)
	assert.Empty(t, r.Defects, "model %s vs kernel %s", br.p.Name, k.Release)
	require.Len(t, r.Replay, 2)
	for _, b := range r.Replay {
		assert.True(t, b.OK, "PCR 10 %s: replayed %s, real %s", b.Bank, b.Replayed, b.Real)
	}
	require.NotEmpty(t, r.Paths)
	assert.Equal(t, "/ovl/test_prog", r.Paths[0].Path)
	assert.Positive(t, r.Paths[0].Real)
	assert.Empty(t, br.leftovers, "qemu/swtpm left running")
	assert.Zero(t, br.workLeft, "work dir not removed")
}

// TestBootTimeoutKillsEverything: a total timeout kills QEMU and swtpm.
func TestBootTimeoutKillsEverything(t *testing.T) {
	needVM(t)
	k := cachedKernel(t)
	work := t.TempDir()
	s, err := scenarios.Load("xfs-write")
	require.NoError(t, err)
	o := Options{Kernel: k, Agent: buildAgent(t), WorkDir: work, Total: 2 * time.Second, Log: testWriter{t}}
	_, err = Boot(t.Context(), o, Group{Policy: PolicyText(s), Scenarios: []*scenarios.Scenario{s}})
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrBoot), "%v", err)
	assert.Contains(t, err.Error(), "total timeout")
	assert.Empty(t, leftovers(t, work), "qemu/swtpm left running")
}

func TestBootWithoutQEMU(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Boot(t.Context(), Options{Kernel: &Kernel{}}, Group{})
	require.ErrorIs(t, err, ErrCannotRun)
	assert.Contains(t, err.Error(), "qemu-system-x86_64 not found")
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// TestModelAgreesWithRealKernels runs every built-in scenario on every
// Debian kernel (one boot per policy group, two at a time): the model must
// predict each real outcome (audit records per step and file, list
// entries, violations) and each list must replay to the real PCR 10.
// Broken expect lines are the kernels' bugs, not failures here; scenarios
// a kernel cannot run (AT_EXECVE_CHECK before 6.14) say so.
func TestModelAgreesWithRealKernels(t *testing.T) {
	needVM(t)
	n := len(scenarios.BuiltinNames())
	for _, v := range []string{"6.1", "6.12", "7.2"} {
		t.Run("debian-"+v, func(t *testing.T) {
			k := debianKernel(t, v)
			br := runBuiltins(t, k)
			p, runs := br.p, br.runs
			require.Len(t, runs, n)
			for _, r := range runs {
				if errors.Is(r.Err, ErrCannotRun) && r.Model != nil && r.Model.NA != "" {
					t.Logf("%s: %v", r.Name, r.Err)
					continue
				}
				require.NoError(t, r.Err, "%s on %s", r.Name, k.Release)
				assert.Empty(t, r.Lossy, "%s: lossy audit log", r.Name)
				assert.Empty(t, r.Defects, "%s: model %s vs kernel %s", r.Name, p.Name, k.Release)
				for _, b := range r.Replay {
					assert.True(t, b.OK, "%s: PCR 10 %s replayed %s, real %s", r.Name, b.Bank, b.Replayed, b.Real)
				}
			}
			assert.Empty(t, br.leftovers, "qemu/swtpm left running")
			assert.Zero(t, br.workLeft, "work dir not removed")
		})
	}
}

// debianKernel returns the cached Debian kernel of suite v, or skips
// loudly (CI fetches them with make kernels).
func debianKernel(t *testing.T, v string) *Kernel {
	dirs, _ := filepath.Glob(filepath.Join(DefaultCache(), v+"_*", "root"))
	if len(dirs) == 0 {
		t.Skipf("LOUD SKIP: Debian %s kernel not in %s (make kernels could not fetch it)", v, DefaultCache())
	}
	k, err := FindKernel(dirs[len(dirs)-1])
	require.NoError(t, err)
	k.Spec = "debian:" + v
	return k
}

// shellSet is the catalogue's exported reproducers run in CI: every
// mechanism (overlay stacking, direct writes on each filesystem, metadata
// with setfattr, FILE_CHECK, both violations through the held-open
// helpers, appraisal, mmap and AT_EXECVE_CHECK through python3) without
// the 31 s sleeps, which the scripts do in full.
var shellSet = []string{
	"xfs-overlay", "xfs-write", "xfs-overwrite", "xfs-write-sync", "overlay-lower-write",
	"overlay-meta-lower", "overlay-tmpfs-remount", "overlay-copyup-write", "ext4-write", "tmpfs-write",
	"xfs-filecheck-rdwr", "xfs-create-filecheck", "violation-open-writers", "violation-tomtou",
	"evm-overlay-metadata", "mmap-backing-file", "execve-check-toctou", "mprotect-backing-file",
}

// TestExportedScriptsInVM runs `imasim scenario export --sh` scripts as
// they are, as root in the guest of one real kernel (7.2), and checks
// every count they judge against the model.
func TestExportedScriptsInVM(t *testing.T) {
	needVM(t)
	k := debianKernel(t, "7.2")
	p, err := cache.ProfileFor(k.Version)
	require.NoError(t, err)
	ss := loadAll(t, shellSet...)
	tools, missing, err := ResolveTools(DefaultTools)
	require.NoError(t, err)
	groups, err := ShellGroups(Balance(GroupByPolicy(ss), 2, ShellCost))
	require.NoError(t, err)
	for i := range groups {
		groups[i].Files = append(groups[i].Files, tools...)
	}
	work := t.TempDir()
	o := Options{Kernel: k, Agent: buildAgent(t), WorkDir: work, Boot: 3 * time.Minute, Idle: 3 * time.Minute, Total: 6 * time.Minute, Log: testWriter{t}, Retries: 2, Parallel: 2}
	runs := CompareShell(p, ss, RunScripts(t.Context(), o, groups))
	require.Len(t, runs, len(ss))
	for _, r := range runs {
		require.NoError(t, r.Err, "%s", r.Name)
		require.Empty(t, r.Conf, "%s: TCONF (tools missing on this host: %v)", r.Name, missing)
		assert.Len(t, r.Checks, len(countExpects(r.Scenario)), "%s judged each count", r.Name)
		for _, c := range r.Checks {
			assert.True(t, c.Agree(), "%s: %s: real %s, model %s (%s)", r.Name, c.Text, c.Real, c.Model, p.Name)
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", r.Name, r.Script.Output)
		}
	}
	assert.Empty(t, leftovers(t, work), "qemu/swtpm left running")
}

// TestLTPShellTestsInVM runs the ltp-compat shell tests for real in the
// guest under the bundled shim: imasim_overlay_xfs.sh on each Debian
// kernel (its verdict must be the model's: 3 records on 6.1, 1 after),
// and imasim_model.sh once.
func TestLTPShellTestsInVM(t *testing.T) {
	needVM(t)
	agent := buildAgent(t)
	ltp, err := DirFiles("../../ltp-compat", "/opt/imasim/ltp-compat")
	require.NoError(t, err)
	golden, err := DirFiles("../../testdata/golden/scenarios", "/opt/imasim/testdata/golden/scenarios")
	require.NoError(t, err)
	tools, _, err := ResolveTools(DefaultTools)
	require.NoError(t, err)
	xo, err := scenarios.Load("xfs-overlay")
	require.NoError(t, err)
	for _, v := range []string{"6.1", "6.12", "7.2"} {
		t.Run("debian-"+v, func(t *testing.T) {
			t.Parallel() // one VM per core
			k := debianKernel(t, v)
			p, err := cache.ProfileFor(k.Version)
			require.NoError(t, err)
			m, err := scenarios.Run(xo, p)
			require.NoError(t, err)
			want := m.AuditRecords["/ovl/test_prog"]
			g := Group{Load: ScriptModules, Files: append(append(tools, ltp...), golden...),
				Scripts: []guest.Script{{Name: "imasim_overlay_xfs", Path: "/opt/imasim/ltp-compat/imasim_overlay_xfs.sh",
					Env: []string{"LTP_IMA_LOAD_POLICY=1"}}}}
			if v == "7.2" {
				g.Scripts = append(g.Scripts, guest.Script{Name: "imasim_model", Path: "/opt/imasim/ltp-compat/imasim_model.sh"})
			}
			work := t.TempDir()
			o := Options{Kernel: k, Agent: agent, WorkDir: work, Boot: 3 * time.Minute, Idle: 3 * time.Minute, Total: 4 * time.Minute, Log: testWriter{t}, Retries: 2}
			sb := RunScripts(t.Context(), o, []Group{g})[0]
			require.NoError(t, sb.Err)
			x := sb.Scripts[0]
			t.Logf("imasim_overlay_xfs.sh on %s (exit %d):\n%s", k.Release, x.Exit, x.Output)
			if want == 1 {
				assert.Equal(t, 0, x.Exit)
				assert.Contains(t, x.Output, "imasim_overlay_xfs 1 TPASS: 1 INTEGRITY_RULE record")
			} else {
				assert.Equal(t, 1, x.Exit)
				assert.Contains(t, x.Output, fmt.Sprintf("imasim_overlay_xfs 1 TFAIL: %d INTEGRITY_RULE records", want))
			}
			assert.Contains(t, x.Output, "\nSummary:\n", "LTP's Summary block")
			if len(sb.Scripts) > 1 {
				mr := sb.Scripts[1]
				assert.Equal(t, 0, mr.Exit, "imasim_model.sh:\n%s", mr.Output)
				assert.Contains(t, mr.Output, "failed   0")
				assert.NotContains(t, mr.Output, "TFAIL")
			}
			assert.Empty(t, leftovers(t, work), "qemu/swtpm left running")
		})
	}
}
