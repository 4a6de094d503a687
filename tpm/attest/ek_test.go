package attest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/imasim/imasim/tpm"
	"github.com/stretchr/testify/require"
)

// needEKTools skips without swtpm and swtpm_setup (Debian swtpm,
// swtpm-tools).
func needEKTools(t testing.TB, more ...string) {
	t.Helper()
	for _, b := range append([]string{"swtpm", "swtpm_setup", "swtpm_localca"}, more...) {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed (Debian packages swtpm, swtpm-tools, tpm2-tools): %v", b, err)
		}
	}
}

// ekSwtpm opens a private swtpm manufactured with an EK certificate from
// the local CA in caDir.
func ekSwtpm(t testing.TB, caDir string) tpm.Commander {
	t.Helper()
	p, err := tpm.OpenContext(context.Background(), "swtpm", tpm.Options{EKCA: caDir})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p.(tpm.Commander)
}

// caCerts reads the local CA's root and issuer certificates.
func caCerts(t testing.TB, caDir string) (roots, inter []*x509.Certificate) {
	t.Helper()
	read := func(name string) *x509.Certificate {
		b, err := os.ReadFile(filepath.Join(caDir, name))
		require.NoError(t, err)
		blk, _ := pem.Decode(b)
		require.NotNil(t, blk, name)
		c, err := x509.ParseCertificate(blk.Bytes)
		require.NoError(t, err)
		return c
	}
	return []*x509.Certificate{read("swtpm-localca-rootca-cert.pem")}, []*x509.Certificate{read("issuercert.pem")}
}

func secret(t testing.TB) []byte {
	s := make([]byte, 32)
	_, err := rand.Read(s)
	require.NoError(t, err)
	return s
}

// The EK certificate swtpm_setup stores in NV chains to the local CA and
// certifies the TPM's EK; a credential made for the AK's name under that
// EK is activated by the TPM. A tampered certificate, another CA, another
// TPM's EK, another AK, a tampered credential and a credential for another
// EK all fail.
func TestEKCredential(t *testing.T) {
	needEKTools(t)
	ca, otherCA := t.TempDir(), t.TempDir()
	p := ekSwtpm(t, ca)
	q := ekSwtpm(t, otherCA)
	roots, inter := caCerts(t, ca)
	otherRoots, otherInter := caCerts(t, otherCA)

	var otherEK *EK
	require.NoError(t, q.Command(func(tt transport.TPM) error {
		var err error
		otherEK, err = LoadEK(tt, true)
		if err == nil {
			err = otherEK.Flush(tt)
		}
		return err
	}))

	require.NoError(t, p.Command(func(tt transport.TPM) error {
		ek, err := LoadEK(tt, true)
		require.NoError(t, err)
		defer ek.Flush(tt)
		cert, err := VerifyEKCert(ek.CertDER, roots, inter, ek.Key)
		require.NoError(t, err)
		require.Equal(t, "swtpm-localca", cert.Issuer.CommonName)

		_, err = VerifyEKCert(ek.CertDER, otherRoots, otherInter, ek.Key)
		require.ErrorIs(t, err, ErrEKCert, "another CA")
		_, err = VerifyEKCert(ek.CertDER, roots, nil, ek.Key)
		require.ErrorIs(t, err, ErrEKCert, "no issuer certificate")
		_, err = VerifyEKCert(ek.CertDER, roots, inter, otherEK.Key)
		require.ErrorIs(t, err, ErrEKCert, "another TPM's EK")
		_, err = VerifyEKCert(otherEK.CertDER, roots, inter, otherEK.Key)
		require.ErrorIs(t, err, ErrEKCert, "another TPM's certificate under this CA")
		bad := bytes.Clone(ek.CertDER)
		bad[len(bad)-10] ^= 1 // in the signature
		_, err = VerifyEKCert(bad, roots, inter, ek.Key)
		require.ErrorIs(t, err, ErrEKCert, "tampered signature")
		bad = bytes.Clone(ek.CertDER)
		i := bytes.Index(bad, []byte("unknown")) // the subject's CN
		require.Positive(t, i)
		bad[i] = 'U'
		_, err = VerifyEKCert(bad, roots, inter, ek.Key)
		require.ErrorIs(t, err, ErrEKCert, "tampered subject")

		rsaAK, err := CreateAK(tt, RSA)
		require.NoError(t, err)
		defer rsaAK.Flush(tt)
		eccAK, err := CreateAK(tt, ECC)
		require.NoError(t, err)
		defer eccAK.Flush(tt)
		for _, ak := range []*AK{rsaAK, eccAK} {
			s := secret(t)
			c, err := MakeCredential(cert.PublicKey, ak.Name.Buffer, s)
			require.NoError(t, err)
			got, err := ActivateCredential(tt, ak, ek, c)
			require.NoError(t, err)
			require.Equal(t, s, got)
			rt, err := ParseCredential(MarshalCredential(c))
			require.NoError(t, err)
			require.Equal(t, c, rt)
		}
		s := secret(t)
		forECC, err := MakeCredential(cert.PublicKey, eccAK.Name.Buffer, s)
		require.NoError(t, err)
		_, err = ActivateCredential(tt, rsaAK, ek, forECC)
		require.ErrorIs(t, err, ErrCredential, "a credential for another AK")
		forOther, err := MakeCredential(otherEK.Key, rsaAK.Name.Buffer, s)
		require.NoError(t, err)
		_, err = ActivateCredential(tt, rsaAK, ek, forOther)
		require.ErrorIs(t, err, ErrCredential, "a credential for another EK")
		c, err := MakeCredential(cert.PublicKey, rsaAK.Name.Buffer, s)
		require.NoError(t, err)
		c.IDObject[len(c.IDObject)-1] ^= 1
		_, err = ActivateCredential(tt, rsaAK, ek, c)
		require.ErrorIs(t, err, ErrCredential, "tampered credential")
		_, err = MakeCredential(cert.PublicKey, rsaAK.Name.Buffer, make([]byte, 33))
		require.Error(t, err)
		_, err = MakeCredential(cert.PublicKey, []byte{0, 11, 1}, s)
		require.Error(t, err)
		return nil
	}))

	// A plain private swtpm has no EK certificate.
	plain := openSwtpm(t)
	err := plain.(tpm.Commander).Command(func(tt transport.TPM) error {
		_, err := ReadEKCert(tt)
		return err
	})
	require.ErrorIs(t, err, ErrNoEKCert)
}

// tpm2-tools agrees both ways: tpm2_makecredential's credential is
// activated by imasim on the TPM, and imasim's by tpm2_activatecredential
// for an AK tpm2_createak made.
func TestCredentialTpm2Tools(t *testing.T) {
	needEKTools(t, "tpm2_makecredential", "tpm2_activatecredential", "tpm2_createek", "tpm2_createak", "tpm2_startauthsession", "tpm2_policysecret")
	dir, ca, state := t.TempDir(), t.TempDir(), t.TempDir()
	require.NoError(t, tpm.ManufactureSwtpm(context.Background(), state, ca))
	roots, inter := caCerts(t, ca)
	port := freePorts(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sw := exec.CommandContext(ctx, "swtpm", "socket", "--tpm2", "--tpmstate", "dir="+state,
		"--server", "type=tcp,port="+port[0], "--ctrl", "type=tcp,port="+port[1],
		"--flags", "not-need-init,startup-clear")
	require.NoError(t, sw.Start())
	defer func() { cancel(); sw.Wait() }()
	run := func(args ...string) []byte {
		t.Helper()
		var out []byte
		var err error
		for range 50 { // until swtpm listens
			c := exec.Command(args[0], args[1:]...)
			c.Dir = dir
			c.Env = append(os.Environ(), "TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port="+port[0])
			if out, err = c.CombinedOutput(); err == nil || !bytes.Contains(out, []byte("connect")) {
				break
			}
			sleep()
		}
		require.NoError(t, err, "%v: %s", args, out)
		return out
	}
	open := func() tpm.Commander {
		var p tpm.PCRs
		var err error
		for range 50 {
			if p, err = tpm.OpenContext(ctx, "swtpm:tcp:127.0.0.1:"+port[0], tpm.Options{}); err == nil {
				break
			}
			sleep()
		}
		require.NoError(t, err)
		return p.(tpm.Commander)
	}

	// tpm2_makecredential (no TPM) for imasim's AK; imasim activates.
	p := open()
	s := secret(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret"), s, 0o600))
	require.NoError(t, p.Command(func(tt transport.TPM) error {
		ek, err := LoadEK(tt, true)
		require.NoError(t, err)
		defer ek.Flush(tt)
		cert, err := VerifyEKCert(ek.CertDER, roots, inter, ek.Key)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "ek.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: cert.RawSubjectPublicKeyInfo}), 0o644))
		ak, err := CreateAK(tt, RSA)
		require.NoError(t, err)
		defer ak.Flush(tt)
		run("tpm2_makecredential", "-T", "none", "-u", "ek.pem", "-G", "rsa", "-s", "secret", "-n", hex.EncodeToString(ak.Name.Buffer), "-o", "tools.cred")
		b, err := os.ReadFile(filepath.Join(dir, "tools.cred"))
		require.NoError(t, err)
		c, err := ParseCredential(b)
		require.NoError(t, err)
		require.Equal(t, b, MarshalCredential(c))
		got, err := ActivateCredential(tt, ak, ek, c)
		require.NoError(t, err)
		require.Equal(t, s, got)
		return nil
	}))
	require.NoError(t, p.(tpm.PCRs).Close())

	// imasim makes the credential for tpm2_createak's AK (its name file)
	// under the EK certificate's key; tpm2_activatecredential recovers it.
	run("tpm2_createek", "-c", "ek.ctx", "-G", "rsa")
	run("tpm2_flushcontext", "-t")
	run("tpm2_createak", "-C", "ek.ctx", "-c", "ak.ctx", "-G", "rsa", "-g", "sha256", "-s", "rsassa", "-n", "ak.name")
	run("tpm2_flushcontext", "-t")
	name, err := os.ReadFile(filepath.Join(dir, "ak.name"))
	require.NoError(t, err)
	ekPEM, err := os.ReadFile(filepath.Join(dir, "ek.pem"))
	require.NoError(t, err)
	blk, _ := pem.Decode(ekPEM)
	ekKey, err := x509.ParsePKIXPublicKey(blk.Bytes)
	require.NoError(t, err)
	s2 := secret(t)
	c, err := MakeCredential(ekKey, name, s2)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "imasim.cred"), MarshalCredential(c), 0o644))
	run("tpm2_startauthsession", "--policy-session", "-S", "session.ctx")
	run("tpm2_policysecret", "-S", "session.ctx", "-c", "e")
	run("tpm2_activatecredential", "-c", "ak.ctx", "-C", "ek.ctx", "-i", "imasim.cred", "-o", "activated", "-P", "session:session.ctx")
	got, err := os.ReadFile(filepath.Join(dir, "activated"))
	require.NoError(t, err)
	require.Equal(t, s2, got)
	// For another AK name, tpm2_activatecredential refuses it.
	other := bytes.Clone(name)
	other[len(other)-1] ^= 1
	c, err = MakeCredential(ekKey, other, s2)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "other.cred"), MarshalCredential(c), 0o644))
	run("tpm2_flushcontext", "-s")
	run("tpm2_startauthsession", "--policy-session", "-S", "session.ctx")
	run("tpm2_policysecret", "-S", "session.ctx", "-c", "e")
	cmd := exec.Command("tpm2_activatecredential", "-c", "ak.ctx", "-C", "ek.ctx", "-i", "other.cred", "-o", "other", "-P", "session:session.ctx")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port="+port[0])
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "tpm2_activatecredential accepted a credential for another AK: %s", out)
}
