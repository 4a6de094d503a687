package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios/explore"
)

func cmdExplore(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("explore", "explore [--profile P | --diff-profiles A,B] [--depth N] [--random N --length L --seed S] [--ops a,b] [--fs xfs] [--out DIR] [--json]", stderr)
	prof := fs.String("profile", "7.1", "profile to search (ignored with --diff-profiles)")
	diff := fs.String("diff-profiles", "", "A,B: search for sequences on which two profiles disagree")
	depth := fs.Int("depth", 4, "exhaustive search depth (operations per sequence)")
	random := fs.Int("random", 0, "random sequences to try beyond the exhaustive depth")
	length := fs.Int("length", 8, "length of random sequences")
	seed := fs.Int64("seed", 1, "seed for random sequences (deterministic)")
	ops := fs.String("ops", "", "operations to use (default: all; see --list-ops)")
	listOps := fs.Bool("list-ops", false, "list the operations and exit")
	lower := fs.String("fs", "xfs", "filesystem of the lower layer / direct file")
	out := fs.String("out", "", "write each minimal counterexample as a scenario file into DIR")
	failOn := fs.String("fail-on", "", "exit 1 when a finding has one of these verdicts: missed,excessive,differs")
	format := addFormat(fs, "text", "json")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		fs.Usage()
		return exitUsage
	}
	ff, err := format.get("text", "json")
	if err != nil {
		fmt.Fprintln(stderr, "imasim explore:", err)
		return exitUsage
	}
	w := explore.DefaultWorld(*lower)
	if *listOps {
		for _, o := range w.Ops {
			fmt.Fprintf(stdout, "%-16s %s\n", o.Name, strings.Join(o.Lines, "; "))
		}
		return exitOK
	}
	if w, err = w.Select(splitList(*ops)); err != nil {
		fmt.Fprintln(stderr, "imasim explore:", err)
		return exitUsage
	}
	var p, q *cache.Profile
	if *diff != "" {
		names := splitList(*diff)
		if len(names) != 2 {
			fmt.Fprintln(stderr, "imasim explore: --diff-profiles wants two profiles: A,B")
			return exitUsage
		}
		if p, err = cache.LoadProfileContext(ctx, names[0]); err == nil {
			q, err = cache.LoadProfileContext(ctx, names[1])
		}
	} else {
		p, err = cache.LoadProfileContext(ctx, *prof)
	}
	if err != nil {
		fmt.Fprintln(stderr, "imasim explore:", err)
		return exitUsage
	}
	if *depth < 0 || *depth > 8 || *random < 0 || *length < 1 || *length > 64 {
		fmt.Fprintln(stderr, "imasim explore: want 0 <= --depth <= 8 (12^8 sequences already), --random >= 0, 1 <= --length <= 64")
		return exitUsage
	}
	if q != nil && p.Name == q.Name {
		fmt.Fprintln(stderr, "imasim explore: --diff-profiles needs two different profiles")
		return exitUsage
	}
	o := explore.Options{Depth: *depth, Random: *random, Length: *length, Seed: *seed}
	tty := isTTY(stderr)
	start := time.Now()
	if tty {
		o.Progress = func(states, findings int64) {
			fmt.Fprintf(stderr, "\rexplored %d states, %d bad sequences, %s   ", states, findings, time.Since(start).Round(time.Second))
		}
	}
	found, st, err := explore.Search(ctx, w, p, q, o)
	if tty {
		fmt.Fprint(stderr, "\r\x1b[K")
	}
	if err != nil {
		fmt.Fprintln(stderr, "imasim explore:", err)
		return exitUsage
	}
	if !st.Complete {
		fmt.Fprintln(stderr, "imasim explore: interrupted; showing what was found so far (exit 3)")
	}
	var files []string
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			fmt.Fprintln(stderr, "imasim explore:", err)
			return exitUsage
		}
		for i, f := range found {
			name := fmt.Sprintf("explore-%s-%02d", f.Verdict, i+1)
			path := filepath.Join(*out, name+".scn")
			if err := os.WriteFile(path, []byte(w.Scenario(f, name)), 0o644); err != nil {
				fmt.Fprintln(stderr, "imasim explore:", err)
				return exitUsage
			}
			files = append(files, path)
		}
	}
	ew := &checkedWriter{w: stdout}
	stdout = ew
	if ff == "json" {
		code := printJSON(stdout, stderr, map[string]any{"schema": 1, "profiles": profileNames(p, q), "stats": st, "findings": found, "files": files})
		if code != exitOK {
			return code
		}
	} else {
		fmt.Fprintf(stdout, "explored %d states (%d operations, %d deduplicated) under %s in %s\n",
			st.States, st.Operations, st.Deduped, strings.Join(profileNames(p, q), " vs "), time.Since(start).Round(time.Millisecond))
		if len(found) == 0 && q != nil {
			fmt.Fprintln(stdout, "no sequence on which the two profiles disagree")
		} else if len(found) == 0 {
			fmt.Fprintln(stdout, "no missed or excessive re-evaluation found")
		}
		for i, f := range found {
			fmt.Fprintf(stdout, "\n%d. %s (%d bad sequences in this group): %s\n", i+1, strings.ToUpper(f.Verdict), f.Hits, strings.Join(f.Ops, " -> "))
			for _, l := range wrapText(f.Cause, 92) {
				fmt.Fprintf(stdout, "     %s\n", l)
			}
			if files != nil {
				fmt.Fprintf(stdout, "     written: %s\n", files[i])
			}
		}
	}
	if ew.err != nil {
		fmt.Fprintln(stderr, "imasim explore: writing output:", ew.err)
		return exitUsage
	}
	if !st.Complete {
		return exitInconcl
	}
	fail, err := parseFailOnExplore(*failOn)
	if err != nil {
		fmt.Fprintln(stderr, "imasim explore:", err)
		return exitUsage
	}
	for _, f := range found {
		if fail[f.Verdict] {
			return exitFail
		}
	}
	return exitOK
}

// checkedWriter remembers the first write error (a full disk, a closed pipe).
type checkedWriter struct {
	w   io.Writer
	err error
}

func (c *checkedWriter) Write(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(b)
	c.err = err
	return n, err
}

func parseFailOnExplore(s string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, v := range splitList(s) {
		if v != "missed" && v != "excessive" && v != "differs" {
			return nil, fmt.Errorf("--fail-on: unknown verdict %q", v)
		}
		out[v] = true
	}
	return out, nil
}

func profileNames(ps ...*cache.Profile) []string {
	var out []string
	for _, p := range ps {
		if p != nil {
			out = append(out, p.Name)
		}
	}
	return out
}

func wrapText(s string, n int) []string {
	var out []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > n {
			out = append(out, line)
			line = w
			continue
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		out = append(out, line)
	}
	return out
}
