package vfs

import (
	"encoding/binary"
	"math/bits"
)

// Hasher folds values into a 64-bit hash without formatting or
// allocating (xxHash64's round per word, with murmur3's final avalanche).
// Words go to two lanes in turn, so the rounds of consecutive words do
// not wait for each other. The zero value is ready to use.
type Hasher struct{ a, b uint64 }

const (
	mixMul1 = 0x9E3779B185EBCA87
	mixMul2 = 0xC2B2AE3D27D4EB4F
)

// U writes an unsigned value. The word's own multiply is off the chain
// through its lane, which carries an add, a rotate and one multiply per
// word; the next word goes to the other lane (the swap): a search
// hashes a state of about a hundred words at every step.
func (h *Hasher) U(v uint64) {
	h.a, h.b = h.b, bits.RotateLeft64(h.a+v*mixMul2, 31)*mixMul1
}

// I writes a signed value.
func (h *Hasher) I(v int64) { h.U(uint64(v)) }

// B writes a bool.
func (h *Hasher) B(v bool) {
	if v {
		h.U(1)
	} else {
		h.U(0)
	}
}

// S writes a length-prefixed string.
func (h *Hasher) S(s string) {
	h.U(uint64(len(s)))
	for len(s) >= 8 {
		h.U(uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56)
		s = s[8:]
	}
	var v uint64
	for k := 0; k < len(s); k++ {
		v |= uint64(s[k]) << (8 * k)
	}
	h.U(v)
}

// Bytes writes a length-prefixed byte string, as S does.
func (h *Hasher) Bytes(b []byte) {
	h.U(uint64(len(b)))
	for len(b) >= 8 {
		h.U(binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	var v uint64
	for k := 0; k < len(b); k++ {
		v |= uint64(b[k]) << (8 * k)
	}
	h.U(v)
}

// Sum64 returns the hash of everything written.
func (h *Hasher) Sum64() uint64 {
	x := (h.a ^ bits.RotateLeft64(h.b, 27)) * mixMul1
	x ^= x >> 33
	x *= 0xFF51AFD7ED558CCD
	x ^= x >> 33
	x *= 0xC4CEB3F95C6C5C87
	x ^= x >> 33
	return x
}
