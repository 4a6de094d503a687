package main

import (
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersionLine(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.3.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"},
			{Key: "vcs.time", Value: "2026-12-02T17:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	assert.Equal(t, "imasim v0.3.0 rev 0123456789ab+dirty (2026-12-02T17:00:00Z) go1.26.8", versionLine(bi, true))
	bi.Settings[2].Value = "false"
	assert.Equal(t, "imasim v0.3.0 rev 0123456789ab (2026-12-02T17:00:00Z) go1.26.8", versionLine(bi, true))

	// No VCS stamp (a git worktree, -buildvcs=false): the Makefile's.
	bi = &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}
	assert.Contains(t, versionLine(bi, true), "rev unknown")
	vcsRevision, vcsModified = "fedcba9876543210", "true"
	defer func() { vcsRevision, vcsModified = "", "" }()
	assert.Equal(t, "imasim (devel) rev fedcba987654+dirty go1.26.8", versionLine(bi, true))
	assert.Equal(t, "imasim (unknown) (no build info)", versionLine(nil, false))
}

// `make build` gives a binary whose --version names the checkout's
// commit, and says +dirty exactly when git sees changes.
func TestVersionOfMakeBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	for _, tool := range []string{"git", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "imasim")
	out, err := exec.Command("make", "-s", "-C", root, "build", "BIN="+bin).CombinedOutput()
	require.NoError(t, err, string(out))
	st, err := exec.Command("git", "-C", root, "status", "--porcelain").Output()
	require.NoError(t, err)
	v, err := exec.Command(bin, "--version").Output()
	require.NoError(t, err)
	want := "rev " + strings.TrimSpace(string(head))[:12]
	if len(strings.TrimSpace(string(st))) > 0 {
		want += "+dirty"
	}
	assert.Contains(t, string(v)+" ", want+" ", "imasim --version: %s", v)
}
