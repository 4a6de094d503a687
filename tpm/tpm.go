// Package tpm gives imasim a small PCR-bank interface — extend with per-bank
// digests, read, list banks — with backends from pure-Go software banks to a
// real TPM. It imports nothing of imasim.
package tpm

import (
	"crypto"
	"fmt"
)

// PCRs is analogous to the kernel's view of a TPM chip as IMA uses it
// (Linux: drivers/char/tpm/tpm-interface.c:tpm_pcr_extend, tpm_pcr_read).
type PCRs interface {
	// Banks lists the hash algorithms of the allocated PCR banks.
	Banks() []crypto.Hash
	// Extend extends pcr in every bank with that bank's digest; digests
	// must hold exactly one digest of the right size per bank.
	Extend(pcr int, digests map[crypto.Hash][]byte) error
	// Read returns pcr's value in every bank.
	Read(pcr int) (map[crypto.Hash][]byte, error)
	// Close releases the backend (kills a private swtpm, closes a device).
	Close() error
}

// Open opens a backend from its command-line spec ("software" is the
// default). Other backends are documented in the README.
func Open(spec string) (PCRs, error) {
	switch spec {
	case "", "software":
		return NewSoftware(crypto.SHA1, crypto.SHA256), nil
	}
	return nil, fmt.Errorf("tpm: unknown backend %q", spec)
}
