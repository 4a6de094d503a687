package vm

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios"
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

func buildAgent(t *testing.T) string {
	out := filepath.Join(t.TempDir(), "imasim")
	cmd := exec.Command("go", "build", "-o", out, "github.com/imasim/imasim/cmd/imasim")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "building the static guest agent: %s", b)
	return out
}

// TestBootXFSOverlay boots a cached Debian kernel and runs xfs-overlay.
func TestBootXFSOverlay(t *testing.T) {
	needVM(t)
	k := cachedKernel(t)
	work := t.TempDir()
	s, err := scenarios.Load("xfs-overlay")
	require.NoError(t, err)
	p, err := cache.ProfileFor(k.Version)
	require.NoError(t, err)
	o := Options{Kernel: k, Agent: buildAgent(t), WorkDir: work, Total: 3 * time.Minute, Log: testWriter{t}, Retries: 2}
	runs, err := RunAll(t.Context(), o, p, []*scenarios.Scenario{s})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	r := runs[0]
	require.NoError(t, r.Err)
	assert.Empty(t, r.Defects, "model %s vs kernel %s", p.Name, k.Release)
	require.Len(t, r.Replay, 2)
	for _, b := range r.Replay {
		assert.True(t, b.OK, "PCR 10 %s: replayed %s, real %s", b.Bank, b.Replayed, b.Real)
	}
	require.NotEmpty(t, r.Paths)
	assert.Equal(t, "/ovl/test_prog", r.Paths[0].Path)
	assert.Positive(t, r.Paths[0].Real)
	assert.Empty(t, leftovers(t, work), "qemu/swtpm left running")
	ents, _ := os.ReadDir(work)
	assert.Empty(t, ents, "work dir not removed")
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

// agreementSet is checked on every Debian kernel in CI: the model must
// predict each real outcome (audit records per step and file, list
// entries, violations) and each list must replay to the real PCR 10.
// Broken expect lines are the kernels' bugs, not failures here.
var agreementSet = []string{
	"xfs-overlay", "xfs-write", "xfs-write-sync", "xfs-overwrite", "xfs-filecheck-rdwr",
	"overlay-lower-write", "overlay-meta-lower", "overlay-tmpfs-remount",
	"overlay-lower-read-relatime", "violation-open-writers",
}

func TestModelAgreesWithRealKernels(t *testing.T) {
	needVM(t)
	var ss []*scenarios.Scenario
	for _, n := range agreementSet {
		s, err := scenarios.Load(n)
		require.NoError(t, err)
		ss = append(ss, s)
	}
	agent := buildAgent(t)
	for _, v := range []string{"6.1", "6.12", "7.2"} {
		t.Run("debian-"+v, func(t *testing.T) {
			dirs, _ := filepath.Glob(filepath.Join(DefaultCache(), v+"_*", "root"))
			if len(dirs) == 0 {
				t.Skipf("LOUD SKIP: Debian %s kernel not in %s (make kernels could not fetch it)", v, DefaultCache())
			}
			k, err := FindKernel(dirs[len(dirs)-1])
			require.NoError(t, err)
			k.Spec = "debian:" + v
			p, err := cache.ProfileFor(k.Version)
			require.NoError(t, err)
			work := t.TempDir()
			o := Options{Kernel: k, Agent: agent, WorkDir: work, Total: 4 * time.Minute, Log: testWriter{t}, Retries: 2}
			runs, err := RunAll(t.Context(), o, p, ss)
			require.NoError(t, err)
			require.Len(t, runs, len(ss))
			for _, r := range runs {
				require.NoError(t, r.Err, "%s on %s", r.Name, k.Release)
				assert.Empty(t, r.Lossy, "%s: lossy audit log", r.Name)
				assert.Empty(t, r.Defects, "%s: model %s vs kernel %s", r.Name, p.Name, k.Release)
				for _, b := range r.Replay {
					assert.True(t, b.OK, "%s: PCR 10 %s replayed %s, real %s", r.Name, b.Bank, b.Replayed, b.Real)
				}
			}
			assert.Empty(t, leftovers(t, work), "qemu/swtpm left running")
		})
	}
}
