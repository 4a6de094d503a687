package explore

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios"
)

func prof(t testing.TB, n string) *cache.Profile {
	t.Helper()
	p, err := cache.LoadProfile(n)
	require.NoError(t, err)
	return p
}

func find(t testing.TB, p string, depth int) ([]Finding, Stats) {
	t.Helper()
	f, st, err := Search(context.Background(), DefaultWorld("xfs"), prof(t, p), nil, Options{Depth: depth})
	require.NoError(t, err)
	return f, st
}

func has(fs []Finding, verdict, substr string) *Finding {
	for i := range fs {
		if fs[i].Verdict == verdict && strings.Contains(fs[i].Group, substr) {
			return &fs[i]
		}
	}
	return nil
}

func TestRediscoversThreadRegression(t *testing.T) {
	fs, _ := find(t, "6.13", 3)
	f := has(fs, scenarios.Excessive, "stacked check")
	require.NotNil(t, f, "6.13: the overlay re-audit on every exec")
	assert.Equal(t, []string{"exec-ovl", "exec-ovl"}, f.Ops, "shrunk to the minimal counterexample")
}

func TestRediscoversXFSWriteMiss(t *testing.T) {
	fs, _ := find(t, "7.1", 3)
	f := has(fs, scenarios.Missed, "")
	require.NotNil(t, f, "7.1: the XFS write miss")
	assert.Contains(t, f.Ops, "exec-direct")
	assert.Contains(t, f.Group, "last writer kept flags")
}

func TestNothingMissedOn612(t *testing.T) {
	fs, st := find(t, "6.12", 4)
	assert.Nil(t, has(fs, scenarios.Missed, ""), "6.12 should miss nothing: %+v", fs)
	assert.True(t, st.Complete)
	assert.Positive(t, st.Deduped, "state deduplication prunes")
}

func TestDiffProfiles(t *testing.T) {
	fs, _, err := Search(context.Background(), DefaultWorld("xfs"), prof(t, "6.12"), prof(t, "7.1"), Options{Depth: 3})
	require.NoError(t, err)
	require.NotEmpty(t, fs)
	assert.Equal(t, "differs", fs[0].Verdict)
}

func TestDeterministicAndScenarioRoundTrip(t *testing.T) {
	w := DefaultWorld("xfs")
	a, _, err := Search(context.Background(), w, prof(t, "7.1"), nil, Options{Depth: 2, Random: 50, Length: 6, Seed: 7, Workers: 1})
	require.NoError(t, err)
	b, _, err := Search(context.Background(), w, prof(t, "7.1"), nil, Options{Depth: 2, Random: 50, Length: 6, Seed: 7, Workers: 2})
	require.NoError(t, err)
	assert.Equal(t, a, b)
	require.NotEmpty(t, a)
	// The written scenario reproduces the finding through the ordinary engine.
	text := w.Scenario(a[0], "found-1")
	s, err := scenarios.Parse(strings.NewReader(text), "found-1.scn")
	require.NoError(t, err)
	r, err := scenarios.Run(s, prof(t, "7.1"))
	require.NoError(t, err)
	assert.Positive(t, r.Count(a[0].Verdict), text)
}

func TestAbstractNumbers(t *testing.T) {
	re := regexp.MustCompile(`[0-9a-f]{6,}|\d+`)
	for _, c := range []string{"", "abc", "ab12", "xabcde1 y", "ino=131'1, 4) true", "measured 0270da4d, now c4802bb3",
		"dev=7:ino=131", "deadbeef00", "abcdef", "abcde", "12ab34cd", "é1ü22", "a1b2c3d4e5f6g7"} {
		assert.Equal(t, re.ReplaceAllString(c, "N"), abstractNumbers(c), "abstractNumbers(%q)", c)
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, st, err := Search(ctx, DefaultWorld("xfs"), prof(t, "6.13"), nil, Options{Depth: 6})
	require.NoError(t, err)
	assert.False(t, st.Complete)
}

// BenchmarkOps measures one worker honestly: one search goroutine on
// one P (GOMAXPROCS 1, so the garbage collector shares the core), the
// whole Search including the replays that group findings. ops/s is per
// wall second; ops/cpu-s per second of CPU time the process used, which
// stays meaningful on a loaded machine.
// Depth 4 is mostly grouping and shrinking; depth 6 is mostly the
// exhaustive search, as depth 7 (scripts/bench-explore.sh) is.
func BenchmarkOps(b *testing.B) {
	p := prof(b, "7.1")
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, depth := range []int{4, 6} {
		b.Run(fmt.Sprintf("depth%d", depth), func(b *testing.B) {
			var ops int64
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_, st, err := Search(context.Background(), DefaultWorld("xfs"), p, nil, Options{Depth: depth, Workers: 1})
				if err != nil {
					b.Fatal(err)
				}
				ops += st.Operations
			}
			b.ReportMetric(float64(ops)/b.Elapsed().Seconds(), "ops/s")
			b.ReportMetric(float64(ops)/(cpuTime()-cpu0).Seconds(), "ops/cpu-s")
		})
	}
}

// cpuTime is the user and system time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// A runner cloned into memory that held another run continues exactly as
// the original would (the search's clone-into-scratch pattern).
func TestCloneIntoReusedRunner(t *testing.T) {
	s, err := scenarios.Load("xfs-write")
	require.NoError(t, err)
	p := prof(t, "7.1")
	for _, quiet := range []bool{true, false} {
		full, err := scenarios.NewRunner(s, p, quiet)
		require.NoError(t, err)
		for _, st := range s.Steps {
			require.NoError(t, full.Step(st))
		}
		r, err := scenarios.NewRunner(s, p, quiet)
		require.NoError(t, err)
		var scratch *scenarios.Runner
		for k, st := range s.Steps {
			// Dirty the scratch runner with a different future first
			// (whether or not that step applies there).
			if scratch != nil && k+1 < len(s.Steps) {
				_ = scratch.Step(s.Steps[k+1])
			}
			scratch = r.CloneInto(scratch)
			require.Equal(t, r.StateHash(), scratch.StateHash())
			require.NoError(t, scratch.Step(st))
			r = r.Clone()
			require.NoError(t, r.Step(st))
			require.Equal(t, r.StateHash(), scratch.StateHash(), "quiet=%v step %d", quiet, k)
		}
		assert.Equal(t, full.Result().Steps, r.Result().Steps)
		assert.Equal(t, full.Result().Steps, scratch.Result().Steps)
		assert.Equal(t, full.Result().AuditRecords, scratch.Result().AuditRecords)
		assert.Equal(t, full.Result().Measurements, scratch.Result().Measurements)
	}
}

// Search holds the runtime to memoryLimit while its exhaustive search
// runs when no limit is set, restores it after, and leaves a limit the
// user set alone.
func TestSearchMemoryLimit(t *testing.T) {
	p := prof(t, "7.1")
	limitDuring := func() int64 {
		var seen int64 = -1
		o := Options{Depth: 5, Workers: 1, Progress: func(int64, int64) {
			if seen < 0 {
				seen = debug.SetMemoryLimit(-1)
			}
		}}
		_, _, err := Search(context.Background(), DefaultWorld("xfs"), p, nil, o)
		require.NoError(t, err)
		require.GreaterOrEqual(t, seen, int64(0), "no progress reported")
		return seen
	}
	old := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(old)
	assert.Equal(t, int64(memoryLimit), limitDuring())
	assert.Equal(t, int64(math.MaxInt64), debug.SetMemoryLimit(-1), "restored")
	debug.SetMemoryLimit(1 << 30)
	assert.Equal(t, int64(1<<30), limitDuring(), "a set limit is kept")
	assert.Equal(t, int64(1<<30), debug.SetMemoryLimit(-1))
	debug.SetMemoryLimit(math.MaxInt64)
	restore := limitMemory(limitedDepth + 1)
	assert.Equal(t, int64(math.MaxInt64), debug.SetMemoryLimit(-1), "deeper searches are not limited")
	restore()

	gc := debug.SetGCPercent(100)
	defer debug.SetGCPercent(gc)
	restore = limitMemory(limitedDepth)
	assert.Equal(t, gcPercent, debug.SetGCPercent(gcPercent), "the collector waits longer under the limit")
	restore()
	assert.Equal(t, 100, debug.SetGCPercent(100), "and as before after it")
}
