package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/report"
)

const reportSynopsis = `report SCENARIO [--profile P,...] [--kernel K,... | --from DIR] [--format text|markdown] [--sh]

One document to send upstream: subject, summary, a minimal POSIX sh
reproducer, the kconfig fragment, the model's causal chain, the affected
versions with the commits that introduced and fixed the behaviour, and
model vs real kernel per step. Real kernels come from imasim vm runs it
does itself (--kernel, as imasim vm) or from saved captures (--from DIR:
DIR, DIR/SCENARIO or DIR/KERNEL/SCENARIO as vm --save writes them).
--sh writes the reproducer alone. Exit 1 when the model disagrees with
a real kernel.`

func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("report", reportSynopsis, stderr)
	prof := fs.String("profile", "", "kernel profiles of the model, comma-separated names or files (default: every built-in)")
	kernel := fs.String("kernel", "", "run the scenario on these kernels first (imasim vm --kernel K,...)")
	from := fs.String("from", "", "directory of saved captures (imasim vm --save)")
	format := fs.String("format", "text", "text (72 columns, ASCII) or markdown")
	sh := fs.Bool("sh", false, "write only the minimal reproducer")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	if *format != "text" && *format != "markdown" {
		fmt.Fprintf(stderr, "imasim report: unknown --format %q (want text|markdown)\n", *format)
		return exitUsage
	}
	if *kernel != "" && *from != "" {
		fmt.Fprintln(stderr, "imasim report: --kernel and --from exclude each other (vm --save, then --from, to combine)")
		return exitUsage
	}
	s, err := scenarios.LoadContext(ctx, pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "imasim report:", err)
		return exitUsage
	}
	if *sh {
		txt, err := report.Reproducer(s)
		if err != nil {
			fmt.Fprintf(stderr, "imasim report: %s: no minimal reproducer: %v\n", s.Name, err)
			return exitUsage
		}
		fmt.Fprint(stdout, txt)
		return exitOK
	}
	ps, err := resolveProfiles(ctx, *prof, nil, "", nil)
	if err != nil {
		fmt.Fprintln(stderr, "imasim report:", err)
		return profileExit(err)
	}
	dir := *from
	if *kernel != "" {
		tmp, err := os.MkdirTemp("", "imasim-report-")
		if err != nil {
			fmt.Fprintln(stderr, "imasim report:", err)
			return exitCannot
		}
		defer os.RemoveAll(tmp)
		// imasim vm does the boots; exit 1 is a kernel breaking an
		// expectation, which is what a report is about.
		if c := cmdVM(ctx, []string{"--kernel", *kernel, "--save", tmp, "scenario", pos[0]}, io.Discard, stderr); c != exitOK && c != exitFail {
			fmt.Fprintf(stderr, "imasim report: imasim vm --kernel %s failed (exit %d)\n", *kernel, c)
			return c
		}
		dir = tmp
	}
	var o report.Options
	o.Profiles = ps
	if dir != "" {
		if o.Runs, err = report.LoadRuns(dir, s); err != nil {
			fmt.Fprintln(stderr, "imasim report:", err)
			return exitUsage
		}
	}
	r, err := report.Build(s, o)
	if err != nil {
		fmt.Fprintln(stderr, "imasim report:", err)
		return exitUsage
	}
	if *format == "markdown" {
		err = r.WriteMarkdown(stdout)
	} else {
		err = r.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "imasim report:", err)
		return exitFail
	}
	if !r.Agree() {
		fmt.Fprintln(stderr, "imasim report: the model disagrees with a real kernel (see Results)")
		return exitFail
	}
	return exitOK
}
