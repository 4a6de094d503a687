package tpm

import (
	"context"
	"crypto"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMain fails the run if a test left a swtpm child process behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if left := swtpmChildren(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: swtpm processes left behind: %v\n", left)
		code = 1
	}
	os.Exit(code)
}

// swtpmChildren lists live (non-zombie) swtpm processes whose parent is this
// test binary.
func swtpmChildren() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	me := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.Contains(s[:i], "(swtpm") {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) >= 2 && f[0] != "Z" && f[1] == me {
			pids = append(pids, pid)
		}
	}
	return pids
}

// needSwtpm skips t when swtpm is not installed.
func needSwtpm(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("swtpm"); err != nil {
		t.Skip("swtpm not installed (Debian package swtpm): ", err)
	}
}

// digestsOf hashes data once per bank, as IMA hashes a file per bank.
func digestsOf(banks []crypto.Hash, data string) map[crypto.Hash][]byte {
	out := map[crypto.Hash][]byte{}
	for _, h := range banks {
		hh := h.New()
		hh.Write([]byte(data))
		out[h] = hh.Sum(nil)
	}
	return out
}

// extendSeq extends pcr with the digests of "imasim 0" .. "imasim n-1".
func extendSeq(t testing.TB, p PCRs, pcr, n int) {
	t.Helper()
	for i := range n {
		require.NoError(t, p.Extend(pcr, digestsOf(p.Banks(), fmt.Sprintf("imasim %d", i))))
	}
}

// externalSwtpm is a swtpm a test started itself, to connect to.
type externalSwtpm struct {
	cmd        *exec.Cmd
	data, ctrl string // spec addresses
	exited     chan struct{}
}

// startExternalSwtpm starts `swtpm socket --tpm2` on Unix sockets or
// loopback TCP ports with the given extra args; it is killed at cleanup.
func startExternalSwtpm(t testing.TB, network string, extra ...string) *externalSwtpm {
	t.Helper()
	needSwtpm(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	require.NoError(t, os.Mkdir(state, 0o700))
	s := &externalSwtpm{exited: make(chan struct{})}
	args := []string{"socket", "--tpm2", "--tpmstate", "dir=" + state}
	switch network {
	case "unix":
		s.data, s.ctrl = filepath.Join(dir, "data.sock"), filepath.Join(dir, "ctrl.sock")
		args = append(args, "--server", "type=unixio,path="+s.data, "--ctrl", "type=unixio,path="+s.ctrl)
	case "tcp":
		dp, cp := freePort(t), freePort(t)
		s.data, s.ctrl = "127.0.0.1:"+dp, cp
		args = append(args, "--server", "type=tcp,port="+dp+",bindaddr=127.0.0.1",
			"--ctrl", "type=tcp,port="+cp+",bindaddr=127.0.0.1")
	default:
		t.Fatalf("bad network %q", network)
	}
	s.cmd = exec.Command("swtpm", append(args, extra...)...)
	require.NoError(t, s.cmd.Start())
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(s.kill)
	// Wait until both channels accept connections.
	probes := []string{s.data, s.ctrl}
	if network == "tcp" {
		probes[1] = "127.0.0.1:" + s.ctrl
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, addr := range probes {
		for {
			c, err := net.Dial(network, addr)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("swtpm did not listen on %s: %v", addr, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return s
}

func (s *externalSwtpm) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// openT opens spec with opts and closes it at cleanup.
func openT(t testing.TB, spec string, opts Options) PCRs {
	t.Helper()
	p, err := OpenContext(context.Background(), spec, opts)
	require.NoError(t, err, "OpenContext(%q)", spec)
	t.Cleanup(func() { _ = p.Close() })
	return p
}
