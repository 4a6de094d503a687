package probe

import (
	"fmt"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/cache/vfs"
	"github.com/imasim/imasim/scenarios"
)

// Model is the filesystem part of the scenario engine: scenarios.Runner
// with no IMA policy, so every step changes the modelled filesystems
// exactly as a simulated run does, and no hook acts. It is what the probe
// compares the host with, step by step.
type Model struct {
	// Gap is the simulated time before each step (scenarios.StepGap).
	Gap vfs.Time
	// QueryCookie makes Stat ask for the change cookie too, as the
	// probe's statx does with Options.QueryCookie.
	QueryCookie bool
	W           *vfs.World
	Profile     *cache.Profile
	r           *scenarios.Runner
}

// NewModel returns an empty world for profile p.
func NewModel(p *cache.Profile) *Model {
	r, err := scenarios.NewRunner(&scenarios.Scenario{Name: "probe", File: "probe model"}, p, true)
	if err != nil || !r.Ready() {
		panic(fmt.Sprintf("probe: a policy-free runner cannot fail: %v", err)) // broken invariant
	}
	return &Model{Gap: scenarios.StepGap, W: r.World(), Profile: p, r: r}
}

// MountOf names the mountpoint of the model superblock with dev.
func (m *Model) MountOf(dev uint64) (string, bool) { return m.W.MountOf(dev) }

// Step advances the clock by Gap and applies st through the engine.
func (m *Model) Step(st scenarios.Step) error { return m.r.StepAfter(m.Gap, st) }

// Stat is the probe's statx(2) on p in the model: getattr asking for the
// ctime, and for the change cookie only with QueryCookie (by default the
// probe does not request STATX_CHANGE_COOKIE, so i_version is not
// queried). On a multigrain filesystem this marks ctime as queried
// (Linux v6.13: fs/stat.c:fill_mg_cmtime).
func (m *Model) Stat(p string) (vfs.Stat, *vfs.Inode, error) {
	ino, err := m.W.Lookup(p)
	if err != nil {
		return vfs.Stat{}, nil, err
	}
	return m.W.Getattr(ino, m.QueryCookie, true), ino, nil
}

// Unmount writes back dirty data, as unmounting does (sync_filesystem).
func (m *Model) Unmount() {
	m.r.CloseAll()
	m.W.Sync()
}

// IVersion is the i_version the model's real inode at p holds now
// (inode_peek_iversion, what the filesystem writes to disk).
func (m *Model) IVersion(p string) (uint64, error) {
	ino, err := m.W.Lookup(p)
	if err != nil {
		return 0, err
	}
	return m.W.RealInode(ino).PeekIVersion(), nil
}
