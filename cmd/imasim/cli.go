package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// newFlags returns a FlagSet for one verb that writes its usage to stderr.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: imasim %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args allowing flags before and after positional
// arguments (stdlib flag stops at the first positional). A lone "--" ends
// flag parsing. It returns the positional arguments, or an exit code when
// parsing failed or help was asked for (ok=false).
func parseFlags(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	rest := args
	for {
		before := rest
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitUsage, false
		}
		rest = fs.Args()
		// flag.Parse stops at the first non-flag, or after "--", which it
		// swallows: everything after "--" is positional, as given.
		if n := len(before) - len(rest); n > 0 && before[n-1] == "--" {
			return append(pos, rest...), 0, true
		}
		if len(rest) == 0 {
			return pos, 0, true
		}
		pos = append(pos, rest[0])
		rest = rest[1:]
	}
}

// formatFlag registers --format and its --json alias.
type formatFlag struct {
	format string
	json   bool
}

func addFormat(fs *flag.FlagSet, allowed ...string) *formatFlag {
	f := &formatFlag{}
	fs.StringVar(&f.format, "format", "text", "output format: "+strings.Join(allowed, "|"))
	fs.BoolVar(&f.json, "json", false, "alias of --format json")
	return f
}

// get returns the chosen format or an error for an unknown one.
func (f *formatFlag) get(allowed ...string) (string, error) {
	if f.json {
		return "json", nil
	}
	for _, a := range allowed {
		if f.format == a {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown --format %q (want %s)", f.format, strings.Join(allowed, "|"))
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
