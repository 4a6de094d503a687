package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/imasim/imasim/internal/input"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/vm"
	"github.com/imasim/imasim/scenarios/vm/kbuild"
)

const kernelSynopsis = `kernel build --source debian:X.Y|TREE [--patch P]... [--config FRAGMENT] [--name N] [--jobs J] [--profile PROFILE]
       imasim kernel config
       imasim kernel list
       imasim kernel patches

build makes a small IMA test kernel (tinyconfig + the fragment of
imasim kernel config, everything built in) from Debian's linux-source-X.Y
(the version of kernels.lock) or a kernel tree (git HEAD plus the work
tree's diff is the cache key), with patches applied in order (patch -p1; a
file or a built-in name: 6.1-interim, era-6.13, fix-v2). A build with the same inputs is
found in the cache; one whose patch stack extends a cached build reuses its
objects. The last line of stdout is the bzImage; imasim vm --kernel
built:NAME runs it. Progress goes to stderr.`

func cmdKernel(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "usage: imasim %s\n", kernelSynopsis)
		return exitUsage
	}
	switch args[0] {
	case "config":
		if len(args) != 1 {
			fmt.Fprintln(stderr, "usage: imasim kernel config")
			return exitUsage
		}
		fmt.Fprint(stdout, kbuild.Fragment)
		return exitOK
	case "patches":
		for _, n := range kbuild.BuiltinPatches() {
			p, _ := kbuild.LoadPatch(n)
			base := ""
			if p.Base != "" {
				base = ", on top of " + p.Base
			}
			fmt.Fprintf(stdout, "%-10s profile %s%s\n", n, p.Profile, base)
		}
		return exitOK
	case "list":
		if vm.DefaultCache() == "" {
			fmt.Fprintln(stderr, "imasim kernel list: no kernel cache directory: HOME and XDG_CACHE_HOME are unset")
			return exitUsage
		}
		ms, err := kbuild.List(vm.DefaultCache())
		if err != nil {
			fmt.Fprintln(stderr, "imasim kernel list:", err)
			return exitFail
		}
		for _, m := range ms {
			var ps []string
			for _, p := range m.Patches {
				ps = append(ps, p.Name)
			}
			fmt.Fprintf(stdout, "built:%-12s %-12s %-14s patches=%s profile=%s %s\n", m.Name, m.Source, m.Release,
				strings.Join(ps, ","), m.Profile, m.Image)
		}
		return exitOK
	case "build":
	default:
		fmt.Fprintf(stderr, "imasim kernel: unknown sub-command %q (want build, config, list or patches)\n", args[0])
		return exitUsage
	}
	fs := newFlags("kernel", kernelSynopsis, stderr)
	src := fs.String("source", "", "debian:6.1|debian:6.12|debian:7.2 (Debian's linux-source) or a kernel tree")
	var patches listFlag
	fs.Var(&patches, "patch", "patch file (unified diff or git format-patch mail) or built-in name; repeatable, applied in order")
	cfg := fs.String("config", "", "config fragment (default: the built-in one, imasim kernel config)")
	name := fs.String("name", "", "name for --kernel built:NAME (default: the last built-in patch, or the source)")
	prof := fs.String("profile", "", "model profile the kernel stands for (default: the last built-in patch's)")
	jobs := fs.Int("jobs", 0, "make -j (default: the number of cores)")
	cacheDir := fs.String("cache", vm.DefaultCache(), "kernel cache directory")
	lock := fs.String("lock", "", "kernels.lock (default: nearest ./kernels.lock upwards, else built in)")
	pos, code, ok := parseFlags(fs, args[1:])
	if !ok {
		return code
	}
	if len(pos) != 0 || *src == "" {
		fs.Usage()
		return exitUsage
	}
	if *cacheDir == "" {
		// A fixed /tmp path could be prepared by another user (builds run as root).
		fmt.Fprintln(stderr, "imasim kernel build: no kernel cache directory: HOME and XDG_CACHE_HOME are unset; give --cache DIR")
		return exitUsage
	}
	o := kbuild.Options{Source: *src, Name: *name, Profile: *prof, Jobs: *jobs, Cache: *cacheDir, Log: stderr}
	var err error
	if o.Lock, _, err = vm.LoadLock(*lock); err != nil {
		fmt.Fprintln(stderr, "imasim kernel build:", err)
		return exitUsage
	}
	if *cfg != "" {
		f, err := input.Open(ctx, *cfg)
		if err != nil {
			fmt.Fprintln(stderr, "imasim kernel build: --config:", err)
			return exitUsage
		}
		o.Fragment, err = kbuild.ParseConfig(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "imasim kernel build: %s:%v\n", *cfg, err)
			return exitUsage
		}
	}
	seen := map[string]bool{}
	var add func(n string) error
	add = func(n string) error {
		p, err := kbuild.LoadPatch(n)
		if err != nil {
			return err
		}
		if p.Builtin && seen[n] { // already brought in as another's base
			return nil
		}
		// A built-in patch brings the one it applies on top of.
		if p.Base != "" && !seen[p.Base] {
			if err := add(p.Base); err != nil {
				return err
			}
		}
		seen[n] = true
		o.Patches = append(o.Patches, p)
		return nil
	}
	for _, n := range patches {
		if err := add(n); err != nil {
			fmt.Fprintln(stderr, "imasim kernel build:", err)
			return errCode(err)
		}
	}
	if o.Profile == "" && len(o.Patches) > 0 {
		o.Profile = o.Patches[len(o.Patches)-1].Profile
	}
	m, err := kbuild.Build(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "imasim kernel build:", err)
		if errors.Is(err, context.Canceled) || ctx.Err() != nil {
			return exitInconcl
		}
		return errCode(err)
	}
	fmt.Fprintf(stderr, "imasim kernel build: built:%s release %s profile %s\n", m.Name, m.Release, orAuto(m.Profile))
	fmt.Fprintln(stdout, m.Image)
	return exitOK
}

func orAuto(p string) string {
	if p == "" {
		return "auto (by version)"
	}
	return p
}

// saveName turns a kernel spec into one directory name (debian-6.12,
// built-fix-v2, a bzImage path's parent and base).
func saveName(spec string) string {
	if !strings.HasPrefix(spec, "debian:") && !strings.HasPrefix(spec, "built:") {
		spec = filepath.Base(filepath.Dir(spec)) + "-" + filepath.Base(spec)
	}
	r := strings.NewReplacer(":", "-", "/", "-", "..", "-")
	return strings.TrimLeft(r.Replace(spec), "-.")
}

// builtKernel resolves --kernel built:NAME.
func builtKernel(ctx context.Context, spec, cacheDir string) (*vm.Kernel, error) {
	m, err := kbuild.Lookup(cacheDir, strings.TrimPrefix(spec, "built:"))
	if err != nil {
		return nil, err
	}
	k, err := vm.LocalKernel(ctx, m.Image, "", cacheDir)
	if err != nil {
		return nil, err
	}
	k.Spec, k.Profile = spec, m.Profile
	return k, nil
}

// checkKernelConfig reads the kernel's config (the build's .config,
// Debian's config file, or the embedded one). A kernel lacking what every
// guest needs is refused (cannot run here); scenarios needing options it
// lacks are returned with the reason, to be reported as cannot run here.
// Without a readable config nothing is checked (a warning says so).
func checkKernelConfig(k *vm.Kernel, ss []*scenarios.Scenario, log io.Writer) (map[string]error, error) {
	cfg, from, err := kbuild.ReadKernelConfig(k.Image, k.ModDir, k.Release)
	if err != nil {
		fmt.Fprintf(log, "imasim vm: WARNING: kernel %s: no config to check (%v); booting unchecked\n", k.Release, err)
		return nil, nil
	}
	mods := k.ModDir != ""
	if miss := kbuild.Lacks(cfg, kbuild.GuestNeeds, mods); len(miss) > 0 {
		return nil, fmt.Errorf("%w: kernel %s lacks %s, which every imasim guest needs (config: %s; imasim kernel config prints a fragment with them)",
			vm.ErrCannotRun, k.Release, strings.Join(miss, ", "), from)
	}
	drop := map[string]error{}
	for _, s := range ss {
		if miss := kbuild.Lacks(cfg, kbuild.ScenarioNeeds(s), mods); len(miss) > 0 {
			drop[s.Name] = fmt.Errorf("%w: scenario %s: kernel %s lacks %s (config: %s)", vm.ErrCannotRun, s.Name, k.Release, strings.Join(miss, ", "), from)
		}
	}
	return drop, nil
}

// builtAppend adds kbuild.BootAppend to a built kernel's command line.
func builtAppend(a string) string {
	if strings.Contains(a, kbuild.BootAppend) {
		return a
	}
	return strings.TrimSpace(a + " " + kbuild.BootAppend)
}
