package scenarios

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// restorePrelude and restoreSteps: a world with a direct file, an
// overlay and a second filesystem, and steps through every kind the
// search's quiet runners take (handles left open included).
const restorePrelude = `name: restore
policy: measure func=BPRM_CHECK
policy: audit func=BPRM_CHECK
policy: measure func=FILE_CHECK mask=MAY_READ
policy: appraise func=MMAP_CHECK
fs xfs /lower
fs tmpfs /t
fs ext4 /e
mkdir /t/upper
mkdir /t/work
write /lower/prog "v0" mode=0755
write /e/f "f" mode=0755
overlay /ovl lower=/lower upper=/t/upper work=/t/work
`

const restoreSteps = `exec /ovl/prog uid=65534
exec /lower/prog uid=65534
exec /e/f uid=65534
append /lower/prog "+"
overwrite /lower/prog "X"
append /ovl/prog "*"
write /ovl/new "n" mode=0755
chmod /lower/prog 755
chmod /ovl/prog 700
chown /e/f 1:1
touch /ovl/prog
setxattr /lower/prog security.ima "x"
truncate /e/f 0
rename /e/f /e/g
rename /e/g /e/f
unlink /e/g
open %k /lower/prog r
read %k
mmap %k exec
close %k
open %w /ovl/prog rw
append %w "w"
close %w
open %r /ovl/prog r
read %r
close %r
sync
sleep 31s
sleep 1s
drop_caches
fsverity enable /e/f
mkdir /e/d
statx /ovl/prog
`

// step runs st unless it names a handle that is not open (the parser
// rules that out in a scenario; a walk through single steps may not).
func step(r *Runner, st Step) error {
	if i := strings.Index(st.Text, "%"); i >= 0 && !strings.HasPrefix(st.Text, "open ") {
		name := strings.Fields(st.Text[i:])[0]
		if _, ok := r.e.handles.get(name); !ok {
			if _, ok := r.e.handles.get(name[1:]); !ok {
				return fmt.Errorf("%s is not open", name)
			}
		}
	}
	return r.Step(st)
}

// dumpRunner writes out the run state of r field by field: the world
// (vfs.World.Dump), the iint cache, the engine's own fields and what the
// result holds.
func dumpRunner(r *Runner) string {
	e := *r.e
	var b strings.Builder
	fmt.Fprintf(&b, "world: %s\nima: %s\n", e.w.Dump(), e.ima.Dump())
	for _, nh := range e.handles {
		f := nh.h.f
		fmt.Fprintf(&b, "handle %s: %d %d %q %+v closed=%v inode=%s backing=%s\n", nh.name, nh.h.uid, nh.h.gid,
			f.Path, f.Flags, f.Closed(), e.w.DumpInode(f.Inode), e.w.DumpInode(f.Backing))
	}
	if e.ix != nil {
		fmt.Fprintf(&b, "interp: %+v\n", *e.ix)
	}
	e.engineConf, e.engineScratch, e.w, e.ima, e.res, e.handles, e.ix = nil, nil, nil, nil, nil, nil, nil
	res := *r.res
	res.ML = nil
	fmt.Fprintf(&b, "engine: %+v\nresult: %+v\n", e, res)
	return b.String()
}

// A runner saved and restored after any few steps is the runner it was
// (dumpRunner), and goes on as a fresh clone of it would: on random
// walks under several profiles, each state is cloned once into reused
// memory and saved, then every step runs on it after a restore (and a
// few random steps) and on a fresh clone, and the two must agree.
func TestRestoreMatchesClone(t *testing.T) {
	pre, err := Parse(strings.NewReader(restorePrelude), "restore")
	require.NoError(t, err)
	alpha, err := Parse(strings.NewReader("name: steps\n"+restoreSteps), "steps")
	require.NoError(t, err)
	steps := alpha.Steps
	rng := rand.New(rand.NewSource(1))
	for k, p := range profiles(t, "5.10", "6.1-stable", "6.12", "6.13", "fix-v2", "7.1") {
		// Quiet, and quiet with causes (how a search groups its
		// findings), every other profile.
		state, err := NewRunnerWith(pre, p, Options{Quiet: true, Causes: k%2 == 1})
		require.NoError(t, err)
		for _, st := range pre.Steps {
			require.NoError(t, state.Step(st))
		}
		// What a search drops after each step (the audit counts stay).
		forget := func(r *Runner) {
			res := r.Result()
			res.Steps, res.Audit = res.Steps[:0], res.Audit[:0]
		}
		forget(state)
		var scratch *Runner
		saves, refused := 0, 0
		for walk := 0; walk < 40; walk++ {
			scratch = state.CloneInto(scratch)
			if !scratch.Save() {
				// Only an open file on an inode no longer named (a copy
				// outside the arena) refuses.
				refused++
				require.NotEmpty(t, state.e.handles, "%s walk %d: Save refused", p.Name, walk)
			} else {
				saves++
				want := dumpRunner(scratch)
				require.Equal(t, state.StateHash(), scratch.StateHash())
				for k, st := range steps {
					for n := rng.Intn(3); n >= 0; n-- {
						_ = step(scratch, steps[rng.Intn(len(steps))])
					}
					scratch.Restore()
					require.Equal(t, want, dumpRunner(scratch), "%s walk %d: restored", p.Name, walk)
					fresh := state.Clone()
					errF, errS := step(fresh, st), step(scratch, st)
					require.Equal(t, errF, errS, "%s walk %d step %d", p.Name, walk, k)
					require.Equal(t, dumpRunner(fresh), dumpRunner(scratch), "%s walk %d: %s after a restore", p.Name, walk, st.Text)
					require.Equal(t, fresh.StateHash(), scratch.StateHash())
					scratch.Restore()
				}
			}
			// The walk goes on through any step but the last, a statx,
			// after which the runner holds interpreter state (Save
			// refuses it; the check above tries it on each state).
			next := state.Clone()
			_ = step(next, steps[rng.Intn(len(steps)-1)])
			forget(next)
			state = next
		}
		require.Greater(t, saves, 20, "%s: states saved", p.Name)
		require.NotEmpty(t, state.Result().AuditRecords, "%s: audit counts saved and restored", p.Name)
		t.Logf("%s: %d states saved, %d refused", p.Name, saves, refused)
	}
}
