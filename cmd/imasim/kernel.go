package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/imasim/imasim/internal/input"

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
