package tpm

import (
	"crypto"
	"errors"
	"fmt"
	"sync"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// chip is a TPM 2.0 reached through a go-tpm transport, analogous to the
// kernel's struct tpm_chip (Linux v6.12: include/linux/tpm.h). The
// simulator, swtpm and device backends are chips with different transports
// and cleanups. Commands are serialised by mu.
type chip struct {
	backend string // for error messages: "swtpm", "device", ...
	banks   []crypto.Hash
	// protect refuses to extend PCRs that cannot be reset (a real device
	// without Options.AllowRealPCR).
	protect bool

	mu      sync.Mutex
	tpm     transport.TPM // nil once closed
	cleanup func() error  // closes the transport and whatever backs it
	closed  bool

	swtpm *swtpmProc // a private swtpm, for tests that kill it
}

// newChip queries the allocated banks and applies opts.Banks. On error the
// caller still owns cleanup.
func newChip(backend string, t transport.TPM, cleanup func() error, opts Options) (*chip, error) {
	c := &chip{backend: backend, tpm: t, cleanup: cleanup}
	allocated, err := c.allocatedBanks()
	if err != nil {
		return nil, err
	}
	c.banks, err = pickBanks(backend, allocated, opts.Banks)
	if err != nil {
		return nil, err
	}
	return c, nil
}

var tpmAlgs = []struct {
	alg  tpm2.TPMAlgID
	hash crypto.Hash
}{
	{tpm2.TPMAlgSHA1, crypto.SHA1},
	{tpm2.TPMAlgSHA256, crypto.SHA256},
	{tpm2.TPMAlgSHA384, crypto.SHA384},
	{tpm2.TPMAlgSHA512, crypto.SHA512},
}

func algOf(h crypto.Hash) tpm2.TPMAlgID {
	for _, a := range tpmAlgs {
		if a.hash == h {
			return a.alg
		}
	}
	return tpm2.TPMAlgNull
}

func hashOf(alg tpm2.TPMAlgID) (crypto.Hash, bool) {
	for _, a := range tpmAlgs {
		if a.alg == alg {
			return a.hash, true
		}
	}
	return 0, false
}

// allocatedBanks asks TPM2_GetCapability(TPM_CAP_PCRS) for the banks with
// at least one PCR allocated, in the TPM's order, skipping hashes Go lacks
// (Linux v6.12: drivers/char/tpm/tpm2-cmd.c:tpm2_get_pcr_allocation).
func (c *chip) allocatedBanks() ([]crypto.Hash, error) {
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapPCRs, PropertyCount: 1}.Execute(c.tpm)
	if err != nil {
		return nil, fmt.Errorf("tpm %s: get PCR banks: %w", c.backend, err)
	}
	sel, err := rsp.CapabilityData.Data.AssignedPCR()
	if err != nil {
		return nil, fmt.Errorf("tpm %s: get PCR banks: %w", c.backend, err)
	}
	var banks []crypto.Hash
	for _, s := range sel.PCRSelections {
		h, ok := hashOf(s.Hash)
		if !ok || !h.Available() {
			continue
		}
		for _, b := range s.PCRSelect {
			if b != 0 {
				banks = append(banks, h)
				break
			}
		}
	}
	return banks, nil
}

// Banks implements PCRs.
func (c *chip) Banks() []crypto.Hash { return append([]crypto.Hash(nil), c.banks...) }

// Extend implements PCRs with one TPM2_PCR_Extend carrying a digest per bank
// (Linux v6.12: drivers/char/tpm/tpm2-cmd.c:tpm2_pcr_extend). A device with
// protect set refuses PCRs that cannot be reset.
func (c *chip) Extend(pcr int, digests map[crypto.Hash][]byte) error {
	if err := checkDigests(c.backend, pcr, c.banks, digests); err != nil {
		return err
	}
	what := fmt.Sprintf("extend PCR %d (%s)", pcr, bankNames(c.banks))
	if c.protect && !Resettable(pcr) {
		return fmt.Errorf("tpm %s: %s: refusing to extend a real PCR that cannot be reset (not allowed by options)", c.backend, what)
	}
	cmd := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)},
	}
	for _, h := range c.banks {
		cmd.Digests.Digests = append(cmd.Digests.Digests, tpm2.TPMTHA{HashAlg: algOf(h), Digest: digests[h]})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("tpm %s: %s: %w", c.backend, what, ErrClosed)
	}
	if _, err := cmd.Execute(c.tpm); err != nil {
		return fmt.Errorf("tpm %s: %s: %w", c.backend, what, err)
	}
	return nil
}

// Read implements PCRs with TPM2_PCR_Read, repeated while the TPM returns
// fewer banks than asked for (it may; TPM 2.0 Part 3, TPM2_PCR_Read).
func (c *chip) Read(pcr int) (map[crypto.Hash][]byte, error) {
	if pcr < 0 || pcr >= NumPCRs {
		return nil, fmt.Errorf("tpm %s: read PCR %d: out of range 0..%d", c.backend, pcr, NumPCRs-1)
	}
	what := fmt.Sprintf("read PCR %d", pcr)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("tpm %s: %s: %w", c.backend, what, ErrClosed)
	}
	out := map[crypto.Hash][]byte{}
	for len(out) < len(c.banks) {
		var in tpm2.TPMLPCRSelection
		for _, h := range c.banks {
			if _, done := out[h]; !done {
				in.PCRSelections = append(in.PCRSelections, tpm2.TPMSPCRSelection{Hash: algOf(h), PCRSelect: pcrSelect(pcr)})
			}
		}
		rsp, err := tpm2.PCRRead{PCRSelectionIn: in}.Execute(c.tpm)
		if err != nil {
			return nil, fmt.Errorf("tpm %s: %s: %w", c.backend, what, err)
		}
		got := 0
		for _, s := range rsp.PCRSelectionOut.PCRSelections {
			h, ok := hashOf(s.Hash)
			if !ok || !selects(s.PCRSelect, pcr) {
				continue
			}
			if got >= len(rsp.PCRValues.Digests) {
				return nil, fmt.Errorf("tpm %s: %s: response selects more PCRs than it has values", c.backend, what)
			}
			d := rsp.PCRValues.Digests[got].Buffer
			got++
			if len(d) != h.Size() {
				return nil, fmt.Errorf("tpm %s: %s: %s value is %d bytes, want %d", c.backend, what, HashName(h), len(d), h.Size())
			}
			out[h] = append([]byte(nil), d...)
		}
		if got == 0 {
			return nil, fmt.Errorf("tpm %s: %s: TPM returned no value for bank(s) %s", c.backend, what, bankNames(c.banks))
		}
	}
	return out, nil
}

// Reset implements Resetter with TPM2_PCR_Reset; a TPM resets only PCRs
// whose attributes allow it at locality 0 (16 and 23 on a PC client).
func (c *chip) Reset(pcr int) error {
	if pcr < 0 || pcr >= NumPCRs {
		return fmt.Errorf("tpm %s: reset PCR %d: out of range 0..%d", c.backend, pcr, NumPCRs-1)
	}
	what := fmt.Sprintf("reset PCR %d", pcr)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("tpm %s: %s: %w", c.backend, what, ErrClosed)
	}
	cmd := tpm2.PCRReset{PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)}}
	if _, err := cmd.Execute(c.tpm); err != nil {
		return fmt.Errorf("tpm %s: %s: %w", c.backend, what, err)
	}
	return nil
}

// Close implements PCRs; closing twice is not an error.
func (c *chip) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeLocked()
}

func (c *chip) closeLocked() error {
	if c.closed {
		return nil
	}
	c.closed = true
	c.tpm = nil
	if c.cleanup == nil {
		return nil
	}
	if err := c.cleanup(); err != nil {
		return fmt.Errorf("tpm %s: close: %w", c.backend, err)
	}
	return nil
}

// pcrSelect is the 3-byte PCR bitmap selecting pcr (TPMS_PCR_SELECT).
func pcrSelect(pcr int) []byte {
	b := make([]byte, (NumPCRs+7)/8)
	b[pcr/8] |= 1 << (pcr % 8)
	return b
}

func selects(bitmap []byte, pcr int) bool {
	return pcr/8 < len(bitmap) && bitmap[pcr/8]&(1<<(pcr%8)) != 0
}

// Commander is implemented by backends that are a TPM 2.0 (swtpm, the
// simulator, a device), for callers that need more than PCRs: quotes with
// an attestation key (package tpm/attest).
type Commander interface {
	// Command runs f with the TPM's transport while holding the backend's
	// lock, so f's commands are not interleaved with extends.
	Command(f func(t transport.TPM) error) error
	// BackendPCR is the TPM PCR that holds pcr (the stand-in for IMAPCR,
	// see Options.PCR).
	BackendPCR(pcr int) int
}

// Command implements Commander.
func (c *chip) Command(f func(t transport.TPM) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("tpm %s: %w", c.backend, ErrClosed)
	}
	return f(c.tpm)
}

// BackendPCR implements Commander.
func (c *chip) BackendPCR(pcr int) int { return pcr }

// Command implements Commander when the remapped backend does.
func (m *remap) Command(f func(t transport.TPM) error) error {
	c, ok := m.PCRs.(Commander)
	if !ok {
		return errors.New("tpm: backend is not a TPM 2.0")
	}
	return c.Command(f)
}

// BackendPCR implements Commander.
func (m *remap) BackendPCR(pcr int) int { return m.pcr(pcr) }
