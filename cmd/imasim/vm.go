package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/internal/interrupt"
	ltpcompat "github.com/imasim/imasim/ltp-compat"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/vm"
	"github.com/imasim/imasim/scenarios/vm/guest"
	"github.com/imasim/imasim/scenarios/vm/kbuild"
)

var vmFormats = append([]string{"text", "json"}, ciFormats...)

const vmSynopsis = `vm --kernel K[,K...] scenario NAME|FILE... [--sh] [flags]
       imasim vm --kernel K matrix [--sh] [flags]
       imasim vm --kernel K run SCRIPT [flags] [-- ARGS...]
       imasim vm fetch debian:6.1,debian:6.12,debian:7.2

scenario and matrix run the steps with the guest agent's syscalls; with
--sh the guest runs the exported shell reproducers (imasim scenario export
--sh) instead and each count they judge is checked against the model.
run boots the kernel once and runs SCRIPT as root with sh (the host's
dash, carried in with the other --tools and their libraries; busybox's
applets fill in the rest) after loading the modules of --load; its output
is printed and its exit status is imasim's (so 1 and 32 may be the
script's TFAIL and TCONF, or imasim's own).

K is debian:6.1, debian:6.12, debian:7.2 (kernels.lock), a bzImage (with
--modules DIR), or a comma-separated list of .deb files. Several debian:X
kernels, comma-separated, boot in parallel (--jobs).`

// cmdVM runs the vm verb. Interrupted (Ctrl-C, SIGTERM), the boots kill
// QEMU and swtpm and remove their work dirs before it returns (exit 3);
// each registers its cleanup with package interrupt for a second Ctrl-C.
func cmdVM(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "guest" {
		// Hidden: the guest agent, started by the initramfs /init.
		if len(args) != 2 {
			fmt.Fprintln(stderr, "usage: imasim vm guest JOB.json (inside the VM)")
			return exitUsage
		}
		if os.Getenv(guest.EnvMarker) != "1" {
			// It mounts over /dev and /sys and powers the machine off.
			fmt.Fprintf(stderr, "imasim vm guest: runs only inside an imasim VM (%s=1 is set by its /init)\n", guest.EnvMarker)
			return exitUsage
		}
		return guest.Main(args[1], stdout)
	}
	fs := newFlags("vm", vmSynopsis, stderr)
	kernel := fs.String("kernel", "", "kernel: debian:6.1|debian:6.12|debian:7.2, path/bzImage, or a.deb[,b.deb...]")
	modules := fs.String("modules", "", "modules directory (lib/modules/RELEASE) for --kernel bzImage")
	cacheDir := fs.String("cache", vm.DefaultCache(), "kernel cache directory (default: $XDG_CACHE_HOME or ~/.cache, imasim/kernels)")
	lock := fs.String("lock", "", "kernels.lock to use (default: nearest ./kernels.lock upwards, else built in)")
	prof := fs.String("profile", "auto", "model profile to compare with (auto: by the kernel's version)")
	accel := fs.String("accel", "tcg", "QEMU accelerator: tcg or kvm (falls back to tcg)")
	cpu := fs.String("cpu", "", "QEMU -cpu model (default under tcg: qemu64,-cx16; see scenarios/vm/boot.go)")
	agent := fs.String("agent", "", "static imasim binary to run in the guest (default: this one)")
	busybox := fs.String("busybox", "/bin/busybox", "static busybox for the initramfs")
	jobs := fs.Int("jobs", 0, "VMs booted in parallel (default: one per core for several kernels; one more than the cores for one kernel's policy groups, whose guests idle between steps)")
	retries := fs.Int("retries", 2, "repeat a boot whose kernel crashed (panic/oops) this often; crashes are reported")
	appendCmd := fs.String("append", "", "extra kernel command line")
	bootMode := fs.String("boot-mode", "auto", "auto: boot the kernel's vmlinux directly (PVH; acpi=off, no firmware event log, boot_aggregate checked against PCRs 0-9) when it can, else the bzImage; pvh: only directly; bios: the bzImage through SeaBIOS with ACPI and the event log")
	keep := fs.Bool("keep", false, "keep the work dir (disks, initramfs, console, results)")
	verbose := fs.Bool("v", false, "print the QEMU command and the guest console")
	save := fs.String("save", "", "save the raw captures (audit log, lists, PCRs, console) under DIR/<scenario>/ (DIR/debian-X/<scenario>/ for several kernels)")
	bootT := fs.Duration("boot-timeout", 90*time.Second, "time until the guest agent starts")
	idleT := fs.Duration("idle-timeout", 60*time.Second, "time without console output")
	totalT := fs.Duration("timeout", 10*time.Minute, "total time per boot")
	sh := fs.Bool("sh", false, "scenario, matrix: run the exported shell reproducers in the guest (checked against the model)")
	tools := fs.String("tools", strings.Join(vm.DefaultTools, ","), "run, --sh: host programs to put into the guest with their shared libraries")
	load := fs.String("load", strings.Join(vm.ScriptModules, ","), "run, --sh: kernel modules to load in the guest (add btrfs when needed)")
	var files, env listFlag
	fs.Var(&files, "file", "run, --sh: copy a host file or directory into the guest, SRC[:DST] (default DST /imasim-files/BASENAME); repeatable")
	fs.Var(&env, "env", "run, --sh: KEY=VALUE in the script's environment; repeatable")
	format := addFormat(fs, vmFormats...)
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		fs.Usage()
		return exitUsage
	}
	ff, err := format.get(vmFormats...)
	if err != nil {
		fmt.Fprintln(stderr, "imasim vm:", err)
		return exitUsage
	}
	entries, lockSrc, err := vm.LoadLock(*lock)
	if err != nil {
		fmt.Fprintln(stderr, "imasim vm:", err)
		return exitUsage
	}
	fetcher := &vm.Fetcher{Cache: *cacheDir, Lock: entries, Log: stderr}
	if pos[0] == "fetch" {
		if len(pos) != 2 {
			fmt.Fprintln(stderr, "usage: imasim vm fetch debian:6.1[,debian:6.12...]")
			return exitUsage
		}
		rc := exitOK
		for _, n := range splitList(pos[1]) {
			k, err := fetcher.Fetch(ctx, n)
			if err != nil {
				fmt.Fprintf(stderr, "imasim vm fetch %s: %v\n", n, err)
				rc = errCode(err)
				continue
			}
			fmt.Fprintf(stdout, "%-12s %-32s %s\n", n, k.Release, k.Image)
		}
		return rc
	}
	if *kernel == "" {
		fmt.Fprintln(stderr, "imasim vm: --kernel is required")
		fs.Usage()
		return exitUsage
	}
	var ss []*scenarios.Scenario
	mode := "agent"
	if *sh {
		mode = "sh"
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if pos[0] != "run" && !*sh {
		for _, n := range []string{"tools", "load", "file", "env"} {
			if set[n] {
				fmt.Fprintf(stderr, "imasim vm: --%s is for run and --sh (the agent's steps use neither)\n", n)
				return exitUsage
			}
		}
	}
	sc := scriptOpts{tools: splitList(*tools), load: splitList(*load), env: env}
	if sc.files, sc.dirs, err = guestFiles(files); err != nil {
		fmt.Fprintln(stderr, "imasim vm:", err)
		return exitUsage
	}
	for _, e := range env {
		if !strings.Contains(e, "=") {
			fmt.Fprintf(stderr, "imasim vm: --env %s: want KEY=VALUE\n", e)
			return exitUsage
		}
	}
	switch pos[0] {
	case "run":
		if len(pos) < 2 || *sh {
			fmt.Fprintln(stderr, "usage: imasim vm --kernel K run SCRIPT [flags] [-- ARGS...]")
			return exitUsage
		}
		if fi, err := os.Stat(pos[1]); err != nil {
			fmt.Fprintln(stderr, "imasim vm run:", err)
			return exitUsage
		} else if !fi.Mode().IsRegular() {
			fmt.Fprintf(stderr, "imasim vm run: %s is not a regular file (give the script itself)\n", pos[1])
			return exitUsage
		}
		if ff != "text" {
			fmt.Fprintln(stderr, "imasim vm run: --format: the script's own output is the result (text only)")
			return exitUsage
		}
		mode, sc.script, sc.args = "run", pos[1], pos[2:]
		if !set["retries"] {
			*retries = 0 // a script that crashes the kernel is the result, not bad luck
		}
	case "scenario":
		if len(pos) < 2 {
			fs.Usage()
			return exitUsage
		}
		for _, n := range pos[1:] { // several: grouped by policy, one boot per group
			s, err := scenarios.Load(n)
			if err != nil {
				fmt.Fprintln(stderr, "imasim vm:", err)
				return exitUsage
			}
			ss = append(ss, s)
		}
	case "attest": // the same as imasim attest SCENARIO --kernel K (attest_vm.go)
		if len(pos) != 2 {
			fs.Usage()
			return exitUsage
		}
		return cmdAttest(ctx, []string{pos[1], "--kernel", *kernel, "--format", ff, "--out", *save}, stdout, stderr)
	case "matrix":
		if len(pos) != 1 {
			fs.Usage()
			return exitUsage
		}
		for _, n := range scenarios.BuiltinNames() {
			s, err := scenarios.Load(n)
			if err != nil {
				fmt.Fprintln(stderr, "imasim vm:", err)
				return exitUsage
			}
			ss = append(ss, s)
		}
	default:
		fmt.Fprintf(stderr, "imasim vm: unknown sub-command %q (want scenario, matrix, run or fetch)\n", pos[0])
		return exitUsage
	}
	specs := []string{*kernel}
	if all := splitList(*kernel); len(all) > 1 && !anyDeb(all) {
		specs = all // several kernels, one VM per core
	}
	kr := kernelRun{ctx: ctx, fetcher: fetcher, modules: *modules, cacheDir: *cacheDir, lockSrc: lockSrc, prof: *prof,
		format: ff, save: *save, verbose: *verbose, ss: ss, mode: mode, sc: sc,
		opts: vm.Options{Agent: *agent, Busybox: *busybox, Accel: *accel, CPU: *cpu, Keep: *keep, Retries: *retries, Append: *appendCmd,
			Verbose: *verbose, Boot: *bootT, Idle: *idleT, Total: *totalT,
			BootMode: *bootMode, PVHDir: filepath.Join(*cacheDir, "pvh")}}
	if !slices.Contains(vm.BootModes, *bootMode) {
		fmt.Fprintf(stderr, "imasim vm: --boot-mode %q: want one of %s\n", *bootMode, strings.Join(vm.BootModes, ", "))
		return exitUsage
	}
	if len(specs) == 1 {
		// One kernel: its policy groups share the cores. The guests
		// idle while audit records settle and during capped sleeps, so
		// one VM more than the cores finishes sooner (7.2.13 matrix on
		// 2 cores: 59.5 s with 2, 51 s with 3, all agreeing).
		kr.opts.Parallel = *jobs
		if kr.opts.Parallel <= 0 {
			kr.opts.Parallel = runtime.NumCPU() + 1
		}
		return kr.run(specs[0], stdout, stderr)
	}
	kr.multi = true
	type out struct {
		o, e bytes.Buffer
		code int
	}
	outs := make([]*out, len(specs))
	if *jobs <= 0 {
		*jobs = runtime.NumCPU()
	}
	sem := make(chan struct{}, *jobs)
	var wg sync.WaitGroup
	for i, sp := range specs {
		outs[i] = &out{}
		wg.Add(1)
		go func(o *out, sp string) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			o.code = kr.run(sp, &o.o, &o.e)
		}(outs[i], sp)
	}
	wg.Wait()
	rc := exitOK
	for _, o := range outs {
		stderr.Write(o.e.Bytes())
		stdout.Write(o.o.Bytes())
		if worseVM(o.code, rc) {
			rc = o.code
		}
	}
	return rc
}

// anyDeb: a comma list with .deb files is one kernel's packages; any
// other list (debian:, built:, bzImage paths) is several kernels.
func anyDeb(specs []string) bool {
	for _, s := range specs {
		if strings.HasSuffix(s, ".deb") {
			return true
		}
	}
	return false
}

// kernelRun runs the chosen scenarios on one kernel.
type kernelRun struct {
	ctx                              context.Context
	fetcher                          *vm.Fetcher
	modules, cacheDir, lockSrc, prof string
	format, save                     string
	verbose                          bool
	multi                            bool // several kernels: --save DIR/debian-X/...
	ss                               []*scenarios.Scenario
	opts                             vm.Options
	mode                             string // agent, sh or run
	sc                               scriptOpts
}

func (kr kernelRun) run(spec string, stdout, stderr io.Writer) int {
	t0 := time.Now()
	f := *kr.fetcher
	f.Log = stderr
	k, built, err := kbuild.Resolve(kr.ctx, spec, &f, kr.modules, kr.cacheDir)
	if err != nil {
		fmt.Fprintln(stderr, "imasim vm:", err)
		return errCode(err)
	}
	if built {
		kr.opts.Append = kbuild.WithBootAppend(kr.opts.Append)
	}
	drop, err := kbuild.CheckKernel(k, kr.ss)
	var nc *kbuild.NoConfigError
	if errors.As(err, &nc) {
		fmt.Fprintf(stderr, "imasim vm: WARNING: %v; booting unchecked\n", nc)
	} else if err != nil {
		fmt.Fprintln(stderr, "imasim vm:", err)
		return errCode(err)
	}
	if kr.save != "" && kr.multi {
		kr.save = filepath.Join(kr.save, saveName(spec)) // DIR/debian-6.12/..., DIR/built-era-6.13/...
	}
	if kr.mode == "run" { // no model involved: any kernel will do
		fmt.Fprintf(stderr, "imasim vm: kernel %s (%s, upstream %s, lock %s), kernel fetch %.1fs\n",
			k.Release, k.Spec, k.Version, kr.lockSrc, time.Since(t0).Seconds())
		return kr.runScript(k, stdout, stderr)
	}
	p, why, err := pickProfile(kr.ctx, kr.prof, k)
	if err != nil {
		fmt.Fprintln(stderr, "imasim vm:", err)
		return profileExit(err)
	}
	fmt.Fprintf(stderr, "imasim vm: kernel %s (%s, upstream %s, lock %s), profile %s, kernel fetch %.1fs\n",
		k.Release, k.Spec, k.Version, kr.lockSrc, p.Name, time.Since(t0).Seconds())
	fmt.Fprintf(stderr, "imasim vm: profile %s: %s\n", p.Name, why)
	if kr.mode == "sh" {
		return kr.runShell(k, p, stdout, stderr)
	}
	opts := kr.opts
	opts.Kernel, opts.Log = k, stderr
	var keep []*scenarios.Scenario
	for _, s := range kr.ss {
		if drop[s.Name] == nil {
			keep = append(keep, s)
		}
	}
	var runs []*vm.Run
	if len(keep) > 0 {
		runs, err = vm.RunAll(kr.ctx, opts, p, keep)
		if err != nil && len(runs) == 0 {
			fmt.Fprintln(stderr, "imasim vm:", err)
			return errCode(err)
		}
	}
	for _, s := range kr.ss {
		if e := drop[s.Name]; e != nil {
			runs = append(runs, &vm.Run{Scenario: s, Name: s.Name, Kernel: k.Release, Version: k.Version.String(), Spec: k.Spec,
				Profile: p.Name, Err: e, ErrText: e.Error()})
		}
	}
	if kr.save != "" {
		dir := kr.save
		for _, r := range runs {
			if err := r.Save(dir); err != nil {
				fmt.Fprintln(stderr, "imasim vm:", err)
				return exitUsage
			}
		}
	}
	ci := false
	switch {
	case kr.format == "json":
		err = vm.WriteJSON(stdout, k, p, runs)
	case isCIFormat(kr.format):
		ci = true
	default:
		err = vm.WriteText(stdout, k, p, runs, kr.verbose)
	}
	if err != nil {
		fmt.Fprintln(stderr, "imasim vm:", err)
		return exitUsage
	}
	rc := exitOK
	for _, r := range runs {
		c := exitOK
		switch {
		case r.Err != nil:
			c = errCode(r.Err)
			fmt.Fprintf(stderr, "imasim vm: %s on %s: %v\n", r.Scenario.Name, k.Release, r.Err)
		case r.Lossy != "":
			c = exitInconcl
		case !r.Agree():
			c = exitFail
		}
		if worseVM(c, rc) {
			rc = c
		}
	}
	if ci {
		code, err := writeCI(stdout, kr.format, "vm", vmCases(k, runs), rc)
		if err != nil {
			fmt.Fprintln(stderr, "imasim vm:", err)
			return exitUsage
		}
		return code
	}
	return rc
}

// vmCases: one CI test case per scenario x real kernel; the expect lines,
// the model comparison and the PCR replay are its subtests.
func vmCases(k *vm.Kernel, runs []*vm.Run) []ltpcompat.Case {
	var cases []ltpcompat.Case
	for _, r := range runs {
		c := ltpcompat.Case{Name: r.Name + "/" + k.Release, Args: []string{"vm", "--kernel", k.Spec, "scenario", r.Name},
			Duration: time.Duration(r.Timing["total"] * float64(time.Second))}
		switch {
		case r.Err != nil:
			c.Status, c.Message = ltpcompat.Brok, r.Err.Error()
			if errCode(r.Err) == exitCannot {
				c.Status = ltpcompat.Conf
			}
			cases = append(cases, c)
			continue
		case r.Lossy != "":
			c.Status, c.Message = ltpcompat.Conf, "the kernel log lost audit records: "+r.Lossy
			cases = append(cases, c)
			continue
		}
		for _, x := range r.Expects {
			st := ltpcompat.Pass
			if !x.OK {
				st = ltpcompat.Fail
			}
			c.Subtests = append(c.Subtests, ltpcompat.Subtest{Name: x.Text, Status: st, Message: "real: " + x.Got})
		}
		model := ltpcompat.Subtest{Name: "model " + r.Profile + " agrees with the kernel", Message: "per step and per file"}
		if len(r.Defects) > 0 {
			model.Status, model.Message = ltpcompat.Fail, strings.Join(r.Defects, "; ")
		}
		c.Subtests = append(c.Subtests, model)
		for _, b := range r.Replay {
			st := ltpcompat.Pass
			if !b.OK {
				st = ltpcompat.Fail
			}
			c.Subtests = append(c.Subtests, ltpcompat.Subtest{Name: "list replays to PCR 10 " + b.Bank, Status: st, Message: "replayed " + b.Replayed + ", real " + b.Real})
		}
		var ss []ltpcompat.Status
		for _, s := range c.Subtests {
			ss = append(ss, s.Status)
		}
		c.Status = ltpcompat.Worst(ss...)
		cases = append(cases, c)
	}
	return cases
}

// vmRank orders per-scenario exit codes for the overall one: a usage
// error wins, then a failure (disagreement, broken expect, broken VM),
// then inconclusive (the kernel log lost audit records), then "cannot run" (e.g. a scenario needing a feature the kernel lacks).
var vmRank = map[int]int{exitOK: 0, exitCannot: 1, exitInconcl: 2, exitFail: 3, exitUsage: 4}

// worseVM says whether exit code a outranks b. Codes outside vmRank (a
// script's own, from vm run) rank as failures.
func worseVM(a, b int) bool {
	rank := func(c int) int {
		if r, ok := vmRank[c]; ok {
			return r
		}
		return vmRank[exitFail]
	}
	return rank(a) > rank(b)
}

// pickProfile resolves --profile for kernel k: auto takes the profile a
// build records, else detects from its release and the upstream version
// its image banner carries.
func pickProfile(ctx context.Context, spec string, k *vm.Kernel) (*cache.Profile, string, error) {
	up := fmt.Sprintf("%d.%d.%d", k.Version.Major, k.Version.Minor, k.Version.Patch)
	p, why, err := cache.Resolve(ctx, spec, cache.Target{Release: k.Release, Version: up, Profile: k.Profile})
	switch {
	case err == nil || spec != "" && spec != "auto":
	case k.Profile != "":
		err = fmt.Errorf("--profile auto: kernel %s stands for profile %s: %w", k.Spec, k.Profile, err)
	default:
		err = fmt.Errorf("--profile auto: kernel %s: %w", k.Release, err)
	}
	return p, why, err
}

func errCode(err error) int {
	switch {
	case interrupt.Is(err):
		return exitInconcl
	case errors.Is(err, vm.ErrUsage):
		return exitUsage
	case errors.Is(err, vm.ErrCannotRun):
		return exitCannot
	}
	return exitFail
}
