package vm

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/vm/guest"
)

// noneOutside fails when anything but dir itself appears in parent.
func noneOutside(t *testing.T, parent, dir string) {
	t.Helper()
	ents, err := os.ReadDir(parent)
	require.NoError(t, err)
	for _, e := range ents {
		assert.Equal(t, filepath.Base(dir), e.Name(), "written outside the save dir")
	}
}

// Names in a boot's captures come from the guest (frame names, script
// names in report.json): --save must keep every write inside DIR
// (issue 16 item 1).
func TestScriptSaveStaysInside(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "save")
	sb := &ScriptBoot{
		Group:   Group{Scripts: []guest.Script{{Name: "evil.sh"}}},
		Boot:    &BootResult{Files: map[string][]byte{"../escape": []byte("x"), guest.FileReport: []byte("{}")}},
		Scripts: []guest.ScriptReport{{Name: "../../escape2", Output: "out"}},
	}
	err := sb.Save(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "../escape")
	noneOutside(t, parent, dir)
	// The host's name for the script, not the guest's, names its output.
	sb.Boot.Files = map[string][]byte{guest.FileReport: []byte("{}")}
	require.NoError(t, sb.Save(dir))
	b, err := os.ReadFile(filepath.Join(dir, "evil.sh.out"))
	require.NoError(t, err)
	assert.Equal(t, "out", string(b))
	noneOutside(t, parent, dir)
}

// A symlink in DIR pointing out is not followed by a save.
func TestSaveDoesNotFollowSymlinksOut(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "save")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.Symlink(filepath.Join(parent, "victim"), filepath.Join(dir, guest.FileReport)))
	sb := &ScriptBoot{Boot: &BootResult{Files: map[string][]byte{guest.FileReport: []byte("{}")}}}
	require.Error(t, sb.Save(dir))
	_, err := os.Lstat(filepath.Join(parent, "victim"))
	assert.True(t, os.IsNotExist(err), "the save followed a symlink out of DIR")
}

// A scenario's name comes from its file: it names a directory under DIR.
func TestRunSaveStaysInside(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "save")
	s := &scenarios.Scenario{Name: "../../outside", File: "builtin:none"}
	r := &Run{Scenario: s, Name: s.Name, Boot: &BootResult{Files: map[string][]byte{"../x": []byte("x")}}}
	err := r.Save(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "../x")
	noneOutside(t, parent, dir)
	_, err = os.Stat(filepath.Join(filepath.Dir(parent), "outside"))
	assert.True(t, os.IsNotExist(err))
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 1)
	assert.Equal(t, SaveName(s.Name), ents[0].Name())
	_, err = os.Stat(filepath.Join(dir, ents[0].Name(), "console.log"))
	assert.NoError(t, err, "the good captures are still saved")
}

func TestSaveName(t *testing.T) {
	for in, want := range map[string]string{"evil.sh": "evil.sh", "../../x": "_._.._x", ".hidden": "_hidden",
		"a b/c": "a_b_c", "": "_", "ok-name_1": "ok-name_1"} {
		assert.Equal(t, want, SaveName(in), in)
	}
}
