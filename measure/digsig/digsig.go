// Package digsig reads, verifies and makes IMA file signatures — the
// security.ima value that ima-sig and ima-modsig list entries carry in
// their sig field — in the format evmctl ima_sign writes: signature
// version 2 over the file digest, RSA (PKCS #1 v1.5) or ECDSA keys, the key
// named by a 32-bit key id (Linux v6.12: security/integrity/integrity.h:
// struct signature_v2_hdr; digsig_asymmetric.c:asymmetric_verify).
package digsig

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
)

// xattr types (Linux v6.12: security/integrity/integrity.h: enum evm_ima_xattr_type).
const (
	TypeHMAC         = 0x02 // EVM_XATTR_HMAC: security.evm HMAC
	TypeDigsig       = 0x03 // EVM_IMA_XATTR_DIGSIG: a signature
	TypeDigestNG     = 0x04 // IMA_XATTR_DIGEST_NG: security.ima hash, algorithm byte first
	TypePortable     = 0x05 // EVM_XATTR_PORTABLE_DIGSIG: portable EVM signature
	TypeVerityDigsig = 0x06 // IMA_VERITY_DIGSIG: signature v3 of an fs-verity digest
)

// hash_info.h: HASH_ALGO_* numbers, as the header's hash_algo byte.
var hashAlgos = map[byte]crypto.Hash{
	2: crypto.SHA1,
	4: crypto.SHA256,
	5: crypto.SHA384,
	6: crypto.SHA512,
	7: crypto.SHA224,
}

func algoByte(h crypto.Hash) (byte, bool) {
	for b, x := range hashAlgos {
		if x == h {
			return b, true
		}
	}
	return 0, false
}

// ErrBadSignature is a signature that does not verify with the key its id names.
var ErrBadSignature = errors.New("signature does not verify")

// ErrNoKey is a signature whose key id matches no key.
var ErrNoKey = errors.New("no key with the signature's key id")

// Sig is a parsed signature v2.
type Sig struct {
	Hash  crypto.Hash
	KeyID uint32
	Value []byte // the RSA signature, or the ASN.1 ECDSA signature
}

// hdrLen is sizeof(struct signature_v2_hdr): type, version, hash_algo,
// keyid (be32), sig_size (be16).
const hdrLen = 9

// Parse parses a security.ima signature (type 0x03, version 2).
func Parse(b []byte) (*Sig, error) { return parseType(b, TypeDigsig) }

func parseType(b []byte, typ byte) (*Sig, error) {
	if len(b) < hdrLen {
		return nil, fmt.Errorf("signature: %d bytes, shorter than its %d-byte header", len(b), hdrLen)
	}
	switch {
	case b[0] == TypeVerityDigsig:
		return nil, errors.New("signature: an fs-verity signature (type 6, v3): not supported")
	case b[0] != typ:
		return nil, fmt.Errorf("signature: type %#x, want %#x", b[0], typ)
	case b[1] != 2:
		return nil, fmt.Errorf("signature: version %d: only version 2 is supported", b[1])
	}
	h, ok := hashAlgos[b[2]]
	if !ok || !h.Available() {
		return nil, fmt.Errorf("signature: hash algorithm %d not supported", b[2])
	}
	n := int(binary.BigEndian.Uint16(b[7:9]))
	if n != len(b)-hdrLen {
		return nil, fmt.Errorf("signature: sig_size %d, but %d bytes follow the header", n, len(b)-hdrLen)
	}
	return &Sig{Hash: h, KeyID: binary.BigEndian.Uint32(b[3:7]), Value: bytes.Clone(b[hdrLen:])}, nil
}

// Marshal writes s in the security.ima format.
func (s *Sig) Marshal() ([]byte, error) { return s.marshalType(TypeDigsig) }

func (s *Sig) marshalType(typ byte) ([]byte, error) {
	a, ok := algoByte(s.Hash)
	if !ok {
		return nil, fmt.Errorf("signature: hash %v has no IMA number", s.Hash)
	}
	if len(s.Value) > 0xffff {
		return nil, errors.New("signature: value too long")
	}
	b := []byte{typ, 2, a}
	b = binary.BigEndian.AppendUint32(b, s.KeyID)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.Value)))
	return append(b, s.Value...), nil
}

// KeyID is the 32-bit id the kernel and evmctl give a key: the last four
// bytes of the certificate's subject key identifier, or, without one, of
// the SHA-1 of the public key's bits (RFC 5280 4.2.1.2 method 1, which is
// also how evmctl computes it from a bare key).
func KeyID(pub crypto.PublicKey, skid []byte) (uint32, error) {
	if len(skid) >= 4 {
		return binary.BigEndian.Uint32(skid[len(skid)-4:]), nil
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return 0, err
	}
	var spki struct {
		Algo      asn1.RawValue
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return 0, err
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return binary.BigEndian.Uint32(sum[16:]), nil
}

// Key is a verification key.
type Key struct {
	ID   uint32
	Pub  crypto.PublicKey
	Name string // where it came from
	SKID []byte // the certificate's subject key identifier, if any
}

// ParseKeys reads X.509 certificates (PEM, any number, or one DER) and PEM
// public keys, as the kernel's .ima keyring and evmctl --key take them.
func ParseKeys(b []byte, name string) ([]Key, error) {
	var out []Key
	add := func(pub crypto.PublicKey, skid []byte) error {
		switch pub.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
		default:
			return fmt.Errorf("%s: %T keys are not supported", name, pub)
		}
		id, err := KeyID(pub, skid)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, Key{ID: id, Pub: pub, Name: name, SKID: skid})
		return nil
	}
	rest := b
	for {
		blk, r := pem.Decode(rest)
		if blk == nil {
			break
		}
		rest = r
		switch blk.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if err := add(c.PublicKey, c.SubjectKeyId); err != nil {
				return nil, err
			}
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if err := add(k, nil); err != nil {
				return nil, err
			}
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	c, err := x509.ParseCertificate(b)
	if err != nil {
		return nil, fmt.Errorf("%s: neither PEM certificates or public keys nor a DER certificate: %w", name, err)
	}
	if err := add(c.PublicKey, c.SubjectKeyId); err != nil {
		return nil, err
	}
	return out, nil
}

// Verify verifies raw (a security.ima value) over the file digest with the
// key whose id the signature names. The digest must have the size of the
// signature's hash (the kernel signs the digest IMA computed with it).
func Verify(keys []Key, raw, digest []byte) (*Key, error) {
	s, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	return s.verify(keys, digest)
}

func (s *Sig) verify(keys []Key, digest []byte) (*Key, error) {
	if len(digest) != s.Hash.Size() {
		return nil, fmt.Errorf("signature is over a %v digest; the file digest has %d bytes", s.Hash, len(digest))
	}
	var tried bool
	for i := range keys {
		k := &keys[i]
		if k.ID != s.KeyID {
			continue
		}
		tried = true
		var ok bool
		switch pub := k.Pub.(type) {
		case *rsa.PublicKey:
			ok = rsa.VerifyPKCS1v15(pub, s.Hash, digest, s.Value) == nil
		case *ecdsa.PublicKey:
			ok = ecdsa.VerifyASN1(pub, digest, s.Value)
		}
		if ok {
			return k, nil
		}
	}
	if tried {
		return nil, fmt.Errorf("%w (key id %08x)", ErrBadSignature, s.KeyID)
	}
	return nil, fmt.Errorf("%w %08x", ErrNoKey, s.KeyID)
}

// Sign signs a file digest of hash h as evmctl ima_sign does (v2). keyID
// is normally KeyID of the signer's certificate.
func Sign(signer crypto.Signer, h crypto.Hash, keyID uint32, digest []byte) ([]byte, error) {
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("sign: %d-byte digest for %v", len(digest), h)
	}
	return signType(signer, h, keyID, digest, TypeDigsig)
}

func signType(signer crypto.Signer, h crypto.Hash, keyID uint32, digest []byte, typ byte) ([]byte, error) {
	v, err := signer.Sign(rand.Reader, digest, h)
	if err != nil {
		return nil, err
	}
	return (&Sig{Hash: h, KeyID: keyID, Value: v}).marshalType(typ)
}

// ParsePrivateKey reads a PEM private key (PKCS #8, PKCS #1 RSA or SEC 1
// EC), as openssl writes them, for signing.
func ParsePrivateKey(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	var k any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", blk.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T cannot sign", k)
	}
	switch s.Public().(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
		return s, nil
	}
	return nil, fmt.Errorf("%T keys are not supported", s.Public())
}
