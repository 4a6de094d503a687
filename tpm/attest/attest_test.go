package attest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/imasim/imasim/tpm"
	"github.com/stretchr/testify/require"
)

// openSwtpm opens a private swtpm, skipping when it is not installed.
func openSwtpm(t testing.TB) tpm.PCRs {
	t.Helper()
	if _, err := exec.LookPath("swtpm"); err != nil {
		t.Skip("swtpm not installed (Debian package swtpm): ", err)
	}
	p, err := tpm.OpenContext(context.Background(), "swtpm", tpm.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

// quoteOn extends PCR 10 with a few digests and quotes sel on p.
func quoteOn(t testing.TB, p tpm.PCRs, kind KeyType, nonce []byte, sel []Selection) *Evidence {
	t.Helper()
	for _, s := range []string{"boot_aggregate", "/bin/a", "/bin/b"} {
		d := map[crypto.Hash][]byte{}
		for _, h := range p.Banks() {
			hh := h.New()
			hh.Write([]byte(s))
			d[h] = hh.Sum(nil)
		}
		require.NoError(t, p.Extend(10, d))
	}
	var ev *Evidence
	require.NoError(t, p.(tpm.Commander).Command(func(tt transport.TPM) error {
		ak, err := CreateAK(tt, kind)
		if err != nil {
			return err
		}
		defer ak.Flush(tt)
		ev, err = Quote(tt, ak, nonce, sel)
		return err
	}))
	return ev
}

var sel10 = []Selection{{crypto.SHA1, []int{10}}, {crypto.SHA256, []int{0, 10}}}

func TestQuoteVerify(t *testing.T) {
	p := openSwtpm(t)
	nonce := []byte("fresh nonce 0123456789abcdef")
	for _, kind := range []KeyType{RSA, ECC} {
		t.Run(string(kind), func(t *testing.T) {
			ev := quoteOn(t, p, kind, nonce, sel10)
			q, err := Verify(ev, nonce)
			require.NoError(t, err)
			// The quoted values are the backend's PCRs.
			for _, s := range sel10 {
				for _, i := range s.PCRs {
					v, err := p.Read(i)
					require.NoError(t, err)
					require.Equal(t, v[s.Hash], q.PCRs[s.Hash][i], "%s PCR %d", HashName(s.Hash), i)
				}
			}
			require.Equal(t, sel10, q.Selection)
			require.Equal(t, crypto.SHA256, q.SigHash)
		})
	}
}

func TestQuoteRejects(t *testing.T) {
	p := openSwtpm(t)
	nonce := []byte("nonce-1")
	ev := quoteOn(t, p, RSA, nonce, sel10)
	other := quoteOn(t, p, ECC, nonce, sel10) // another key, later PCRs
	clone := func() *Evidence {
		c := *ev
		c.Attest, c.Signature, c.PCRValues = bytes.Clone(ev.Attest), bytes.Clone(ev.Signature), bytes.Clone(ev.PCRValues)
		return &c
	}
	_, err := Verify(clone(), []byte("nonce-2"))
	require.ErrorIs(t, err, ErrNonce)
	_, err = Verify(clone(), nil)
	require.ErrorIs(t, err, ErrNonce)

	// Every single-byte change of the signed structure breaks the signature.
	for i := range ev.Attest {
		c := clone()
		c.Attest[i] ^= 0x01
		_, err := Verify(c, nonce)
		require.ErrorIs(t, err, ErrSignature, "attest byte %d", i)
	}
	// A changed signature value.
	c := clone()
	c.Signature[len(c.Signature)-1] ^= 0x80
	_, err = Verify(c, nonce)
	require.ErrorIs(t, err, ErrSignature)
	// The other AK's key.
	c = clone()
	c.AK = other.AK
	_, err = Verify(c, nonce)
	require.Error(t, err)
	require.ErrorIs(t, err, ErrSignature)
	// The other quote's signature over this attest.
	c = clone()
	c.Signature = other.Signature
	_, err = Verify(c, nonce)
	require.ErrorIs(t, err, ErrSignature)
	// A PCR value that is not what was quoted.
	for i := range ev.PCRValues {
		c := clone()
		c.PCRValues[i] ^= 0x10
		_, err := Verify(c, nonce)
		require.ErrorIs(t, err, ErrPCRDigest, "value byte %d", i)
	}
	// Values of the wrong size are bad input.
	c = clone()
	c.PCRValues = c.PCRValues[:len(c.PCRValues)-1]
	_, err = Verify(c, nonce)
	var fe *FormatError
	require.ErrorAs(t, err, &fe)
	c = clone()
	c.PCRValues = append(c.PCRValues, 0)
	_, err = Verify(c, nonce)
	require.ErrorAs(t, err, &fe)
	// A truncated signature is bad input.
	c = clone()
	c.Signature = c.Signature[:10]
	_, err = Verify(c, nonce)
	require.ErrorAs(t, err, &fe)
	// The untouched quote still verifies.
	_, err = Verify(clone(), nonce)
	require.NoError(t, err)
}

func TestFilesRoundTrip(t *testing.T) {
	p := openSwtpm(t)
	nonce := []byte{1, 2, 3}
	ev := quoteOn(t, p, RSA, nonce, sel10)
	dir := t.TempDir()
	require.NoError(t, WriteDir(dir, ev))
	back, err := ReadDir(dir, "")
	require.NoError(t, err)
	require.Equal(t, ev.Attest, back.Attest)
	require.Equal(t, ev.Signature, back.Signature)
	require.Equal(t, ev.PCRValues, back.PCRValues)
	require.Equal(t, ev.AK, back.AK)
	_, err = Verify(back, nonce)
	require.NoError(t, err)

	// A verifier's own copy of a different AK rejects the quote.
	other := quoteOn(t, p, ECC, nonce, sel10)
	pemKey, err := MarshalPEM(other.AK)
	require.NoError(t, err)
	akFile := filepath.Join(t.TempDir(), "trusted.pem")
	require.NoError(t, os.WriteFile(akFile, pemKey, 0o644))
	back, err = ReadDir(dir, akFile)
	require.NoError(t, err)
	_, err = Verify(back, nonce)
	require.ErrorIs(t, err, ErrSignature)
}

func TestParseSelection(t *testing.T) {
	sel, err := ParseSelection("sha1:10+sha256:0-2,10,1")
	require.NoError(t, err)
	require.Equal(t, []Selection{{crypto.SHA1, []int{10}}, {crypto.SHA256, []int{0, 1, 2, 10}}}, sel)
	require.Equal(t, "sha1:10+sha256:0,1,2,10", FormatSelection(sel))
	for _, bad := range []string{"", "sha1", "md5:1", "sha1:24", "sha1:-1", "sha1:3-1", "sha1:1+sha1:2", "sha256:x"} {
		_, err := ParseSelection(bad)
		require.Error(t, err, bad)
	}
	require.Equal(t, 20+2*32, ValuesSize([]Selection{{crypto.SHA1, []int{1}}, {crypto.SHA256, []int{1, 2}}}))
}

func TestParsePEM(t *testing.T) {
	for _, bad := range []string{"", "junk", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"} {
		_, err := ParsePEM([]byte(bad))
		var fe *FormatError
		require.ErrorAs(t, err, &fe, "%q", bad)
	}
}

// checkquote runs tpm2_checkquote on a quote directory.
func checkquote(t *testing.T, dir string, sel []Selection, nonce []byte, ak string) error {
	t.Helper()
	cmd := exec.Command("tpm2_checkquote", "-u", ak, "-m", filepath.Join(dir, AttestFile),
		"-s", filepath.Join(dir, SignatureFile), "-f", filepath.Join(dir, PCRsFile),
		"-l", FormatSelection(sel), "-g", "sha256", "-q", hexs(nonce))
	out, err := cmd.CombinedOutput()
	t.Logf("tpm2_checkquote: %s", out)
	return err
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	var out []byte
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// tpm2_checkquote (Debian tpm2-tools) accepts what imasim writes, with the
// PEM and the TPM2B_PUBLIC form of the AK, and rejects a tampered quote and
// a wrong nonce as imasim does.
func TestTpm2Checkquote(t *testing.T) {
	if _, err := exec.LookPath("tpm2_checkquote"); err != nil {
		t.Skip("tpm2_checkquote not installed (Debian package tpm2-tools): ", err)
	}
	p := openSwtpm(t)
	nonce := sha256.New().Sum(nil)[:16]
	for _, kind := range []KeyType{RSA, ECC} {
		t.Run(string(kind), func(t *testing.T) {
			ev := quoteOn(t, p, kind, nonce, sel10)
			dir := t.TempDir()
			require.NoError(t, WriteDir(dir, ev))
			require.NoError(t, checkquote(t, dir, sel10, nonce, filepath.Join(dir, AKPEMFile)))
			require.NoError(t, checkquote(t, dir, sel10, nonce, filepath.Join(dir, AKPublicFile)))
			back, err := ReadDir(dir, filepath.Join(dir, AKPublicFile)) // the TPM2B_PUBLIC written here
			require.NoError(t, err)
			require.Equal(t, ev.AK, back.AK)
			require.Error(t, checkquote(t, dir, sel10, []byte("other"), filepath.Join(dir, AKPEMFile)))

			pcrs := filepath.Join(dir, PCRsFile)
			b, err := os.ReadFile(pcrs)
			require.NoError(t, err)
			b[3] ^= 1
			require.NoError(t, os.WriteFile(pcrs, b, 0o644))
			require.Error(t, checkquote(t, dir, sel10, nonce, filepath.Join(dir, AKPEMFile)))
			back, err = ReadDir(dir, "")
			require.NoError(t, err)
			_, err = Verify(back, nonce)
			require.ErrorIs(t, err, ErrPCRDigest)
		})
	}
}

// imasim verifies what tpm2_quote makes: an AK created by tpm2_createek and
// tpm2_createak on a swtpm, quoted by tpm2_quote.
func TestVerifyTpm2Quote(t *testing.T) {
	for _, tool := range []string{"tpm2_createek", "tpm2_createak", "tpm2_quote", "swtpm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian packages tpm2-tools, swtpm): %v", tool, err)
		}
	}
	dir := t.TempDir()
	port := freePorts(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sw := exec.CommandContext(ctx, "swtpm", "socket", "--tpm2", "--tpmstate", "dir="+dir,
		"--server", "type=tcp,port="+port[0], "--ctrl", "type=tcp,port="+port[1],
		"--flags", "not-need-init,startup-clear")
	require.NoError(t, sw.Start())
	defer func() { cancel(); sw.Wait() }()
	tcti := "swtpm:host=127.0.0.1,port=" + port[0]
	run := func(args ...string) {
		t.Helper()
		var out []byte
		var err error
		for range 50 { // until swtpm listens
			c := exec.Command(args[0], args[1:]...)
			c.Dir = dir
			c.Env = append(os.Environ(), "TPM2TOOLS_TCTI="+tcti)
			if out, err = c.CombinedOutput(); err == nil || !bytes.Contains(out, []byte("connect")) {
				break
			}
			sleep()
		}
		require.NoError(t, err, "%v: %s", args, out)
	}
	run("tpm2_createek", "-c", "ek.ctx", "-G", "rsa", "-u", "ek.pub")
	run("tpm2_flushcontext", "-t") // no resource manager: unload what each tool left
	run("tpm2_createak", "-C", "ek.ctx", "-c", "ak.ctx", "-G", "rsa", "-g", "sha256", "-s", "rsassa", "-u", "ak.pub", "-f", "pem", "-n", "ak.name")
	run("tpm2_flushcontext", "-t")
	run("tpm2_pcrextend", "10:sha256=0000000000000000000000000000000000000000000000000000000000000001")
	run("tpm2_quote", "-c", "ak.ctx", "-l", "sha1:10+sha256:10", "-q", "abcd", "-m", AttestFile, "-s", SignatureFile, "-o", PCRsFile, "-F", "values", "-g", "sha256")
	run("tpm2_readpublic", "-c", "ak.ctx", "-o", "ak.tss")
	ev, err := ReadDir(dir, filepath.Join(dir, "ak.pub"))
	require.NoError(t, err)
	tss, err := ReadDir(dir, filepath.Join(dir, "ak.tss"))
	require.NoError(t, err)
	require.Equal(t, ev.AK, tss.AK, "the AK from PEM and from TPM2B_PUBLIC")
	q, err := Verify(ev, []byte{0xab, 0xcd})
	require.NoError(t, err)
	want := sha256.Sum256(append(make([]byte, 32), append(make([]byte, 31), 1)...))
	require.Equal(t, want[:], q.PCRs[crypto.SHA256][10])
	_, err = Verify(ev, []byte{0xab, 0xce})
	require.True(t, errors.Is(err, ErrNonce), "%v", err)
}

// freePorts finds two consecutive free TCP ports: the swtpm TCTI talks to
// the control channel on the data port + 1.
func freePorts(t *testing.T) [2]string {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		l.Close()
		if err == nil {
			l2.Close()
			return [2]string{strconv.Itoa(p), strconv.Itoa(p + 1)}
		}
	}
	t.Fatal("no two consecutive free TCP ports")
	return [2]string{}
}

func sleep() { time.Sleep(100 * time.Millisecond) }
