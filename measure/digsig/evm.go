package digsig

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
)

// EVMXattrs are the xattrs EVM protects, in the order the kernel hashes
// them (Linux v6.12: security/integrity/evm/evm_main.c:
// evm_config_default_xattrnames, each present only with its LSM or
// CONFIG_IMA_APPRAISE); absent ones are skipped.
var EVMXattrs = []string{
	"security.selinux",
	"security.SMACK64", "security.SMACK64EXEC", "security.SMACK64TRANSMUTE", "security.SMACK64MMAP",
	"security.apparmor",
	"security.ima",
	"security.capability",
}

// Inode is the inode metadata EVM covers (evm_crypto.c:hmac_add_misc).
type Inode struct {
	Ino        uint64
	Generation uint32
	UID, GID   uint32
	Mode       uint16
	// FSUUID is the filesystem's UUID, covered by HMACs and non-portable
	// signatures when the kernel has EVM_ATTR_FSUUID (Debian: yes); nil
	// leaves it out.
	FSUUID []byte
	// Missing says why Generation could not be read, NoFSUUID why FSUUID
	// could not (ReadFile); empty when they were.
	Missing, NoFSUUID string
}

// Local says why in lacks what HMACs and non-portable signatures cover.
func (in Inode) Local() error {
	if in.Missing != "" {
		return fmt.Errorf("the inode generation is unknown: %s", in.Missing)
	}
	if in.NoFSUUID != "" {
		return fmt.Errorf("the FS UUID is unknown (give it, or none): %s", in.NoFSUUID)
	}
	return nil
}

// extraSmack are the xattrs only CONFIG_EVM_EXTRA_SMACK_XATTRS enables;
// Debian's kernels leave it off, so HMACs and non-portable signatures skip
// them (evm_calc_hmac_or_hash: "Skip non-enabled xattrs"), as evmctl
// does without --smack.
var extraSmack = map[string]bool{"security.SMACK64EXEC": true, "security.SMACK64TRANSMUTE": true, "security.SMACK64MMAP": true}

// evmData writes what EVM hashes: each present xattr value in EVMXattrs
// order, then struct h_misc as a 64-bit kernel lays it out (unsigned long
// ino, u32 generation, uid, gid, umode_t mode, padded to 24 bytes), then the
// FS UUID unless portable (Linux v6.12 and v7.2, unchanged:
// evm_crypto.c: evm_calc_hmac_or_hash, hmac_add_misc). A portable
// signature zeroes ino and generation and leaves out the UUID.
func evmData(write func([]byte), xattrs map[string][]byte, in Inode, portable bool) {
	for _, n := range EVMXattrs {
		if !portable && extraSmack[n] {
			continue
		}
		if v, ok := xattrs[n]; ok {
			write(v)
		}
	}
	var misc [24]byte
	if !portable {
		binary.LittleEndian.PutUint64(misc[0:], in.Ino)
		binary.LittleEndian.PutUint32(misc[8:], in.Generation)
	}
	binary.LittleEndian.PutUint32(misc[12:], in.UID)
	binary.LittleEndian.PutUint32(misc[16:], in.GID)
	binary.LittleEndian.PutUint16(misc[20:], in.Mode)
	write(misc[:])
	if !portable && len(in.FSUUID) > 0 {
		write(in.FSUUID)
	}
}

// EVMDigest is the digest an EVM signature signs.
func EVMDigest(h crypto.Hash, xattrs map[string][]byte, in Inode, portable bool) []byte {
	d := h.New()
	evmData(func(b []byte) { d.Write(b) }, xattrs, in, portable)
	return d.Sum(nil)
}

// MaxHMACKey is the longest EVM key the kernel takes (evm_crypto.c:
// MAX_KEY_SIZE).
const MaxHMACKey = 128

// ErrBadHMAC is a security.evm HMAC that does not match.
var ErrBadHMAC = errors.New("HMAC does not match")

// HMAC is the security.evm HMAC (type 2 and the 20-byte HMAC-SHA1) the
// kernel writes with EVM key key over the xattrs and inode. The kernel
// copies the key into a zeroed 128-byte buffer and always keys the HMAC
// with all 128 bytes (Linux v7.2: evm_crypto.c: evm_set_key, init_desc
// with evmkey_len = MAX_KEY_SIZE), so a key is zero-padded here too.
func HMAC(key []byte, xattrs map[string][]byte, in Inode) ([]byte, error) {
	if len(key) == 0 || len(key) > MaxHMACKey {
		return nil, fmt.Errorf("EVM key: %d bytes, want 1-%d", len(key), MaxHMACKey)
	}
	var k [MaxHMACKey]byte
	copy(k[:], key)
	m := hmac.New(sha1.New, k[:])
	evmData(func(b []byte) { m.Write(b) }, xattrs, in, false)
	return append([]byte{TypeHMAC}, m.Sum(nil)...), nil
}

// VerifyHMAC checks a security.evm HMAC (type 2) with the EVM key, as
// evm_verify_hmac does for EVM_XATTR_HMAC.
func VerifyHMAC(key, raw []byte, xattrs map[string][]byte, in Inode) error {
	if len(raw) == 0 || raw[0] != TypeHMAC {
		return errors.New("security.evm: not an HMAC (type 2)")
	}
	if len(raw) != 1+sha1.Size {
		return fmt.Errorf("security.evm: HMAC of %d bytes, want %d", len(raw)-1, sha1.Size)
	}
	if err := in.Local(); err != nil {
		return fmt.Errorf("security.evm: HMAC: %w", err)
	}
	want, err := HMAC(key, xattrs, in)
	if err != nil {
		return err
	}
	if !hmac.Equal(raw, want) {
		return fmt.Errorf("%w: security.evm %x, computed %x", ErrBadHMAC, raw[1:], want[1:])
	}
	return nil
}

// VerifyEVM checks a security.evm signature against the file's xattrs and
// inode: portable (type 5) or immutable (type 3). HMACs (type 2) need the
// kernel's EVM key: VerifyHMAC.
func VerifyEVM(keys []Key, raw []byte, xattrs map[string][]byte, in Inode) (string, error) {
	if len(raw) == 0 {
		return "", errors.New("security.evm: empty")
	}
	switch raw[0] {
	case TypeHMAC:
		return "", errors.New("security.evm is an HMAC (type 2): needs the kernel's EVM key (--evm-key)")
	case TypePortable, TypeDigsig:
		s, err := parseType(raw, raw[0])
		if err != nil {
			return "", fmt.Errorf("security.evm: %w", err)
		}
		portable := raw[0] == TypePortable
		if err := in.Local(); !portable && err != nil {
			return "", fmt.Errorf("security.evm: non-portable signature: %w", err)
		}
		k, err := s.verify(keys, EVMDigest(s.Hash, xattrs, in, portable))
		if err != nil {
			return "", err
		}
		what := "signature"
		if portable {
			what = "portable signature"
		}
		return what + " (" + k.Name + ")", nil
	}
	return "", fmt.Errorf("security.evm: type %#x not supported", raw[0])
}

// SignEVM makes a portable EVM signature (type 5), as evmctl sign --portable.
func SignEVM(signer crypto.Signer, h crypto.Hash, keyID uint32, xattrs map[string][]byte, in Inode) ([]byte, error) {
	return signType(signer, h, keyID, EVMDigest(h, xattrs, in, true), TypePortable)
}

// VerifyIMA checks a security.ima value against the file's content digest
// computed in each algorithm: a hash (type 4, algorithm byte then digest,
// as IMA appraisal stores it) must equal it, a signature (type 3) must
// verify over it (Linux v6.12: ima_appraise.c:ima_appraise_measurement).
// digest returns the content's digest in h.
func VerifyIMA(keys []Key, raw []byte, digest func(h crypto.Hash) []byte) (string, error) {
	if len(raw) < 2 {
		return "", errors.New("security.ima: too short")
	}
	switch raw[0] {
	case TypeDigestNG:
		h, ok := hashAlgos[raw[1]]
		if !ok || !h.Available() {
			return "", fmt.Errorf("security.ima: hash algorithm %d not supported", raw[1])
		}
		if len(raw)-2 != h.Size() {
			return "", fmt.Errorf("security.ima: %d-byte %v digest", len(raw)-2, h)
		}
		if !bytes.Equal(raw[2:], digest(h)) {
			return "", fmt.Errorf("%w: security.ima hash %x, content %x", ErrBadSignature, raw[2:], digest(h))
		}
		return "hash", nil
	case TypeDigsig:
		s, err := Parse(raw)
		if err != nil {
			return "", fmt.Errorf("security.ima: %w", err)
		}
		k, err := s.verify(keys, digest(s.Hash))
		if err != nil {
			return "", err
		}
		return "signature (" + k.Name + ")", nil
	}
	return "", fmt.Errorf("security.ima: type %#x not supported", raw[0])
}
