package vfs

import (
	"encoding/binary"
	"hash"
)

// Hasher writes values into a hash without formatting.
type Hasher struct {
	H   hash.Hash64
	buf [8]byte
}

// U writes an unsigned value.
func (h *Hasher) U(v uint64) {
	binary.LittleEndian.PutUint64(h.buf[:], v)
	h.H.Write(h.buf[:])
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

// S writes a length-prefixed string or byte slice.
func (h *Hasher) S(s string) {
	h.U(uint64(len(s)))
	h.H.Write([]byte(s))
}
