package vm

import (
	"slices"
	"strings"
	"time"

	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/real"
	"github.com/imasim/imasim/scenarios/vm/guest"
)

// Cost estimates of a boot under TCG, measured on 7.2.13 (2 cores, each
// group booted alone, guest step times from the agent's report): boot to
// the agent, its report and the power-off ~6.5 s; loading xfs, ext4 and
// overlay ~2 s (btrfs adds ~2.5 s: raid6 and xor benchmark themselves at
// load); ~120 ms a scenario (settle, disks); ~72 ms a step (step gap,
// audit settle, the syscalls; an xfs mount adds ~400 ms) and ~170 ms more
// for a capped sleep and its sync. A 33-scenario group measured 31.6 s of
// steps against 31.3 s estimated.
const (
	costBoot     = 6500 * time.Millisecond
	costModules  = 2000 * time.Millisecond
	costBtrfs    = 2500 * time.Millisecond
	costScenario = 120 * time.Millisecond
	costStep     = 72 * time.Millisecond
	costSync     = 170 * time.Millisecond
	costXFS      = 400 * time.Millisecond
)

// agentCost estimates a boot whose agent runs the steps.
func agentCost(g Group) time.Duration {
	c := costBoot
	var disks []string
	for _, s := range g.Scenarios {
		c += costScenario
		for _, st := range s.Steps {
			c += costStep
			if sl, ok := st.Op.(scenarios.Sleep); ok {
				c += min(time.Duration(sl.NS), guest.MaxSleep)
				if time.Duration(sl.NS) > guest.MaxSleep {
					c += costSync - guest.MaxSleep
				}
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
	if slices.Contains(disks, "btrfs") {
		c += costBtrfs
	}
	return c
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

// halve splits a group into two of about equal cost, keeping order.
func halve(g Group, cost func(Group) time.Duration) (Group, Group) {
	total := cost(g) - costBoot
	a, b := g, g
	a.Scenarios, b.Scenarios = nil, nil
	for _, s := range g.Scenarios {
		if cost(Group{Scenarios: a.Scenarios})-costBoot < total/2 || len(a.Scenarios) == 0 {
			a.Scenarios = append(a.Scenarios, s)
		} else {
			b.Scenarios = append(b.Scenarios, s)
		}
	}
	if len(b.Scenarios) == 0 {
		n := len(a.Scenarios) / 2
		a.Scenarios, b.Scenarios = a.Scenarios[:n], a.Scenarios[n:]
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
