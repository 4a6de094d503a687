package digsig

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
)

// ModsigMagic ends a file with an appended signature (Linux v6.12:
// include/linux/module_signature.h: MODULE_SIG_STRING).
const ModsigMagic = "~Module signature appended~\n"

// SplitAppended splits a file with an appended signature into the signed
// content and the PKCS #7 message, as ima_read_modsig does: the magic
// string, before it struct module_signature (12 bytes, sig_len big-endian
// last, id_type 2 = PKCS #7), before that the message (Linux v6.12:
// security/integrity/ima/ima_modsig.c:ima_read_modsig,
// kernel/module_signature.c:mod_check_sig).
func SplitAppended(b []byte) (content, pkcs7 []byte, err error) {
	const hdr = 12
	if !bytes.HasSuffix(b, []byte(ModsigMagic)) {
		return nil, nil, errors.New("no appended signature (magic string missing)")
	}
	b = b[:len(b)-len(ModsigMagic)]
	if len(b) < hdr {
		return nil, nil, errors.New("appended signature: truncated header")
	}
	ms := b[len(b)-hdr:]
	b = b[:len(b)-hdr]
	if ms[2] != 2 {
		return nil, nil, fmt.Errorf("appended signature: id_type %d, want 2 (PKCS #7)", ms[2])
	}
	if ms[0] != 0 || ms[1] != 0 || ms[3] != 0 || ms[4] != 0 || ms[5] != 0 || ms[6] != 0 || ms[7] != 0 {
		return nil, nil, errors.New("appended signature: PKCS #7 header fields not zero")
	}
	n := binary.BigEndian.Uint32(ms[8:])
	if n == 0 || uint64(n) > uint64(len(b)) {
		return nil, nil, fmt.Errorf("appended signature: sig_len %d, file has %d bytes before it", n, len(b))
	}
	return b[:len(b)-int(n)], b[len(b)-int(n):], nil
}

// PKCS #7 (RFC 2315) as module signatures use it: SignedData, detached
// content, usually no certificates and no authenticated attributes
// (scripts/sign-file.c).
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,tag:0"`
}

type signedData struct {
	Version          int
	DigestAlgorithms asn1.RawValue
	ContentInfo      asn1.RawValue
	Certificates     asn1.RawValue `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue `asn1:"optional,tag:1"`
	SignerInfos      []signerInfo  `asn1:"set"`
}

type signerInfo struct {
	Version            int
	SID                asn1.RawValue
	DigestAlgorithm    pkix.AlgorithmIdentifier
	AuthAttributes     asn1.RawValue `asn1:"optional,tag:0"`
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
	UnauthAttributes   asn1.RawValue `asn1:"optional,tag:1"`
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue `asn1:"set"`
}

var (
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	digestOIDs       = map[string]crypto.Hash{
		"1.3.14.3.2.26":          crypto.SHA1,
		"2.16.840.1.101.3.4.2.1": crypto.SHA256,
		"2.16.840.1.101.3.4.2.2": crypto.SHA384,
		"2.16.840.1.101.3.4.2.3": crypto.SHA512,
		"2.16.840.1.101.3.4.2.4": crypto.SHA224,
	}
)

// Modsig is a parsed appended signature (the first signer's).
type Modsig struct {
	Hash      crypto.Hash
	Signature []byte
	// Signed is what the signature covers: nil for a signature straight
	// over the content digest (no authenticated attributes), else the DER
	// of the attributes, whose messageDigest must be the content digest.
	Signed        []byte
	MessageDigest []byte
}

// ParseModsig parses a PKCS #7 SignedData message (the modsig field of an
// ima-modsig entry, or SplitAppended's second result).
func ParseModsig(b []byte) (*Modsig, error) {
	var ci contentInfo
	rest, err := asn1.Unmarshal(b, &ci)
	if err != nil {
		return nil, fmt.Errorf("modsig: %w", err)
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("modsig: %d bytes after the message", len(rest))
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("modsig: content type %v, want signedData", ci.ContentType)
	}
	var sd signedData
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("modsig: SignedData: %w", err)
	}
	if len(sd.SignerInfos) == 0 {
		return nil, errors.New("modsig: no signer")
	}
	si := sd.SignerInfos[0]
	h, ok := digestOIDs[si.DigestAlgorithm.Algorithm.String()]
	if !ok || !h.Available() {
		return nil, fmt.Errorf("modsig: digest algorithm %v not supported", si.DigestAlgorithm.Algorithm)
	}
	m := &Modsig{Hash: h, Signature: si.Signature}
	if len(si.AuthAttributes.FullBytes) > 0 {
		// Signed as a SET OF (RFC 2315 9.3): the [0] IMPLICIT tag becomes 0x31.
		m.Signed = append([]byte{0x31}, si.AuthAttributes.FullBytes[1:]...)
		rest := si.AuthAttributes.Bytes
		for len(rest) > 0 {
			var a attribute
			var err error
			if rest, err = asn1.Unmarshal(rest, &a); err != nil {
				return nil, fmt.Errorf("modsig: authenticated attribute: %w", err)
			}
			if a.Type.Equal(oidMessageDigest) {
				var d []byte
				if _, err := asn1.Unmarshal(a.Values.Bytes, &d); err != nil {
					return nil, fmt.Errorf("modsig: messageDigest: %w", err)
				}
				m.MessageDigest = d
			}
		}
		if m.MessageDigest == nil {
			return nil, errors.New("modsig: authenticated attributes without messageDigest")
		}
	}
	return m, nil
}

// VerifyModsig verifies an appended signature over the content digest
// (the d-modsig field: the file's digest without the signature) with any
// of keys (Linux v6.12: ima_modsig.c:ima_modsig_verify,
// crypto/asymmetric_keys/pkcs7_verify.c).
func VerifyModsig(keys []Key, pkcs7, digest []byte) (*Key, error) {
	m, err := ParseModsig(pkcs7)
	if err != nil {
		return nil, err
	}
	if len(digest) != m.Hash.Size() {
		return nil, fmt.Errorf("modsig is over a %v digest; the digest has %d bytes", m.Hash, len(digest))
	}
	signed := digest
	if m.Signed != nil {
		if !bytes.Equal(m.MessageDigest, digest) {
			return nil, fmt.Errorf("%w: messageDigest %x, content %x", ErrBadSignature, m.MessageDigest, digest)
		}
		d := m.Hash.New()
		d.Write(m.Signed)
		signed = d.Sum(nil)
	}
	for i := range keys {
		k := &keys[i]
		var ok bool
		switch pub := k.Pub.(type) {
		case *rsa.PublicKey:
			ok = rsa.VerifyPKCS1v15(pub, m.Hash, signed, m.Signature) == nil
		case *ecdsa.PublicKey:
			ok = ecdsa.VerifyASN1(pub, signed, m.Signature)
		}
		if ok {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w with any of %d keys", ErrBadSignature, len(keys))
}
