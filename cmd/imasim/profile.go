package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/imasim/imasim/cache"
)

func cmdProfile(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "show") {
		fmt.Fprintln(stderr, "usage: imasim profile list | imasim profile show NAME|FILE [--json]")
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
			fmt.Fprintf(stdout, "%-12s %-17s %s\n", p.Name, p.Kernels, clipLine(p.About+auto, 68))
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
	fmt.Fprintf(stdout, "name:        %s\nabout:       %s\nkernels:     %s\n", p.Name, p.About, p.Kernels)
	if len(p.Examples) > 0 {
		fmt.Fprintf(stdout, "examples:    %s\n", strings.Join(p.Examples, ", "))
	}
	fmt.Fprintf(stdout, "source:      %s\n\n", p.Source)
	row := func(k, v string) {
		fmt.Fprintf(stdout, "%-24s %-19s %s\n", k, v, p.Cites[k])
	}
	row("collect", p.Collect)
	row("stacked", p.Stacked)
	row("last-writer", p.LastWriter)
	row("change-cookie", fmt.Sprint(p.ChangeCookie))
	row("overlay-unverifiable", fmt.Sprint(p.OverlayUnverifiable))
	var fsn []string
	for k := range p.FS {
		fsn = append(fsn, k)
	}
	sort.Strings(fsn)
	for _, k := range fsn {
		row("fs."+k, p.FS[k])
	}
	var rc []string
	for k := range p.RemountClearsIVersion {
		rc = append(rc, k)
	}
	sort.Strings(rc)
	if len(rc) == 0 {
		rc = []string{"none"}
	}
	row("remount-clears-iversion", strings.Join(rc, ","))
	var fts []string
	for k := range p.Features {
		fts = append(fts, k)
	}
	sort.Strings(fts)
	for _, k := range fts {
		row("feature."+k, p.Features[k].String())
	}
	row("template", p.Template)
	row("hash", p.HashAlgo)
	if len(p.FallbackBanks) > 0 {
		row("fallback-banks", strings.Join(p.FallbackBanks, ","))
	}
	return exitOK
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
