package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/vm/guest"
)

// ScriptBoot is one boot that ran scripts.
type ScriptBoot struct {
	Group   Group
	Boot    *BootResult
	Scripts []guest.ScriptReport // in Group.Scripts order
	Err     error
	Total   time.Duration
}

// RunScripts boots each group (Options.Parallel at a time) and returns
// the scripts' reports. A boot that fails has Err set; the others still
// run.
func RunScripts(ctx context.Context, o Options, groups []Group) []*ScriptBoot {
	out := make([]*ScriptBoot, len(groups))
	sem := make(chan struct{}, max(1, o.Parallel))
	var wg sync.WaitGroup
	for i, g := range groups {
		out[i] = &ScriptBoot{Group: g}
		sem <- struct{}{}
		wg.Add(1)
		go func(sb *ScriptBoot) {
			defer func() { <-sem; wg.Done() }()
			sb.run(ctx, o)
		}(out[i])
	}
	wg.Wait()
	return out
}

func (sb *ScriptBoot) run(ctx context.Context, o Options) {
	names := []string{}
	for _, s := range sb.Group.Scripts {
		names = append(names, s.Name)
	}
	if o.Log != nil {
		fmt.Fprintf(o.Log, "imasim vm: booting %s for %s\n", o.Kernel.Release, strings.Join(names, ", "))
	}
	t0 := time.Now()
	br, err := bootRetrying(ctx, o, sb.Group)
	sb.Boot, sb.Err, sb.Total = br, err, time.Since(t0)
	if err != nil {
		return
	}
	sb.Scripts = br.Report.Scripts
	if len(sb.Scripts) != len(sb.Group.Scripts) {
		sb.Err = fmt.Errorf("%w: the guest reported %d of %d scripts (errors: %s)", ErrBoot,
			len(sb.Scripts), len(sb.Group.Scripts), strings.Join(br.Report.Errors, "; "))
	}
}

// Save writes a boot's captures (dmesg, audit log, lists, PCRs, console)
// and the output of the named scripts (all when none is named) under dir.
// The scripts' outputs are named after the host's scripts (SaveName), not
// after what the guest reports; nothing is written outside dir.
func (sb *ScriptBoot) Save(dir string, only ...string) error {
	root, err := saveRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	var errs []error
	if sb.Boot != nil {
		errs = append(errs, saveFiles(root, sb.Boot.Files), saveFile(root, "console.log", []byte(sb.Boot.Console)))
	}
	for i, sc := range sb.Group.Scripts {
		if i >= len(sb.Scripts) || (len(only) > 0 && !slices.Contains(only, sc.Name)) {
			continue
		}
		errs = append(errs, saveFile(root, SaveName(sc.Name)+".out", []byte(sb.Scripts[i].Output)))
	}
	return errors.Join(errs...)
}

// ScriptModules are the modules a script boot loads by default: loop
// devices and the filesystems the scenarios use (btrfs only on request:
// its raid6/xor dependencies benchmark themselves for seconds at load).
var ScriptModules = []string{"loop", "xfs", "ext4", "overlay"}

// DirFiles lists a host directory's regular files as guest files under dst.
func DirFiles(src, dst string) ([]File, error) { return dirFiles(src, dst) }

// ShellRun is an exported reproducer (imasim scenario export --sh) run in
// the guest, checked against the model's prediction.
type ShellRun struct {
	Scenario *scenarios.Scenario
	Name     string
	Model    *scenarios.Result
	Script   *guest.ScriptReport
	Boot     *ScriptBoot
	Checks   []ShellCheck
	// Conf is the script's TCONF reason (it could not run here).
	Conf string
	Err  error
}

// ShellCheck is one expect line the script judged: its count on the real
// kernel and the model's.
type ShellCheck struct {
	Text   string `json:"text"`
	Status string `json:"status"` // PASS or FAIL, as the script said
	Real   string `json:"real"`
	Model  string `json:"model"`
}

// Agree says whether the model predicted the script's count.
func (c ShellCheck) Agree() bool { return c.Real == c.Model }

// Agree says whether the run completed and every count the script judged
// is the model's, with the script's exit status consistent with them.
func (r *ShellRun) Agree() bool {
	if r.Err != nil || r.Conf != "" || r.Script == nil {
		return false
	}
	for _, c := range r.Checks {
		if !c.Agree() {
			return false
		}
	}
	return true
}

// Failed says whether the script found an expect line broken.
func (r *ShellRun) Failed() bool {
	for _, c := range r.Checks {
		if c.Status != "PASS" {
			return true
		}
	}
	return false
}

var (
	verdictRE = regexp.MustCompile(`^(PASS|FAIL): (.*) \(got (-?\d+)\)$`)
	needsRE   = regexp.MustCompile(`(?m)^NEEDS='([^']*)'$`)
)

// ParseShellOutput reads an exported script's output: the expect lines it
// judged (in order) and its TCONF reason, if any.
func ParseShellOutput(name, out string) (checks []ShellCheck, conf string) {
	for _, l := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(l, name+": ")
		if !ok {
			continue
		}
		if m := verdictRE.FindStringSubmatch(rest); m != nil {
			checks = append(checks, ShellCheck{Text: m[2], Status: m[1], Real: m[3]})
		} else if c, ok := strings.CutPrefix(rest, "TCONF: "); ok && conf == "" {
			conf = c
		}
	}
	return checks, conf
}

// ShellNeeds returns the NEEDS list of an exported script.
func ShellNeeds(script []byte) []string {
	m := needsRE.FindSubmatch(script)
	if m == nil {
		return nil
	}
	return strings.Fields(string(m[1]))
}

// ShellGroups turns groups of scenarios sharing a policy (GroupByPolicy,
// Balance with ShellCost) into boots of their exported shell
// reproducers. The agent writes the group's policy before the scripts
// run (the kernels take one write), so every script finds it loaded
// (without CONFIG_IMA_READ_POLICY a script assumes so) and none depends
// on another having loaded it. The groups carry the scripts as Files and
// load loop and the filesystems the scripts need; the caller adds the
// tools.
func ShellGroups(groups []Group) ([]Group, error) {
	var out []Group
	for _, g := range groups {
		if len(g.Scenarios) == 0 {
			continue
		}
		ng := Group{Policy: PolicyText(g.Scenarios[0]), Load: []string{"loop"}}
		for _, s := range g.Scenarios {
			if PolicyText(s) != ng.Policy {
				return nil, fmt.Errorf("%s: policy differs from %s's in the same boot", s.Name, g.Scenarios[0].Name)
			}
			var b bytes.Buffer
			if err := scenarios.ExportShell(&b, s, scenarios.ExportOptions{}); err != nil {
				return nil, fmt.Errorf("export %s: %w", s.Name, err)
			}
			sc := guest.Script{Name: s.Name, Path: "/imasim-sh/" + s.Name + ".sh"}
			for _, n := range ShellNeeds(b.Bytes()) {
				if fs, ok := strings.CutPrefix(n, "fs:"); ok && fs != "tmpfs" && !slices.Contains(ng.Load, fs) {
					ng.Load = append(ng.Load, fs)
				}
			}
			ng.Files = append(ng.Files, File{Dst: sc.Path, Data: b.Bytes(), Mode: 0o755})
			ng.Scripts = append(ng.Scripts, sc)
		}
		out = append(out, ng)
	}
	return out, nil
}

// CompareShell checks each script run against the model's result for
// profile p.
func CompareShell(p *cache.Profile, ss []*scenarios.Scenario, boots []*ScriptBoot) []*ShellRun {
	byName := map[string]*scenarios.Scenario{}
	for _, s := range ss {
		byName[s.Name] = s
	}
	var runs []*ShellRun
	for _, sb := range boots {
		for i, sc := range sb.Group.Scripts {
			s := byName[sc.Name]
			r := &ShellRun{Scenario: s, Name: sc.Name, Boot: sb}
			runs = append(runs, r)
			m, err := scenarios.Run(s, p)
			if err != nil {
				r.Err = fmt.Errorf("%w: model: %v", ErrUsage, err)
				continue
			}
			r.Model = m
			if sb.Err != nil && i >= len(sb.Scripts) {
				r.Err = sb.Err
				continue
			}
			r.Script = &sb.Scripts[i]
			var conf string
			r.Checks, conf = ParseShellOutput(sc.Name, r.Script.Output)
			if r.Script.Exit == 32 {
				r.Conf = conf
				if r.Conf == "" {
					r.Conf = "the script exited 32 (TCONF)"
				}
				continue
			}
			model := map[string]string{}
			for _, x := range m.Expects {
				model[x.Text] = x.Got
			}
			for j := range r.Checks {
				r.Checks[j].Model = model[r.Checks[j].Text]
			}
			failed := false
			for _, c := range r.Checks {
				failed = failed || c.Status == "FAIL"
			}
			held := map[string]bool{}
			for _, x := range ShellObservation(s, r.Checks).Judge(s.Expects) {
				held[x.Text] = x.OK
			}
			var wrong []string
			for _, c := range r.Checks {
				if ok, judged := held[c.Text]; judged && ok != (c.Status == "PASS") {
					wrong = append(wrong, c.Text)
				}
			}
			switch {
			case r.Script.Err != "":
				r.Err = fmt.Errorf("%w: script %s: %s", ErrBoot, sc.Name, r.Script.Err)
			case len(wrong) > 0:
				r.Err = fmt.Errorf("script %s: its verdicts on %s do not follow from its counts", sc.Name, strings.Join(wrong, "; "))
			case len(r.Checks) == 0 && len(countExpects(s)) > 0:
				r.Err = fmt.Errorf("script %s exited %d without judging its expect lines", sc.Name, r.Script.Exit)
			case failed != (r.Script.Exit == 1) || (!failed && r.Script.Exit != 0):
				r.Err = fmt.Errorf("script %s exited %d, which its verdict lines do not explain", sc.Name, r.Script.Exit)
			}
		}
	}
	return runs
}

// ShellObservation is what an exported script's verdict lines show: the
// counts it judged (audit records and list entries per path,
// measurements, violations). The rest is unknown to it.
func ShellObservation(s *scenarios.Scenario, checks []ShellCheck) *scenarios.Observation {
	ob := &scenarios.Observation{Form: "script", Audit: map[string]int{}, Measurements: -1, Measured: map[string]int{}}
	got := map[string]int{}
	for _, c := range checks {
		if n, err := strconv.Atoi(c.Real); err == nil {
			got[c.Text] = n
		}
	}
	for _, x := range s.Expects {
		n, ok := got[x.Text]
		if !ok {
			continue
		}
		switch x.Kind {
		case "audit":
			ob.Audit[x.Path] = n
		case "measure":
			ob.Measured[x.Path] = n
		case "measurements":
			ob.Measurements = n
		case "violations":
			ob.Violations = n
		}
	}
	return ob
}

// countExpects are the expect lines an exported script judges itself
// (counts); the rest (verdicts) it leaves to the model.
func countExpects(s *scenarios.Scenario) []string {
	var out []string
	for _, x := range s.Expects {
		switch x.Kind {
		case "audit", "measure", "measurements", "violations":
			out = append(out, x.Text)
		}
	}
	return out
}
