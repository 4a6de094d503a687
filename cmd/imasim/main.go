// Command imasim models how the Linux IMA/EVM integrity cache decides whether
// to re-evaluate a file, runs scenarios through that model, and compares the
// results with real kernels.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"

	"github.com/imasim/imasim/internal/interrupt"
)

// Exit codes shared by every verb (README.md, "Exit codes").
const (
	exitOK      = 0  // ran, nothing failed
	exitFail    = 1  // an expectation or comparison failed
	exitUsage   = 2  // usage or input error
	exitInconcl = 3  // inconclusive (e.g. lossy audit log)
	exitCannot  = 32 // cannot run here (no root, no QEMU, missing feature)
)

// verb is one sub-command. Each verb parses its own flags.
type verb struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func verbs() map[string]verb {
	return map[string]verb{
		"scenario": {"run a scenario through the model (list, export)", cmdScenario},
		"profile":  {"list or show kernel profiles", cmdProfile},
		"matrix":   {"scenario x profile table of verdicts", cmdMatrix},
		"list":     {"read, show, convert, verify and extend IMA measurement lists", cmdList},
		"policy":   {"check and explain IMA policies", cmdPolicy},
		"audit":    {"parse IMA audit records from logs", cmdAudit},
		"compare":  {"compare a scenario's model with a real audit log", cmdCompare},
		"vm":       {"run a scenario on a real kernel under QEMU with swtpm", cmdVM},
		"kernel":   {"build IMA test kernels from source (Debian's linux-source or a tree, with patches)", cmdKernel},
		"probe":    {"check filesystem models against real filesystems (root)", cmdProbe},
		"explore":  {"search operation sequences for missed/excessive re-evaluation", cmdExplore},
		"version":  {"print the imasim version", cmdVersion},
		"attest":   {"quote PCRs, verify quotes, lists and keylime runtime policies", cmdAttest},
		"report":   {"a finding as a mail: reproducer, kconfig, causes, commits, real kernels", cmdReport},
	}
}

func main() { os.Exit(runMain(os.Args[1:])) }

// runMain is main without the exit: the first SIGINT/SIGTERM cancels the
// command's context, a second one stops within 2 s (package interrupt).
// Test helper processes call it.
func runMain(args []string) int {
	ctx, stop := interrupt.Context(context.Background(), os.Stderr, os.Exit)
	defer stop()
	return run(ctx, args, os.Stdout, os.Stderr)
}

// run is the whole CLI; tests call it directly. A command that returns
// after its context was cancelled was interrupted: exit 3, whatever it
// returned (its own message says what it undid).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	code := dispatch(ctx, args, stdout, stderr)
	if ctx.Err() != nil && code != exitInconcl {
		name := "imasim"
		if len(args) > 0 {
			name += " " + args[0]
		}
		if cause := context.Cause(ctx); cause == interrupt.ErrInterrupted {
			fmt.Fprintf(stderr, "%s: interrupted\n", name)
		} else {
			fmt.Fprintf(stderr, "%s: interrupted (%v)\n", name, cause)
		}
		return exitInconcl
	}
	return code
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "--version" || args[0] == "-version" {
		return cmdVersion(ctx, args[1:], stdout, stderr)
	}
	v, ok := verbs()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "imasim: unknown command %q (try imasim help)\n", args[0])
		return exitUsage
	}
	return v.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: imasim COMMAND [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	vs := verbs()
	names := make([]string, 0, len(vs))
	for n := range vs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, vs[n].summary)
	}
	fmt.Fprintln(w, "\nexit codes: 0 ok, 1 failed, 2 usage/input error, 3 inconclusive, 32 cannot run here")
	fmt.Fprintln(w, "run 'imasim COMMAND -h' for a command's flags; imasim --version for the build")
}

// version is set with -ldflags "-X main.version=..." by a release build;
// otherwise the module version from the build info is used.
var version = ""

// vcsRevision and vcsModified stand in for the build info's vcs.revision
// and vcs.modified where the go command records none: in a git worktree
// (its .git is a file, which the go command does not recognise) or with
// -buildvcs=false. The Makefile sets them from git.
var vcsRevision, vcsModified string

// versionLine describes this binary from its build info: the module
// version, the VCS revision with "+dirty" when the tree had uncommitted
// changes, the commit time and the Go version, e.g.
//
//	imasim (devel) rev 0048f21c9a1e+dirty (2026-12-02T17:00:00Z) go1.26.0
func versionLine(bi *debug.BuildInfo, ok bool) string {
	v := version
	if !ok {
		if v == "" {
			v = "(unknown)"
		}
		return "imasim " + v + " (no build info)"
	}
	if v == "" {
		v = bi.Main.Version
	}
	if v == "" {
		v = "(devel)"
	}
	set := map[string]string{}
	for _, s := range bi.Settings {
		set[s.Key] = s.Value
	}
	if set["vcs.revision"] == "" && vcsRevision != "" {
		set["vcs.revision"], set["vcs.modified"] = vcsRevision, vcsModified
	}
	line := "imasim " + v
	if rev := set["vcs.revision"]; rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if set["vcs.modified"] == "true" {
			rev += "+dirty"
		}
		line += " rev " + rev
		if t := set["vcs.time"]; t != "" {
			line += " (" + t + ")"
		}
	} else {
		line += " rev unknown (built without VCS information)"
	}
	return line + " " + bi.GoVersion
}

func cmdVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: imasim version")
		return exitUsage
	}
	fmt.Fprintln(stdout, versionLine(debug.ReadBuildInfo()))
	return exitOK
}
