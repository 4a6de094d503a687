package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/internal/input"
	"github.com/imasim/imasim/measure"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/tpm"
)

var scenarioFormats = append([]string{"text", "json"}, ciFormats...)

func cmdScenario(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "list":
			return scenarioList(ctx, args[1:], stdout, stderr)
		case "show":
			return scenarioShow(ctx, args[1:], stdout, stderr)
		case "export":
			return scenarioExport(ctx, args[1:], stdout, stderr)
		case "run":
			args = args[1:]
		}
	}
	fs := newFlags("scenario", "scenario [run] NAME|FILE [--profile NAME[,NAME]|PATH|auto] [--format text|json]\n"+
		"       imasim scenario list\n       imasim scenario show NAME\n       imasim scenario export NAME|FILE --sh [-o FILE] [--load-policy]", stderr)
	prof := fs.String("profile", "", "profiles to run: names, paths, or auto (default: every built-in)")
	fs.StringVar(prof, "profiles", "", "alias of --profile")
	kver := fs.String("kernel-version", "", "kernel release (uname -r) or upstream version for --profile auto (default: the running kernel: uname -r, /proc/version; see imasim profile detect)")
	failOn := fs.String("fail-on", "", "exit 1 when a simulated verdict is one of: missed,excessive")
	verbose := fs.Bool("v", false, "full audit records")
	tpmSpec := fs.String("tpm", "software", "PCR backend: software, simulator, swtpm, swtpm:unix:SOCK[,ctrl=SOCK], swtpm:tcp:HOST:PORT[,ctrl=PORT], device[:PATH]")
	pcr := fs.Int("pcr", 0, "backend PCR standing in for PCR 10 (default 10; 23 on a device)")
	allowReal := fs.Bool("allow-real-pcr", false, "let a device backend extend a PCR that cannot be reset (e.g. --pcr 10)")
	listOut := fs.String("list-out", "", "write each result's binary measurement list to FILE (FILE.PROFILE with several profiles)")
	asciiOut := fs.String("ascii-out", "", "write each result's ASCII measurement list to FILE (FILE.PROFILE with several profiles)")
	format := addFormat(fs, scenarioFormats...)
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	ff, err := format.get(scenarioFormats...)
	if err != nil {
		fmt.Fprintln(stderr, "imasim scenario:", err)
		return exitUsage
	}
	fail, err := parseFailOn(*failOn)
	if err != nil {
		fmt.Fprintln(stderr, "imasim scenario:", err)
		return exitUsage
	}
	s, err := scenarios.LoadContext(ctx, pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "imasim scenario:", err)
		return exitUsage
	}
	profiles, err := resolveProfiles(ctx, *prof, s.Profiles, *kver, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "imasim scenario:", err)
		return profileExit(err)
	}
	if len(profiles) > 1 && !tpm.FreshAtOpen(*tpmSpec) {
		fmt.Fprintf(stderr, "imasim scenario: --tpm %s cannot be reset between profiles (give ctrl= so imasim can power-cycle it, or one --profile)\n", *tpmSpec)
		return exitUsage
	}
	rep := &scenarios.Report{Scenario: s}
	var took []time.Duration // per profile, for the CI formats
	for _, p := range profiles {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "imasim scenario: interrupted")
			return exitUsage
		}
		t0 := time.Now()
		res, code := runOne(ctx, s, p, *tpmSpec, tpm.Options{PCR: *pcr, AllowRealPCR: *allowReal}, stderr)
		if code != exitOK {
			return code
		}
		took = append(took, time.Since(t0))
		for _, o := range []struct {
			file  string
			ascii bool
		}{{*listOut, false}, {*asciiOut, true}} {
			if o.file == "" {
				continue
			}
			name := o.file
			if len(profiles) > 1 {
				name += "." + p.Name
			}
			if res.ML == nil {
				// n/a under this profile: the scenario did not run, so
				// there is no list (a kernel like this could not run it).
				fmt.Fprintf(stderr, "imasim scenario: profile %s: not applicable (%s); no list written to %s\n", p.Name, res.NA, name)
				continue
			}
			if err := writeList(name, res.ML, o.ascii); err != nil {
				fmt.Fprintln(stderr, "imasim scenario:", err)
				return exitUsage
			}
		}
		rep.Profiles = append(rep.Profiles, scenarios.ProfileInfo{Name: p.Name, About: p.About, Kernels: p.Kernels.String()})
		rep.Results = append(rep.Results, res)
	}
	code = exitOK
	for _, r := range rep.Results {
		for v := range fail {
			if r.Count(v) > 0 {
				code = exitFail
			}
		}
	}
	switch {
	case ff == "json":
		err = rep.WriteJSON(stdout)
	case isCIFormat(ff):
		code, err = writeCI(stdout, ff, "scenario", scenarioCases(rep, fail, nil, took), code)
	default:
		err = rep.WriteText(stdout, scenarios.TextOptions{Verbose: *verbose, Color: isTTY(stdout)})
	}
	if err != nil {
		fmt.Fprintln(stderr, "imasim scenario:", err)
		return exitUsage
	}
	return code
}

// runOne runs s under p on a freshly opened PCR backend.
func runOne(ctx context.Context, s *scenarios.Scenario, p *cache.Profile, spec string, o tpm.Options, stderr io.Writer) (*scenarios.Result, int) {
	t, err := tpm.OpenContext(ctx, spec, o)
	if err != nil {
		fmt.Fprintf(stderr, "imasim scenario: %v\n", err)
		if tpm.CannotRun(err) {
			return nil, exitCannot
		}
		return nil, exitUsage
	}
	defer t.Close()
	res, err := scenarios.RunWith(s, p, scenarios.Options{TPM: t})
	if err != nil {
		fmt.Fprintf(stderr, "imasim scenario: profile %s: %v\n", p.Name, err)
		return nil, exitUsage
	}
	return res, exitOK
}

func writeList(name string, l *measure.List, ascii bool) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if ascii {
		err = l.WriteASCII(f, 0)
	} else {
		err = l.WriteBinary(f, measure.WriteOptions{})
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

func parseFailOn(s string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, v := range splitList(s) {
		if v != scenarios.Missed && v != scenarios.Excessive && v != scenarios.Indeterminate {
			return nil, fmt.Errorf("--fail-on: unknown verdict %q (want missed, excessive, indeterminate)", v)
		}
		out[v] = true
	}
	return out, nil
}

// resolveProfiles turns --profile into profiles (cache.ResolveAll):
// names, paths, auto (the running kernel, or kver), or the scenario's
// default list, or every built-in. What auto picked, and why, goes to note.
func resolveProfiles(ctx context.Context, spec string, deflt []string, kver string, note io.Writer) ([]*cache.Profile, error) {
	names := splitList(spec)
	fromFile := len(names) == 0
	if fromFile {
		names = deflt
	}
	ps, why, err := cache.ResolveAll(ctx, names, fromFile, cache.Target{Release: kver})
	if err != nil {
		return nil, err
	}
	for i, p := range ps {
		if why[i] != "" && note != nil {
			fmt.Fprintf(note, "imasim: --profile auto: %s (%s)\n", p.Name, why[i])
		}
	}
	return ps, nil
}

// profileExit is the exit status for a profile that could not be
// resolved: 32 when no built-in fits the kernel, else a usage error.
func profileExit(err error) int {
	if errors.Is(err, cache.ErrNoProfile) {
		return exitCannot
	}
	return exitUsage
}

func scenarioList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("scenario list", "scenario list", stderr)
	if _, code, ok := parseFlags(fs, args); !ok {
		return code
	}
	for _, n := range scenarios.BuiltinNames() {
		s, err := scenarios.LoadContext(ctx, n)
		if err != nil {
			fmt.Fprintf(stderr, "imasim scenario list: %v\n", err)
			return exitUsage
		}
		fmt.Fprintf(stdout, "%-24s %s\n", n, clipLine(s.About, 74))
	}
	return exitOK
}

func scenarioShow(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("scenario show", "scenario show NAME", stderr)
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	b, ok := scenarios.BuiltinSource(pos[0])
	if !ok {
		var err error
		if !strings.ContainsAny(pos[0], "/.") {
			_, err = scenarios.LoadContext(ctx, pos[0]) // "unknown scenario", with the list
			fmt.Fprintln(stderr, "imasim scenario show:", err)
			return exitUsage
		}
		if b, err = input.ReadFile(ctx, pos[0], input.MaxScenario); err != nil {
			fmt.Fprintln(stderr, "imasim scenario show:", err)
			return exitUsage
		}
		sc, err := scenarios.Parse(bytes.NewReader(b), pos[0])
		if err == nil {
			_, err = scenarios.ParsePolicy(sc)
		}
		if err != nil {
			fmt.Fprintln(stderr, "imasim scenario show:", err)
			return exitUsage
		}
	}
	stdout.Write(b)
	return exitOK
}

func clipLine(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil && os.Getenv("NO_COLOR") == ""
}
