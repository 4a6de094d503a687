package tpm

import (
	"crypto"
	_ "crypto/sha1" // register hashes for crypto.Hash.New
	_ "crypto/sha256"
	_ "crypto/sha512"
	"fmt"
	"sync"
)

// NumPCRs is the number of PCRs of a PC-client TPM 2.0.
const NumPCRs = 24

// Software is a pure-Go PCR bank set: PCR = H(PCR || digest), all zero at start.
type Software struct {
	mu    sync.Mutex
	banks []crypto.Hash
	pcrs  map[crypto.Hash]*[NumPCRs][]byte
}

// NewSoftware returns zeroed banks for the given algorithms.
func NewSoftware(banks ...crypto.Hash) *Software {
	s := &Software{banks: banks, pcrs: map[crypto.Hash]*[NumPCRs][]byte{}}
	for _, h := range banks {
		var b [NumPCRs][]byte
		for i := range b {
			b[i] = make([]byte, h.Size())
		}
		s.pcrs[h] = &b
	}
	return s
}

func (s *Software) Banks() []crypto.Hash { return append([]crypto.Hash(nil), s.banks...) }

func (s *Software) Extend(pcr int, digests map[crypto.Hash][]byte) error {
	if pcr < 0 || pcr >= NumPCRs {
		return fmt.Errorf("tpm software: PCR %d out of range", pcr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.banks {
		d, ok := digests[h]
		if !ok || len(d) != h.Size() {
			return fmt.Errorf("tpm software: extend PCR %d: missing or wrong-size %v digest", pcr, h)
		}
	}
	for _, h := range s.banks {
		hh := h.New()
		hh.Write(s.pcrs[h][pcr])
		hh.Write(digests[h])
		s.pcrs[h][pcr] = hh.Sum(nil)
	}
	return nil
}

func (s *Software) Read(pcr int) (map[crypto.Hash][]byte, error) {
	if pcr < 0 || pcr >= NumPCRs {
		return nil, fmt.Errorf("tpm software: PCR %d out of range", pcr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[crypto.Hash][]byte{}
	for _, h := range s.banks {
		out[h] = append([]byte(nil), s.pcrs[h][pcr]...)
	}
	return out, nil
}

func (s *Software) Close() error { return nil }
