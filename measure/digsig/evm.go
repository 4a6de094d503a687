package digsig

import (
	"bytes"
	"crypto"
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
	// FSUUID is the filesystem's UUID, covered by non-portable signatures
	// when the kernel has EVM_ATTR_FSUUID (Debian: yes).
	FSUUID []byte
}

// evmData writes what EVM hashes: each present xattr value in EVMXattrs
// order, then struct h_misc as a 64-bit kernel lays it out (unsigned long
// ino, u32 generation, uid, gid, umode_t mode, padded to 24 bytes), then the
// FS UUID unless portable (Linux v6.12: evm_crypto.c:
// evm_calc_hmac_or_hash, hmac_add_misc). A portable signature zeroes ino
// and generation and leaves out the UUID.
func evmData(write func([]byte), xattrs map[string][]byte, in Inode, portable bool) {
	for _, n := range EVMXattrs {
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

// VerifyEVM checks a security.evm signature against the file's xattrs and
// inode: portable (type 5) or immutable (type 3). HMACs (type 2) need the
// kernel's EVM key and are not verified here.
func VerifyEVM(keys []Key, raw []byte, xattrs map[string][]byte, in Inode) (string, error) {
	if len(raw) == 0 {
		return "", errors.New("security.evm: empty")
	}
	switch raw[0] {
	case TypeHMAC:
		return "", errors.New("security.evm is an HMAC (type 2): needs the kernel's EVM key, not verified here")
	case TypePortable, TypeDigsig:
		s, err := parseType(raw, raw[0])
		if err != nil {
			return "", fmt.Errorf("security.evm: %w", err)
		}
		portable := raw[0] == TypePortable
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
