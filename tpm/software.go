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

// Software is a pure-Go PCR bank set, analogous to a TPM's PCR banks after
// TPM2_Startup(CLEAR): all PCRs zero, PCR = H(PCR || digest) on extend.
type Software struct {
	mu     sync.Mutex
	banks  []crypto.Hash
	pcrs   map[crypto.Hash]*[NumPCRs][]byte
	closed bool
}

// NewSoftware returns zeroed banks for the given algorithms, which must be
// distinct and available (linked into the binary).
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

// Banks implements PCRs.
func (s *Software) Banks() []crypto.Hash { return append([]crypto.Hash(nil), s.banks...) }

// Extend implements PCRs: PCR = H(PCR || digest) in every bank
// (Linux v6.12: security/integrity/ima/ima_queue.c:ima_pcr_extend via
// tpm_pcr_extend; TPM 2.0 Part 3, TPM2_PCR_Extend).
func (s *Software) Extend(pcr int, digests map[crypto.Hash][]byte) error {
	if err := checkDigests(BackendSoftware, pcr, s.banks, digests); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("tpm software: extend PCR %d: %w", pcr, ErrClosed)
	}
	for _, h := range s.banks {
		hh := h.New()
		hh.Write(s.pcrs[h][pcr])
		hh.Write(digests[h])
		s.pcrs[h][pcr] = hh.Sum(nil)
	}
	return nil
}

// Read implements PCRs.
func (s *Software) Read(pcr int) (map[crypto.Hash][]byte, error) {
	if pcr < 0 || pcr >= NumPCRs {
		return nil, fmt.Errorf("tpm software: read PCR %d: out of range 0..%d", pcr, NumPCRs-1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("tpm software: read PCR %d: %w", pcr, ErrClosed)
	}
	out := map[crypto.Hash][]byte{}
	for _, h := range s.banks {
		out[h] = append([]byte(nil), s.pcrs[h][pcr]...)
	}
	return out, nil
}

// Close implements PCRs; later calls fail with ErrClosed.
func (s *Software) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Reset sets pcr to zeros in every bank; software can reset any PCR.
func (s *Software) Reset(pcr int) error {
	if pcr < 0 || pcr >= NumPCRs {
		return fmt.Errorf("tpm software: reset PCR %d: out of range 0..%d", pcr, NumPCRs-1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("tpm software: reset PCR %d: %w", pcr, ErrClosed)
	}
	for _, h := range s.banks {
		s.pcrs[h][pcr] = make([]byte, h.Size())
	}
	return nil
}
