// Package report writes a finding as people send it upstream: a subject,
// a summary, a minimal reproducer, the kconfig it needs, the causal chain
// from the model, the affected versions with the commits that introduced
// and fixed the behaviour, and model vs real kernels per step.
package report

import (
	"fmt"
	"slices"
	"strings"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/vm"
)

// Options choose what a report covers.
type Options struct {
	// Profiles are the model's kernel eras (default: every built-in).
	Profiles []*cache.Profile
	// Runs are real kernels' runs of the scenario (imasim vm, or
	// captures saved with --save).
	Runs []Run
}

// Run is one real kernel's run of the scenario compared with the model.
type Run struct {
	Label   string // debian:7.2, built:era-6.13, or the capture's directory
	Release string // uname -r of the guest
	Cmp     *vm.Run
}

// Era is the scenario under one kernel profile.
type Era struct {
	Profile *cache.Profile
	Result  *scenarios.Result
	Verdict string // scenarios.Missed, Excessive, Indeterminate, OK, or "n/a"
	// Checks are the reproducer's expect lines as the model predicts
	// them on this era; Exit is the reproducer's predicted status.
	Checks []scenarios.ExpectResult
	Exit   int
}

// Cause is a switch the verdict depends on: with Avoid (the value
// AvoidIn has) instead of Value the model gives no such verdict.
type Cause struct {
	Key, Value string
	Since      string // first released profile, in order, with Value up to this era
	Avoid      string
	AvoidIn    string
	Commit     *cache.Commit
}

// Affected is an era with a missed or excessive verdict.
type Affected struct {
	Era        *Era
	Introduced []Cause
	// FixedIn is the next released era without the verdict ("" when none
	// is known); Fixed are its switches that take the verdict away.
	FixedIn *Era
	Fixed   []Cause
}

// Report is everything the document says.
type Report struct {
	Scenario *scenarios.Scenario
	Eras     []*Era
	Affected []*Affected
	Repro    string
	ReproErr error
	Kconfig  []string
	Runs     []Run
}

// verdictOf is the worst verdict of a result.
func verdictOf(r *scenarios.Result) string {
	switch {
	case r.NA != "":
		return "n/a"
	case r.Count(scenarios.Missed) > 0:
		return scenarios.Missed
	case r.Count(scenarios.Excessive) > 0:
		return scenarios.Excessive
	case r.Count(scenarios.Indeterminate) > 0:
		return scenarios.Indeterminate
	}
	return scenarios.OK
}

func bad(v string) bool { return v == scenarios.Missed || v == scenarios.Excessive }

// Build runs the model under every profile and works out the rest.
func Build(s *scenarios.Scenario, o Options) (*Report, error) {
	ps := o.Profiles
	if len(ps) == 0 {
		ps = cache.Builtins()
	}
	r := &Report{Scenario: s, Runs: o.Runs, Kconfig: Kconfig(s)}
	r.Repro, r.ReproErr = Reproducer(s)
	for _, p := range ps {
		res, err := scenarios.Run(s, p)
		if err != nil {
			return nil, fmt.Errorf("profile %s: %w", p.Name, err)
		}
		e := &Era{Profile: p, Result: res, Verdict: verdictOf(res)}
		for _, x := range res.Expects {
			if k := expectKind(s, x.Line); k == "audit" || k == "measure" || k == "measurements" || k == "violations" {
				e.Checks = append(e.Checks, x)
				if !x.OK {
					e.Exit = 1
				}
			}
		}
		r.Eras = append(r.Eras, e)
	}
	released := r.released()
	for _, e := range r.Eras {
		if !bad(e.Verdict) {
			continue
		}
		a := &Affected{Era: e}
		a.Introduced = r.causes(e, nearestFirst(e, r.Eras, released), released)
		if i := slices.Index(released, e); i >= 0 {
			for _, f := range released[i+1:] {
				if f.Verdict == scenarios.OK {
					a.FixedIn = f
					a.Fixed = r.causes(e, []*Era{f}, released)
					for j := range a.Fixed {
						a.Fixed[j].Commit = commitOf(f.Profile, a.Fixed[j].Key)
					}
					break
				}
			}
		}
		r.Affected = append(r.Affected, a)
	}
	return r, nil
}

// nearestFirst orders the eras to compare e with: the released ones
// before e, nearest first, then those after it, then patched kernels.
func nearestFirst(e *Era, all, released []*Era) []*Era {
	var out []*Era
	i := slices.Index(released, e)
	if i < 0 {
		i = len(released)
	}
	for j := i - 1; j >= 0; j-- {
		out = append(out, released[j])
	}
	if i < len(released) {
		out = append(out, released[i+1:]...)
	}
	for _, x := range all {
		if !slices.Contains(out, x) && x != e {
			out = append(out, x)
		}
	}
	return out
}

func expectKind(s *scenarios.Scenario, line int) string {
	for _, x := range s.Expects {
		if x.Line == line {
			return x.Kind
		}
	}
	return ""
}

// released are the eras of released kernels (auto-pickable profiles) in
// version order.
func (r *Report) released() []*Era {
	var out []*Era
	for _, e := range r.Eras {
		if e.Profile.Auto {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b *Era) int {
		if a.Profile.Kernels.Min == b.Profile.Kernels.Min {
			return 0
		}
		if a.Profile.Kernels.Min.Less(b.Profile.Kernels.Min) {
			return -1
		}
		return 1
	})
	return out
}

// causes finds the switches of e whose value, replaced by the value an
// era of from without e's verdict has, takes the verdict away: the model
// run again on a copy of the profile with that one switch changed.
func (r *Report) causes(e *Era, from, released []*Era) []Cause {
	var out []Cause
	for _, key := range e.Profile.SwitchKeys() {
		val, ok := e.Profile.Switch(key)
		if !ok {
			continue
		}
		tried := map[string]bool{}
		for _, u := range from {
			if u.Verdict != scenarios.OK {
				continue
			}
			uv, ok := u.Profile.Switch(key)
			if !ok || uv == val || tried[uv] {
				continue
			}
			tried[uv] = true
			q, err := variant(e.Profile, key, uv)
			if err != nil {
				continue
			}
			res, err := scenarios.Run(r.Scenario, q)
			if err != nil || verdictOf(res) == e.Verdict {
				continue
			}
			out = append(out, Cause{Key: key, Value: val, Avoid: uv, AvoidIn: u.Profile.Name,
				Since: since(e, key, val, released), Commit: commitOf(e.Profile, key)})
			break
		}
	}
	return out
}

func commitOf(p *cache.Profile, key string) *cache.Commit {
	if c, ok := p.Commits[key]; ok {
		return &c
	}
	return nil
}

// since walks back from e through the released eras while key keeps val.
func since(e *Era, key, val string, released []*Era) string {
	i := slices.Index(released, e)
	if i < 0 {
		return e.Profile.Name
	}
	first := e.Profile.Name
	for j := i - 1; j >= 0; j-- {
		if v, _ := released[j].Profile.Switch(key); v != val {
			break
		}
		first = released[j].Profile.Name
	}
	return first
}

// variant is p with one switch changed, parsed as a profile file that
// inherits p, so the value is checked as any profile's is.
func variant(p *cache.Profile, key, val string) (*cache.Profile, error) {
	text := fmt.Sprintf("inherit: base\nname: %s\nkernels: %s\n%s: %s\n", p.Name, p.Kernels, key, val)
	return cache.ParseProfile(strings.NewReader(text), "variant", func(string) (*cache.Profile, error) { return p, nil })
}

// Kconfig is the fragment the reproducer needs on top of a kernel's own
// config: IMA with a writable policy and audit, the filesystems, loop
// devices, overlayfs.
func Kconfig(s *scenarios.Scenario) []string {
	out := []string{"CONFIG_AUDIT=y", "CONFIG_INTEGRITY=y", "CONFIG_INTEGRITY_AUDIT=y", "CONFIG_IMA=y", "CONFIG_IMA_WRITE_POLICY=y"}
	add := func(c string) {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	for _, p := range s.Policy {
		if strings.HasPrefix(p.Rule, "appraise") {
			add("CONFIG_IMA_APPRAISE=y")
		}
	}
	for _, st := range s.Steps {
		switch o := st.Op.(type) {
		case scenarios.FS:
			if o.Type == "tmpfs" {
				add("CONFIG_TMPFS=y")
				continue
			}
			add("CONFIG_BLK_DEV_LOOP=y")
			add(map[string]string{"xfs": "CONFIG_XFS_FS=y", "ext4": "CONFIG_EXT4_FS=y", "btrfs": "CONFIG_BTRFS_FS=y"}[o.Type])
		case scenarios.Overlay:
			add("CONFIG_OVERLAY_FS=y")
		}
	}
	return slices.DeleteFunc(out, func(c string) bool { return c == "" })
}

// Agree says whether the model matched every real kernel of the report.
func (r *Report) Agree() bool {
	for _, run := range r.Runs {
		if !agrees(run.Cmp) {
			return false
		}
	}
	return true
}
