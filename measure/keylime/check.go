package keylime

import (
	"encoding/hex"
	"fmt"
	"io"
	"slices"

	"github.com/imasim/imasim/measure"
	"github.com/imasim/imasim/measure/digsig"
)

// Verdicts of Check, per entry.
const (
	OK          = "ok"            // path listed and digest accepted
	Excluded    = "excluded"      // path matches an exclude: not checked
	NotInPolicy = "not-in-policy" // keylime: not_in_allowlist
	HashDiffers = "hash-differs"  // keylime: runtime_policy_hash
	Unparsable  = "unparsable"    // keylime: entry (parser) failure
	Signed      = "signed"        // ima-sig signature verified with a key (policy not consulted)
)

// Finding is the verdict on one entry.
type Finding struct {
	Entry    int      `json:"entry"`
	Template string   `json:"template"`
	Path     string   `json:"path"`
	Digest   string   `json:"digest"`
	Verdict  string   `json:"verdict"`
	Accepted []string `json:"accepted,omitempty"` // the policy's digests for Path
	// Signature is what became of an ima-sig signature when keys were
	// given: "ok (KEY)" or why it did not verify.
	Signature string `json:"signature,omitempty"`
}

// Failed reports whether the finding fails the attestation.
func (f Finding) Failed() bool {
	return f.Verdict != OK && f.Verdict != Excluded && f.Verdict != Signed
}

// Check checks entries as keylime's verifier does for a list without a
// keyring (keylime/ima/ima.py:_validate_ima_ng): ima, ima-ng and ima-sig
// entries (boot_aggregate included) against digests, ima-buf entries
// against ima-buf; a path matching an exclude is skipped; a violation's
// zero digest is checked like any other (keylime accepts it only when
// listed or excluded). Other templates are unparsable for keylime.
// Signatures in ima-sig entries are not verified (see CheckKeys). Every
// entry is checked; max bounds the entries read (0: no bound).
func (p *Policy) Check(rd measure.EntryReader, max int) ([]Finding, error) {
	return p.CheckKeys(rd, max, nil)
}

// CheckKeys is Check with verification keys, as keylime's
// _validate_ima_sig uses them: an ima-sig entry whose signature verifies
// with one of keys is accepted (Signed) without the policy; one whose
// signature does not verify falls back to the policy, like any entry.
func (p *Policy) CheckKeys(rd measure.EntryReader, max int, keys []digsig.Key) ([]Finding, error) {
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
		signed := false
		if sig := sigField(e); keys != nil && len(sig) > 0 {
			k, err := digsig.Verify(keys, sig, d)
			if err == nil {
				f.Signature, signed = "ok ("+k.Name+")", true
			} else {
				f.Signature = err.Error()
			}
		}
		switch {
		case re != nil && re.MatchString(name):
			f.Verdict = Excluded
		case signed:
			f.Verdict = Signed
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

// sigField is an entry's signature (the sig field), nil if none.
func sigField(e *measure.Entry) []byte {
	for i, f := range e.Template.Fields {
		if f.ID == "sig" {
			return e.Fields[i]
		}
	}
	return nil
}
