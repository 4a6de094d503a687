package real

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/scenarios"
)

// Issue 16 item 3: an overlay step whose lower= carried
// ",upperdir=/host/dir,workdir=/host/wk" made the next write land in a
// host directory, as root. The executor refuses such a path even when
// the scenario did not come through Parse (which refuses it too).
func TestOverlayOptionsCannotBeSmuggled(t *testing.T) {
	needRoot(t)
	host := traversableDir(t)
	up, wk := filepath.Join(host, "dir"), filepath.Join(host, "wk")
	require.NoError(t, os.Mkdir(up, 0o755))
	require.NoError(t, os.Mkdir(wk, 0o755))
	st := func(line int, op string, args []string, opts map[string]string) scenarios.Step {
		if opts == nil {
			opts = map[string]string{}
		}
		return scenarios.Step{Line: line, Op: op, Args: args, Opts: opts, Text: op}
	}
	s := &scenarios.Scenario{Name: "smuggle", File: "smuggle.scn", Steps: []scenarios.Step{
		st(1, "fs", []string{"tmpfs", "/t"}, nil),
		st(2, "mkdir", []string{"/t/l"}, nil),
		st(3, "overlay", []string{"/ovl"}, map[string]string{"lower": "/t/l,upperdir=" + up + ",workdir=" + wk}),
		st(4, "write", []string{"/ovl/f", "pwned"}, nil),
	}}
	before := takeSnapshot(t, host)
	err := Run(context.Background(), s, Env{Exe: []byte{}}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "smuggle.scn:3: overlay")
	assert.Contains(t, err.Error(), "cannot carry")
	_, serr := os.Stat(filepath.Join(up, "f"))
	assert.True(t, os.IsNotExist(serr), "the write reached the host directory")
	assert.Equal(t, before, takeSnapshot(t, host))
}

// Mount data options that name devices or paths outside the scenario
// (an external XFS log, an ext4 journal device, a btrfs device) are not
// passed to mount(2).
func TestMountOptionsAllowList(t *testing.T) {
	for _, o := range []string{"logdev=/dev/sda", "rtdev=/dev/sdb", "journal_path=/dev/sdc", "journal_dev=2049", "device=/dev/sdd", "upperdir=/x", "size=1M,nr_inodes=9", "context=x:y"} {
		_, _, err := MountOptions([]string{o})
		assert.Error(t, err, o)
	}
	fl, data, err := MountOptions([]string{"noatime", "size=16m", "mode=0755", "inode64"})
	require.NoError(t, err)
	assert.NotZero(t, fl)
	assert.Equal(t, "size=16m,mode=0755,inode64", data)
}
