package scenarios

import (
	"bytes"
	"encoding/hex"
	"fmt"

	"github.com/imasim/imasim/cache"
)

// judged is the ground truth one hook call is judged against.
type judged struct {
	// seen: the path was evaluated (hashed or appraised) before; before
	// is its content then (a digest, or the content in quiet runs) and
	// now its content at this call, in the same form.
	seen        bool
	before, now []byte
	// metaSame: its EVM-protected metadata is what it was at the last
	// appraisal (or the call does not appraise).
	metaSame bool
	appraise bool // the call appraises
}

// causeLevel is how much a run explains its hook calls.
type causeLevel uint8

const (
	noCauses   causeLevel = iota // a search: verdicts only
	causeHeads                   // causes up to their " -- " details (how a search groups findings)
	allCauses
)

// classify judges one hook call by what the cache did (out) against the
// ground truth: excessive when it re-evaluated unchanged content and
// metadata, missed when it kept a result for changed content or
// metadata, indeterminate when kernel state the scenario cannot know
// decided it, else ok. Below allCauses the cause stays short.
func classify(out cache.Outcome, j judged, level causeLevel) (verdict, cause string) {
	quiet := level == noCauses
	details := level == allCauses
	verdict, cause = OK, out.Cause
	evaluatedAny := out.Evaluated || out.Appraised
	unchanged := j.seen && bytes.Equal(j.before, j.now)
	switch {
	case out.Indeterminate != "":
		verdict = Indeterminate
		if level != causeHeads {
			cause += " -- indeterminate: " + out.Indeterminate
		}
	case out.Retried:
		// A failed appraisal is re-done at every access by design.
	case evaluatedAny && unchanged && out.First:
		// The inode was evicted: its iint went with it. Re-evaluating is
		// the design, not a cache decision (Linux: ima_inode_free).
		if !quiet {
			cause = "new iint (the inode was evicted and read back; IMA's cache went with it, so re-evaluating is by design): " + cause
		}
	case evaluatedAny && unchanged && j.metaSame:
		verdict = Excessive
		if !details {
			break
		}
		cause += " -- content unchanged since the last evaluation"
		if j.appraise {
			cause += ", and so is its EVM-protected metadata"
		}
	case !evaluatedAny && out.Digest != nil && !bytes.Equal(out.Digest, j.now):
		verdict = Missed
		if details {
			cause += fmt.Sprintf(" -- but content changed: measured %s, now %s", short(out.Digest), short(j.now))
		}
	case !evaluatedAny && !j.metaSame:
		verdict = Missed
		if details {
			cause += " -- but its EVM-protected metadata (mode, owner, security.* xattrs) changed since the last appraisal"
		}
	case out.Appraised && !out.Evaluated && !quiet:
		cause = "re-appraised from the cached hash: " + cause
	}
	return verdict, cause
}

func short(b []byte) string {
	if len(b) < 4 {
		return "none"
	}
	return hex.EncodeToString(b[:4])
}
