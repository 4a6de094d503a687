package ltpcompat

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Formats lists the report formats this package writes, as named by
// imasim's --format flag.
var Formats = []string{"ltp", "kirk-json", "junit", "ktap"}

// Options change how a report is written. The zero value writes plain
// (uncoloured) output with real durations and no logs in LTP/KTAP output.
type Options struct {
	// Color puts ANSI colours on LTP result types. Set it from
	// LTP_COLORIZE_OUTPUT with OptionsFromEnv.
	Color bool
	// NoDurations writes every duration as 0, for golden files.
	NoDurations bool
	// Logs adds each case's Log to LTP output (verbatim, before its
	// results) and to KTAP output (as "# " diagnostics).
	Logs bool
	// Env is the environment block of kirk-json; nil means HostEnvironment().
	Env *Environment
}

// OptionsFromEnv returns Options for the environment given by getenv
// (os.Getenv in imasim): colour only when LTP_COLORIZE_OUTPUT is "y" or "1",
// as kirk sets it. LTP itself also colours on a terminal when the variable
// is unset; imasim does not, so its output is the same wherever it goes.
func OptionsFromEnv(getenv func(string) string) Options {
	var o Options
	switch strings.TrimSpace(getenv("LTP_COLORIZE_OUTPUT")) {
	case "y", "Y", "1":
		o.Color = true
	}
	return o
}

// Write writes r in the named format (one of Formats). It returns an error
// for an unknown format or when w fails.
func Write(w io.Writer, format string, r Report, o Options) error {
	switch format {
	case "ltp":
		return WriteLTP(w, r, o)
	case "kirk-json", "kirk":
		env := o.Env
		if env == nil {
			e := HostEnvironment()
			env = &e
		}
		return WriteKirkJSON(w, r, *env, o)
	case "junit":
		return WriteJUnit(w, r, o)
	case "ktap":
		return WriteKTAP(w, r, o)
	}
	return fmt.Errorf("writing report: unknown format %q (want %s)", format, strings.Join(Formats, "|"))
}

// duration returns d, or 0 when the options ask for no durations.
func (o Options) duration(d time.Duration) time.Duration {
	if o.NoDurations {
		return 0
	}
	return d
}

// errWriter remembers the first write error so writers can print freely
// and check once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err != nil {
		return
	}
	_, e.err = fmt.Fprintf(e.w, format, args...)
}

func (e *errWriter) write(s string) {
	if e.err != nil {
		return
	}
	_, e.err = io.WriteString(e.w, s)
}
