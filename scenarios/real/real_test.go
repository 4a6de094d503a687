package real

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/imasim/imasim/scenarios"
)

func parse(t testing.TB, text string) *scenarios.Scenario {
	t.Helper()
	s, err := scenarios.Parse(strings.NewReader(text), "test.scn")
	require.NoError(t, err)
	return s
}

// needRoot skips unless the test can mount and use loop devices.
func needRoot(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mount, loop devices)")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("needs /dev/loop-control")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
}

// snapshot is the machine state Run must leave as it found it: the
// mounts and loop devices whose text mentions dir (other tests may mount
// and attach loops meanwhile; "" takes everything).
type snapshot struct{ mounts, loops []string }

func takeSnapshot(t testing.TB, dir string) snapshot {
	t.Helper()
	mi, err := ReadMountinfo()
	require.NoError(t, err)
	var s snapshot
	for _, m := range mi {
		if l := m.Mountpoint + " " + m.FSType + " " + m.Source; strings.Contains(l, dir) {
			s.mounts = append(s.mounts, l)
		}
	}
	out, err := exec.Command("losetup", "-a").CombinedOutput()
	require.NoError(t, err, "losetup -a: %s", out)
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && strings.Contains(l, dir) {
			s.loops = append(s.loops, l)
		}
	}
	sort.Strings(s.mounts)
	sort.Strings(s.loops)
	return s
}

// traversableDir is a temporary directory that uid 65534 can enter
// (t.TempDir's parents are 0700).
func traversableDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "imasim-real-test-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(d, 0o755))
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func TestMinimalELFRuns(t *testing.T) {
	exe, err := MinimalELF(runtime.GOARCH)
	if err != nil {
		t.Skip(err)
	}
	require.Len(t, exe, elfSize)
	dir := t.TempDir()
	for _, tail := range []string{"", "program-v1", "program-v1-appended"} {
		p := filepath.Join(dir, "prog"+tail)
		require.NoError(t, os.WriteFile(p, append(append([]byte(nil), exe...), tail...), 0o755))
		out, err := exec.Command(p).CombinedOutput()
		assert.NoError(t, err, "running %s: %s", p, out)
	}
	_, err = MinimalELF("mips")
	assert.Error(t, err)
}

const overlayScn = `name: t
fs xfs /lower
fs tmpfs /t
mkdir /t/upper
mkdir /t/work
write /lower/test_prog "program-v1" mode=0755
overlay /ovl lower=/lower upper=/t/upper work=/t/work
exec /ovl/test_prog uid=65534
open %h /ovl/test_prog r
mmap %h exec
read %h
append /ovl/test_prog "-appended"
exec /ovl/test_prog uid=65534
chmod /lower/test_prog 0700
chown /lower/test_prog 1:1
touch /lower/test_prog
setxattr /lower/test_prog user.x y
write /t/f "abc" uid=65534
overwrite /t/f "xy"
truncate /t/f 1
copy /ovl/test_prog /t/copy mode=0755
exec /t/copy uid=65534
rename /t/copy /t/copy2
unlink /t/copy2
sync
sleep 10ms
remount /t noatime
`

func TestRunCleansUp(t *testing.T) {
	needRoot(t, "mkfs.xfs", "losetup")
	s := parse(t, overlayScn)
	cases := []struct {
		name    string
		stopAt  int // observer error at this step index, -1 none
		cancel  int // cancel the context at this step index, -1 none
		wantErr string
	}{
		{"success", -1, -1, ""},
		{"injected failure", 7, -1, "injected"},
		{"cancelled", -1, 6, "context canceled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			work := traversableDir(t)
			before := takeSnapshot(t, work)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			root := filepath.Join(work, "root")
			require.NoError(t, os.Mkdir(root, 0o755))
			var steps int
			var mid snapshot
			var afterUnmount []Filesystem
			env := Env{Root: root, Disks: &Loop{Dir: work}, MaxSleep: time.Second,
				AfterUnmount: func(fss []Filesystem) error { afterUnmount = fss; return nil }}
			err := Run(ctx, s, env, func(ev Event) error {
				steps++
				if ev.Err != nil {
					return ev.Err
				}
				if ev.Index == 6 {
					mid = takeSnapshot(t, work)
				}
				if ev.Index == tc.stopAt {
					return errors.New("injected")
				}
				if ev.Index == tc.cancel {
					cancel()
				}
				return nil
			})
			if tc.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, len(s.Steps), steps)
				require.Len(t, afterUnmount, 3)
				assert.Equal(t, "/ovl", afterUnmount[2].Mountpoint)
				assert.NotEmpty(t, afterUnmount[0].Dev)
				assert.Len(t, mid.mounts, 3, "xfs, tmpfs and overlay mounted during the run")
				assert.Len(t, mid.loops, 1, "one loop device during the run")
			} else {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Nil(t, afterUnmount, "AfterUnmount runs only on success")
			}
			after := takeSnapshot(t, work)
			assert.Equal(t, before, after, "mounts and loop devices after the run")
			ents, err := os.ReadDir(root)
			require.NoError(t, err)
			assert.Empty(t, ents, "Run removes the directories it made under Root")
			imgs, _ := filepath.Glob(filepath.Join(work, "*.img"))
			assert.Empty(t, imgs, "images are removed")
		})
	}
}

func TestRunTempRootAndStepError(t *testing.T) {
	needRoot(t)
	s := parse(t, "name: t\nfs tmpfs /t\nexec /t/missing\n")
	before := takeSnapshot(t, "imasim-real-")
	var root string
	err := RunWith(context.Background(), s, Env{}, func(r *Runner) Observer {
		return func(ev Event) error { root = r.Root(); return ev.Err }
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "test.scn:3: exec")
	assert.Equal(t, before, takeSnapshot(t, "imasim-real-"))
	_, statErr := os.Stat(root)
	assert.True(t, errors.Is(statErr, os.ErrNotExist), "temporary root %s removed", root)
}

func TestRunRejectsPathsOffScenarioFS(t *testing.T) {
	needRoot(t)
	s := parse(t, "name: t\nwrite /x \"a\"\n")
	err := Run(context.Background(), s, Env{}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not on any mounted filesystem")
}

func TestExecveCheck(t *testing.T) {
	needRoot(t)
	s := parse(t, "name: t\nfs tmpfs /t\nwrite /t/p \"x\" mode=0755\nexecveat /t/p AT_EXECVE_CHECK uid=65534\n")
	err := Run(context.Background(), s, Env{}, nil)
	var cr *CannotRunError
	if errors.As(err, &cr) {
		t.Skip(cr.Reason)
	}
	require.NoError(t, err)
}

func TestExecPaths(t *testing.T) {
	s := parse(t, `name: t
fs tmpfs /l
fs tmpfs /t
overlay /o lower=/l upper=/t/u work=/t/w
write /l/a "x"
copy /l/b /t/c
rename /t/d /t/e
exec /o/a
exec /t/c
execveat /t/e AT_EXECVE_CHECK
write /t/m "x" mode=0700
chmod /t/n 0755
`)
	got := ExecPaths(s)
	var ps []string
	for p := range got {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	assert.Equal(t, []string{"/l/a", "/l/b", "/o/a", "/t/c", "/t/d", "/t/e", "/t/m", "/t/n", "/t/u/a"}, ps)
}

func TestMountOptions(t *testing.T) {
	tests := []struct {
		name     string
		opts     []string
		wantData string
		wantErr  bool
	}{
		{"flags", []string{"noatime", "iversion", "rw"}, "", false},
		{"data", []string{"size=10m", "noatime", "inode64"}, "size=10m,inode64", false},
		{"comma", []string{"a,b"}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, data, err := MountOptions(tc.opts)
			if tc.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantData, data)
		})
	}
}

func TestDevicesPrepare(t *testing.T) {
	d := Devices{"/dev/vdb", "/dev/vdc"}
	dev, cl, err := d.Prepare(context.Background(), "xfs", 1)
	require.NoError(t, err)
	assert.Equal(t, "/dev/vdc", dev)
	assert.NoError(t, cl())
	_, _, err = d.Prepare(context.Background(), "xfs", 2)
	assert.Error(t, err)
	s := parse(t, "name: t\nfs xfs /a\nfs tmpfs /b\nfs ext4 /c\n")
	assert.Equal(t, []string{"xfs", "ext4"}, DiskTypes(s))
}

// mount(2)'s ENODEV (no such filesystem type) means the kernel cannot run
// the scenario; other mount errors are failures.
func TestMountErr(t *testing.T) {
	err := mountErr("mount -t btrfs /dev/vdb /mnt", "btrfs", unix.ENODEV)
	var cr *CannotRunError
	require.ErrorAs(t, err, &cr)
	assert.Contains(t, cr.Reason, "no btrfs filesystem")
	assert.Contains(t, cr.Reason, "no such device")
	err = mountErr("mount -t xfs /dev/vdb /mnt", "xfs", unix.EINVAL)
	assert.False(t, errors.As(err, &cr))
	assert.ErrorIs(t, err, unix.EINVAL)
}
