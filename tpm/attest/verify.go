package attest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"

	"github.com/google/go-tpm/tpm2"
)

// Verification failures. A quote that fails one of these is rejected; a
// quote whose files are not TPM structures at all is bad input (FormatError).
var (
	ErrSignature = errors.New("signature does not verify with the AK")
	ErrNonce     = errors.New("nonce (qualifying data) differs")
	ErrPCRDigest = errors.New("PCR values do not match the quoted PCR digest")
	ErrNotQuote  = errors.New("signed structure is not a TPM quote")
)

// FormatError is a quote file that cannot be parsed.
type FormatError struct {
	What string // "signature", "attest", "PCR values", "AK"
	Err  error
}

func (e *FormatError) Error() string { return "bad " + e.What + ": " + e.Err.Error() }
func (e *FormatError) Unwrap() error { return e.Err }

// Quoted is what a verified quote says.
type Quoted struct {
	// PCRs holds the quoted values per bank and PCR.
	PCRs map[crypto.Hash]map[int][]byte
	// Selection is the quote's PCR selection, in its order.
	Selection []Selection
	Nonce     []byte
	// SigHash is the hash of the signature scheme (and of the PCR digest).
	SigHash crypto.Hash
	// Signer is the qualified name of the AK (TPM 2.0 Part 1, Names).
	Signer          []byte
	Clock           tpm2.TPMSClockInfo
	FirmwareVersion uint64
}

// Verify checks a quote as a verifier does, in this order: the signature
// over the TPMS_ATTEST bytes with ev.AK (so a tampered quote fails here,
// whatever it was changed into), that it is a quote made by a TPM (magic,
// type), the nonce, and that ev.PCRValues hash to the quoted PCR digest.
// It returns the quoted PCR values only when all of them hold.
func Verify(ev *Evidence, nonce []byte) (*Quoted, error) {
	sig, err := unmarshalExact[tpm2.TPMTSignature](ev.Signature)
	if err != nil {
		return nil, &FormatError{"signature (TPMT_SIGNATURE)", err}
	}
	h, err := checkSignature(ev.AK, sig, ev.Attest)
	if err != nil {
		return nil, err
	}
	att, err := unmarshalExact[tpm2.TPMSAttest](ev.Attest)
	if err != nil {
		// Signed by the AK but not a TPMS_ATTEST: not a TPM's quote.
		return nil, fmt.Errorf("%w: %v", ErrNotQuote, err)
	}
	if att.Magic != tpm2.TPMGeneratedValue {
		return nil, fmt.Errorf("%w: magic %#x, want TPM_GENERATED_VALUE", ErrNotQuote, uint32(att.Magic))
	}
	qi, err := att.Attested.Quote()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotQuote, err)
	}
	if !bytes.Equal(att.ExtraData.Buffer, nonce) {
		return nil, fmt.Errorf("%w: quote has %x, want %x", ErrNonce, att.ExtraData.Buffer, nonce)
	}
	q := &Quoted{PCRs: map[crypto.Hash]map[int][]byte{}, Nonce: bytes.Clone(nonce), SigHash: h,
		Signer: bytes.Clone(att.QualifiedSigner.Buffer), Clock: att.ClockInfo, FirmwareVersion: att.FirmwareVersion}
	d := h.New()
	vals := ev.PCRValues
	for _, s := range qi.PCRSelect.PCRSelections {
		bank, ok := hashOf(s.Hash)
		if !ok {
			return nil, fmt.Errorf("quote selects bank %v, which imasim cannot hash", s.Hash)
		}
		if _, dup := q.PCRs[bank]; dup {
			return nil, fmt.Errorf("quote selects bank %s twice", HashName(bank))
		}
		q.PCRs[bank] = map[int][]byte{}
		pcrs := selected(s.PCRSelect)
		q.Selection = append(q.Selection, Selection{Hash: bank, PCRs: pcrs})
		for _, p := range pcrs {
			if len(vals) < bank.Size() {
				return nil, &FormatError{"PCR values", fmt.Errorf("%d bytes, the quote selects %d", len(ev.PCRValues), ValuesSize(q.Selection)+pendingSize(qi, len(q.Selection)))}
			}
			v := vals[:bank.Size()]
			vals = vals[bank.Size():]
			d.Write(v)
			q.PCRs[bank][p] = bytes.Clone(v)
		}
	}
	if len(vals) != 0 {
		return nil, &FormatError{"PCR values", fmt.Errorf("%d bytes, the quote selects %d", len(ev.PCRValues), ValuesSize(q.Selection))}
	}
	if got := d.Sum(nil); !bytes.Equal(got, qi.PCRDigest.Buffer) {
		return nil, fmt.Errorf("%w: values hash to %x, quote has %x", ErrPCRDigest, got, qi.PCRDigest.Buffer)
	}
	return q, nil
}

// pendingSize is the size of the selections after the first n.
func pendingSize(qi *tpm2.TPMSQuoteInfo, n int) int {
	size := 0
	for _, s := range qi.PCRSelect.PCRSelections[n:] {
		if h, ok := hashOf(s.Hash); ok {
			size += h.Size() * len(selected(s.PCRSelect))
		}
	}
	return size
}

// ValuesSize is the size of the PCR values file for sel.
func ValuesSize(sel []Selection) int {
	n := 0
	for _, s := range sel {
		n += s.Hash.Size() * len(s.PCRs)
	}
	return n
}

// checkSignature verifies sig over msg with key and returns the scheme's hash.
func checkSignature(key crypto.PublicKey, sig *tpm2.TPMTSignature, msg []byte) (crypto.Hash, error) {
	switch sig.SigAlg {
	case tpm2.TPMAlgRSASSA, tpm2.TPMAlgRSAPSS:
		var s *tpm2.TPMSSignatureRSA
		var err error
		if sig.SigAlg == tpm2.TPMAlgRSASSA {
			s, err = sig.Signature.RSASSA()
		} else {
			s, err = sig.Signature.RSAPSS()
		}
		if err != nil {
			return 0, &FormatError{"signature", err}
		}
		h, err := sigHash(s.Hash)
		if err != nil {
			return 0, err
		}
		pub, ok := key.(*rsa.PublicKey)
		if !ok {
			return 0, fmt.Errorf("%w: an RSA signature, but the AK is %T", ErrSignature, key)
		}
		d := digest(h, msg)
		if sig.SigAlg == tpm2.TPMAlgRSASSA {
			err = rsa.VerifyPKCS1v15(pub, h, d, s.Sig.Buffer)
		} else {
			err = rsa.VerifyPSS(pub, h, d, s.Sig.Buffer, nil)
		}
		if err != nil {
			return 0, fmt.Errorf("%w (%v)", ErrSignature, err)
		}
		return h, nil
	case tpm2.TPMAlgECDSA:
		s, err := sig.Signature.ECDSA()
		if err != nil {
			return 0, &FormatError{"signature", err}
		}
		h, err := sigHash(s.Hash)
		if err != nil {
			return 0, err
		}
		pub, ok := key.(*ecdsa.PublicKey)
		if !ok {
			return 0, fmt.Errorf("%w: an ECDSA signature, but the AK is %T", ErrSignature, key)
		}
		r := new(big.Int).SetBytes(s.SignatureR.Buffer)
		ss := new(big.Int).SetBytes(s.SignatureS.Buffer)
		if !ecdsa.Verify(pub, digest(h, msg), r, ss) {
			return 0, ErrSignature
		}
		return h, nil
	}
	return 0, &FormatError{"signature", fmt.Errorf("unsupported signature algorithm %v", sig.SigAlg)}
}

func sigHash(alg tpm2.TPMIAlgHash) (crypto.Hash, error) {
	h, ok := hashOf(alg)
	if !ok || !h.Available() {
		return 0, &FormatError{"signature", fmt.Errorf("unsupported hash %v", alg)}
	}
	return h, nil
}

func digest(h crypto.Hash, msg []byte) []byte {
	d := h.New()
	d.Write(msg)
	return d.Sum(nil)
}

// unmarshalExact unmarshals b as T and requires that T marshals back to b
// exactly: no trailing bytes, no non-canonical encoding.
func unmarshalExact[T tpm2.Marshallable, P interface {
	*T
	tpm2.Unmarshallable
}](b []byte) (t *T, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("%v", r)
		}
	}()
	t, err = tpm2.Unmarshal[T, P](b)
	if err != nil {
		return nil, err
	}
	if back := tpm2.Marshal(*t); !bytes.Equal(back, b) {
		n := min(len(back), len(b))
		off := n
		for i := range n {
			if back[i] != b[i] {
				off = i
				break
			}
		}
		return nil, fmt.Errorf("%d bytes, of which only %d parse (first difference at byte offset %d)", len(b), len(back), off)
	}
	return t, nil
}
