package attest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-tpm/tpm2"
)

// File names in a quote directory; the same files tpm2_quote writes with
// -m, -s, -o (-F values) and tpm2_checkquote reads with -u (PEM or
// TPM2B_PUBLIC).
const (
	AttestFile    = "quote.msg"
	SignatureFile = "quote.sig"
	PCRsFile      = "quote.pcrs"
	AKPEMFile     = "ak.pub.pem"
	AKPublicFile  = "ak.pub"
)

// maxFile bounds every quote file read (a TPMS_ATTEST, a signature or a PEM
// key are a few hundred bytes; 24 PCRs in 4 banks are under 4 KiB).
const maxFile = 64 << 10

// WriteDir writes ev into dir (created if missing).
func WriteDir(dir string, ev *Evidence) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pemKey, err := MarshalPEM(ev.AK)
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
	}{
		{AttestFile, ev.Attest},
		{SignatureFile, ev.Signature},
		{PCRsFile, ev.PCRValues},
		{AKPEMFile, pemKey},
	}
	if ev.AKPublic != nil {
		files = append(files, struct {
			name string
			data []byte
		}{AKPublicFile, tpm2.Marshal(tpm2.New2B(*ev.AKPublic))})
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// ReadDir reads the evidence in dir. The AK comes from akPEM when given
// (the verifier's trusted copy), else from dir's ak.pub.pem.
func ReadDir(dir, akPEM string) (*Evidence, error) {
	ev := &Evidence{}
	var err error
	if ev.Attest, err = readFile(filepath.Join(dir, AttestFile)); err != nil {
		return nil, err
	}
	if ev.Signature, err = readFile(filepath.Join(dir, SignatureFile)); err != nil {
		return nil, err
	}
	if ev.PCRValues, err = readFile(filepath.Join(dir, PCRsFile)); err != nil {
		return nil, err
	}
	if akPEM == "" {
		akPEM = filepath.Join(dir, AKPEMFile)
	}
	b, err := readFile(akPEM)
	if err != nil {
		return nil, err
	}
	if ev.AK, err = ParseAK(b); err != nil {
		return nil, fmt.Errorf("%s: %w", akPEM, err)
	}
	return ev, nil
}

// readFile reads at most maxFile bytes of a regular file.
func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxFile)
	}
	return b, nil
}

// MarshalPEM writes an RSA or ECDSA public key as a PEM "PUBLIC KEY"
// (SubjectPublicKeyInfo), as tpm2_readpublic -f pem does.
func MarshalPEM(k crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("AK public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParseAK reads an AK public key as tpm2_checkquote -u takes it: PEM, or
// TPM2B_PUBLIC ("tss" format, what tpm2_createak -u and tpm2_readpublic
// -o write by default; unmarshalled by go-tpm).
func ParseAK(b []byte) (crypto.PublicKey, error) {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("-----BEGIN")) {
		return ParsePEM(b)
	}
	pub, err := unmarshalExact[tpm2.TPM2BPublic](b)
	if err != nil {
		return nil, &FormatError{"AK", fmt.Errorf("neither PEM nor TPM2B_PUBLIC: %w", err)}
	}
	t, err := pub.Contents()
	if err != nil {
		return nil, &FormatError{"AK", err}
	}
	if !t.ObjectAttributes.Restricted || !t.ObjectAttributes.SignEncrypt {
		return nil, &FormatError{"AK", errors.New("TPM2B_PUBLIC is not a restricted signing key")}
	}
	k, err := tpm2.Pub(*t)
	if err != nil {
		return nil, &FormatError{"AK", err}
	}
	// Through DER and back, so the key gets the checks x509 gives a PEM
	// key (a positive modulus, a point on the curve).
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, &FormatError{"AK", err}
	}
	return ParsePEM(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// ParsePEM reads one PEM "PUBLIC KEY" holding an RSA or ECDSA key.
func ParsePEM(b []byte) (crypto.PublicKey, error) {
	blk, rest := pem.Decode(b)
	if blk == nil {
		return nil, &FormatError{"AK", errors.New("no PEM block")}
	}
	if blk.Type != "PUBLIC KEY" {
		return nil, &FormatError{"AK", fmt.Errorf("PEM block %q, want PUBLIC KEY", blk.Type)}
	}
	if len(rest) > 0 {
		if nb, _ := pem.Decode(rest); nb != nil {
			return nil, &FormatError{"AK", errors.New("more than one PEM block")}
		}
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, &FormatError{"AK", err}
	}
	switch k.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
		return k, nil
	}
	return nil, &FormatError{"AK", fmt.Errorf("%T keys are not AKs", k)}
}
