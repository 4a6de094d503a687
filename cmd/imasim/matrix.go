package main

import (
	"context"
	"fmt"
	"io"

	ltpcompat "github.com/imasim/imasim/ltp-compat"
	"github.com/imasim/imasim/scenarios"
)

// matrixFormats are the --format values of imasim matrix; the CI formats
// (ltp, kirk-json, junit, ktap) are written through package ltpcompat.
var matrixFormats = append([]string{"text", "json", "markdown"}, ciFormats...)

// matrixCases turns the matrix into CI test cases: one per scenario ×
// profile, the expect lines as informational subtests (they state correct
// kernel behaviour; a simulated cell fails only through --fail-on).
func matrixCases(cases []scenarios.MatrixCase) []ltpcompat.Case {
	var out []ltpcompat.Case
	for _, mc := range cases {
		c := ltpcompat.Case{Name: mc.Name, Message: mc.Message, Duration: mc.Took,
			Args: []string{"matrix", "--scenarios", mc.Scenario, "--profiles", mc.Profile}}
		switch mc.Status {
		case "skip":
			c.Status = ltpcompat.Conf
		case "fail":
			c.Status = ltpcompat.Fail
		}
		for _, x := range mc.Expects {
			msg := "holds in the model (got " + x.Got + ")"
			if !x.OK {
				msg = "model predicts a kernel of this era breaks it (got " + x.Got + ")"
			}
			c.Subtests = append(c.Subtests, ltpcompat.Subtest{Name: x.Text, Message: msg})
		}
		out = append(out, c)
	}
	return out
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
		s, err := scenarios.LoadContext(ctx, n)
		if err != nil {
			return fail("%v", err)
		}
		list = append(list, s)
	}
	profiles, err := resolveProfiles(ctx, *profs, nil, *kver, stderr)
	if err != nil {
		fail("%v", err)
		return profileExit(err)
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
		ours := exitOK
		if m.Failing(failSet) {
			ours = exitFail
		}
		code, err := writeCI(stdout, ff, "matrix", matrixCases(m.Cases(failSet)), ours)
		if err != nil {
			return fail("writing output: %v", err)
		}
		return code
	}
	if err != nil {
		return fail("writing output: %v", err)
	}
	if m.Failing(failSet) {
		return exitFail
	}
	return exitOK
}
