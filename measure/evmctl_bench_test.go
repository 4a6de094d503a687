package measure

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Environment switches for TestEvmctlBench (see bench.sh).
const (
	benchEnv       = "IMASIM_BENCH"        // "1" runs the comparison
	benchHelperEnv = "IMASIM_BENCH_HELPER" // list path: run one replay and exit
)

type runStats struct {
	wall, cpu time.Duration
	maxRSSKB  int64
}

func (s runStats) String() string {
	mem := "n/a (no /usr/bin/time)"
	if s.maxRSSKB >= 0 {
		mem = fmt.Sprintf("%5.1f MB", float64(s.maxRSSKB)/1024)
	}
	return fmt.Sprintf("wall %6.3fs  cpu %6.3fs  peak RSS %s", s.wall.Seconds(), s.cpu.Seconds(), mem)
}

// runMeasured runs cmd and reports its wall and CPU time. The kernel's
// ru_maxrss of a child Go starts includes Go's own memory (exec records the
// vfork-shared mm), so peak memory comes from the child itself: a
// "VmHWM: N kB" line it prints, or GNU time's %M when wrapped in it.
func runMeasured(tb testing.TB, cmd *exec.Cmd) runStats {
	tb.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	wall := time.Since(start)
	require.NoError(tb, err, "%s: %s %s", cmd.Path, out, stderr.String())
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	st := runStats{wall: wall, cpu: cpu, maxRSSKB: -1}
	for _, b := range [][]byte{out, stderr.Bytes()} {
		if m := hwmRE.FindSubmatch(b); m != nil {
			st.maxRSSKB, _ = strconv.ParseInt(string(m[1]), 10, 64)
		}
	}
	return st
}

var hwmRE = regexp.MustCompile(`VmHWM:\s*(\d+) kB`)

// TestEvmctlBench compares replaying a 200,000-entry ima-ng list (sha1 and
// sha256 banks, per-bank and SHA-1 padded) with evmctl ima_measurement and
// with this package, each in its own process, printing times, peak memory
// and the throughput ratio. Set IMASIM_BENCH=1 to run it.
func TestEvmctlBench(t *testing.T) {
	if os.Getenv(benchEnv) != "1" {
		t.Skip("set IMASIM_BENCH=1 to compare with evmctl (measure/bench.sh)")
	}
	evmctl, err := exec.LookPath("evmctl")
	if err != nil {
		t.Skip("evmctl not installed (Debian package ima-evm-utils)")
	}
	dir := t.TempDir()
	list := filepath.Join(dir, "binary_runtime_measurements")
	f, err := os.Create(list)
	require.NoError(t, err)
	genList(t, f, benchEntries)
	require.NoError(t, f.Close())

	f, err = os.Open(list)
	require.NoError(t, err)
	res, err := Replay(NewReader(f, ReadOptions{}), ReplayConfig{Banks: []Algo{SHA1, SHA256}, Modes: []Mode{PerBank}})
	f.Close()
	require.NoError(t, err)
	p1, p256 := filepath.Join(dir, "pcrs-sha1"), filepath.Join(dir, "pcrs-sha256")
	writeEvmctlPCRs(t, p1, SHA1, res, PerBank)
	writeEvmctlPCRs(t, p256, SHA256, res, PerBank)

	const rounds = 3
	var ev, im runStats
	best := func(cur *runStats, s runStats) {
		if cur.wall == 0 || s.cpu < cur.cpu {
			*cur = s
		}
	}
	for i := 0; i < rounds; i++ {
		ecmd := exec.Command(evmctl, "ima_measurement", "--pcrs", "sha1,"+p1, "--pcrs", "sha256,"+p256, list)
		if gnuTime, err := exec.LookPath("/usr/bin/time"); err == nil {
			ecmd = exec.Command(gnuTime, append([]string{"-f", "VmHWM: %M kB"}, ecmd.Args...)...)
		}
		best(&ev, runMeasured(t, ecmd))
		cmd := exec.Command(os.Args[0], "-test.run=^TestEvmctlBenchHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), benchHelperEnv+"="+list, benchEnv+"=")
		best(&im, runMeasured(t, cmd))
	}
	fmt.Printf("replay of %d ima-ng entries, sha1+sha256 banks (best of %d)\n", benchEntries, rounds)
	fmt.Printf("  evmctl ima_measurement: %s\n", ev)
	fmt.Printf("  imasim measure.Replay:  %s\n", im)
	fmt.Printf("  ratio (evmctl/imasim):  cpu %.1fx  wall %.1fx\n",
		ev.cpu.Seconds()/im.cpu.Seconds(), ev.wall.Seconds()/im.wall.Seconds())
}

// TestEvmctlBenchHelper is the child process of TestEvmctlBench: it
// verifies the list against the PCR files the parent wrote, as
// "imasim list verify" does (per-bank, then the padded modes only if that
// fails; all entries).
func TestEvmctlBenchHelper(t *testing.T) {
	list := os.Getenv(benchHelperEnv)
	if list == "" {
		t.Skip("helper process of TestEvmctlBench")
	}
	q := Quote{}
	for _, b := range []struct {
		a    Algo
		file string
	}{{SHA1, "pcrs-sha1"}, {SHA256, "pcrs-sha256"}} {
		pf, err := os.Open(filepath.Join(filepath.Dir(list), b.file))
		require.NoError(t, err)
		pq, err := ParsePCRs(pf, b.a)
		pf.Close()
		require.NoError(t, err)
		q[b.a] = map[int][]byte{10: pq[b.a][10]}
	}
	f, err := os.Open(list)
	require.NoError(t, err)
	defer f.Close()
	res, err := Replay(NewReader(bufio.NewReaderSize(f, 64<<10), ReadOptions{}), ReplayConfig{Quote: q})
	require.NoError(t, err)
	require.NoError(t, res.Verify(), "quote %s", hex.EncodeToString(q[SHA1][10]))
	if st, err := os.ReadFile("/proc/self/status"); err == nil {
		if m := hwmRE.Find(st); m != nil {
			fmt.Printf("%s\n", m)
		}
	}
}
