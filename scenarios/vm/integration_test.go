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
