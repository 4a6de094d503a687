package explore

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/cache"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/results")

// TestSearchGolden compares whole searches (findings with their shrunk
// examples and hit counts, and the work counters) with what the search
// found before its state handling was reworked for speed and memory:
// the golden files were written by that earlier implementation. Any
// change to what is explored, deduplicated or grouped shows here.
func TestSearchGolden(t *testing.T) {
	cases := []struct {
		name string
		fs   string
		p, q string
		o    Options
		long bool
	}{
		{name: "7.1-d5", fs: "xfs", p: "7.1", o: Options{Depth: 5}},
		{name: "7.1-d6", fs: "xfs", p: "7.1", o: Options{Depth: 6}, long: true},
		{name: "6.13-d5", fs: "xfs", p: "6.13", o: Options{Depth: 5}},
		{name: "6.12-d5-ext4", fs: "ext4", p: "6.12", o: Options{Depth: 5}},
		{name: "6.1-stable-d4-tmpfs", fs: "tmpfs", p: "6.1-stable", o: Options{Depth: 4}},
		{name: "6.12-vs-7.1-d4", fs: "xfs", p: "6.12", q: "7.1", o: Options{Depth: 4}},
		{name: "fix-v2-d5", fs: "xfs", p: "fix-v2", o: Options{Depth: 5}},
		{name: "7.1-d3-random", fs: "xfs", p: "7.1", o: Options{Depth: 3, Random: 300, Length: 9, Seed: 5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.long && testing.Short() {
				t.Skip("-short: depth 6 takes seconds")
			}
			var q *cache.Profile
			if c.q != "" {
				q = prof(t, c.q)
			}
			type out struct {
				Findings []Finding `json:"findings"`
				Stats    Stats     `json:"stats"`
			}
			var got []byte
			for _, workers := range []int{1, 2} {
				o := c.o
				o.Workers = workers
				fs, st, err := Search(context.Background(), DefaultWorld(c.fs), prof(t, c.p), q, o)
				require.NoError(t, err)
				b, err := json.MarshalIndent(out{fs, st}, "", "  ")
				require.NoError(t, err)
				if got != nil {
					require.JSONEq(t, string(got), string(b), "1 and 2 workers")
				}
				got = b
			}
			file := filepath.Join("testdata", "results", c.name+".json")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
				require.NoError(t, os.WriteFile(file, append(got, '\n'), 0o644))
				return
			}
			want, err := os.ReadFile(file)
			require.NoError(t, err, "golden %s (go test -update writes it)", file)
			require.JSONEq(t, string(want), string(got), fmt.Sprintf("%s: the search's results changed", c.name))
		})
	}
}

// searchCase is one search two tests run in two ways.
type searchCase struct {
	fs   string
	p, q string
	o    Options
}

// searchTwice runs c's search with its options changed by want and by
// got, requires both to find something and the same findings, and
// returns the two searches' counters.
func searchTwice(t *testing.T, c searchCase, want, got func(*Options)) (Stats, Stats) {
	t.Helper()
	var q *cache.Profile
	if c.q != "" {
		q = prof(t, c.q)
	}
	ow, og := c.o, c.o
	want(&ow)
	got(&og)
	fw, sw, err := Search(context.Background(), DefaultWorld(c.fs), prof(t, c.p), q, ow)
	require.NoError(t, err)
	fg, sg, err := Search(context.Background(), DefaultWorld(c.fs), prof(t, c.p), q, og)
	require.NoError(t, err)
	require.NotEmpty(t, fw, "%s %s: nothing found", c.p, c.fs)
	require.Equal(t, fw, fg, "%s %s %s", c.p, c.q, c.fs)
	return sw, sg
}

// Grouping findings by replays in quiet runners with causes gives the
// groups, hits and shrunk examples that replays with the measurement
// list and digests give (as the golden files were made).
func TestGroupQuietReplays(t *testing.T) {
	for _, c := range []searchCase{
		{fs: "xfs", p: "7.1", o: Options{Depth: 5}},
		{fs: "ext4", p: "6.12", o: Options{Depth: 5}},
		{fs: "tmpfs", p: "6.1-stable", o: Options{Depth: 4}},
		{fs: "xfs", p: "6.13", o: Options{Depth: 4, Random: 200, Length: 9, Seed: 2}},
		{fs: "xfs", p: "6.12", q: "7.1", o: Options{Depth: 4}},
		{fs: "tmpfs", p: "fix-v2", o: Options{Depth: 4}},
	} {
		searchTwice(t, c, func(o *Options) { o.groupFull = true }, func(*Options) {})
	}
}

// Leaves run in a saved clone restored before each (Runner.Save) find
// exactly what leaves run in fresh clones find: the same findings with
// the same hits, and the same work counted; and each restored state
// hashes as its parent does (checkRestore).
func TestLeavesRestoredAsCloned(t *testing.T) {
	for _, c := range []searchCase{
		{fs: "xfs", p: "7.1", o: Options{Depth: 5}},
		{fs: "ext4", p: "6.12", o: Options{Depth: 5}},
		{fs: "btrfs", p: "6.13", o: Options{Depth: 4}},
		{fs: "tmpfs", p: "6.1-stable", o: Options{Depth: 4}},
		{fs: "xfs", p: "5.10", o: Options{Depth: 4}},
		{fs: "xfs", p: "6.12", q: "7.1", o: Options{Depth: 4}},
		{fs: "ext4", p: "6.1-stable", q: "7.1", o: Options{Depth: 3}},
	} {
		want, got := searchTwice(t, c, func(o *Options) { o.noRestore = true }, func(o *Options) { o.checkRestore = true })
		require.Equal(t, want, got, "%s %s %s", c.p, c.q, c.fs)
	}
}
