package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/cache/derive"
)

func cmdProfile(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "detect" {
		return profileDetect(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "derive" {
		return profileDerive(args[1:], stdout, stderr)
	}
	if len(args) == 0 || (args[0] != "list" && args[0] != "show") {
		fmt.Fprintln(stderr, "usage: imasim profile list | imasim profile show NAME|FILE [--json] | imasim profile detect [--release R] [--version TEXT] | imasim profile derive SRC [--name N] [--compare P] [-o FILE]")
		return exitUsage
	}
	fs := newFlags("profile "+args[0], "profile list | profile show NAME|FILE [--json]", stderr)
	format := addFormat(fs, "text", "json")
	pos, code, ok := parseFlags(fs, args[1:])
	if !ok {
		return code
	}
	ff, err := format.get("text", "json")
	if err != nil {
		fmt.Fprintln(stderr, "imasim profile:", err)
		return exitUsage
	}
	if args[0] == "list" {
		ps := cache.Builtins()
		if ff == "json" {
			return printJSON(stdout, stderr, map[string]any{"schema": 1, "profiles": ps})
		}
		for _, p := range ps {
			auto := ""
			if !p.Auto {
				auto = " (patch; not picked by auto)"
			}
			fmt.Fprintf(stdout, "%-12s %-20s %-7s %s\n", p.Name, p.Kernels, p.Evidence, clipLine(p.About+auto, 68))
		}
		return exitOK
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: imasim profile show NAME|FILE")
		return exitUsage
	}
	p, err := cache.LoadProfileContext(ctx, pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "imasim profile show:", err)
		return exitUsage
	}
	if ff == "json" {
		return printJSON(stdout, stderr, map[string]any{"schema": 1, "profile": p})
	}
	p.WriteText(stdout)
	return exitOK
}

// profileDetect says which built-in --profile auto picks for a kernel and
// why: the running one (uname -r, /proc/version, /proc/version_signature)
// or the one --release/--version describe. Exit 32 when none fits.
func profileDetect(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("profile detect", "profile detect [--release UNAME_R] [--version PROC_VERSION|X.Y.Z] [--format text|json]", stderr)
	rel := fs.String("release", "", "kernel release (uname -r); default: the running kernel")
	ver := fs.String("version", "", "/proc/version text (and Ubuntu's /proc/version_signature), or the upstream version X.Y.Z")
	fs.StringVar(ver, "kernel-version", "", "alias of --version")
	format := addFormat(fs, "text", "json")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	ff, err := format.get("text", "json")
	if err != nil || len(pos) != 0 {
		fs.Usage()
		return exitUsage
	}
	var d *cache.Detection
	if *rel == "" && *ver == "" {
		d, err = cache.DetectHost()
	} else {
		d, err = cache.Detect(*rel, *ver)
	}
	if d == nil {
		fmt.Fprintln(stderr, "imasim profile detect:", err)
		return exitUsage
	}
	code = exitOK
	if err != nil {
		code = profileExit(err)
	}
	if ff == "json" {
		doc := map[string]any{"schema": 1, "detection": d, "profile": d.ProfileName()}
		if d.Profile == nil {
			doc["nearest"] = d.NearestName()
		}
		if c := printJSON(stdout, stderr, doc); c != exitOK {
			return c
		}
		return code
	}
	d.WriteText(stdout)
	return code
}

// profileDerive reads a kernel source tree and writes a profile: every
// switch with the code shape found and its file:line, or UNDECIDED.
// Exit 0; 1 when --compare finds differences or a switch is undecided
// with --strict; 2 for a tree it cannot read.
func profileDerive(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("profile derive", "profile derive SRC [--name NAME] [--compare PROFILE] [-o FILE] [--format text|json]\n\n"+
		"SRC is a kernel source tree (a Debian linux-source-X tree, a git checkout, a vendor SRPM's tree);\n"+
		"only its security/, fs/, mm/, include/ and Makefile are read.", stderr)
	name := fs.String("name", "derived", "name: of the written profile")
	cmp := fs.String("compare", "", "also list where the tree differs from this profile (name or path); exit 1 when it does")
	out := fs.String("o", "", "write the profile here instead of stdout")
	list := fs.Bool("list-files", false, "print the files derive reads (relative to the tree) and exit")
	format := addFormat(fs, "text", "json")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if *list {
		fmt.Fprintln(stdout, strings.Join(derive.Files, "\n"))
		return exitOK
	}
	ff, err := format.get("text", "json")
	if err != nil || len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	r, err := derive.Derive(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "imasim profile derive:", err)
		return exitUsage
	}
	var diffs []string
	if *cmp != "" {
		p, err := cache.LoadProfile(*cmp)
		if err != nil {
			fmt.Fprintln(stderr, "imasim profile derive:", err)
			return exitUsage
		}
		diffs = derive.Diff(r, p)
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(stderr, "imasim profile derive:", err)
			return exitUsage
		}
		defer f.Close()
		w = f
	}
	if ff == "json" {
		code = printJSON(w, stderr, map[string]any{"schema": 1, "derived": r, "undecided": r.Undecided(), "differences": diffs})
	} else if err := r.WriteProfile(w, *name); err != nil {
		fmt.Fprintln(stderr, "imasim profile derive:", err)
		return exitFail
	}
	if u := r.Undecided(); len(u) > 0 {
		fmt.Fprintf(stderr, "imasim profile derive: undecided (check by hand): %s\n", strings.Join(u, ", "))
	}
	for _, d := range diffs {
		fmt.Fprintf(stderr, "imasim profile derive: differs: %s\n", d)
	}
	if len(diffs) > 0 && code == exitOK {
		return exitFail
	}
	return code
}

func printJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(stderr, "imasim:", err)
		return exitUsage
	}
	return exitOK
}
