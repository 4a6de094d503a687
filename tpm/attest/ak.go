// Package attest quotes PCRs with an attestation key on a TPM 2.0 and
// verifies such quotes as a remote verifier does: the signature over
// TPMS_ATTEST, the nonce (qualifying data), and the digest of the PCR values
// that came with the quote. Quotes are stored in the files tpm2-tools uses
// (tpm2_quote -m/-s/-o, the AK public key as PEM), so tpm2_checkquote
// verifies what imasim writes and imasim verifies what tpm2_quote writes.
// An AK is bound to a TPM through its EK certificate (read from NV,
// checked against a CA) and credential activation (ek.go; tpm2-tools'
// credential files). All TPM structures are marshalled by go-tpm.
package attest

import (
	"crypto"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// KeyType is the AK's algorithm.
type KeyType string

// AK algorithms: RSA 2048 with RSASSA-SHA256, ECC NIST P-256 with ECDSA-SHA256.
const (
	RSA KeyType = "rsa"
	ECC KeyType = "ecc"
)

// ParseKeyType parses "rsa" or "ecc".
func ParseKeyType(s string) (KeyType, error) {
	switch KeyType(s) {
	case RSA, ECC:
		return KeyType(s), nil
	}
	return "", fmt.Errorf("unknown AK type %q (want rsa|ecc)", s)
}

// AK is an attestation key loaded in a TPM: a restricted signing key, so
// the TPM signs with it only structures it made itself (quotes), never
// outside data that could pass for a quote.
type AK struct {
	Handle tpm2.TPMHandle
	Name   tpm2.TPM2BName
	Public tpm2.TPMTPublic
	Key    crypto.PublicKey
}

// template is a restricted signing key with a fixed scheme, like the AK
// templates of tpm2_createak and go-tpm-tools (TCG EK Credential Profile,
// "AK template"): userWithAuth, no DA, created by the TPM.
func template(kind KeyType) (tpm2.TPMTPublic, error) {
	attrs := tpm2.TPMAObject{
		FixedTPM:            true,
		FixedParent:         true,
		SensitiveDataOrigin: true,
		UserWithAuth:        true,
		NoDA:                true,
		Restricted:          true,
		SignEncrypt:         true,
	}
	switch kind {
	case RSA, "":
		return tpm2.TPMTPublic{
			Type:             tpm2.TPMAlgRSA,
			NameAlg:          tpm2.TPMAlgSHA256,
			ObjectAttributes: attrs,
			Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgRSA, &tpm2.TPMSRSAParms{
				Scheme: tpm2.TPMTRSAScheme{
					Scheme:  tpm2.TPMAlgRSASSA,
					Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgRSASSA, &tpm2.TPMSSigSchemeRSASSA{HashAlg: tpm2.TPMAlgSHA256}),
				},
				KeyBits: 2048,
			}),
			Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgRSA, &tpm2.TPM2BPublicKeyRSA{Buffer: make([]byte, 256)}),
		}, nil
	case ECC:
		return tpm2.TPMTPublic{
			Type:             tpm2.TPMAlgECC,
			NameAlg:          tpm2.TPMAlgSHA256,
			ObjectAttributes: attrs,
			Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
				Scheme: tpm2.TPMTECCScheme{
					Scheme:  tpm2.TPMAlgECDSA,
					Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256}),
				},
				CurveID: tpm2.TPMECCNistP256,
			}),
			Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
				X: tpm2.TPM2BECCParameter{Buffer: make([]byte, 32)},
				Y: tpm2.TPM2BECCParameter{Buffer: make([]byte, 32)},
			}),
		}, nil
	}
	return tpm2.TPMTPublic{}, fmt.Errorf("unknown AK type %q", kind)
}

// CreateAK creates the AK as a primary key in the endorsement hierarchy
// (empty auth). A primary key is derived from the hierarchy's seed, so the
// same TPM gives the same AK every time. Flush it when done.
func CreateAK(t transport.TPM, kind KeyType) (*AK, error) {
	tmpl, err := template(kind)
	if err != nil {
		return nil, err
	}
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHEndorsement, Auth: tpm2.PasswordAuth(nil)},
		InPublic:      tpm2.New2B(tmpl),
	}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("create AK (%s): %w", kind, err)
	}
	ak := &AK{Handle: rsp.ObjectHandle, Name: rsp.Name}
	pub, err := rsp.OutPublic.Contents()
	if err == nil {
		ak.Public = *pub
		ak.Key, err = tpm2.Pub(*pub)
	}
	if err != nil {
		return nil, errjoin(fmt.Errorf("create AK (%s): public key: %w", kind, err), ak.Flush(t))
	}
	return ak, nil
}

// Flush unloads the AK from the TPM.
func (ak *AK) Flush(t transport.TPM) error {
	if _, err := (tpm2.FlushContext{FlushHandle: ak.Handle}).Execute(t); err != nil {
		return fmt.Errorf("flush AK: %w", err)
	}
	return nil
}
