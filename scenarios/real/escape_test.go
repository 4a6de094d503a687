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
	st := func(line int, op scenarios.Op) scenarios.Step {
		return scenarios.Step{Line: line, Op: op, Text: op.Name()}
	}
	s := &scenarios.Scenario{Name: "smuggle", File: "smuggle.scn", Steps: []scenarios.Step{
		st(1, scenarios.FS{Type: "tmpfs", Mount: "/t"}),
		st(2, scenarios.Mkdir{Path: "/t/l"}),
		st(3, scenarios.Overlay{Mount: "/ovl", Lower: []string{"/t/l,upperdir=" + up + ",workdir=" + wk}}),
		st(4, scenarios.Write{Path: "/ovl/f", Data: "pwned", Mode: 0o644}),
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

// An append on a handle opened w/rw/trunc wrote at the handle's offset
// (0), over the executable prefix: a scenario could make `exec` run its
// own "#!/bin/sh" text, as root, on the host. It appends at the end, as
// the model does.
func TestAppendOnHandleKeepsProgram(t *testing.T) {
	needRoot(t)
	marker := filepath.Join(traversableDir(t), "ran")
	s := parse(t, "name: x\nfs tmpfs /t\nwrite /t/prog \"\" mode=0755\nopen %h /t/prog w\n"+
		"append %h \"#!/bin/sh\\ntouch "+marker+"\\n\"\nclose %h\nexec /t/prog\n")
	var content []byte
	err := RunWith(context.Background(), s, Env{}, func(r *Runner) Observer {
		return func(ev Event) error {
			if ev.Err == nil && ev.Step.Op.Name() == "close" {
				b, _, err := ReadContent(r.Path("/t/prog"), nil)
				content = b
				return err
			}
			return ev.Err
		}
	})
	require.NoError(t, err)
	_, serr := os.Stat(marker)
	assert.True(t, os.IsNotExist(serr), "the scenario's shell text ran")
	elf, err := hostELF()
	require.NoError(t, err)
	assert.Equal(t, append(elf, "#!/bin/sh\ntouch "+marker+"\n"...), content)
}
