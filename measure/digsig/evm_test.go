package digsig

import (
	"crypto"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// needXattrs skips when security.* xattrs cannot be set here (not root, or
// a filesystem without them).
func needXattrs(t *testing.T, dir string) {
	t.Helper()
	p := filepath.Join(dir, "probe")
	require.NoError(t, os.WriteFile(p, nil, 0o644))
	if err := unix.Setxattr(p, "security.imasim-probe", []byte("x"), 0); err != nil {
		t.Skipf("cannot set security.* xattrs in %s: %v (needs root and ext4/xfs/tmpfs)", dir, err)
	}
}

// evmctl's portable EVM signatures (evmctl sign --portable) verify here
// against the file's xattrs and inode; imasim's verify with evmctl verify;
// a change of mode, owner or security.ima breaks both. security.ima hashes
// (evmctl ima_hash) and signatures (evmctl ima_sign) verify against the
// content.
func TestEvmctlEVM(t *testing.T) {
	need(t, "evmctl", "openssl")
	dir := t.TempDir()
	needXattrs(t, dir)
	keyPair(t, dir, "rsa")
	keys := readKeys(t, filepath.Join(dir, "cert.pem"))
	file := filepath.Join(dir, "prog")
	content := []byte("imasim evm\n")
	require.NoError(t, os.WriteFile(file, content, 0o755))
	digest := func(h crypto.Hash) []byte { d := h.New(); d.Write(content); return d.Sum(nil) }

	run(t, dir, "evmctl", "ima_hash", "prog")
	x, in, err := ReadFile(file)
	require.NoError(t, err)
	what, err := VerifyIMA(keys, x["security.ima"], digest)
	require.NoError(t, err)
	require.Equal(t, "hash", what)

	run(t, dir, "evmctl", "sign", "--portable", "--key", "key.pem", "prog")
	x, in, err = ReadFile(file)
	require.NoError(t, err)
	what, err = VerifyEVM(keys, x["security.evm"], x, in)
	require.NoError(t, err)
	require.Contains(t, what, "portable signature")

	require.NoError(t, os.Chmod(file, 0o700))
	x, in, err = ReadFile(file)
	require.NoError(t, err)
	_, err = VerifyEVM(keys, x["security.evm"], x, in)
	require.ErrorIs(t, err, ErrBadSignature)
	require.NoError(t, os.Chmod(file, 0o755))

	// imasim signs; evmctl verifies, and refuses after a chown.
	x, in, err = ReadFile(file)
	require.NoError(t, err)
	sig, err := SignEVM(signer(t, filepath.Join(dir, "key.pem")), crypto.SHA256, keys[0].ID, x, in)
	require.NoError(t, err)
	require.NoError(t, unix.Setxattr(file, "security.evm", sig, 0))
	run(t, dir, "evmctl", "verify", "--key", "cert.der", "prog")
	require.NoError(t, os.Chown(file, 1000, 1000))
	c := exec.Command("evmctl", "verify", "--key", "cert.der", "prog")
	c.Dir = dir
	require.Error(t, c.Run(), "evmctl accepted a chowned file")
	x, in, err = ReadFile(file)
	require.NoError(t, err)
	_, err = VerifyEVM(keys, x["security.evm"], x, in)
	require.ErrorIs(t, err, ErrBadSignature)

	// security.ima signature by evmctl, then a changed content.
	run(t, dir, "evmctl", "ima_sign", "--key", "key.pem", "prog")
	x, _, err = ReadFile(file)
	require.NoError(t, err)
	what, err = VerifyIMA(keys, x["security.ima"], digest)
	require.NoError(t, err)
	require.Contains(t, what, "signature")
	other := func(h crypto.Hash) []byte { s := sha256.Sum256([]byte("other")); return s[:] }
	_, err = VerifyIMA(keys, x["security.ima"], other)
	require.ErrorIs(t, err, ErrBadSignature)
	_, err = VerifyIMA(keys, []byte{4, 4, 1, 2}, digest)
	require.Error(t, err)
	_, err = VerifyEVM(keys, []byte{2, 1, 2, 3}, x, in)
	require.ErrorContains(t, err, "HMAC")
}

// The EVM digest covers what the kernel covers: each listed xattr, uid,
// gid, mode; ino and generation only when not portable.
func TestEVMDigest(t *testing.T) {
	x := map[string][]byte{"security.ima": {4, 4, 1}}
	in := Inode{Ino: 7, Generation: 9, UID: 1, GID: 2, Mode: 0o100644}
	base := EVMDigest(crypto.SHA256, x, in, true)
	in2 := in
	in2.Ino, in2.Generation = 8, 10
	require.Equal(t, base, EVMDigest(crypto.SHA256, x, in2, true))
	require.NotEqual(t, EVMDigest(crypto.SHA256, x, in, false), EVMDigest(crypto.SHA256, x, in2, false))
	for _, change := range []func(*Inode){func(i *Inode) { i.UID++ }, func(i *Inode) { i.GID++ }, func(i *Inode) { i.Mode ^= 1 }} {
		c := in
		change(&c)
		require.NotEqual(t, base, EVMDigest(crypto.SHA256, x, c, true))
	}
	require.NotEqual(t, base, EVMDigest(crypto.SHA256, map[string][]byte{"security.ima": {4, 4, 2}}, in, true))
	require.Equal(t, base, EVMDigest(crypto.SHA256, map[string][]byte{"security.ima": {4, 4, 1}, "user.other": {1}}, in, true))
}
