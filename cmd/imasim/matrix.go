package main

import (
	"context"
	"fmt"
	"io"

	"github.com/imasim/imasim/scenarios"
)

// matrixFormats are the --format values of imasim matrix. The CI formats
// are rendered by matrixCI.
var matrixFormats = []string{"text", "json", "markdown", "ltp", "kirk-json", "junit", "ktap"}

// matrixCI renders the CI formats (ltp, kirk-json, junit, ktap) from the
// matrix's test cases (scenarios.Matrix.Cases: one case per scenario ×
// profile, expect lines as subtests). Hook for the ltp-compat package:
// convert []scenarios.MatrixCase into its report and call its writer here.
// It returns false when the format is not available in this build.
func matrixCI(format string, w io.Writer, cases []scenarios.MatrixCase) (bool, error) {
	_, _, _ = format, w, cases
	return false, nil
}

func cmdMatrix(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("matrix", "matrix [--scenarios NAME|FILE,...] [--profiles NAME|FILE,...] [--shard i/N]\n"+
		"       [--diff A,B | --diff A B] [--fail-on missed[,excessive]] [--format text|json|markdown|ltp|kirk-json|junit|ktap]\n\n"+
		"Runs every scenario under every profile and prints the table of verdicts, scenarios with a\n"+
		"missed verdict first; n/a where a profile cannot meet a scenario's requires:. --diff lists the\n"+
		"scenarios on which two profiles disagree and exits 1 when there are any.", stderr)
	scens := fs.String("scenarios", "", "scenarios to run: built-in names or paths (default: every built-in)")
	profs := fs.String("profiles", "", "profiles: names, paths or auto (default: every built-in)")
	fs.StringVar(profs, "profile", "", "alias of --profiles")
	kver := fs.String("kernel-version", "", "kernel version for --profiles auto (default: uname -r)")
	shard := fs.String("shard", "", "run only shard i of N of the scenarios (i/N, 1-based)")
	diff := fs.String("diff", "", "compare two profiles: A,B (or A with B as the argument)")
	failOn := fs.String("fail-on", "", "exit 1 when a cell's verdict is one of: missed,excessive,indeterminate")
	format := addFormat(fs, matrixFormats...)
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	fail := func(f string, a ...any) int {
		fmt.Fprintf(stderr, "imasim matrix: "+f+"\n", a...)
		return exitUsage
	}
	ff, err := format.get(matrixFormats...)
	if err != nil {
		return fail("%v", err)
	}
	var diffA, diffB string
	if *diff != "" {
		ds := splitList(*diff)
		switch {
		case len(ds) == 2 && len(pos) == 0:
			diffA, diffB = ds[0], ds[1]
		case len(ds) == 1 && len(pos) == 1:
			diffA, diffB, pos = ds[0], pos[0], nil
		default:
			return fail("--diff wants two profiles: --diff A,B or --diff A B")
		}
		if *profs == "" {
			*profs = diffA + "," + diffB
		}
	}
	if len(pos) != 0 {
		fs.Usage()
		return exitUsage
	}
	failSet, err := parseFailOn(*failOn)
	if err != nil {
		return fail("%v", err)
	}
	names := splitList(*scens)
	if len(names) == 0 {
		names = scenarios.BuiltinNames()
	}
	if *shard != "" {
		i, n, err := scenarios.ParseShard(*shard)
		if err != nil {
			return fail("%v", err)
		}
		names = scenarios.Shard(names, i, n)
	}
	var list []*scenarios.Scenario
	for _, n := range names {
		s, err := scenarios.Load(n)
		if err != nil {
			return fail("%v", err)
		}
		list = append(list, s)
	}
	profiles, err := resolveProfiles(*profs, nil, *kver)
	if err != nil {
		return fail("%v", err)
	}
	m, err := scenarios.RunMatrix(ctx, list, profiles)
	if err != nil {
		return fail("%v", err)
	}
	color := isTTY(stdout)
	if diffA != "" {
		d, err := m.Diff(diffA, diffB)
		if err != nil {
			return fail("%v", err)
		}
		switch ff {
		case "json":
			err = d.WriteJSON(stdout)
		case "markdown":
			err = d.WriteMarkdown(stdout)
		case "text":
			err = d.WriteText(stdout, scenarios.TextOptions{Color: color})
		default:
			return fail("--diff supports --format text, json and markdown, not %s", ff)
		}
		if err != nil {
			return fail("writing output: %v", err)
		}
		if len(d.Rows) > 0 || m.Failing(failSet) {
			return exitFail
		}
		return exitOK
	}
	switch ff {
	case "json":
		err = m.WriteJSON(stdout)
	case "markdown":
		err = m.WriteMarkdown(stdout)
	case "text":
		err = m.WriteText(stdout, scenarios.TextOptions{Color: color})
	default:
		var done bool
		done, err = matrixCI(ff, stdout, m.Cases(failSet))
		if err == nil && !done {
			fmt.Fprintf(stderr, "imasim matrix: --format %s is not available in this build yet (ltp-compat)\n", ff)
			return exitCannot
		}
	}
	if err != nil {
		return fail("writing output: %v", err)
	}
	if m.Failing(failSet) {
		return exitFail
	}
	return exitOK
}
