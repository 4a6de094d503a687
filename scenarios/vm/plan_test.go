package vm

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/scenarios"
)

func loadAll(t *testing.T, names ...string) []*scenarios.Scenario {
	var ss []*scenarios.Scenario
	for _, n := range names {
		s, err := scenarios.Load(n)
		require.NoError(t, err)
		ss = append(ss, s)
	}
	return ss
}

func TestBalanceSplitsTheLongGroup(t *testing.T) {
	long := loadAll(t, "xfs-exec-loop", "ext4-exec-loop", "tmpfs-exec-loop", "btrfs-exec-loop",
		"xfs-write-sleep", "ext4-write-sleep", "tmpfs-write-sleep", "overlay-lower-write-sleep",
		"overlay-lower-read-noatime", "overlay-lower-read-relatime", "overlay-meta-lower", "overlay-meta-upper")
	short := loadAll(t, "xfs-overlay")
	groups := []Group{{Policy: "a\n", Scenarios: long}, {Policy: "b\n", Scenarios: short}}

	assert.Empty(t, Balance(nil, 2, agentCost), "nothing runnable: nothing to boot")
	one := Balance(groups, 1, agentCost)
	assert.Len(t, one, 2, "one worker: nothing to gain from splitting")

	two := Balance(groups, 2, agentCost)
	require.Greater(t, len(two), 2, "two workers: the long group is split")
	assert.Less(t, makespan(two, 2, agentCost), makespan(groups, 2, agentCost))
	n := 0
	for i, g := range two {
		n += len(g.Scenarios)
		if i > 0 {
			assert.GreaterOrEqual(t, agentCost(two[i-1]), agentCost(g), "longest first")
		}
		for _, s := range g.Scenarios {
			assert.Equal(t, g.Policy == "a\n", slices.Contains(long, s), "%s stays with its policy", s.Name)
		}
	}
	assert.Equal(t, len(long)+len(short), n, "every scenario still runs exactly once")
}

func TestCostCountsCappedSleepsAndBtrfs(t *testing.T) {
	ss := loadAll(t, "xfs-write-sleep", "btrfs-write-sleep")
	x, b := Group{Scenarios: ss[:1]}, Group{Scenarios: ss[1:]}
	// A 31 s sleep costs the guest's cap and a sync, not 31 s.
	assert.Less(t, agentCost(x), costBoot+costModules+costXFSMod+2*time.Second)
	assert.Greater(t, agentCost(x), costBoot+costModules+costXFSMod+costXFS+costSync)
	assert.Greater(t, agentCost(b), costBoot+costModules+costBtrfs, "btrfs module loading is counted")
	assert.Less(t, agentCost(b), agentCost(x), "xfs loads slower than btrfs")
}

// Halving a group puts the xfs scenarios into one boot: each boot that
// needs xfs pays its module load.
func TestHalveKeepsXFSTogether(t *testing.T) {
	g := Group{Policy: "p\n", Scenarios: loadAll(t, "xfs-exec-loop", "tmpfs-exec-loop", "xfs-exec-noatime",
		"tmpfs-exec-noatime", "xfs-write-sleep", "tmpfs-write-sleep")}
	a, b := halve(g, agentCost)
	assert.Len(t, append(a.Scenarios, b.Scenarios...), 6)
	needs := func(g Group) (n int) {
		for _, s := range g.Scenarios {
			if modKey(s) != 0 {
				n++
			}
		}
		return n
	}
	assert.True(t, needs(a) == 0 || needs(b) == 0, "xfs in one half only: %d and %d", needs(a), needs(b))
	assert.Less(t, agentCost(a)+agentCost(b), agentCost(g)+costBoot+costXFSMod, "the second boot does not load xfs again")
}

func TestAppraiseLogMode(t *testing.T) {
	assert.True(t, needsAppraiseLog("measure func=BPRM_CHECK\nappraise func=BPRM_CHECK uid=65534\n"))
	assert.False(t, needsAppraiseLog("measure func=BPRM_CHECK\ndont_appraise fsmagic=0x9fa0\n"))
	assert.False(t, needsAppraiseLog(strings.Repeat("audit func=FILE_CHECK\n", 3)))
}
