package digsig

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// evmctlHMAC runs `evmctl -a sha1 hmac` on file with key. evmctl 1.4 reads
// the key only from /etc/keys/evm-key-plain, so it runs in a private mount
// namespace where /etc is an overlay whose upper layer is in dir: the
// host's /etc is never written. -a sha1: evmctl 1.4 uses its hash option
// for the HMAC, the kernel always hmac(sha1). evmctl 1.4's hmac never
// covers the FS UUID (with or without -u), which a kernel with
// EVM_ATTR_FSUUID does: its HMACs match Inode.FSUUID nil.
func evmctlHMAC(t *testing.T, dir string, key []byte, file string) {
	t.Helper()
	need(t, "evmctl", "unshare")
	kf := filepath.Join(dir, "evm-key-plain")
	require.NoError(t, os.WriteFile(kf, key, 0o600))
	up, work := filepath.Join(dir, "etc-up"), filepath.Join(dir, "etc-work")
	require.NoError(t, os.MkdirAll(up, 0o755))
	require.NoError(t, os.MkdirAll(work, 0o755))
	script := `set -e
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc
mkdir -p /etc/keys
cp "$3" /etc/keys/evm-key-plain
shift 3
exec evmctl -a sha1 hmac "$@"`
	c := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", up, work, kf, file)
	out, err := c.CombinedOutput()
	if err != nil && !isRoot() {
		t.Skipf("evmctl hmac needs a private mount namespace (root): %v: %s", err, out)
	}
	require.NoError(t, err, "%s", out)
	_, err = os.Stat("/etc/keys/evm-key-plain")
	require.True(t, os.IsNotExist(err), "the host's /etc/keys was written")
}

func isRoot() bool { return os.Geteuid() == 0 }

// evmctl's security.evm HMACs verify here with the same key (without the
// FS UUID, which evmctl 1.4 leaves out); imasim's HMAC is byte for byte
// evmctl's; a wrong key, a chmod, a chown or a changed security.ima fail.
func TestEvmctlHMAC(t *testing.T) {
	need(t, "evmctl")
	dir := t.TempDir()
	needXattrs(t, dir)
	file := filepath.Join(dir, "prog")
	require.NoError(t, os.WriteFile(file, []byte("imasim hmac\n"), 0o755))
	run(t, dir, "evmctl", "ima_hash", "prog")
	x, in, err := ReadFile(file)
	require.NoError(t, err)
	if in.Missing != "" {
		t.Skipf("%s: %s", dir, in.Missing)
	}
	require.Len(t, in.FSUUID, 16)

	for _, klen := range []int{32, 100, MaxHMACKey} {
		key := make([]byte, klen)
		_, err := rand.Read(key)
		require.NoError(t, err)
		name := fmt.Sprintf("key%d", klen)
		inode := in
		inode.FSUUID = nil
		evmctlHMAC(t, dir, key, file)
		x2, _, err := ReadFile(file)
		require.NoError(t, err)
		raw := x2["security.evm"]
		require.NoError(t, VerifyHMAC(key, raw, x, inode), name)
		mine, err := HMAC(key, x, inode)
		require.NoError(t, err)
		require.Equal(t, raw, mine, name)

		other := append([]byte(nil), key...)
		other[0] ^= 1
		require.ErrorIs(t, VerifyHMAC(other, raw, x, inode), ErrBadHMAC, name)
		// The kernel pads the key with zeros to 128 bytes: a key with
		// its zero padding spelled out is the same key.
		if klen < MaxHMACKey {
			require.NoError(t, VerifyHMAC(append(key, 0), raw, x, inode), name)
		}
		// With the FS UUID (a kernel with EVM_ATTR_FSUUID) it differs.
		require.ErrorIs(t, VerifyHMAC(key, raw, x, in), ErrBadHMAC, name)
	}

	key := []byte("0123456789abcdef0123456789abcdef")
	evmctlHMAC(t, dir, key, file)
	check := func() error {
		x, in, err := ReadFile(file)
		require.NoError(t, err)
		in.FSUUID = nil
		return VerifyHMAC(key, x["security.evm"], x, in)
	}
	require.NoError(t, check())
	require.NoError(t, os.Chmod(file, 0o700))
	require.ErrorIs(t, check(), ErrBadHMAC)
	require.NoError(t, os.Chmod(file, 0o755))
	require.NoError(t, check())
	require.NoError(t, os.Chown(file, 1000, 0))
	require.ErrorIs(t, check(), ErrBadHMAC)
	require.NoError(t, os.Chown(file, 0, 0))
	require.NoError(t, check())
	require.NoError(t, unix.Setxattr(file, "security.ima", []byte{4, 4, 1, 2, 3}, 0))
	require.ErrorIs(t, check(), ErrBadHMAC)

	// A copy of the file has another inode number: the HMAC does not
	// move with it (what hmac_add_misc is for).
	x, in, err = ReadFile(file)
	require.NoError(t, err)
	h, err := HMAC(key, x, in)
	require.NoError(t, err)
	in.Ino++
	require.ErrorIs(t, VerifyHMAC(key, h, x, in), ErrBadHMAC)
	in.Ino--
	in.Generation++
	require.ErrorIs(t, VerifyHMAC(key, h, x, in), ErrBadHMAC)
}

func TestHMACRejects(t *testing.T) {
	x := map[string][]byte{"security.ima": {4, 4, 1}}
	in := Inode{Ino: 7, Generation: 9, UID: 1, GID: 2, Mode: 0o100644}
	key := []byte("k")
	h, err := HMAC(key, x, in)
	require.NoError(t, err)
	require.Len(t, h, 21)
	require.NoError(t, VerifyHMAC(key, h, x, in))
	_, err = HMAC(nil, x, in)
	require.Error(t, err)
	_, err = HMAC(make([]byte, MaxHMACKey+1), x, in)
	require.Error(t, err)
	require.Error(t, VerifyHMAC(key, h[:20], x, in))
	require.Error(t, VerifyHMAC(key, append([]byte{3}, h[1:]...), x, in))
	require.Error(t, VerifyHMAC(key, nil, x, in))
	missing := in
	missing.Missing = "FS_IOC_GETVERSION: inappropriate ioctl"
	require.ErrorContains(t, VerifyHMAC(key, h, x, missing), "generation")
	// The extra SMACK xattrs are not covered (not enabled on Debian);
	// security.SMACK64 is.
	x2 := map[string][]byte{"security.ima": {4, 4, 1}, "security.SMACK64EXEC": {1}}
	require.NoError(t, VerifyHMAC(key, h, x2, in))
	x2["security.SMACK64"] = []byte{1}
	require.ErrorIs(t, VerifyHMAC(key, h, x2, in), ErrBadHMAC)
}

func uuidString(u []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// A non-portable EVM signature (evmctl sign, type 3) covers the inode
// number, the generation and the FS UUID, which ReadFile reads with
// FS_IOC_GETVERSION and FS_IOC_GETFSUUID: evmctl's verifies here, and not
// under another UUID or generation.
func TestEvmctlImmutableSig(t *testing.T) {
	need(t, "evmctl", "openssl")
	dir := t.TempDir()
	needXattrs(t, dir)
	keyPair(t, dir, "rsa")
	keys := readKeys(t, filepath.Join(dir, "cert.pem"))
	file := filepath.Join(dir, "prog")
	require.NoError(t, os.WriteFile(file, []byte("imasim immutable\n"), 0o755))
	_, in, err := ReadFile(file)
	require.NoError(t, err)
	if in.Missing != "" {
		t.Skipf("%s: %s", dir, in.Missing)
	}
	run(t, dir, "evmctl", "ima_hash", "prog")
	run(t, dir, "evmctl", "sign", "--key", "key.pem", "--uuid="+uuidString(in.FSUUID), "prog")
	x, in, err := ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, byte(TypeDigsig), x["security.evm"][0])
	what, err := VerifyEVM(keys, x["security.evm"], x, in)
	require.NoError(t, err)
	require.Contains(t, what, "signature (")
	other := in
	other.FSUUID = append([]byte(nil), in.FSUUID...)
	other.FSUUID[15] ^= 1
	_, err = VerifyEVM(keys, x["security.evm"], x, other)
	require.ErrorIs(t, err, ErrBadSignature)
	other = in
	other.Generation++
	_, err = VerifyEVM(keys, x["security.evm"], x, other)
	require.ErrorIs(t, err, ErrBadSignature)
}

// The load payload decrypts back to the key under the master key, and its
// HMAC covers the header: the layout the kernel parses. (The kernel
// accepting it is TestEVMHMACKernel in cmd/imasim.)
func TestEncryptedKeyLoad(t *testing.T) {
	master, key, iv := []byte("master key bytes"), make([]byte, 32), make([]byte, 16)
	for i := range key {
		key[i] = byte(i)
	}
	p, err := EncryptedKeyLoad("user:kmk", master, key, iv)
	require.NoError(t, err)
	f := strings.Fields(p)
	require.Equal(t, []string{"load", "default", "user:kmk", "32"}, f[:4])
	blob, err := hex.DecodeString(f[4])
	require.NoError(t, err)
	require.Len(t, blob, 16+1+32+32)
	require.Equal(t, iv, blob[:16])
	require.Zero(t, blob[16])
	derive := func(label string) []byte {
		buf := make([]byte, max(9+len(master), 32)) // zero-padded to a SHA-256 size
		copy(buf, label)
		copy(buf[len(label)+1:], master)
		s := sha256.Sum256(buf)
		return s[:]
	}
	b, err := aes.NewCipher(derive("ENC_KEY"))
	require.NoError(t, err)
	plain := make([]byte, 32)
	cipher.NewCBCDecrypter(b, iv).CryptBlocks(plain, blob[17:49])
	require.Equal(t, key, plain)
	m := hmac.New(sha256.New, derive("AUTH_KEY"))
	m.Write([]byte("default\x00user:kmk\x0032\x00"))
	m.Write(blob[:49])
	require.Equal(t, m.Sum(nil), blob[49:])

	for _, bad := range []struct {
		desc            string
		master, key, iv []byte
	}{
		{"kmk", master, key, iv}, {"user:", master, key, iv}, {"user:a b", master, key, iv},
		{"user:kmk", nil, key, iv}, {"user:kmk", master, key[:19], iv}, {"user:kmk", master, key, iv[:8]},
	} {
		_, err := EncryptedKeyLoad(bad.desc, bad.master, bad.key, bad.iv)
		require.Error(t, err, bad.desc)
	}
}

// FuzzVerifyHMAC: a security.evm value verifies only when it is the HMAC
// of the key over these xattrs and this inode, byte for byte; with another
// key or another mode it never does.
func FuzzVerifyHMAC(f *testing.F) {
	x := map[string][]byte{"security.ima": {4, 4, 1, 2}}
	in := Inode{Ino: 12, Generation: 7, UID: 0, GID: 0, Mode: 0o100755, FSUUID: make([]byte, 16)}
	key := []byte("0123456789abcdef0123456789abcdef")
	good, err := HMAC(key, x, in)
	require.NoError(f, err)
	f.Add(good, key)
	f.Add([]byte{2}, []byte{1})
	f.Add(append([]byte{5}, good[1:]...), key)
	f.Fuzz(func(t *testing.T, raw, k []byte) {
		err := VerifyHMAC(k, raw, x, in)
		want, herr := HMAC(k, x, in)
		if herr != nil {
			require.Error(t, err)
			return
		}
		require.Equal(t, bytes.Equal(raw, want), err == nil, "raw %x key %x: %v", raw, k, err)
		if err == nil {
			other := in
			other.Mode ^= 0o1
			require.ErrorIs(t, VerifyHMAC(k, raw, x, other), ErrBadHMAC)
		}
	})
}
