package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/tpm"
)

func needEKTools(t *testing.T) {
	t.Helper()
	for _, b := range []string{"swtpm", "swtpm_setup", "swtpm_localca"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed (Debian packages swtpm, swtpm-tools): %v", b, err)
		}
	}
}

// attest ek on private swtpms: no EK certificate is exit 32; one from the
// local CA enrols the AK; one from another CA than --ca is exit 1.
func TestAttestEKPrivate(t *testing.T) {
	needEKTools(t)
	ca, otherCA, out := t.TempDir(), t.TempDir(), t.TempDir()
	code, _, errs := imasim("attest", "ek", "--tpm", "swtpm", "--ca", "/dev/null")
	require.Equal(t, exitUsage, code, errs)
	code, so, errs := imasim("attest", "ek", "--tpm", "swtpm", "--swtpm-ca", ca, "-o", out)
	require.Equal(t, exitOK, code, so+errs)
	require.Contains(t, so, "EK certificate  ok")
	require.Contains(t, so, "credential      ok")
	for _, f := range []string{ekCertFile, ekPEMFile, "ak.pub.pem", akNameFile, credFile} {
		require.FileExists(t, filepath.Join(out, f))
	}
	code, so, errs = imasim("attest", "ek", "--tpm", "swtpm", "--swtpm-ca", otherCA, "--ca", localCA(ca))
	require.Equal(t, exitFail, code, so+errs)
	require.Contains(t, so, "EK certificate  FAILED")

	code, so, errs = imasim("attest", "ek", "--tpm", "swtpm", "--ca", localCA(ca))
	require.Equal(t, exitCannot, code, so+errs)
	require.Contains(t, errs, "no EK certificate")
}

// The verifier's and the attester's halves on one running swtpm: the
// credential attest make-credential seals is recovered by attest
// activate-credential; a wrong expected secret, another AK, a tampered EK
// certificate, another CA and a garbage credential file fail.
func TestAttestCredentialCLI(t *testing.T) {
	needEKTools(t)
	ca, otherCA, state, d := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, tpm.ManufactureSwtpm(ctx, state, ca))
	require.NoError(t, tpm.ManufactureSwtpm(ctx, t.TempDir(), otherCA))
	data, ctrl := filepath.Join(state, "data.sock"), filepath.Join(state, "ctrl.sock")
	sw := exec.CommandContext(ctx, "swtpm", "socket", "--tpm2", "--tpmstate", "dir="+state,
		"--server", "type=unixio,path="+data, "--ctrl", "type=unixio,path="+ctrl)
	require.NoError(t, sw.Start())
	defer func() { cancel(); sw.Wait() }()
	for range 100 {
		if _, err := os.Stat(ctrl); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	spec := "swtpm:unix:" + data + ",ctrl=" + ctrl

	code, so, errs := imasim("attest", "ek", "--tpm", spec, "--ca", localCA(ca), "-o", d)
	require.Equal(t, exitOK, code, so+errs)
	cert, name := filepath.Join(d, ekCertFile), filepath.Join(d, akNameFile)
	code, so, errs = imasim("attest", "make-credential", "--ek", cert, "--ca", localCA(ca), "--ak-name", name, "-o", filepath.Join(d, "c1"))
	require.Equal(t, exitOK, code, so+errs)
	code, so, errs = imasim("attest", "activate-credential", filepath.Join(d, "c1"), "--tpm", spec, "--expect", filepath.Join(d, "c1.secret"), "-o", filepath.Join(d, "got"))
	require.Equal(t, exitOK, code, so+errs)
	require.Contains(t, so, "the secret the verifier sealed")
	want, err := os.ReadFile(filepath.Join(d, "c1.secret"))
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(d, "got"))
	require.NoError(t, err)
	require.Equal(t, want, got)

	// The enrolled AK is the one attest quote creates on this TPM (a
	// primary key): its quotes verify with --ak from the enrolment, and
	// not with another TPM's enrolled AK.
	q := filepath.Join(d, "quote")
	code, so, errs = imasim("attest", "quote", "--tpm", spec, "-o", q)
	require.Equal(t, exitOK, code, so+errs)
	code, so, errs = imasim("attest", "verify", q, "--nonce", "@"+filepath.Join(q, "nonce"), "--ak", filepath.Join(d, "ak.pub.pem"))
	require.Equal(t, exitOK, code, so+errs)
	otherEnrol := t.TempDir()
	code, so, errs = imasim("attest", "ek", "--tpm", "swtpm", "--swtpm-ca", otherCA, "-o", otherEnrol)
	require.Equal(t, exitOK, code, so+errs)
	code, so, errs = imasim("attest", "verify", q, "--nonce", "@"+filepath.Join(q, "nonce"), "--ak", filepath.Join(otherEnrol, "ak.pub.pem"))
	require.Equal(t, exitFail, code, so+errs)

	// Wrong expected secret.
	other := bytes.Clone(want)
	other[0] ^= 1
	require.NoError(t, os.WriteFile(filepath.Join(d, "other.secret"), other, 0o600))
	code, so, errs = imasim("attest", "activate-credential", filepath.Join(d, "c1"), "--tpm", spec, "--expect", filepath.Join(d, "other.secret"))
	require.Equal(t, exitFail, code, so+errs)
	require.Contains(t, so, "FAILED")
	// The credential is for the RSA AK: the ECC AK cannot activate it.
	code, so, errs = imasim("attest", "activate-credential", filepath.Join(d, "c1"), "--tpm", spec, "--ak", "ecc")
	require.Equal(t, exitFail, code, so+errs)
	// A tampered EK certificate, and another CA.
	b, err := os.ReadFile(cert)
	require.NoError(t, err)
	b[len(b)-5] ^= 1
	require.NoError(t, os.WriteFile(filepath.Join(d, "bad.crt"), b, 0o644))
	code, so, errs = imasim("attest", "make-credential", "--ek", filepath.Join(d, "bad.crt"), "--ca", localCA(ca), "--ak-name", name, "-o", filepath.Join(d, "c2"))
	require.Equal(t, exitFail, code, so+errs)
	code, so, errs = imasim("attest", "make-credential", "--ek", cert, "--ca", localCA(otherCA), "--ak-name", name, "-o", filepath.Join(d, "c3"))
	require.Equal(t, exitFail, code, so+errs)
	require.Contains(t, errs, "EK certificate does not verify")
	// Bad input.
	require.NoError(t, os.WriteFile(filepath.Join(d, "garbage"), []byte("not a credential"), 0o644))
	code, so, errs = imasim("attest", "activate-credential", filepath.Join(d, "garbage"), "--tpm", spec)
	require.Equal(t, exitUsage, code, so+errs)
	require.Contains(t, errs, "offset 0")
	code, _, _ = imasim("attest", "make-credential", "--ek", name, "--ak-name", name, "-o", filepath.Join(d, "c4"))
	require.Equal(t, exitUsage, code)
	code, _, _ = imasim("attest", "make-credential", "--ek", cert, "--ak-name", cert, "-o", filepath.Join(d, "c5"))
	require.Equal(t, exitUsage, code)
}

// attest SCENARIO --swtpm-ca enrols the AK through the EK certificate
// before it quotes; an EK certificate from another CA fails the run.
func TestAttestScenarioEK(t *testing.T) {
	needEKTools(t)
	ca, otherCA := t.TempDir(), t.TempDir()
	code, so, errs := imasim("attest", "xfs-write", "--profile", "7.1", "--swtpm-ca", ca)
	require.Equal(t, exitOK, code, so+errs)
	require.Contains(t, so, "ek      EK certificate ok: issued by \"swtpm-localca\"")
	require.Contains(t, so, "credential ok: the TPM holding the EK activated a credential")
	require.Contains(t, so, "ACCEPTED A CHANGED FILE")
	code, so, errs = imasim("attest", "xfs-write", "--profile", "7.1", "--swtpm-ca", otherCA, "--ek-ca", localCA(ca))
	require.Equal(t, exitFail, code, so+errs)
	require.Contains(t, so, "ek      EK certificate FAILED")
	code, _, errs = imasim("attest", "xfs-write", "--profile", "7.1", "--tpm", "simulator", "--swtpm-ca", ca)
	require.Equal(t, exitUsage, code, errs)
}

// FuzzParseCerts (--ca, --ek files): certificates come back only with no
// error, each re-parses from its own bytes, and a DER input is one
// certificate of exactly those bytes.
func FuzzParseCerts(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		certs, err := parseCerts(b)
		if err != nil {
			require.Empty(t, certs)
			return
		}
		require.NotEmpty(t, certs)
		for _, c := range certs {
			again, err := x509.ParseCertificate(c.Raw)
			require.NoError(t, err)
			require.True(t, again.Equal(c))
		}
		if !bytes.Contains(b, []byte("-----BEGIN")) {
			require.Len(t, certs, 1)
			require.Equal(t, b, certs[0].Raw)
		}
	})
}
