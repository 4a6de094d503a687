package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/imasim/imasim/internal/input"
	"github.com/imasim/imasim/tpm"
	"github.com/imasim/imasim/tpm/attest"
)

// Files attest ek writes.
const (
	ekCertFile = "ek.crt"     // the EK certificate, DER, as read from NV
	ekPEMFile  = "ek.pub.pem" // the EK public key
	akNameFile = "ak.name"    // the AK's name, binary (as tpm2_createak -n)
	credFile   = "cred.out"   // a credential, tpm2_makecredential's format
)

// readCAs reads --ca certificates: self-signed ones are roots, the others
// intermediates.
func readCAs(ctx context.Context, list string) (roots, inter []*x509.Certificate, err error) {
	for _, f := range splitList(list) {
		b, err := input.ReadFile(ctx, f, maxKeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--ca: %w", err)
		}
		certs, err := parseCerts(b)
		if err != nil {
			return nil, nil, fmt.Errorf("--ca %s: %w", f, err)
		}
		for _, c := range certs {
			if bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil {
				roots = append(roots, c)
			} else {
				inter = append(inter, c)
			}
		}
	}
	if len(roots) == 0 {
		return nil, nil, errors.New("--ca: no root (self-signed) certificate")
	}
	return roots, inter, nil
}

// parseCerts reads PEM certificates, or one DER certificate.
func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := b
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return nil, fmt.Errorf("no PEM certificate, and not DER: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}

// localCA is the local CA a --swtpm-ca directory holds after ManufactureSwtpm.
func localCA(dir string) string {
	return filepath.Join(dir, "swtpm-localca-rootca-cert.pem") + "," + filepath.Join(dir, "issuercert.pem")
}

// attestEK enrols an AK as a verifier does with a TPM it does not yet
// trust: the EK certificate from NV must chain to --ca and certify the
// TPM's EK, and the TPM must activate a credential made for the AK's name
// under that certificate's key.
func attestEK(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("attest ek", "attest ek --tpm SPEC --ca CERT,... [--ak rsa|ecc] [-o DIR] | --tpm swtpm --swtpm-ca DIR", stderr)
	tpmSpec := fs.String("tpm", "swtpm", "TPM backend: swtpm (private; needs --swtpm-ca), swtpm:unix:SOCK[,ctrl=…], swtpm:tcp:…, simulator, device[:PATH]")
	caF := fs.String("ca", "", "CA certificates the EK certificate must chain to (PEM or DER), comma-separated; self-signed ones are the roots")
	swtpmCA := fs.String("swtpm-ca", "", "manufacture the private swtpm first with swtpm_setup --create-ek-cert, its local CA kept in this directory (default --ca: that CA)")
	akF := fs.String("ak", "rsa", "AK algorithm: rsa or ecc")
	out := fs.String("o", "", "write ek.crt, ek.pub.pem, ak.pub.pem, ak.name and cred.out here")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	bad := func(err error) int { fmt.Fprintln(stderr, "imasim attest ek:", err); return exitUsage }
	if len(pos) != 0 {
		fs.Usage()
		return exitUsage
	}
	kind, err := attest.ParseKeyType(*akF)
	if err != nil {
		return bad(err)
	}
	if *swtpmCA != "" && *tpmSpec != "swtpm" {
		return bad(errors.New("--swtpm-ca manufactures a private swtpm: use it with --tpm swtpm"))
	}
	ca := *caF
	if ca == "" && *swtpmCA != "" {
		ca = localCA(*swtpmCA)
	}
	if ca == "" {
		return bad(errors.New("--ca is required: the CA the EK certificate must chain to"))
	}
	if *caF != "" { // a --swtpm-ca CA exists only once the swtpm is made
		if _, _, err := readCAs(ctx, ca); err != nil {
			return bad(err)
		}
	}
	p, c, code := openTPMForQuote(ctx, "attest ek", *tpmSpec, tpm.Options{EKCA: *swtpmCA}, stderr)
	if p == nil {
		return code
	}
	defer p.Close()
	roots, inter, err := readCAs(ctx, ca)
	if err != nil {
		return bad(err)
	}
	var en *enrolment
	err = c.Command(func(t transport.TPM) error {
		en, err = enrolAK(t, kind, roots, inter)
		return err
	})
	if err != nil {
		fmt.Fprintln(stderr, "imasim attest ek:", err)
		if errors.Is(err, attest.ErrNoEKCert) {
			fmt.Fprintln(stderr, "imasim attest ek: this TPM has no EK certificate (a private swtpm gets one with --swtpm-ca DIR)")
			return exitCannot
		}
		return exitFail
	}
	fmt.Fprintln(stdout, "EK certificate ", en.certStatus(roots))
	if en.certErr == nil {
		fmt.Fprintln(stdout, "credential     ", en.credStatus(kind))
	}
	if *out != "" && en.certErr == nil {
		if err := writeEnrolment(*out, en); err != nil {
			fmt.Fprintln(stderr, "imasim attest ek:", err)
			return exitFail
		}
	}
	if !en.ok() {
		return exitFail
	}
	fmt.Fprintln(stdout, "result  the AK is enrolled: quotes it signs come from the TPM the EK certificate names")
	return exitOK
}

// enrolment is an AK enrolled through the TPM's EK certificate.
type enrolment struct {
	ekDER  []byte
	cert   *x509.Certificate
	akKey  crypto.PublicKey
	akName []byte
	cred   *attest.Credential
	// certErr and credErr are verification failures (exit 1).
	certErr, credErr error
}

func (en *enrolment) ok() bool { return en.certErr == nil && en.credErr == nil }

func (en *enrolment) certStatus(roots []*x509.Certificate) string {
	if en.certErr != nil {
		return "FAILED: " + en.certErr.Error()
	}
	return fmt.Sprintf("ok: issued by %q, chains to %q, certifies the TPM's EK", en.cert.Issuer.CommonName, roots[0].Subject.CommonName)
}

func (en *enrolment) credStatus(kind attest.KeyType) string {
	if en.credErr != nil {
		return "FAILED: " + en.credErr.Error()
	}
	return fmt.Sprintf("ok: the TPM holding the EK activated a credential for the %s AK %x", kind, en.akName)
}

// enrolAK does what a verifier does with a TPM it does not know: the EK
// certificate in NV must chain to roots and certify the TPM's EK, and the
// TPM must activate a credential made for the AK's name under the
// certificate's key, recovering its secret. An error is the TPM's, not a
// verification failure.
func enrolAK(t transport.TPM, kind attest.KeyType, roots, inter []*x509.Certificate) (*enrolment, error) {
	en, secret, err := enrolBegin(t, kind, roots, inter)
	if err != nil || en.certErr != nil {
		return en, err
	}
	ek, err := attest.LoadEK(t, false)
	if err != nil {
		return nil, err
	}
	defer ek.Flush(t)
	ak, err := attest.CreateAK(t, kind)
	if err != nil {
		return nil, err
	}
	defer ak.Flush(t)
	got, err := attest.ActivateCredential(t, ak, ek, en.cred)
	en.check(got, secret, err)
	return en, nil
}

// enrolBegin is the verifier's half of enrolAK: the EK certificate
// checked, and a credential with a fresh secret made for the AK's name.
func enrolBegin(t transport.TPM, kind attest.KeyType, roots, inter []*x509.Certificate) (*enrolment, []byte, error) {
	ek, err := attest.LoadEK(t, true)
	if err != nil {
		return nil, nil, err
	}
	defer ek.Flush(t)
	en := &enrolment{ekDER: ek.CertDER}
	if en.cert, en.certErr = attest.VerifyEKCert(ek.CertDER, roots, inter, ek.Key); en.certErr != nil {
		return en, nil, nil
	}
	ak, err := attest.CreateAK(t, kind)
	if err != nil {
		return nil, nil, err
	}
	defer ak.Flush(t)
	en.akKey, en.akName = ak.Key, ak.Name.Buffer
	secret := make([]byte, attest.MaxSecret)
	rand.Read(secret)
	if en.cred, err = attest.MakeCredential(en.cert.PublicKey, ak.Name.Buffer, secret); err != nil {
		return nil, nil, err
	}
	return en, secret, nil
}

// check records the activation's outcome: got must be secret.
func (en *enrolment) check(got, secret []byte, err error) {
	switch {
	case err != nil:
		en.credErr = err
	case !bytes.Equal(got, secret):
		en.credErr = fmt.Errorf("%w: the TPM recovered another secret", attest.ErrCredential)
	}
}

// writeEnrolment writes the EK certificate, the EK and AK public keys, the
// AK name and the credential.
func writeEnrolment(dir string, en *enrolment) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ekPEM, err := publicPEM(en.cert.PublicKey)
	if err != nil {
		return err
	}
	files := map[string][]byte{ekCertFile: en.ekDER, ekPEMFile: ekPEM}
	if en.akKey != nil {
		akPEM, err := publicPEM(en.akKey)
		if err != nil {
			return err
		}
		files[attest.AKPEMFile], files[akNameFile] = akPEM, en.akName
		files[credFile] = attest.MarshalCredential(en.cred)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func publicPEM(k crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// attestMakeCredential is the verifier's half: a credential for an AK name
// under an EK (its certificate, checked against --ca when given, or its
// public key), in tpm2_makecredential's file format.
func attestMakeCredential(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("attest make-credential", "attest make-credential --ek CERT|PEM --ak-name FILE --secret FILE -o CRED [--ca CERT,...]", stderr)
	ekF := fs.String("ek", "", "the EK certificate (PEM or DER) or public key (PEM) (required)")
	nameF := fs.String("ak-name", "", "the AK's name, binary, as tpm2_createak -n or attest ek -o write it (required)")
	secretF := fs.String("secret", "", "the secret, 1-32 bytes (default: 32 random bytes, written to CRED.secret)")
	caF := fs.String("ca", "", "check that the EK certificate chains to these CA certificates first")
	out := fs.String("o", "", "the credential file to write (required)")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 0 || *ekF == "" || *nameF == "" || *out == "" {
		fs.Usage()
		return exitUsage
	}
	bad := func(err error) int { fmt.Fprintln(stderr, "imasim attest make-credential:", err); return exitUsage }
	eb, err := input.ReadFile(ctx, *ekF, maxKeyFile)
	if err != nil {
		return bad(err)
	}
	name, err := input.ReadFile(ctx, *nameF, 2+64)
	if err != nil {
		return bad(err)
	}
	var ekKey crypto.PublicKey
	var certDER []byte
	if certs, err := parseCerts(eb); err == nil {
		ekKey, certDER = certs[0].PublicKey, certs[0].Raw
	} else if blk, _ := pem.Decode(eb); blk != nil && blk.Type == "PUBLIC KEY" {
		if ekKey, err = x509.ParsePKIXPublicKey(blk.Bytes); err != nil {
			return bad(fmt.Errorf("--ek %s: %w", *ekF, err))
		}
	} else {
		return bad(fmt.Errorf("--ek %s: neither a certificate nor a PEM public key", *ekF))
	}
	if *caF != "" {
		if certDER == nil {
			return bad(errors.New("--ca needs --ek to be a certificate"))
		}
		roots, inter, err := readCAs(ctx, *caF)
		if err != nil {
			return bad(err)
		}
		if _, err := attest.VerifyEKCert(certDER, roots, inter, nil); err != nil {
			fmt.Fprintln(stderr, "imasim attest make-credential:", err)
			return exitFail
		}
	}
	var secret []byte
	if *secretF != "" {
		if secret, err = input.ReadFile(ctx, *secretF, attest.MaxSecret); err != nil {
			return bad(err)
		}
	} else {
		secret = make([]byte, attest.MaxSecret)
		rand.Read(secret)
	}
	cred, err := attest.MakeCredential(ekKey, name, secret)
	if err != nil {
		return bad(err)
	}
	if err := os.WriteFile(*out, attest.MarshalCredential(cred), 0o644); err != nil {
		return bad(err)
	}
	if *secretF == "" {
		if err := os.WriteFile(*out+".secret", secret, 0o600); err != nil {
			return bad(err)
		}
		fmt.Fprintf(stdout, "secret in %s.secret\n", *out)
	}
	fmt.Fprintf(stdout, "credential for AK %x in %s (tpm2_activatecredential -i reads it)\n", name, *out)
	return exitOK
}

// attestActivateCredential is the attester's half: the TPM recovers the
// secret of a credential made for its AK under its EK.
func attestActivateCredential(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("attest activate-credential", "attest activate-credential CRED --tpm SPEC [--ak rsa|ecc] [-o SECRET] [--expect FILE]", stderr)
	tpmSpec := fs.String("tpm", "", "TPM backend holding the EK (required): swtpm:unix:…, swtpm:tcp:…, simulator, device[:PATH]")
	akF := fs.String("ak", "rsa", "the AK (as attest quote and attest ek create it): rsa or ecc")
	out := fs.String("o", "", "write the recovered secret here")
	expect := fs.String("expect", "", "the secret the verifier sealed: exit 1 unless the TPM recovers it")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || *tpmSpec == "" {
		fs.Usage()
		return exitUsage
	}
	bad := func(err error) int { fmt.Fprintln(stderr, "imasim attest activate-credential:", err); return exitUsage }
	kind, err := attest.ParseKeyType(*akF)
	if err != nil {
		return bad(err)
	}
	b, err := input.ReadFile(ctx, pos[0], attest.MaxCredentialFile)
	if err != nil {
		return bad(err)
	}
	cred, err := attest.ParseCredential(b)
	if err != nil {
		return bad(fmt.Errorf("%s: %w", pos[0], err))
	}
	var want []byte
	if *expect != "" {
		if want, err = input.ReadFile(ctx, *expect, attest.MaxSecret); err != nil {
			return bad(err)
		}
	}
	p, c, code := openTPMForQuote(ctx, "attest activate-credential", *tpmSpec, tpm.Options{}, stderr)
	if p == nil {
		return code
	}
	defer p.Close()
	var got []byte
	err = c.Command(func(t transport.TPM) error {
		ek, err := attest.LoadEK(t, false)
		if err != nil {
			return err
		}
		defer ek.Flush(t)
		ak, err := attest.CreateAK(t, kind)
		if err != nil {
			return err
		}
		defer ak.Flush(t)
		got, err = attest.ActivateCredential(t, ak, ek, cred)
		return err
	})
	if err != nil {
		fmt.Fprintln(stderr, "imasim attest activate-credential:", err)
		return exitFail
	}
	if *out != "" {
		if err := os.WriteFile(*out, got, 0o600); err != nil {
			return bad(err)
		}
	}
	if want != nil && !bytes.Equal(got, want) {
		fmt.Fprintf(stdout, "credential  FAILED: the TPM recovered %x, the verifier sealed %x\n", got, want)
		return exitFail
	}
	what := ""
	if want != nil {
		what = ": the secret the verifier sealed"
	}
	fmt.Fprintf(stdout, "credential  activated with the %s AK and the EK%s\n", kind, what)
	return exitOK
}
