package kbuild

import (
	"context"
	"fmt"
	"strings"

	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/vm"
)

// Built resolves --kernel built:NAME: the named build's image, standing
// for the profile the build records.
func Built(ctx context.Context, spec, cacheDir string) (*vm.Kernel, error) {
	m, err := Lookup(cacheDir, strings.TrimPrefix(spec, "built:"))
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

// Resolve gives the kernel a --kernel spec names: debian:VER through f,
// built:NAME from the cache's builds, else a bzImage or .deb path, which
// stands for a build's profile when it is a build's image. built says
// the kernel is an imasim build: its command line needs WithBootAppend.
func Resolve(ctx context.Context, spec string, f *vm.Fetcher, modules, cacheDir string) (k *vm.Kernel, built bool, err error) {
	switch {
	case strings.HasPrefix(spec, "debian:"):
		k, err = f.Fetch(ctx, spec)
	case strings.HasPrefix(spec, "built:"):
		k, err = Built(ctx, spec, cacheDir)
		built = true
	default:
		k, err = vm.LocalKernel(ctx, spec, modules, cacheDir)
		if err == nil {
			if m := ForImage(k.Image); m != nil {
				k.Profile, built = m.Profile, true
			}
		}
	}
	return k, built, err
}

// WithBootAppend adds BootAppend to a kernel command line once.
func WithBootAppend(a string) string {
	if strings.Contains(a, BootAppend) {
		return a
	}
	return strings.TrimSpace(a + " " + BootAppend)
}

// NoConfigError: the kernel's config could not be read, so nothing was
// checked.
type NoConfigError struct {
	Release string
	Err     error
}

func (e *NoConfigError) Error() string {
	return fmt.Sprintf("kernel %s: no config to check (%v)", e.Release, e.Err)
}

func (e *NoConfigError) Unwrap() error { return e.Err }

// CheckKernel reads k's config (the build's .config, Debian's config
// file, or the one embedded in the image). A kernel lacking what every
// guest needs is refused (vm.ErrCannotRun); the scenarios needing options
// it lacks come back with the reason, to be reported as cannot run here.
// Without a readable config it returns a *NoConfigError.
func CheckKernel(k *vm.Kernel, ss []*scenarios.Scenario) (map[string]error, error) {
	cfg, from, err := ReadKernelConfig(k.Image, k.ModDir, k.Release)
	if err != nil {
		return nil, &NoConfigError{k.Release, err}
	}
	mods := k.ModDir != ""
	if miss := Lacks(cfg, GuestNeeds, mods); len(miss) > 0 {
		return nil, fmt.Errorf("%w: kernel %s lacks %s, which every imasim guest needs (config: %s; imasim kernel config prints a fragment with them)",
			vm.ErrCannotRun, k.Release, strings.Join(miss, ", "), from)
	}
	drop := map[string]error{}
	for _, s := range ss {
		if miss := Lacks(cfg, ScenarioNeeds(s), mods); len(miss) > 0 {
			drop[s.Name] = fmt.Errorf("%w: scenario %s: kernel %s lacks %s (config: %s)", vm.ErrCannotRun, s.Name, k.Release, strings.Join(miss, ", "), from)
		}
	}
	return drop, nil
}
