package probe

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for people: the mismatches by step, the
// i_version comparison, and with verbose every step's observations.
func (r *Report) WriteText(w io.Writer, verbose bool) error {
	ew := &errWriter{w: w}
	var models []string
	for t, m := range r.Models {
		models = append(models, t+"="+m)
	}
	sort.Strings(models)
	ew.printf("probe %s on kernel %s, models of profile %s (%s)\n", r.Scenario, r.Kernel, r.Profile, strings.Join(models, " "))
	if r.KernelProfileWhy != "" {
		kp := r.KernelProfile
		if kp == "" {
			kp = "none"
		}
		ew.printf("kernel profile: %s: %s\n", kp, r.KernelProfileWhy)
	}
	if r.WorkDir != "" {
		ew.printf("work directory kept: %s\n", r.WorkDir)
	}
	if verbose {
		for _, st := range r.Steps {
			ew.printf("\nstep %d, line %d: %s\n", st.Index+1, st.Line, st.Text)
			if st.RealErr != "" {
				ew.printf("  host error:  %s\n", st.RealErr)
			}
			if st.ModelErr != "" {
				ew.printf("  model error: %s\n", st.ModelErr)
			}
			if st.Note != "" {
				ew.printf("  note: %s\n", st.Note)
			}
			for _, f := range st.Files {
				if !f.Real.Exists && !f.Model.Exists {
					continue
				}
				ew.printf("  %s\n", f.Path)
				if f.Real.Exists {
					ew.printf("    host:  dev %s ino %d mnt %d size %d mode %s ctime %s mtime %s atime %s %s content %s\n",
						f.Real.Dev, f.Real.Ino, f.Real.MntID, f.Real.Size, f.Real.Mode, ts(f.Real.Ctime), ts(f.Real.Mtime), ts(f.Real.Atime), f.Real.Identity, f.Real.Content)
				} else {
					ew.printf("    host:  absent\n")
				}
				if f.Model.Exists {
					ew.printf("    model: dev %d ino %d size %d mode %s ctime %s mtime %s atime %s %s content %s i_version %d\n",
						f.Model.Dev, f.Model.Ino, f.Model.Size, f.Model.Mode, ts(f.Model.Ctime), ts(f.Model.Mtime), ts(f.Model.Atime), f.Model.Identity, f.Model.Content, f.Model.IVersion)
				} else {
					ew.printf("    model: absent\n")
				}
			}
		}
		ew.printf("\n")
	}
	if len(r.Mismatches) == 0 {
		ew.printf("the model matches the host at every step\n")
	} else {
		ew.printf("%d mismatches:\n", len(r.Mismatches))
		for _, m := range r.Mismatches {
			where := m.Path
			if where != "" {
				where += ": "
			}
			ew.printf("  line %d `%s`: %s%s: model %s, host %s\n", m.Line, m.Text, where, m.Check, m.Model, m.Real)
		}
	}
	if len(r.IVersion) > 0 {
		ew.printf("on-disk i_version after unmount:\n")
		for _, c := range r.IVersion {
			switch {
			case c.Err != "":
				ew.printf("  %s (%s ino %d): error: %s\n", c.Path, c.FS, c.Ino, c.Err)
			case c.Match:
				ew.printf("  %s (%s ino %d): %d, as modelled\n", c.Path, c.FS, c.Ino, c.Disk)
			default:
				ew.printf("  %s (%s ino %d): MISMATCH model %d, disk %d\n", c.Path, c.FS, c.Ino, c.Model, c.Disk)
			}
		}
	}
	if verbose && len(r.IVersionSteps) > 0 {
		ew.printf("on-disk i_version after each prefix of the scenario (model / disk):\n")
		for _, c := range r.IVersionSteps {
			ew.printf("  line %d `%s`: %s %d / %d\n", c.Line, c.Text, c.Path, c.Model, c.Disk)
		}
	}
	for _, n := range r.Notes {
		ew.printf("note: %s\n", n)
	}
	if r.Stopped != "" {
		ew.printf("stopped: %s\n", r.Stopped)
	}
	return ew.err
}

// ts shows nanoseconds within the second, enough to see granularity.
func ts(ns int64) string {
	if ns == 0 {
		return "-"
	}
	return fmt.Sprintf("%d.%09d", ns/1e9%1000, ns%1e9)
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(f string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, f, a...)
	}
}
