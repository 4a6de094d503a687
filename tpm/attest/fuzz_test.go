package attest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/stretchr/testify/require"
)

// softQuote signs a TPMS_ATTEST quote of sha256 PCR 10 with a software key:
// a stand-in for a TPM inside the fuzz test only (the TPM tests use swtpm).
func softQuote(t testing.TB, key *rsa.PrivateKey, nonce, pcr10 []byte) *Evidence {
	t.Helper()
	d := sha256.Sum256(pcr10)
	att := tpm2.TPMSAttest{
		Magic:     tpm2.TPMGeneratedValue,
		Type:      tpm2.TPMSTAttestQuote,
		ExtraData: tpm2.TPM2BData{Buffer: nonce},
		Attested: tpm2.NewTPMUAttest(tpm2.TPMSTAttestQuote, &tpm2.TPMSQuoteInfo{
			PCRSelect: tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{Hash: tpm2.TPMAlgSHA256, PCRSelect: pcrBitmap([]int{10})}}},
			PCRDigest: tpm2.TPM2BDigest{Buffer: d[:]},
		}),
	}
	msg := tpm2.Marshal(att)
	h := sha256.Sum256(msg)
	s, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	require.NoError(t, err)
	sig := tpm2.TPMTSignature{SigAlg: tpm2.TPMAlgRSASSA, Signature: tpm2.NewTPMUSignature(tpm2.TPMAlgRSASSA,
		&tpm2.TPMSSignatureRSA{Hash: tpm2.TPMAlgSHA256, Sig: tpm2.TPM2BPublicKeyRSA{Buffer: s}})}
	return &Evidence{Attest: msg, Signature: tpm2.Marshal(sig), PCRValues: pcr10, AK: &key.PublicKey}
}

// FuzzVerify feeds changed quotes to Verify: it must not panic, and it may
// accept only the quote as signed, with its nonce and its PCR values.
func FuzzVerify(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(f, err)
	nonce := []byte("nonce")
	pcr := bytes.Repeat([]byte{7}, 32)
	good := softQuote(f, key, nonce, pcr)
	if _, err := Verify(good, nonce); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Attest, good.Signature, good.PCRValues, nonce)
	f.Add(good.Attest[:20], good.Signature, good.PCRValues, nonce)
	f.Add(good.Attest, good.Signature[:8], pcr[:5], []byte{})
	f.Fuzz(func(t *testing.T, att, sig, vals, n []byte) {
		ev := &Evidence{Attest: att, Signature: sig, PCRValues: vals, AK: &key.PublicKey}
		q, err := Verify(ev, n)
		if err != nil {
			return
		}
		if !bytes.Equal(att, good.Attest) || !bytes.Equal(vals, pcr) || !bytes.Equal(n, nonce) {
			t.Fatalf("accepted a changed quote: attest %x values %x nonce %x", att, vals, n)
		}
		if !bytes.Equal(q.PCRs[crypto.SHA256][10], pcr) {
			t.Fatalf("verified PCR 10 is %x, want %x", q.PCRs[crypto.SHA256][10], pcr)
		}
	})
}

// FuzzParseSelection: a selection that parses formats to a string that
// parses back to the same selection.
func FuzzParseSelection(f *testing.F) {
	for _, s := range []string{"sha1:10", "sha1:10+sha256:0-9", "sha512:23,1", "sha256:3-1", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseSelection(s)
		if err != nil {
			return
		}
		back, err := ParseSelection(FormatSelection(sel))
		if err != nil {
			t.Fatalf("%q -> %q does not parse: %v", s, FormatSelection(sel), err)
		}
		require.Equal(t, sel, back)
		for _, b := range sel {
			for _, p := range b.PCRs {
				if p < 0 || p >= NumPCRs {
					t.Fatalf("PCR %d out of range", p)
				}
			}
		}
	})
}

// FuzzParsePEM: a key that parses (PEM or TPM2B_PUBLIC) marshals back to a
// PEM that parses to the same key.
func FuzzParsePEM(f *testing.F) {
	key, _ := rsa.GenerateKey(rand.Reader, 1024)
	p, _ := MarshalPEM(&key.PublicKey)
	f.Add(p)
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"))
	if tmpl, err := template(RSA); err == nil {
		f.Add(tpm2.Marshal(tpm2.New2B(tmpl)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseAK(b)
		if err != nil {
			return
		}
		p, err := MarshalPEM(k)
		require.NoError(t, err)
		k2, err := ParsePEM(p)
		require.NoError(t, err)
		require.True(t, k2.(interface{ Equal(crypto.PublicKey) bool }).Equal(k))
	})
}

// FuzzParseCredential: a credential file that parses is exactly the
// header and the two TPM2B it holds (MarshalCredential gives the input
// back), both non-empty and inside the size bound.
func FuzzParseCredential(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(f, err)
	c, err := MakeCredential(&key.PublicKey, append([]byte{0, 0x0b}, make([]byte, 32)...), []byte("secret"))
	require.NoError(f, err)
	f.Add(MarshalCredential(c))
	f.Add([]byte{0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1, 0, 1, 7, 0, 1, 9})
	f.Add([]byte{0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1, 0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCredential(b)
		if err != nil {
			require.Nil(t, c)
			return
		}
		require.LessOrEqual(t, len(b), MaxCredentialFile)
		require.Equal(t, b, MarshalCredential(c))
		require.Greater(t, len(c.IDObject), 2)
		require.Greater(t, len(c.EncSecret), 2)
	})
}

// testCA makes a root and an EK-like leaf certificate with a critical SAN
// of directoryName only, as swtpm_localca's (inside this fuzz test only;
// the TPM tests use swtpm_localca's real ones).
func testCA(t testing.TB) (root *x509.Certificate, leafDER []byte, leafKey *rsa.PublicKey) {
	rk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	rt := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "root"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Unix(0, 0), NotAfter: time.Now().Add(time.Hour)}
	rd, err := x509.CreateCertificate(rand.Reader, rt, rt, &rk.PublicKey, rk)
	require.NoError(t, err)
	root, err = x509.ParseCertificate(rd)
	require.NoError(t, err)
	ek, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	san, err := asn1.Marshal([]asn1.RawValue{{Class: 2, Tag: 4, IsCompound: true, Bytes: mustDN(t)}})
	require.NoError(t, err)
	lt := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: time.Unix(0, 0), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageKeyEncipherment, ExtraExtensions: []pkix.Extension{{Id: oidSAN, Critical: true, Value: san}}}
	leafDER, err = x509.CreateCertificate(rand.Reader, lt, root, &ek.PublicKey, rk)
	require.NoError(t, err)
	return root, leafDER, &ek.PublicKey
}

func mustDN(t testing.TB) []byte {
	dn, err := asn1.Marshal(pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{2, 23, 133, 2, 1}, Value: "id:00001014"}}}.ToRDNSequence())
	require.NoError(t, err)
	return dn
}

// FuzzVerifyEKCert: whatever bytes it is given, VerifyEKCert accepts only
// a certificate whose signed part and key are the CA's certificate's.
func FuzzVerifyEKCert(f *testing.F) {
	root, leaf, key := testCA(f)
	_, err := VerifyEKCert(leaf, []*x509.Certificate{root}, nil, key)
	require.NoError(f, err)
	orig, err := x509.ParseCertificate(leaf)
	require.NoError(f, err)
	f.Add(leaf)
	f.Add(leaf[:len(leaf)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := VerifyEKCert(b, []*x509.Certificate{root}, nil, key)
		if err != nil {
			return
		}
		require.Equal(t, orig.RawTBSCertificate, c.RawTBSCertificate)
		require.True(t, key.Equal(c.PublicKey))
	})
}
