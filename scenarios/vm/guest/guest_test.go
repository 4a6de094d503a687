package guest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestKmsgAudit(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"5,1234,18535231,-;audit: type=1805 audit(1.2:4): file=\"/x\" res=1\n", "type=1805 audit(1.2:4): file=\"/x\" res=1", true},
		{"5,1235,18535231,-;audit: type=1807 audit(1.2:2): action=audit func=BPRM_CHECK\n SUBSYSTEM=x\n", "type=1807 audit(1.2:2): action=audit func=BPRM_CHECK", true},
		{"5,1236,1,-;audit: type=1300 audit(1.2:5): arch=c000003e\n", "", false},
		{"6,1237,1,-;ima: policy update completed\n", "", false},
		{"garbage", "", false},
	} {
		got, ok := kmsgAudit(tc.in)
		assert.Equal(t, tc.ok, ok, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

// The job crosses from host to guest as JSON; disks are keyed by line.
func TestJobJSON(t *testing.T) {
	j := Job{Nonce: "n", Modules: []string{"/lib/modules/xfs.ko"}, Policy: "audit func=BPRM_CHECK\n",
		Scenarios: []Scenario{{Name: "s", Root: "/s0", Disks: map[int]Disk{8: {Serial: "imasim0-8", FSType: "xfs"}}}}}
	b, err := json.Marshal(j)
	require.NoError(t, err)
	var back Job
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, j, back)
}

// A script's output and exit status come back; a background process it
// leaves behind neither keeps the agent waiting nor survives it.
func TestScriptLeavesNothingRunning(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "t.sh")
	mark := "imasim-guest-test-" + filepath.Base(dir)
	body := "echo one\necho two >&2\nsh -c 'sleep 60; : " + mark + "' &\necho \"$FOO\"\nexit 3\n"
	require.NoError(t, os.WriteFile(p, []byte(body), 0o755))
	t.Cleanup(func() { exec.Command("pkill", "-f", mark).Run() })
	var console bytes.Buffer
	a := &agent{console: &console}
	done := make(chan ScriptReport, 1)
	go func() { done <- a.script(Script{Name: "t", Path: p, Env: []string{"FOO=bar"}, Dir: dir}) }()
	var rep ScriptReport
	select {
	case rep = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the agent waited for the script's background process")
	}
	assert.Equal(t, 3, rep.Exit)
	assert.Empty(t, rep.Err)
	assert.Equal(t, "one\ntwo\nbar\n", rep.Output)
	assert.Contains(t, console.String(), "imasim-guest: | one")
	out, _ := exec.Command("pgrep", "-f", mark).Output()
	assert.Empty(t, strings.TrimSpace(string(out)), "the background process was killed")
}

// kauditd's state is the field after the last ')' of /proc/PID/stat (a
// comm may hold spaces and parentheses); only S (asleep, queue empty)
// counts as idle.
func TestKauditdIdle(t *testing.T) {
	for stat, want := range map[string]bool{
		"52 (kauditd) S 2 0 0 0 -1 2129984 0 0\n": true,
		"52 (kauditd) R 2 0 0 0 -1 2129984 0 0\n": false,
		"52 (kauditd) D 2 0 0\n":                  false,
		"7 (a) b) S 1 1\n":                        true,
		"7 (a) S) R 1 1\n":                        false,
		"garbage":                                 false,
		"52 (kauditd)":                            false,
	} {
		p := filepath.Join(t.TempDir(), "stat")
		require.NoError(t, os.WriteFile(p, []byte(stat), 0o644))
		fd, err := unix.Open(p, unix.O_RDONLY, 0)
		require.NoError(t, err)
		assert.Equal(t, want, kauditdIdle(fd), stat)
		unix.Close(fd)
	}
	assert.False(t, kauditdIdle(-1))
}
