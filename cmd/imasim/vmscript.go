package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/imasim/imasim/cache"
	ltpcompat "github.com/imasim/imasim/ltp-compat"
	"github.com/imasim/imasim/scenarios/vm"
	"github.com/imasim/imasim/scenarios/vm/guest"
)

// listFlag collects a repeatable flag (--file, --env).
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// scriptOpts are the flags of `vm run` and `--sh`.
type scriptOpts struct {
	script string
	args   []string
	tools  []string
	load   []string
	files  []vm.File
	dirs   map[string]string // --file directories: host (absolute) -> guest
	env    []string
}

// guestPath is where the script runs from: inside a --file directory
// when it is in one (so files next to it, like the LTP shim, are there
// too), else /imasim-run/BASENAME, copied alone.
func (so scriptOpts) guestPath() (string, bool) {
	abs, err := filepath.Abs(so.script)
	if err != nil {
		return "", false
	}
	for src, dst := range so.dirs {
		if rel, err := filepath.Rel(src, abs); err == nil && !strings.HasPrefix(rel, "..") {
			return path.Join(dst, filepath.ToSlash(rel)), true
		}
	}
	return "/imasim-run/" + filepath.Base(so.script), false
}

// guestFiles parses --file SRC[:DST] (a directory is copied whole; DST
// defaults to /imasim-files/BASENAME) and returns the directories too.
func guestFiles(specs []string) ([]vm.File, map[string]string, error) {
	var out []vm.File
	dirs := map[string]string{}
	for _, sp := range specs {
		src, dst, _ := strings.Cut(sp, ":")
		if dst == "" {
			dst = path.Join("/imasim-files", filepath.Base(src))
		}
		if !path.IsAbs(dst) {
			return nil, nil, fmt.Errorf("--file %s: the guest path %s must be absolute", sp, dst)
		}
		fi, err := os.Stat(src)
		if err != nil {
			return nil, nil, fmt.Errorf("--file %s: %w", sp, err)
		}
		if fi.IsDir() {
			fs, err := vm.DirFiles(src, dst)
			if err != nil {
				return nil, nil, fmt.Errorf("--file %s: %w", sp, err)
			}
			out = append(out, fs...)
			if abs, err := filepath.Abs(src); err == nil {
				dirs[abs] = dst
			}
			continue
		}
		out = append(out, vm.File{Dst: dst, Src: src, Mode: uint32(fi.Mode().Perm())})
	}
	return out, dirs, nil
}

// toolFiles resolves --tools and warns about missing ones.
func (kr kernelRun) toolFiles(stderr io.Writer) ([]vm.File, error) {
	files, missing, err := vm.ResolveTools(kr.sc.tools)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "imasim vm: WARNING: not on this host, so not in the guest: %s\n", strings.Join(missing, ", "))
	}
	for _, applet := range []string{"losetup", "setpriv"} {
		if !slices.ContainsFunc(kr.sc.tools, func(t string) bool { return path.Base(t) == applet && !slices.Contains(missing, t) }) {
			fmt.Fprintf(stderr, "imasim vm: WARNING: scripts get busybox's %s (no --show, cannot change uids)\n", applet)
		}
	}
	return files, nil
}

// runScript is `imasim vm --kernel K run SCRIPT [ARGS]`: one boot, the
// script's output on stdout, its exit status as ours.
func (kr kernelRun) runScript(k *vm.Kernel, stdout, stderr io.Writer) int {
	tools, err := kr.toolFiles(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "imasim vm:", err)
		return exitCannot
	}
	name := filepath.Base(kr.sc.script)
	dst, inDir := kr.sc.guestPath()
	files := append(tools, kr.sc.files...)
	if !inDir {
		src, err := os.ReadFile(kr.sc.script)
		if err != nil {
			fmt.Fprintln(stderr, "imasim vm:", err)
			return exitUsage
		}
		files = append(files, vm.File{Dst: dst, Data: src, Mode: 0o755})
	}
	g := vm.Group{Load: kr.sc.load, Files: files,
		Scripts: []guest.Script{{Name: name, Path: dst, Args: kr.sc.args, Env: kr.sc.env}}}
	opts := kr.opts
	opts.Kernel, opts.Log = k, stderr
	sb := vm.RunScripts(kr.ctx, opts, []vm.Group{g})[0]
	if kr.save != "" {
		if err := sb.Save(kr.save); err != nil {
			fmt.Fprintln(stderr, "imasim vm:", err)
			return exitUsage
		}
	}
	if sb.Err != nil {
		fmt.Fprintf(stderr, "imasim vm: %s on %s: %v\n", name, k.Release, sb.Err)
		return errCode(sb.Err)
	}
	rep := sb.Scripts[0]
	for _, e := range sb.Boot.Report.Errors {
		fmt.Fprintf(stderr, "imasim vm: WARNING: guest: %s\n", e)
	}
	io.WriteString(stdout, rep.Output)
	fmt.Fprintf(stderr, "imasim vm: %s on %s exited %d (%s)\n", name, k.Release, rep.Exit, scriptTiming(sb, rep))
	if rep.Err != "" {
		fmt.Fprintf(stderr, "imasim vm: %s: %s\n", name, rep.Err)
		return exitFail
	}
	return rep.Exit
}

func scriptTiming(sb *vm.ScriptBoot, rep guest.ScriptReport) string {
	var parts []string
	if sb.Boot != nil {
		for _, ph := range sb.Boot.Timing {
			parts = append(parts, fmt.Sprintf("%s %.1fs", ph.Name, ph.D.Seconds()))
		}
		if t, ok := sb.Boot.Report.Timing["modules"]; ok {
			parts = append(parts, fmt.Sprintf("guest-modules %.1fs", t))
		}
	}
	parts = append(parts, fmt.Sprintf("script %.1fs", rep.Ms/1000), fmt.Sprintf("total %.1fs", sb.Total.Seconds()))
	return strings.Join(parts, ", ")
}

// runShell is `--sh`: the scenarios' exported reproducers run in the
// guest (grouped by policy), each count they judge checked against the
// model's prediction for profile p.
func (kr kernelRun) runShell(k *vm.Kernel, p *cache.Profile, stdout, stderr io.Writer) int {
	tools, err := kr.toolFiles(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "imasim vm:", err)
		return exitCannot
	}
	groups, err := vm.ShellGroups(vm.Balance(vm.GroupByPolicy(kr.ss), max(1, kr.opts.Parallel), vm.ShellCost))
	if err != nil {
		fmt.Fprintln(stderr, "imasim vm:", err)
		return exitUsage
	}
	for i := range groups {
		groups[i].Files = append(groups[i].Files, tools...)
		groups[i].Files = append(groups[i].Files, kr.sc.files...)
		for _, m := range kr.sc.load {
			if !slices.Contains(groups[i].Load, m) {
				groups[i].Load = append(groups[i].Load, m)
			}
		}
		for j := range groups[i].Scripts {
			groups[i].Scripts[j].Env = kr.sc.env
		}
	}
	opts := kr.opts
	opts.Kernel, opts.Log = k, stderr
	boots := vm.RunScripts(kr.ctx, opts, groups)
	runs := vm.CompareShell(p, kr.ss, boots)
	if kr.save != "" {
		for _, sb := range boots {
			for _, sc := range sb.Group.Scripts {
				if err := sb.Save(filepath.Join(kr.save, vm.SaveName(sc.Name)), sc.Name); err != nil {
					fmt.Fprintln(stderr, "imasim vm:", err)
					return exitUsage
				}
			}
		}
	}
	rc := exitOK
	for _, r := range runs {
		c := exitOK
		switch {
		case r.Err != nil:
			c = errCode(r.Err)
			fmt.Fprintf(stderr, "imasim vm: %s (exported script) on %s: %v\n", r.Name, k.Release, r.Err)
		case r.Conf != "":
			c = exitCannot
		case !r.Agree() || r.Failed():
			c = exitFail // the model mispredicts, or the kernel broke an expectation
		}
		if worseVM(c, rc) {
			rc = c
		}
	}
	switch {
	case kr.format == "json":
		err = writeShellJSON(stdout, k, p, runs)
	case isCIFormat(kr.format):
		code, err := writeCI(stdout, kr.format, "vm", shellCases(k, runs), rc)
		if err != nil {
			fmt.Fprintln(stderr, "imasim vm:", err)
			return exitUsage
		}
		return code
	default:
		writeShellText(stdout, k, p, runs, kr.verbose)
	}
	if err != nil {
		fmt.Fprintln(stderr, "imasim vm:", err)
		return exitUsage
	}
	return rc
}

func writeShellText(w io.Writer, k *vm.Kernel, p *cache.Profile, runs []*vm.ShellRun, verbose bool) {
	for _, r := range runs {
		fmt.Fprintf(w, "== %s (exported script) on %s (%s) vs model profile %s\n", r.Name, k.Release, k.Spec, p.Name)
		switch {
		case r.Err != nil && r.Script == nil:
			fmt.Fprintf(w, "  not run: %v\n\n", r.Err)
			continue
		case r.Conf != "":
			fmt.Fprintf(w, "  TCONF: %s\n", r.Conf)
		}
		for _, c := range r.Checks {
			v := "agree"
			if !c.Agree() {
				v = "MODEL DEFECT"
			}
			fmt.Fprintf(w, "  %-44s script %s (real %s), model %s: %s\n", clipLine(c.Text, 44), c.Status, c.Real, c.Model, v)
		}
		fmt.Fprintf(w, "  script exit %d", r.Script.Exit)
		switch {
		case r.Err != nil:
			fmt.Fprintf(w, "; %v\n", r.Err)
		case r.Conf != "":
			fmt.Fprintln(w, "; cannot run here")
		case r.Agree():
			fmt.Fprintln(w, "; model and kernel agree")
		default:
			fmt.Fprintln(w, "; the model mispredicts the kernel")
		}
		fmt.Fprintf(w, "  time: %s\n", scriptTiming(r.Boot, *r.Script))
		if verbose || !r.Agree() && r.Conf == "" {
			fmt.Fprintln(w, "  script output:")
			for _, l := range strings.Split(strings.TrimRight(r.Script.Output, "\n"), "\n") {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
		fmt.Fprintln(w)
	}
}

func writeShellJSON(w io.Writer, k *vm.Kernel, p *cache.Profile, runs []*vm.ShellRun) error {
	type run struct {
		Scenario string          `json:"scenario"`
		Exit     int             `json:"exit"`
		Conf     string          `json:"tconf,omitempty"`
		Error    string          `json:"error,omitempty"`
		Agree    bool            `json:"agree"`
		Checks   []vm.ShellCheck `json:"checks"`
		Output   string          `json:"output"`
	}
	doc := struct {
		Schema  int    `json:"schema"`
		Kernel  string `json:"kernel"`
		Spec    string `json:"kernel_spec"`
		Profile string `json:"profile"`
		Runs    []run  `json:"shell_runs"`
	}{Schema: 1, Kernel: k.Release, Spec: k.Spec, Profile: p.Name}
	for _, r := range runs {
		x := run{Scenario: r.Name, Exit: -1, Conf: r.Conf, Agree: r.Agree(), Checks: r.Checks}
		if r.Script != nil {
			x.Exit, x.Output = r.Script.Exit, r.Script.Output
		}
		if r.Err != nil {
			x.Error = r.Err.Error()
		}
		doc.Runs = append(doc.Runs, x)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// shellCases: one CI case per exported script; each judged count is a
// subtest (the kernel's expectation and the model's prediction).
func shellCases(k *vm.Kernel, runs []*vm.ShellRun) []ltpcompat.Case {
	var cases []ltpcompat.Case
	for _, r := range runs {
		c := ltpcompat.Case{Name: r.Name + "/sh/" + k.Release, Args: []string{"vm", "--kernel", k.Spec, "scenario", r.Name, "--sh"}}
		if r.Script != nil {
			c.Log = r.Script.Output
			c.Duration = time.Duration(r.Script.Ms * float64(time.Millisecond))
		}
		switch {
		case r.Err != nil:
			c.Status, c.Message = ltpcompat.Brok, r.Err.Error()
			if errCode(r.Err) == exitCannot {
				c.Status = ltpcompat.Conf
			}
			cases = append(cases, c)
			continue
		case r.Conf != "":
			c.Status, c.Message = ltpcompat.Conf, r.Conf
			cases = append(cases, c)
			continue
		}
		var ss []ltpcompat.Status
		for _, x := range r.Checks {
			st := ltpcompat.Pass
			if x.Status != "PASS" {
				st = ltpcompat.Fail
			}
			c.Subtests = append(c.Subtests, ltpcompat.Subtest{Name: x.Text, Status: st, Message: "real: " + x.Real})
			mst := ltpcompat.Pass
			if !x.Agree() {
				mst = ltpcompat.Fail
			}
			c.Subtests = append(c.Subtests, ltpcompat.Subtest{Name: "model predicts " + x.Text, Status: mst, Message: "model " + x.Model + ", real " + x.Real})
			ss = append(ss, st, mst)
		}
		c.Status = ltpcompat.Worst(ss...)
		cases = append(cases, c)
	}
	return cases
}
