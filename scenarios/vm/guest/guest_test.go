package guest

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestELFStub(t *testing.T) {
	b := ELFStub()
	f, err := elf.NewFile(bytes.NewReader(b))
	require.NoError(t, err)
	assert.Equal(t, elf.ET_EXEC, f.Type)
	assert.Equal(t, elf.EM_X86_64, f.Machine)
	require.Len(t, f.Progs, 1)
	assert.Equal(t, elf.PT_LOAD, f.Progs[0].Type)
	assert.Equal(t, f.Progs[0].Vaddr+120, f.Entry)
	if runtime.GOARCH != "amd64" || runtime.GOOS != "linux" {
		t.Skip("running the stub needs linux/amd64")
	}
	// It runs and exits 0, also with content appended after it.
	p := filepath.Join(t.TempDir(), "prog")
	require.NoError(t, os.WriteFile(p, append(b, "program-v1-appended"...), 0o755))
	out, err := exec.Command(p).CombinedOutput()
	require.NoError(t, err, "%s", out)
}

func TestMountFlags(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		fl   uintptr
		data string
	}{
		{nil, 0, ""},
		{[]string{"noatime"}, unix.MS_NOATIME, ""},
		{[]string{"ro,lazytime", "inode64"}, unix.MS_RDONLY | unix.MS_LAZYTIME, "inode64"},
		{[]string{"rw", "size=10m,nr_inodes=100"}, 0, "size=10m,nr_inodes=100"},
	} {
		fl, data := mountFlags(tc.in)
		assert.Equal(t, tc.fl, fl, "%v", tc.in)
		assert.Equal(t, tc.data, data, "%v", tc.in)
	}
}

// asUser changes the ids of one thread only and restores them.
func TestAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	var got [2]int
	require.NoError(t, asUser(65534, 65534, func() error {
		got = [2]int{unix.Getuid(), unix.Geteuid()}
		return nil
	}))
	assert.Equal(t, [2]int{65534, 65534}, got)
	assert.Equal(t, 0, unix.Geteuid())
	// A file created as the user is owned by it.
	dir := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0o777))
	require.NoError(t, os.Chmod(dir, 0o777))
	p := filepath.Join(dir, "f")
	require.NoError(t, asUser(65534, 65534, func() error { return os.WriteFile(p, nil, 0o644) }))
	var st unix.Stat_t
	require.NoError(t, unix.Stat(p, &st))
	assert.Equal(t, uint32(65534), st.Uid)
}
