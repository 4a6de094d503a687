package vm

import (
	"slices"
	"strings"
	"time"

	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/real"
	"github.com/imasim/imasim/scenarios/vm/guest"
)

// Cost estimates of a boot under TCG, measured on 7.2.13 (2 cores, groups
// booted alone, direct PVH boots, guest step times from the agent's
// report): boot to the agent, its report and the reset ~3 s; virtio_blk
// and overlay ~0.2 s; xfs ~2.2 s (its load is mostly ftrace checking
// each of its ~10,000 call sites against kallsyms, Linux v7.2:
// kernel/trace/ftrace.c:ftrace_module_enable and test_for_valid_rec);
// btrfs with raid6_pq and xor ~1 s (raid6 benchmarks itself); ~30 ms a
// scenario (disk images, settle, its root); ~15 ms a step (the 10 ms
// step gap, the syscalls, kauditd settling), ~15 ms more for an exec and
// ~30 ms for an xfs mount; a capped sleep its cap and ~20 ms for the sync.
const (
	costBoot     = 3000 * time.Millisecond
	costModules  = 200 * time.Millisecond
	costXFSMod   = 2200 * time.Millisecond
	costBtrfs    = 1000 * time.Millisecond
	costScenario = 30 * time.Millisecond
	costStep     = 15 * time.Millisecond
	costExec     = 15 * time.Millisecond
	costSync     = 20 * time.Millisecond
	costXFS      = 30 * time.Millisecond
)

// agentCost estimates a boot whose agent runs the steps.
func agentCost(g Group) time.Duration {
	c := costBoot
	var disks []string
	for _, s := range g.Scenarios {
		c += costScenario
		for _, st := range s.Steps {
			c += costStep
			switch op := st.Op.(type) {
			case scenarios.Sleep:
				c += min(time.Duration(op.NS), guest.MaxSleep)
				if time.Duration(op.NS) > guest.MaxSleep {
					c += costSync
				}
			case scenarios.Exec:
				c += costExec
			}
		}
		disks = append(disks, real.DiskTypes(s)...)
	}
	for _, d := range disks {
		if d == "xfs" {
			c += costXFS
		}
	}
	if len(disks) > 0 {
		c += costModules
	}
	if slices.Contains(disks, "xfs") {
		c += costXFSMod
	}
	if slices.Contains(disks, "btrfs") {
		c += costBtrfs
	}
	return c
}

// modKey orders scenarios by the costly modules they need, so a split
// group keeps its xfs scenarios together (one boot loads xfs, not two).
func modKey(s *scenarios.Scenario) int {
	k := 0
	for _, d := range real.DiskTypes(s) {
		switch d {
		case "xfs":
			k |= 2
		case "btrfs":
			k |= 1
		}
	}
	return k
}

// ShellCost estimates a boot that runs the scenarios' exported shell
// reproducers: about 4 s a script (mkfs, the helpers, its 1 s settle)
// and their sleeps in full.
func ShellCost(g Group) time.Duration {
	c := costBoot
	for _, s := range g.Scenarios {
		c += 4 * time.Second
		for _, st := range s.Steps {
			if sl, ok := st.Op.(scenarios.Sleep); ok {
				c += time.Duration(sl.NS)
			}
		}
	}
	return c
}

// Balance splits the longest groups while that shortens the estimated
// wall time (cost per boot) of running them on workers VMs at once, and
// orders the result longest first (so the long boots start first).
func Balance(groups []Group, workers int, cost func(Group) time.Duration) []Group {
	out := slices.Clone(groups)
	if workers < 2 || len(out) == 0 {
		return out
	}
	for range 64 {
		sortByCost(out, cost)
		if len(out[0].Scenarios) < 2 {
			break
		}
		a, b := halve(out[0], cost)
		next := append([]Group{a, b}, out[1:]...)
		if makespan(next, workers, cost) >= makespan(out, workers, cost) {
			break
		}
		out = next
	}
	sortByCost(out, cost)
	return out
}

func sortByCost(gs []Group, cost func(Group) time.Duration) {
	slices.SortStableFunc(gs, func(a, b Group) int { return int(cost(b) - cost(a)) })
}

// halve splits a group (of two or more scenarios) into the two boots
// whose longer one is shortest, cutting its scenarios ordered by the
// modules they need (modKey), else as they were: a cut that keeps the xfs
// scenarios in one boot saves the other boot loading xfs.
func halve(g Group, cost func(Group) time.Duration) (Group, Group) {
	ordered := slices.Clone(g.Scenarios)
	slices.SortStableFunc(ordered, func(x, y *scenarios.Scenario) int { return modKey(y) - modKey(x) })
	a, b := g, g
	best := time.Duration(-1)
	for i := 1; i < len(ordered); i++ {
		x, y := Group{Policy: g.Policy, Scenarios: ordered[:i:i]}, Group{Policy: g.Policy, Scenarios: ordered[i:]}
		if m := max(cost(x), cost(y)); best < 0 || m < best {
			best, a.Scenarios, b.Scenarios = m, x.Scenarios, y.Scenarios
		}
	}
	return a, b
}

// makespan is the estimated wall time of greedy scheduling (each group to
// the first free worker, in order, as RunAll's semaphore does).
func makespan(gs []Group, workers int, cost func(Group) time.Duration) time.Duration {
	gs = slices.Clone(gs)
	sortByCost(gs, cost)
	free := make([]time.Duration, workers)
	for _, g := range gs {
		i := slices.Index(free, slices.Min(free))
		free[i] += cost(g)
	}
	return slices.Max(free)
}

// needsAppraiseLog says whether a policy appraises: the guest then boots
// with ima_appraise=log, so unsigned files are appraised and logged but
// not refused (the scenarios' files carry no IMA signatures).
func needsAppraiseLog(policy string) bool {
	for _, l := range strings.Split(policy, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "appraise" {
			return true
		}
	}
	return false
}
