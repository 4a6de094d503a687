package scenarios

import (
	"sync/atomic"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/measure/policy"
)

// decisionCache remembers policy decisions by the attributes the engine
// passes: the policy is fixed for a run, and a search asks the same few
// questions millions of times. Readers load an immutable slice; a miss
// publishes a longer copy.
type decisionCache struct {
	// lists holds one list per hook (fn), the last for any other fn.
	lists [16]atomic.Pointer[[]decision]
}

// list returns the list that holds decisions for fn.
func (c *decisionCache) list(fn policy.Func) *atomic.Pointer[[]decision] {
	if fn < 0 || int(fn) >= len(c.lists) {
		return &c.lists[len(c.lists)-1]
	}
	return &c.lists[fn]
}

type decisionKey struct {
	fn             policy.Func
	mask           policy.Mask
	uid, gid       uint32
	fowner, fgroup uint32
	magic          uint64
	fsName         string
}

type decision struct {
	key     decisionKey
	actions uint64 // cache.Flag* bits
	pcr     int
}

// decide returns the cached decision for k, asking pol on a miss. The
// decision is shared: callers only read it.
func (c *decisionCache) decide(pol *policy.Policy, k decisionKey) *decision {
	list := c.list(k.fn)
	if l := list.Load(); l != nil {
		for i := range *l {
			// The cheap fields first; fsName is one of a few model names.
			if d := &(*l)[i]; d.key.fn == k.fn && d.key.mask == k.mask && d.key.magic == k.magic &&
				d.key.uid == k.uid && d.key.gid == k.gid && d.key.fowner == k.fowner &&
				d.key.fgroup == k.fgroup && d.key.fsName == k.fsName {
				return d
			}
		}
	}
	d := pol.Match(policy.Attrs{Func: k.fn, Mask: k.mask, UID: k.uid, EUID: k.uid, GID: k.gid, EGID: k.gid,
		FOwner: k.fowner, FGrp: k.fgroup, FSMagic: k.magic, FSName: k.fsName}.WithDefaultCaps())
	out := decision{key: k, pcr: d.PCR}
	if d.Actions&policy.Measure != 0 {
		out.actions |= cache.FlagMeasure
	}
	if d.Actions&policy.Appraise != 0 {
		out.actions |= cache.FlagAppraise
	}
	if d.Actions&policy.Audit != 0 {
		out.actions |= cache.FlagAudit
	}
	if d.Actions&policy.Hash != 0 {
		out.actions |= cache.FlagHash
	}
	for {
		old := list.Load()
		var l []decision
		if old != nil {
			l = append(l, *old...)
		}
		l = append(l, out)
		if list.CompareAndSwap(old, &l) {
			return &l[len(l)-1]
		}
	}
}
