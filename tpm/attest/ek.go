package attest

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/go-tpm/legacy/tpm2/credactivation"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	legacy "github.com/google/go-tpm/legacy/tpm2"
)

// EKCertIndexRSA is the NV index of the RSA 2048 EK certificate (TCG EK
// Credential Profile 2.0, section 2.2.1.4, low range), where swtpm_setup
// --create-ek-cert and TPM vendors put it. The EK it certifies is the
// primary key of the TCG default template (go-tpm's tpm2.RSAEKTemplate).
const EKCertIndexRSA = 0x01C00002

// MaxEKCert bounds an EK certificate read from NV.
const MaxEKCert = 4096

// ErrEKCert is an EK certificate that does not verify: its chain, or its
// key against the TPM's EK.
var ErrEKCert = errors.New("EK certificate does not verify")

// ErrNoEKCert is a TPM without an EK certificate at EKCertIndexRSA.
var ErrNoEKCert = errors.New("no EK certificate in NV")

// ErrCredential is a credential the TPM would not activate: made for
// another AK or EK, or tampered with.
var ErrCredential = errors.New("credential activation failed")

// EK is the endorsement key loaded in a TPM and its certificate.
type EK struct {
	Handle  tpm2.TPMHandle
	Name    tpm2.TPM2BName
	Key     crypto.PublicKey
	CertDER []byte
}

// ReadEKCert reads the DER EK certificate at EKCertIndexRSA, with owner
// authorization (empty), in chunks the TPM accepts. Trailing bytes after
// the certificate (NV areas may be padded) are dropped.
func ReadEKCert(t transport.TPM) ([]byte, error) {
	pub, err := tpm2.NVReadPublic{NVIndex: tpm2.TPMHandle(EKCertIndexRSA)}.Execute(t)
	if err != nil {
		if errors.Is(err, tpm2.TPMRCHandle) {
			return nil, fmt.Errorf("%w (index %#x): %v", ErrNoEKCert, EKCertIndexRSA, err)
		}
		return nil, fmt.Errorf("EK certificate: NV_ReadPublic %#x: %w", EKCertIndexRSA, err)
	}
	nv, err := pub.NVPublic.Contents()
	if err != nil {
		return nil, fmt.Errorf("EK certificate: NV public area: %w", err)
	}
	size := int(nv.DataSize)
	if size == 0 || size > MaxEKCert {
		return nil, fmt.Errorf("EK certificate: NV index of %d bytes (1-%d)", size, MaxEKCert)
	}
	var buf []byte
	for len(buf) < size {
		n := min(size-len(buf), 512)
		rsp, err := tpm2.NVRead{
			AuthHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
			NVIndex:    tpm2.NamedHandle{Handle: tpm2.TPMHandle(EKCertIndexRSA), Name: pub.NVName},
			Size:       uint16(n),
			Offset:     uint16(len(buf)),
		}.Execute(t)
		if err != nil {
			return nil, fmt.Errorf("EK certificate: NV_Read at %d: %w", len(buf), err)
		}
		if len(rsp.Data.Buffer) == 0 {
			return nil, fmt.Errorf("EK certificate: NV_Read at %d: no data", len(buf))
		}
		buf = append(buf, rsp.Data.Buffer...)
	}
	var raw asn1.RawValue
	if _, err := asn1.Unmarshal(buf, &raw); err != nil {
		return nil, fmt.Errorf("EK certificate: not DER: %w", err)
	}
	return raw.FullBytes, nil
}

// LoadEK creates the RSA EK from the TCG default template (a primary key:
// the same key every time on one TPM); with cert, it also reads its
// certificate (ReadEKCert). Flush it when done.
func LoadEK(t transport.TPM, cert bool) (*EK, error) {
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHEndorsement, Auth: tpm2.PasswordAuth(nil)},
		InPublic:      tpm2.New2B(tpm2.RSAEKTemplate),
	}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("create EK: %w", err)
	}
	ek := &EK{Handle: rsp.ObjectHandle, Name: rsp.Name}
	pub, err := rsp.OutPublic.Contents()
	if err == nil {
		ek.Key, err = tpm2.Pub(*pub)
	}
	if err == nil && cert {
		ek.CertDER, err = ReadEKCert(t)
	}
	if err != nil {
		return nil, errjoin(err, ek.Flush(t))
	}
	return ek, nil
}

// Flush unloads the EK.
func (ek *EK) Flush(t transport.TPM) error {
	if _, err := (tpm2.FlushContext{FlushHandle: ek.Handle}).Execute(t); err != nil {
		return fmt.Errorf("flush EK: %w", err)
	}
	return nil
}

// oidSAN is subjectAltName. An EK certificate with an empty subject has a
// critical SAN holding a directoryName with the TPM's manufacturer, model
// and version (TCG EK Credential Profile, 3.2.9), which crypto/x509 leaves
// unhandled; it identifies the TPM and is not a constraint on the chain.
var oidSAN = asn1.ObjectIdentifier{2, 5, 29, 17}

// VerifyEKCert checks that der is a certificate that chains to one of
// roots (through intermediates) and, when key is not nil, that it
// certifies key (the TPM's EK). It returns the parsed certificate.
func VerifyEKCert(der []byte, roots, intermediates []*x509.Certificate, key crypto.PublicKey) (*x509.Certificate, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("EK certificate: %w", err)
	}
	var left []asn1.ObjectIdentifier
	for _, oid := range cert.UnhandledCriticalExtensions {
		if !oid.Equal(oidSAN) {
			left = append(left, oid)
		}
	}
	cert.UnhandledCriticalExtensions = left
	rp, ip := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range roots {
		rp.AddCert(c)
	}
	for _, c := range intermediates {
		ip.AddCert(c)
	}
	// EK certificates carry the TCG EKU (2.23.133.8.1), not a web one.
	if _, err := cert.Verify(x509.VerifyOptions{Roots: rp, Intermediates: ip, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return cert, fmt.Errorf("%w: %v", ErrEKCert, err)
	}
	if key != nil {
		k, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !k.Equal(key) {
			return cert, fmt.Errorf("%w: it certifies another key than the TPM's EK", ErrEKCert)
		}
	}
	return cert, nil
}

// Credential is what TPM2_MakeCredential makes: a secret sealed to an AK
// name under an EK (TPM 2.0 Part 1, 24: credential protection), as the
// marshalled TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET.
type Credential struct {
	IDObject  []byte
	EncSecret []byte
}

// MaxSecret is the longest credential secret (a TPM2B_DIGEST of SHA-256;
// credactivation's recommendation is 32 bytes).
const MaxSecret = 32

// MakeCredential seals secret to the AK named akName for the TPM whose EK
// public key is ek, as a verifier does (go-tpm credactivation; AES-128
// symmetric, as the TCG EK templates have).
func MakeCredential(ek crypto.PublicKey, akName []byte, secret []byte) (*Credential, error) {
	if len(secret) == 0 || len(secret) > MaxSecret {
		return nil, fmt.Errorf("credential secret: %d bytes, want 1-%d", len(secret), MaxSecret)
	}
	name, err := legacy.DecodeName(bytes.NewBuffer(tpm2.Marshal(tpm2.TPM2BName{Buffer: akName})))
	if err != nil || name.Digest == nil {
		return nil, fmt.Errorf("AK name %x: not a digest name (%v)", akName, err)
	}
	if h, err := name.Digest.Alg.Hash(); err != nil || len(akName) != 2+h.Size() {
		return nil, fmt.Errorf("AK name %x: not a digest of its algorithm", akName)
	}
	id, enc, err := credactivation.Generate(name.Digest, ek, 16, secret)
	if err != nil {
		return nil, fmt.Errorf("make credential: %w", err)
	}
	return &Credential{IDObject: id, EncSecret: enc}, nil
}

// ActivateCredential has the TPM recover the secret of c with the AK and
// the EK, the EK authorized by PolicySecret(endorsement) as its template's
// policy requires.
func ActivateCredential(t transport.TPM, ak *AK, ek *EK, c *Credential) ([]byte, error) {
	id, err := tpm2.Unmarshal[tpm2.TPM2BIDObject](c.IDObject)
	if err != nil {
		return nil, fmt.Errorf("credential: TPM2B_ID_OBJECT: %w", err)
	}
	sec, err := tpm2.Unmarshal[tpm2.TPM2BEncryptedSecret](c.EncSecret)
	if err != nil {
		return nil, fmt.Errorf("credential: TPM2B_ENCRYPTED_SECRET: %w", err)
	}
	policy := tpm2.Policy(tpm2.TPMAlgSHA256, 16, func(tt transport.TPM, h tpm2.TPMISHPolicy, nonce tpm2.TPM2BNonce) error {
		_, err := tpm2.PolicySecret{
			AuthHandle:    tpm2.AuthHandle{Handle: tpm2.TPMRHEndorsement, Auth: tpm2.PasswordAuth(nil)},
			PolicySession: h,
			NonceTPM:      nonce,
		}.Execute(tt)
		return err
	})
	rsp, err := tpm2.ActivateCredential{
		ActivateHandle: tpm2.AuthHandle{Handle: ak.Handle, Name: ak.Name, Auth: tpm2.PasswordAuth(nil)},
		KeyHandle:      tpm2.AuthHandle{Handle: ek.Handle, Name: ek.Name, Auth: policy},
		CredentialBlob: *id,
		Secret:         *sec,
	}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCredential, err)
	}
	return rsp.CertInfo.Buffer, nil
}

// credMagic and credVersion head tpm2-tools' credential files
// (tpm2_makecredential -o, tpm2_activatecredential -i).
const (
	credMagic   = 0xBADCC0DE
	credVersion = 1
)

// MaxCredentialFile bounds a credential file: the header and two TPM2B of
// at most a 4096-bit RSA EK's size each.
const MaxCredentialFile = 8 + 2*(2+512)

// MarshalCredential writes c as tpm2_makecredential -o does.
func MarshalCredential(c *Credential) []byte {
	b := binary.BigEndian.AppendUint32(nil, credMagic)
	b = binary.BigEndian.AppendUint32(b, credVersion)
	b = append(b, c.IDObject...)
	return append(b, c.EncSecret...)
}

// ParseCredential reads a credential file as tpm2_makecredential writes
// it: errors name the byte offset.
func ParseCredential(b []byte) (*Credential, error) {
	if len(b) > MaxCredentialFile {
		return nil, fmt.Errorf("credential: %d bytes, more than %d", len(b), MaxCredentialFile)
	}
	if len(b) < 8 || binary.BigEndian.Uint32(b) != credMagic {
		return nil, errors.New("credential: offset 0: not a tpm2-tools credential file (magic 0xBADCC0DE)")
	}
	if v := binary.BigEndian.Uint32(b[4:]); v != credVersion {
		return nil, fmt.Errorf("credential: offset 4: version %d, want %d", v, credVersion)
	}
	off := 8
	id, err := tpm2.Unmarshal[tpm2.TPM2BIDObject](b[off:])
	if err != nil {
		return nil, fmt.Errorf("credential: offset %d: TPM2B_ID_OBJECT: %w", off, err)
	}
	idLen := len(tpm2.Marshal(*id))
	if off+idLen > len(b) {
		return nil, fmt.Errorf("credential: offset %d: TPM2B_ID_OBJECT truncated", off)
	}
	sec, err := tpm2.Unmarshal[tpm2.TPM2BEncryptedSecret](b[off+idLen:])
	if err != nil {
		return nil, fmt.Errorf("credential: offset %d: TPM2B_ENCRYPTED_SECRET: %w", off+idLen, err)
	}
	secLen := len(tpm2.Marshal(*sec))
	if off+idLen+secLen > len(b) {
		return nil, fmt.Errorf("credential: offset %d: TPM2B_ENCRYPTED_SECRET truncated", off+idLen)
	}
	if end := off + idLen + secLen; end != len(b) {
		return nil, fmt.Errorf("credential: offset %d: %d trailing bytes", end, len(b)-end)
	}
	if len(id.Buffer) == 0 || len(sec.Buffer) == 0 {
		return nil, errors.New("credential: an empty TPM2B")
	}
	return &Credential{IDObject: b[off : off+idLen], EncSecret: b[off+idLen:]}, nil
}
