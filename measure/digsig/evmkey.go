package digsig

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// EncryptedKeyLoad makes the payload that loads key as a kernel
// "encrypted" key sealed with a "user" master key (keyctl add encrypted
// evm-key "load …" — how EVM gets its HMAC key: the kernel looks up the
// encrypted key "evm-key"). Linux v6.1 to v7.2,
// security/keys/encrypted-keys/encrypted.c: the data is AES-256-CBC under
// SHA-256("ENC_KEY\0" || master) (get_derived_key), zero-padded to the
// block size (derived_key_encrypt); an HMAC-SHA256 under
// SHA-256("AUTH_KEY\0" || master) covers "default\0" masterDesc "\0" length
// "\0" iv "\0" ciphertext (datablob_hmac_append); the payload is
// "load default DESC LEN " then hex of iv, one zero byte, ciphertext and
// HMAC (encrypted_key_decrypt). masterDesc is "user:NAME"; iv is 16 bytes.
func EncryptedKeyLoad(masterDesc string, master, key, iv []byte) (string, error) {
	switch {
	case !strings.HasPrefix(masterDesc, "user:") || len(masterDesc) == len("user:") || strings.ContainsAny(masterDesc, " \t\x00"):
		return "", fmt.Errorf("master key %q: want user:NAME", masterDesc)
	case len(master) == 0:
		return "", fmt.Errorf("empty master key")
	case len(key) < 20 || len(key) > 4096: // MIN_DATA_SIZE, MAX_DATA_SIZE
		return "", fmt.Errorf("key of %d bytes, want 20-4096", len(key))
	case len(iv) != aes.BlockSize:
		return "", fmt.Errorf("iv of %d bytes, want %d", len(iv), aes.BlockSize)
	}
	derive := func(label string) []byte {
		buf := make([]byte, max(len("AUTH_KEY")+1+len(master), sha256.Size))
		copy(buf, label)
		copy(buf[len(label)+1:], master)
		s := sha256.Sum256(buf)
		return s[:]
	}
	block, _ := aes.NewCipher(derive("ENC_KEY"))
	plain := make([]byte, (len(key)+aes.BlockSize-1)/aes.BlockSize*aes.BlockSize)
	copy(plain, key)
	enc := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(enc, plain)
	datalen := strconv.Itoa(len(key))
	m := hmac.New(sha256.New, derive("AUTH_KEY"))
	for _, s := range []string{"default", masterDesc, datalen} {
		m.Write(append([]byte(s), 0))
	}
	m.Write(iv)
	m.Write([]byte{0})
	m.Write(enc)
	blob := append(append(append(append([]byte(nil), iv...), 0), enc...), m.Sum(nil)...)
	return "load default " + masterDesc + " " + datalen + " " + hex.EncodeToString(blob), nil
}
