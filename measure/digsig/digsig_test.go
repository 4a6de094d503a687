package digsig

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian packages ima-evm-utils, openssl): %v", tool, err)
		}
	}
}

func run(t testing.TB, dir string, args ...string) []byte {
	t.Helper()
	c := exec.Command(args[0], args[1:]...)
	c.Dir = dir
	out, err := c.CombinedOutput()
	require.NoError(t, err, "%v: %s", args, out)
	return out
}

// keyPair makes a key and a self-signed certificate with openssl:
// key.pem, cert.pem, cert.der in dir.
func keyPair(t testing.TB, dir, kind string) {
	t.Helper()
	newkey := "rsa:2048"
	if kind == "ec" {
		run(t, dir, "openssl", "ecparam", "-name", "prime256v1", "-out", "ec.param")
		newkey = "ec:ec.param"
	}
	run(t, dir, "openssl", "req", "-x509", "-newkey", newkey, "-nodes", "-keyout", "key.pem", "-out", "cert.pem",
		"-days", "1", "-subj", "/CN=imasim test")
	run(t, dir, "openssl", "x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der")
}

func readKeys(t testing.TB, path string) []Key {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	k, err := ParseKeys(b, path)
	require.NoError(t, err)
	return k
}

func signer(t testing.TB, path string) crypto.Signer {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	blk, _ := pem.Decode(b)
	require.NotNil(t, blk)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	require.NoError(t, err)
	return k.(crypto.Signer)
}

// evmctl ima_sign's signatures verify here; imasim's verify with evmctl
// ima_verify; both name the key by the same id.
func TestEvmctl(t *testing.T) {
	need(t, "evmctl", "openssl")
	for _, kind := range []string{"rsa", "ec"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			keyPair(t, dir, kind)
			file := filepath.Join(dir, "prog")
			require.NoError(t, os.WriteFile(file, []byte("#!/bin/sh\necho imasim\n"), 0o755))
			sum := sha256.Sum256([]byte("#!/bin/sh\necho imasim\n"))

			run(t, dir, "evmctl", "ima_sign", "--key", "key.pem", "-a", "sha256", "--sigfile", "prog")
			sig, err := os.ReadFile(file + ".sig")
			require.NoError(t, err)
			for _, cert := range []string{"cert.pem", "cert.der"} {
				keys := readKeys(t, filepath.Join(dir, cert))
				k, err := Verify(keys, sig, sum[:])
				require.NoError(t, err, cert)
				require.Equal(t, filepath.Join(dir, cert), k.Name)
			}
			keys := readKeys(t, filepath.Join(dir, "cert.pem"))
			s, err := Parse(sig)
			require.NoError(t, err)
			require.Equal(t, keys[0].ID, s.KeyID, "key id as evmctl computes it")
			// Another file's digest, a changed signature.
			other := sha256.Sum256([]byte("other"))
			_, err = Verify(keys, sig, other[:])
			require.ErrorIs(t, err, ErrBadSignature)
			bad := bytes.Clone(sig)
			bad[len(bad)-1] ^= 1
			_, err = Verify(keys, bad, sum[:])
			require.ErrorIs(t, err, ErrBadSignature)

			// imasim signs; evmctl verifies, and refuses a changed file.
			mine, err := Sign(signer(t, filepath.Join(dir, "key.pem")), crypto.SHA256, keys[0].ID, sum[:])
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(file+".sig", mine, 0o644))
			run(t, dir, "evmctl", "ima_verify", "--key", "cert.der", "--sigfile", "prog")
			require.NoError(t, os.WriteFile(file, []byte("changed"), 0o755))
			c := exec.Command("evmctl", "ima_verify", "--key", "cert.der", "--sigfile", "prog")
			c.Dir = dir
			require.Error(t, c.Run())
		})
	}
}

func TestKeysAndParseRejects(t *testing.T) {
	need(t, "openssl")
	dir, dir2 := t.TempDir(), t.TempDir()
	keyPair(t, dir, "rsa")
	keyPair(t, dir2, "rsa")
	keys := readKeys(t, filepath.Join(dir, "cert.pem"))
	keys2 := readKeys(t, filepath.Join(dir2, "cert.pem"))
	sum := sha256.Sum256([]byte("x"))
	sig, err := Sign(signer(t, filepath.Join(dir, "key.pem")), crypto.SHA256, keys[0].ID, sum[:])
	require.NoError(t, err)
	_, err = Verify(keys2, sig, sum[:])
	require.ErrorIs(t, err, ErrNoKey)
	k, err := Verify(append(keys2, keys...), sig, sum[:])
	require.NoError(t, err)
	require.Equal(t, keys[0].ID, k.ID)
	// The other key under this key's id does not verify.
	forged := []Key{{ID: keys[0].ID, Pub: keys2[0].Pub}}
	_, err = Verify(forged, sig, sum[:])
	require.ErrorIs(t, err, ErrBadSignature)
	_, err = Verify(keys, sig, sum[:20])
	require.Error(t, err)

	for name, b := range map[string][]byte{
		"short":   sig[:5],
		"type":    append([]byte{0x04}, sig[1:]...),
		"version": append([]byte{0x03, 0x01}, sig[2:]...),
		"hash":    append([]byte{0x03, 0x02, 0x63}, sig[3:]...),
		"size":    sig[:len(sig)-1],
		"verity":  append([]byte{0x06}, sig[1:]...),
	} {
		_, err := Parse(b)
		require.Error(t, err, name)
	}
	_, err = ParseKeys([]byte("junk"), "junk")
	require.Error(t, err)
}

// FuzzParse: a signature that parses marshals back to the same bytes.
func FuzzParse(f *testing.F) {
	f.Add([]byte{3, 2, 4, 1, 2, 3, 4, 0, 2, 0xaa, 0xbb})
	f.Add([]byte{3, 2, 2, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			return
		}
		back, err := s.Marshal()
		require.NoError(t, err)
		if !bytes.Equal(back, b) {
			t.Fatalf("%x -> %x", b, back)
		}
		_, err = Verify(nil, b, make([]byte, s.Hash.Size()))
		if !errors.Is(err, ErrNoKey) {
			t.Fatalf("no keys: %v", err)
		}
	})
}
