package measure

import (
	"crypto"
	_ "crypto/md5"  // a file digest algorithm (ima_hash=md5), never a bank
	_ "crypto/sha1" // register for crypto.Hash.New
	_ "crypto/sha256"
	_ "crypto/sha512"
	"fmt"
	"hash"
	"strings"

	"github.com/emmansun/gmsm/sm3"
)

// Algo is a hash algorithm IMA can use for PCR banks and template hashes,
// analogous to the kernel's enum hash_algo
// (Linux v6.12: include/uapi/linux/hash_info.h, crypto/hash_info.c:hash_algo_name).
type Algo uint8

// Algorithms imasim can compute.
const (
	SHA1 Algo = iota + 1
	SHA256
	SHA384
	SHA512
	SM3
	// MD5 is a file digest algorithm only (a kernel booted with
	// ima_hash=md5); no TPM bank has it, so it is not in Algos and
	// ParseAlgo refuses it: see ParseFileAlgo.
	MD5
)

// Algos lists every supported algorithm in a stable order.
var Algos = []Algo{SHA1, SHA256, SHA384, SHA512, SM3}

var algoInfo = [...]struct {
	name string
	size int
	ch   crypto.Hash
}{
	SHA1:   {"sha1", 20, crypto.SHA1},
	SHA256: {"sha256", 32, crypto.SHA256},
	SHA384: {"sha384", 48, crypto.SHA384},
	SHA512: {"sha512", 64, crypto.SHA512},
	SM3:    {"sm3", 32, 0}, // crypto.Hash has no SM3
	MD5:    {"md5", 16, crypto.MD5},
}

// valid: a PCR bank algorithm; known: any algorithm imasim computes.
func (a Algo) valid() bool { return a >= SHA1 && a <= SM3 }
func (a Algo) known() bool { return a >= SHA1 && a <= MD5 }

// String returns the kernel's name for a ("sha256"), as hash_algo_name.
func (a Algo) String() string {
	if !a.known() {
		return fmt.Sprintf("algo(%d)", uint8(a))
	}
	return algoInfo[a].name
}

// Size is the digest size in bytes (0 for an invalid Algo).
func (a Algo) Size() int {
	if !a.known() {
		return 0
	}
	return algoInfo[a].size
}

// New returns a new hash.Hash. It panics for an invalid Algo.
func (a Algo) New() hash.Hash {
	if a == SM3 {
		return sm3.New()
	}
	if !a.known() {
		panic("measure: New on invalid Algo")
	}
	return algoInfo[a].ch.New()
}

// CryptoHash maps a to crypto.Hash; ok is false for SM3, which crypto has no
// constant for.
func (a Algo) CryptoHash() (h crypto.Hash, ok bool) {
	if !a.known() || algoInfo[a].ch == 0 {
		return 0, false
	}
	return algoInfo[a].ch, true
}

// AlgoFromCrypto maps a crypto.Hash to Algo.
func AlgoFromCrypto(h crypto.Hash) (Algo, bool) {
	for _, a := range Algos {
		if c, ok := a.CryptoHash(); ok && c == h {
			return a, true
		}
	}
	return 0, false
}

// ParseAlgo parses a kernel hash name ("sha256"; case-insensitive).
func ParseAlgo(s string) (Algo, error) {
	for _, a := range Algos {
		if strings.EqualFold(s, a.String()) {
			return a, nil
		}
	}
	return 0, fmt.Errorf("unknown hash algorithm %q (want sha1|sha256|sha384|sha512|sm3)", s)
}

// HashAlgoID is a's number in the kernel's enum hash_algo, as
// security.ima's IMA_XATTR_DIGEST_NG and signatures carry it (Linux
// v7.2.13: include/uapi/linux/hash_info.h).
func (a Algo) HashAlgoID() uint8 {
	switch a {
	case MD5:
		return 1
	case SHA1:
		return 2
	case SHA256:
		return 4
	case SHA384:
		return 5
	case SHA512:
		return 6
	case SM3:
		return 17
	}
	return 0xff
}

// ParseFileAlgo parses a file digest algorithm: a bank algorithm or md5
// (the kernel's ima_hash may be any hash it has; imasim computes these).
func ParseFileAlgo(s string) (Algo, error) {
	if strings.EqualFold(s, MD5.String()) {
		return MD5, nil
	}
	a, err := ParseAlgo(s)
	if err != nil {
		return 0, fmt.Errorf("unknown hash algorithm %q (want sha1|sha256|sha384|sha512|sm3|md5)", s)
	}
	return a, nil
}

// AlgoForSize infers an algorithm from a digest size where that is
// unambiguous: 20 → sha1, 48 → sha384, 64 → sha512. 32 bytes may be sha256
// or sm3, so ok is false.
func AlgoForSize(n int) (Algo, bool) {
	switch n {
	case 20:
		return SHA1, true
	case 48:
		return SHA384, true
	case 64:
		return SHA512, true
	}
	return 0, false
}

// MaxDigestSize is the largest digest size of any Algo.
const MaxDigestSize = 64
