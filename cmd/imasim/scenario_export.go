package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios"
)

// scenarioExport is `imasim scenario export NAME|FILE --sh [-o FILE]`.
func scenarioExport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("scenario export", "scenario export NAME|FILE --sh [-o FILE]\n\n"+
		"Writes a standalone POSIX shell reproducer of the scenario for a real machine (run it as root;\n"+
		"it loads the IMA policy only when run with --load-policy).", stderr)
	sh := fs.Bool("sh", false, "write a POSIX shell script (the only export format)")
	out := fs.String("o", "", "write to this file (mode 0755) instead of standard output")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || !*sh {
		fs.Usage()
		return exitUsage
	}
	s, err := scenarios.LoadContext(ctx, pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "imasim scenario export:", err)
		return exitUsage
	}
	var preds []string
	for _, p := range cache.Builtins() {
		res, err := scenarios.Run(s, p)
		if err != nil {
			fmt.Fprintf(stderr, "imasim scenario export: profile %s: %v\n", p.Name, err)
			return exitUsage
		}
		preds = append(preds, prediction(p, res))
	}
	var b bytes.Buffer
	if err := scenarios.ExportShell(&b, s, scenarios.ExportOptions{Predictions: preds}); err != nil {
		fmt.Fprintln(stderr, "imasim scenario export:", err)
		return exitUsage
	}
	if *out == "" {
		if _, err := stdout.Write(b.Bytes()); err != nil {
			fmt.Fprintln(stderr, "imasim scenario export: writing output:", err)
			return exitUsage
		}
		return exitOK
	}
	if err := os.WriteFile(*out, b.Bytes(), 0o755); err != nil {
		fmt.Fprintln(stderr, "imasim scenario export:", err)
		return exitUsage
	}
	return exitOK
}

// prediction is one "what the model says" comment line.
func prediction(p *cache.Profile, r *scenarios.Result) string {
	head := fmt.Sprintf("%-11s (%s):", p.Name, p.Kernels)
	if r.NA != "" {
		return head + " n/a, " + r.NA
	}
	c := scenarios.NewMatrixCell(r)
	parts := []string{c.Verdict}
	for _, path := range r.SortedPaths() {
		parts = append(parts, fmt.Sprintf("audit %s=%d", path, r.AuditRecords[path]))
	}
	parts = append(parts, fmt.Sprintf("measurements %d", r.Measurements), fmt.Sprintf("violations %d", r.Violations))
	return head + " " + strings.Join(parts, ", ")
}
