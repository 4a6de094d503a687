package attest

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// NumPCRs is the number of PCRs per bank of a PC-client TPM.
const NumPCRs = 24

// MaxNonce bounds the qualifying data: TPM2B_DATA holds at most a TPMT_HA
// (TPM 2.0 Part 2, TPM2B_DATA), 64 bytes of digest on a TPM with SHA-512.
const MaxNonce = 64

// Selection is a set of PCRs of one bank.
type Selection struct {
	Hash crypto.Hash
	PCRs []int
}

// Evidence is what a quote hands to a verifier, in the forms tpm2-tools
// uses.
type Evidence struct {
	// Attest is the TPMS_ATTEST the TPM signed (tpm2_quote -m).
	Attest []byte
	// Signature is the TPMT_SIGNATURE over Attest (tpm2_quote -s).
	Signature []byte
	// PCRValues are the values of the quoted PCRs, concatenated in the
	// order of the quote's PCR selection (tpm2_quote -o with -F values).
	PCRValues []byte
	// AK is the attestation key's public key.
	AK crypto.PublicKey
	// AKPublic is the AK's TPMT_PUBLIC, when the quote was made here.
	AKPublic *tpm2.TPMTPublic
}

// ParseSelection parses tpm2-tools' PCR selection syntax, as
// tpm2_checkquote -l takes it: "sha1:10+sha256:0,1,10" (banks sha1, sha256,
// sha384, sha512; PCRs 0-23, ranges "0-9" allowed).
func ParseSelection(s string) ([]Selection, error) {
	var out []Selection
	for _, part := range strings.Split(s, "+") {
		alg, list, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("PCR selection %q: want BANK:PCR[,PCR...] in %q", s, part)
		}
		h, err := hashByName(alg)
		if err != nil {
			return nil, fmt.Errorf("PCR selection %q: %w", s, err)
		}
		if slices.ContainsFunc(out, func(x Selection) bool { return x.Hash == h }) {
			return nil, fmt.Errorf("PCR selection %q: bank %s given twice", s, alg)
		}
		sel := Selection{Hash: h}
		for _, item := range strings.Split(list, ",") {
			lo, hi, rng := strings.Cut(item, "-")
			a, err1 := strconv.Atoi(lo)
			b := a
			var err2 error
			if rng {
				b, err2 = strconv.Atoi(hi)
			}
			if err1 != nil || err2 != nil || a < 0 || b >= NumPCRs || a > b {
				return nil, fmt.Errorf("PCR selection %q: bad PCR %q (want 0-%d)", s, item, NumPCRs-1)
			}
			for i := a; i <= b; i++ {
				if !slices.Contains(sel.PCRs, i) {
					sel.PCRs = append(sel.PCRs, i)
				}
			}
		}
		slices.Sort(sel.PCRs)
		out = append(out, sel)
	}
	return out, nil
}

// FormatSelection renders a selection as tpm2-tools writes it.
func FormatSelection(sel []Selection) string {
	var parts []string
	for _, s := range sel {
		var pcrs []string
		for _, p := range s.PCRs {
			pcrs = append(pcrs, strconv.Itoa(p))
		}
		parts = append(parts, HashName(s.Hash)+":"+strings.Join(pcrs, ","))
	}
	return strings.Join(parts, "+")
}

var hashes = []struct {
	name string
	h    crypto.Hash
	alg  tpm2.TPMAlgID
}{
	{"sha1", crypto.SHA1, tpm2.TPMAlgSHA1},
	{"sha256", crypto.SHA256, tpm2.TPMAlgSHA256},
	{"sha384", crypto.SHA384, tpm2.TPMAlgSHA384},
	{"sha512", crypto.SHA512, tpm2.TPMAlgSHA512},
}

func hashByName(s string) (crypto.Hash, error) {
	for _, x := range hashes {
		if x.name == s {
			return x.h, nil
		}
	}
	return 0, fmt.Errorf("unknown PCR bank %q (want sha1|sha256|sha384|sha512)", s)
}

// HashName is tpm2-tools' (and the kernel's) name for a hash.
func HashName(h crypto.Hash) string {
	for _, x := range hashes {
		if x.h == h {
			return x.name
		}
	}
	return h.String()
}

func algOf(h crypto.Hash) tpm2.TPMAlgID {
	for _, x := range hashes {
		if x.h == h {
			return x.alg
		}
	}
	return tpm2.TPMAlgNull
}

func hashOf(alg tpm2.TPMAlgID) (crypto.Hash, bool) {
	for _, x := range hashes {
		if x.alg == alg {
			return x.h, true
		}
	}
	return 0, false
}

// pcrBitmap is a TPMS_PCR_SELECT bitmap for PCRs 0-23.
func pcrBitmap(pcrs []int) []byte {
	b := make([]byte, (NumPCRs+7)/8)
	for _, p := range pcrs {
		b[p/8] |= 1 << (p % 8)
	}
	return b
}

// selected lists the PCRs set in a bitmap, in ascending order (the order
// of the PCR digest, TPM 2.0 Part 1, "Selecting Multiple PCR").
func selected(bitmap []byte) []int {
	var out []int
	for i := 0; i < len(bitmap)*8; i++ {
		if bitmap[i/8]&(1<<(i%8)) != 0 {
			out = append(out, i)
		}
	}
	return out
}

func tpmSelection(sel []Selection) (tpm2.TPMLPCRSelection, error) {
	var l tpm2.TPMLPCRSelection
	for _, s := range sel {
		alg := algOf(s.Hash)
		if alg == tpm2.TPMAlgNull {
			return l, fmt.Errorf("bank %v not supported", s.Hash)
		}
		for _, p := range s.PCRs {
			if p < 0 || p >= NumPCRs {
				return l, fmt.Errorf("PCR %d out of range 0-%d", p, NumPCRs-1)
			}
		}
		l.PCRSelections = append(l.PCRSelections, tpm2.TPMSPCRSelection{Hash: alg, PCRSelect: pcrBitmap(s.PCRs)})
	}
	if len(l.PCRSelections) == 0 {
		return l, errors.New("empty PCR selection")
	}
	return l, nil
}

// Quote reads the selected PCRs and quotes them with ak and nonce
// (TPM2_PCR_Read, TPM2_Quote; TPM 2.0 Part 3). The caller holds the TPM so
// nothing extends in between (tpm.Commander.Command does).
func Quote(t transport.TPM, ak *AK, nonce []byte, sel []Selection) (*Evidence, error) {
	if len(nonce) > MaxNonce {
		return nil, fmt.Errorf("quote: nonce is %d bytes, at most %d", len(nonce), MaxNonce)
	}
	tsel, err := tpmSelection(sel)
	if err != nil {
		return nil, fmt.Errorf("quote: %w", err)
	}
	values, err := readPCRs(t, sel)
	if err != nil {
		return nil, err
	}
	rsp, err := tpm2.Quote{
		SignHandle:     tpm2.AuthHandle{Handle: ak.Handle, Name: ak.Name, Auth: tpm2.PasswordAuth(nil)},
		QualifyingData: tpm2.TPM2BData{Buffer: nonce},
		InScheme:       tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull},
		PCRSelect:      tsel,
	}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("quote: %w", err)
	}
	ev := &Evidence{
		Attest:    bytes.Clone(rsp.Quoted.Bytes()),
		Signature: tpm2.Marshal(rsp.Signature),
		AK:        ak.Key,
		AKPublic:  &ak.Public,
	}
	// Lay the values out in the order the TPM quoted them.
	att, err := tpm2.Unmarshal[tpm2.TPMSAttest](ev.Attest)
	if err != nil {
		return nil, fmt.Errorf("quote: TPM returned a bad TPMS_ATTEST: %w", err)
	}
	qi, err := att.Attested.Quote()
	if err != nil {
		return nil, fmt.Errorf("quote: %w", err)
	}
	for _, s := range qi.PCRSelect.PCRSelections {
		h, _ := hashOf(s.Hash)
		for _, p := range selected(s.PCRSelect) {
			v, ok := values[h][p]
			if !ok {
				return nil, fmt.Errorf("quote: TPM quoted %s PCR %d, which was not asked for", HashName(h), p)
			}
			ev.PCRValues = append(ev.PCRValues, v...)
		}
	}
	return ev, nil
}

// readPCRs reads every selected PCR, repeating TPM2_PCR_Read for what a
// response left out (a TPM returns at most 8 digests per call).
func readPCRs(t transport.TPM, sel []Selection) (map[crypto.Hash]map[int][]byte, error) {
	out := map[crypto.Hash]map[int][]byte{}
	for range NumPCRs * len(hashes) {
		var want []Selection
		for _, s := range sel {
			var rest []int
			for _, p := range s.PCRs {
				if _, ok := out[s.Hash][p]; !ok {
					rest = append(rest, p)
				}
			}
			if len(rest) > 0 {
				want = append(want, Selection{s.Hash, rest})
			}
		}
		if len(want) == 0 {
			return out, nil
		}
		tsel, err := tpmSelection(want)
		if err != nil {
			return nil, fmt.Errorf("read PCRs: %w", err)
		}
		rsp, err := tpm2.PCRRead{PCRSelectionIn: tsel}.Execute(t)
		if err != nil {
			return nil, fmt.Errorf("read PCRs: %w", err)
		}
		k, got := 0, 0
		for _, s := range rsp.PCRSelectionOut.PCRSelections {
			h, ok := hashOf(s.Hash)
			for _, p := range selected(s.PCRSelect) {
				if k >= len(rsp.PCRValues.Digests) {
					return nil, errors.New("read PCRs: response selects more PCRs than it has values")
				}
				v := rsp.PCRValues.Digests[k].Buffer
				k++
				if !ok || len(v) != h.Size() {
					return nil, fmt.Errorf("read PCRs: bad value for PCR %d of bank %v", p, s.Hash)
				}
				if out[h] == nil {
					out[h] = map[int][]byte{}
				}
				out[h][p] = bytes.Clone(v)
				got++
			}
		}
		if got == 0 {
			return nil, fmt.Errorf("read PCRs: TPM returned none of %s (bank not allocated?)", FormatSelection(want))
		}
	}
	return nil, errors.New("read PCRs: TPM keeps returning partial results")
}

func errjoin(a, b error) error { return errors.Join(a, b) }
