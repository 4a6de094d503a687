package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/imasim/imasim/measure"
	"github.com/imasim/imasim/measure/digsig"
)

// entrySig is the verdict on one list entry's signatures.
type entrySig struct {
	Entry  int    `json:"entry"`
	Path   string `json:"path"`
	Sig    string `json:"sig,omitempty"`    // ima-sig / ima-modsig sig field (security.ima)
	Modsig string `json:"modsig,omitempty"` // ima-modsig appended signature
	OK     bool   `json:"ok"`
}

// field returns an entry's field by template field id.
func field(e *measure.Entry, id string) ([]byte, bool) {
	for i, f := range e.Template.Fields {
		if f.ID == id {
			return e.Fields[i], true
		}
	}
	return nil, false
}

// attestSigs verifies the signatures a list carries, as evmctl
// ima_measurement --verify-sig does for ima-sig, and ima-modsig appended
// signatures over their d-modsig digest.
func attestSigs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("attest sigs", "attest sigs LIST --keys CERT,...", stderr)
	keysF := fs.String("keys", "", "x509 certificates (PEM or DER) or PEM public keys, comma-separated (required)")
	ff := addFormat(fs, "text", "json")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	format, err := ff.get("text", "json")
	if err != nil || len(pos) != 1 || *keysF == "" {
		fs.Usage()
		return exitUsage
	}
	bad := func(err error) int { fmt.Fprintln(stderr, "imasim attest sigs:", err); return exitUsage }
	keys, err := readKeys(ctx, *keysF)
	if err != nil {
		return bad(err)
	}
	entries, err := readEntries(pos[0])
	if err != nil {
		return bad(err)
	}
	var out []entrySig
	failed, unsigned := 0, 0
	for i, e := range entries {
		es := entrySig{Entry: i, OK: true}
		es.Path, _ = e.FileName()
		_, d, _ := e.FileDigest()
		signed := false
		if sig, ok := field(e, "sig"); ok && len(sig) > 0 {
			signed = true
			if k, err := digsig.Verify(keys, sig, d); err != nil {
				es.Sig, es.OK = "FAILED: "+err.Error(), false
			} else {
				es.Sig = "ok (" + k.Name + ")"
			}
		}
		if ms, ok := field(e, "modsig"); ok && len(ms) > 0 {
			signed = true
			dm, _ := field(e, "d-modsig")
			_, md := splitDigestField(dm)
			if k, err := digsig.VerifyModsig(keys, ms, md); err != nil {
				es.Modsig, es.OK = "FAILED: "+err.Error(), false
			} else {
				es.Modsig = "ok (" + k.Name + ")"
			}
		}
		switch {
		case !signed:
			unsigned++
			continue
		case !es.OK:
			failed++
		}
		out = append(out, es)
	}
	if format == "json" {
		b, _ := json.MarshalIndent(struct {
			Entries  int        `json:"entries"`
			Unsigned int        `json:"unsigned"`
			Failed   int        `json:"failed"`
			Signed   []entrySig `json:"signed"`
		}{len(entries), unsigned, failed, out}, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		for _, es := range out {
			fmt.Fprintf(stdout, "%4d %s\n", es.Entry, es.Path)
			if es.Sig != "" {
				fmt.Fprintf(stdout, "     sig     %s\n", es.Sig)
			}
			if es.Modsig != "" {
				fmt.Fprintf(stdout, "     modsig  %s\n", es.Modsig)
			}
		}
		fmt.Fprintf(stdout, "%d entries: %d signed, %d failed, %d without a signature\n", len(entries), len(out), failed, unsigned)
	}
	if failed > 0 {
		return exitFail
	}
	return exitOK
}

// splitDigestField splits a d-ng/d-modsig field ("algo:" NUL digest).
func splitDigestField(f []byte) (string, []byte) {
	for i := 0; i+1 < len(f); i++ {
		if f[i] == ':' && f[i+1] == 0 {
			return string(f[:i]), f[i+2:]
		}
	}
	return "", f
}
