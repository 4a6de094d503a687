package keylime

import (
	"encoding/hex"
	"fmt"
	"io"
	"slices"

	"github.com/imasim/imasim/measure"
)

// Verdicts of Check, per entry.
const (
	OK          = "ok"            // path listed and digest accepted
	Excluded    = "excluded"      // path matches an exclude: not checked
	NotInPolicy = "not-in-policy" // keylime: not_in_allowlist
	HashDiffers = "hash-differs"  // keylime: runtime_policy_hash
	Unparsable  = "unparsable"    // keylime: entry (parser) failure
)

// Finding is the verdict on one entry.
type Finding struct {
	Entry    int      `json:"entry"`
	Template string   `json:"template"`
	Path     string   `json:"path"`
	Digest   string   `json:"digest"`
	Verdict  string   `json:"verdict"`
	Accepted []string `json:"accepted,omitempty"` // the policy's digests for Path
}

// Failed reports whether the finding fails the attestation.
func (f Finding) Failed() bool { return f.Verdict != OK && f.Verdict != Excluded }

// Check checks entries as keylime's verifier does for a list without a
// keyring (keylime/ima/ima.py:_validate_ima_ng): ima, ima-ng and ima-sig
// entries (boot_aggregate included) against digests, ima-buf entries
// against ima-buf; a path matching an exclude is skipped; a violation's
// zero digest is checked like any other (keylime accepts it only when
// listed or excluded). Other templates are unparsable for keylime.
// Signatures in ima-sig entries are not verified here (keylime would try
// its verification keys first). Every entry is checked; max bounds the
// entries read (0: no bound).
func (p *Policy) Check(rd measure.EntryReader, max int) ([]Finding, error) {
	re, err := p.ExcludeRegexp()
	if err != nil {
		return nil, err
	}
	var out []Finding
	for n := 0; max <= 0 || n < max; n++ {
		e, err := rd.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		f := Finding{Entry: n, Template: e.Template.ListName()}
		lists := &p.Digests
		switch e.Template.Name {
		case "ima", "ima-ng", "ima-sig":
		case "ima-buf":
			lists = &p.IMABuf
		default:
			f.Verdict = Unparsable
			out = append(out, f)
			continue
		}
		name, ok1 := e.FileName()
		_, d, ok2 := e.FileDigest()
		if !ok1 || !ok2 {
			f.Verdict = Unparsable
			out = append(out, f)
			continue
		}
		f.Path, f.Digest = name, hex.EncodeToString(d)
		accepted, listed := lists.Get(name)
		switch {
		case re != nil && re.MatchString(name):
			f.Verdict = Excluded
		case !listed:
			f.Verdict = NotInPolicy
		case !slices.Contains(accepted, f.Digest):
			f.Verdict, f.Accepted = HashDiffers, accepted
		default:
			f.Verdict = OK
		}
		out = append(out, f)
	}
	return out, fmt.Errorf("more than %d entries", max)
}
