package digsig

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"
)

// appended builds content || pkcs7 || struct module_signature || magic,
// as scripts/sign-file writes a signed module.
func appended(content, p7 []byte) []byte {
	ms := make([]byte, 12)
	ms[2] = 2
	binary.BigEndian.PutUint32(ms[8:], uint32(len(p7)))
	return append(append(append(bytes.Clone(content), p7...), ms...), ModsigMagic...)
}

// openssl cms signatures of the kind sign-file makes (no attributes, no
// certificates, detached) and with the default authenticated attributes
// verify over the content digest; another content, key or a changed
// signature do not.
func TestModsigOpenssl(t *testing.T) {
	need(t, "openssl")
	dir, dir2 := t.TempDir(), t.TempDir()
	keyPair(t, dir, "rsa")
	keyPair(t, dir2, "ec")
	keys := readKeys(t, filepath.Join(dir, "cert.pem"))
	others := readKeys(t, filepath.Join(dir2, "cert.pem"))
	content := []byte("\x7fELF a module's bytes")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mod"), content, 0o644))
	sum := sha256.Sum256(content)
	for _, attrs := range [][]string{{"-noattr"}, nil} {
		args := append([]string{"openssl", "cms", "-sign", "-binary", "-nocerts", "-nosmimecap", "-outform", "DER",
			"-md", "sha256", "-signer", "cert.pem", "-inkey", "key.pem", "-in", "mod", "-out", "mod.p7s"}, attrs...)
		run(t, dir, args...)
		p7, err := os.ReadFile(filepath.Join(dir, "mod.p7s"))
		require.NoError(t, err)
		m, err := ParseModsig(p7)
		require.NoError(t, err)
		require.Equal(t, attrs == nil, m.Signed != nil, "authenticated attributes %v", attrs)
		_, err = VerifyModsig(keys, p7, sum[:])
		require.NoError(t, err, "%v", attrs)
		other := sha256.Sum256([]byte("other"))
		_, err = VerifyModsig(keys, p7, other[:])
		require.ErrorIs(t, err, ErrBadSignature)
		_, err = VerifyModsig(others, p7, sum[:])
		require.ErrorIs(t, err, ErrBadSignature)
		bad := bytes.Clone(p7)
		bad[len(bad)-1] ^= 1
		_, err = VerifyModsig(keys, bad, sum[:])
		require.Error(t, err)

		// As an appended signature.
		c, p, err := SplitAppended(appended(content, p7))
		require.NoError(t, err)
		require.Equal(t, content, c)
		require.Equal(t, p7, p)
	}
}

// Debian's signed modules split and parse (their signing certificate is
// built into the kernel, so only the structure is checked).
func TestModsigDebianModule(t *testing.T) {
	home, _ := os.UserHomeDir()
	mods, _ := filepath.Glob(filepath.Join(home, ".cache/imasim/kernels/*/root/usr/lib/modules/*/kernel/drivers/block/loop.ko.xz"))
	if len(mods) == 0 {
		t.Skip("no cached Debian kernel modules (make kernels)")
	}
	for _, m := range mods {
		f, err := os.Open(m)
		require.NoError(t, err)
		r, err := xz.NewReader(f)
		require.NoError(t, err)
		b, err := io.ReadAll(io.LimitReader(r, 64<<20))
		f.Close()
		require.NoError(t, err)
		c, p7, err := SplitAppended(b)
		require.NoError(t, err, m)
		require.True(t, bytes.HasPrefix(c, []byte("\x7fELF")), m)
		ms, err := ParseModsig(p7)
		require.NoError(t, err, m)
		require.NotEmpty(t, ms.Signature)
		require.Nil(t, ms.Signed, "sign-file signs without authenticated attributes")
		require.Equal(t, len(b), len(appended(c, p7)))
	}
}

func TestSplitAppendedRejects(t *testing.T) {
	good := appended([]byte("content"), []byte("p7"))
	_, _, err := SplitAppended(good)
	require.NoError(t, err)
	for name, b := range map[string][]byte{
		"no magic":  []byte("content"),
		"short":     []byte(ModsigMagic),
		"id_type":   func() []byte { c := bytes.Clone(good); c[len(c)-len(ModsigMagic)-12+2] = 1; return c }(),
		"too long":  func() []byte { c := bytes.Clone(good); c[len(c)-len(ModsigMagic)-1] = 200; return c }(),
		"zero size": func() []byte { c := bytes.Clone(good); c[len(c)-len(ModsigMagic)-1] = 0; return c }(),
	} {
		_, _, err := SplitAppended(b)
		require.Error(t, err, name)
	}
}

// FuzzSplitAppended: a split puts the pieces back into the same bytes.
func FuzzSplitAppended(f *testing.F) {
	f.Add(appended([]byte("content"), []byte("p7")))
	f.Add([]byte(ModsigMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, p7, err := SplitAppended(b)
		if err != nil {
			return
		}
		if !bytes.Equal(appended(c, p7), b) {
			t.Fatalf("split of %x does not reassemble", b)
		}
		ParseModsig(p7) // must not panic
	})
}
