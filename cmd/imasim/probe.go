package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/probe"
	"github.com/imasim/imasim/scenarios/real"
)

var probeFormats = []string{"text", "json"}

// cmdProbe runs a scenario's filesystem steps on the host's real
// filesystems and compares statx and the on-disk i_version with the
// filesystem models (scenarios/probe).
func cmdProbe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("probe", "probe SCENARIO [--profile NAME|PATH] [--gap DURATION] [--query-cookie] [--iversion-steps] [--max-sleep DURATION] [--keep] [-v] [--format text|json]", stderr)
	prof := fs.String("profile", "", "compare with this profile's filesystem models (default: the host kernel's era)")
	keep := fs.Bool("keep", false, "keep the work directory and disk images (filesystems are still unmounted)")
	verbose := fs.Bool("v", false, "show every step's statx and model getattr, and log real actions to stderr")
	ivSteps := fs.Bool("iversion-steps", false, "also rerun each prefix of the scenario to find the steps where the on-disk i_version departs from the model")
	gap := fs.Duration("gap", 10*time.Millisecond, "pause before each step, host and model alike; below a jiffy (e.g. 0) steps share coarse timestamps (multigrain checks; repeat to rule out tick-boundary timing)")
	query := fs.Bool("query-cookie", false, "every statx also requests STATX_CHANGE_COOKIE, so the kernel queries i_version as IMA's getattr does")
	maxSleep := fs.Duration("max-sleep", real.DefaultMaxSleep, "cap on each sleep step")
	format := addFormat(fs, probeFormats...)
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	ff, err := format.get(probeFormats...)
	if err != nil {
		fmt.Fprintln(stderr, "imasim probe:", err)
		return exitUsage
	}
	s, err := scenarios.LoadContext(ctx, pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "imasim probe:", err)
		return exitUsage
	}
	opts := probe.Options{Keep: *keep, MaxSleep: *maxSleep, IVersionSteps: *ivSteps, Gap: *gap, QueryCookie: *query}
	if *gap <= 0 {
		opts.Gap = -1
	}
	if *maxSleep <= 0 {
		opts.MaxSleep = time.Nanosecond
	}
	if *prof != "" {
		if opts.Profile, err = cache.LoadProfileContext(ctx, *prof); err != nil {
			fmt.Fprintln(stderr, "imasim probe:", err)
			return exitUsage
		}
	}
	if *verbose {
		opts.Log = stderr
	}
	rep, err := probe.Run(ctx, s, opts)
	var cr *real.CannotRunError
	switch {
	case errors.As(err, &cr):
		fmt.Fprintf(stderr, "imasim probe: TCONF: %s\n", cr.Reason)
		return exitCannot
	case err != nil && ctx.Err() != nil:
		fmt.Fprintln(stderr, "imasim probe: interrupted, cleaned up:", err)
		return exitInconcl
	case err != nil && rep == nil:
		fmt.Fprintln(stderr, "imasim probe:", err)
		return exitFail
	}
	if ff == "json" {
		err2 := rep.WriteJSON(stdout)
		err = errors.Join(err, err2)
	} else {
		err = errors.Join(err, rep.WriteText(stdout, *verbose))
	}
	if err != nil {
		fmt.Fprintln(stderr, "imasim probe:", err)
		return exitFail
	}
	if rep.Failed() {
		return exitFail
	}
	return exitOK
}
