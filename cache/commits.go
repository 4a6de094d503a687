package cache

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Commit is the upstream commit behind a profile switch, as a
// "commit.KEY: [ID] SUBJECT  # where it was read" line gives it. ID is
// empty when it could not be verified (a subject alone never guesses one).
type Commit struct {
	ID      string `json:"id,omitempty"`
	Subject string `json:"subject"`
	ReadAt  string `json:"read_at"`
}

// String is "1cf7e834a6fb ("xfs: switch to multigrain timestamps")", or
// the quoted subject alone without an id.
func (c Commit) String() string {
	if c.ID == "" {
		return strconv.Quote(c.Subject)
	}
	return c.ID + " (" + strconv.Quote(c.Subject) + ")"
}

// parseCommit reads "[ID] SUBJECT": ID is 12 to 40 lower-case hex digits.
func parseCommit(val, cite string) (Commit, error) {
	c := Commit{Subject: val, ReadAt: cite}
	if id, rest, ok := strings.Cut(val, " "); ok && isCommitID(id) {
		c.ID, c.Subject = id, strings.TrimSpace(rest)
	} else if isCommitID(val) {
		return c, fmt.Errorf("%s: an id needs its subject", val)
	}
	if c.Subject == "" {
		return c, fmt.Errorf("want [ID] SUBJECT")
	}
	if len(c.Subject) > 200 {
		return c, fmt.Errorf("subject over 200 bytes")
	}
	return c, nil
}

func isCommitID(s string) bool {
	if len(s) < 12 || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// commitKey says whether a commit may be attached to key: a switch of
// the model, not a description field.
func commitKey(key string) bool {
	switch key {
	case "collect", "stacked", "last-writer", "violations", "overlay-unverifiable", "change-cookie",
		"truncate-resets", "evm-metadata", "remount-clears-iversion":
		return true
	}
	return strings.HasPrefix(key, "fs.") || strings.HasPrefix(key, "feature.")
}

// Switch returns a switch's value as a profile file writes it ("" and
// false for a key the profile does not have).
func (p *Profile) Switch(key string) (string, bool) {
	switch key {
	case "collect":
		return p.Collect, true
	case "stacked":
		return p.Stacked, true
	case "last-writer":
		return p.LastWriter, true
	case "violations":
		return p.Violations, true
	case "overlay-unverifiable":
		return strconv.FormatBool(p.OverlayUnverifiable), true
	case "change-cookie":
		return strconv.FormatBool(p.ChangeCookie), true
	case "truncate-resets":
		return strconv.FormatBool(p.TruncateResets), true
	case "evm-metadata":
		return strconv.FormatBool(p.EVMMetadata), true
	case "remount-clears-iversion":
		var ts []string
		for t, on := range p.RemountClearsIVersion {
			if on {
				ts = append(ts, t)
			}
		}
		if len(ts) == 0 {
			return "none", true
		}
		sort.Strings(ts)
		return strings.Join(ts, ", "), true
	}
	if t, ok := strings.CutPrefix(key, "fs."); ok {
		m, ok := p.FS[t]
		return m, ok
	}
	if f, ok := strings.CutPrefix(key, "feature."); ok {
		r, ok := p.Features[f]
		if !ok {
			return "", false
		}
		return r.String(), true
	}
	return "", false
}

// SwitchKeys lists the switches of p in a fixed order: the IMA switches,
// then fs.TYPE and feature.NAME sorted.
func (p *Profile) SwitchKeys() []string {
	keys := []string{"collect", "stacked", "last-writer", "violations", "overlay-unverifiable",
		"change-cookie", "truncate-resets", "evm-metadata", "remount-clears-iversion"}
	var more []string
	for t := range p.FS {
		more = append(more, "fs."+t)
	}
	for f := range p.Features {
		more = append(more, "feature."+f)
	}
	sort.Strings(more)
	return append(keys, more...)
}
