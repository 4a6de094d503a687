// Package tpm gives imasim a small PCR-bank interface — extend with per-bank
// digests, read, list banks — with backends from pure-Go software banks to a
// real TPM. It imports nothing of imasim.
//
// Backends are chosen by a spec string (the CLI's --tpm):
//
//	software                       pure-Go banks (SHA-1, SHA-256), the default
//	simulator                      the go-tpm-tools (Microsoft reference) simulator;
//	                               needs a build with -tags tpmsim (cgo, libssl-dev)
//	swtpm                          a private swtpm: fresh state in a temp dir,
//	                               killed and removed on Close or context cancel
//	swtpm:unix:DATA[,ctrl=CTRL]    a running swtpm's data socket (Unix path);
//	                               with ctrl (a Unix path), INIT + Startup are sent
//	swtpm:tcp:HOST:PORT[,ctrl=P]   a running swtpm's TCP data port; ctrl is a
//	                               port on HOST or a HOST:PORT
//	device[:PATH]                  a kernel TPM device, /dev/tpmrm0 by default
//
// Paths in a spec cannot contain commas. On a device, IMA's PCR 10 is stood in
// for by the resettable PCR 23 (reset at open) unless [Options] say otherwise:
// a real TPM's PCR 10 cannot be reset, so extending it would change the
// machine's attestation until reboot. See [Options.PCR] and
// [Options.AllowRealPCR].
package tpm

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os/exec"
	"slices"
)

// IMAPCR is the PCR IMA extends by default.
// Linux v6.12: security/integrity/ima/Kconfig: IMA_MEASURE_PCR_IDX default 10.
const IMAPCR = 10

// ResettablePCR is the PCR that stands in for IMAPCR on a device: PCR 23
// (application support) is resettable from locality 0 and resets to zeros
// (TCG PC Client Platform TPM Profile, PCR attributes table).
const ResettablePCR = 23

// Resettable reports whether pcr can be reset with TPM2_PCR_Reset from
// locality 0 on a PC-client TPM (PCR 16, debug, and PCR 23, application).
func Resettable(pcr int) bool { return pcr == 16 || pcr == 23 }

// ErrClosed is returned by operations on a closed backend.
var ErrClosed = errors.New("backend closed")

// PCRs is analogous to the kernel's view of a TPM chip as IMA uses it
// (Linux v6.12: drivers/char/tpm/tpm-interface.c:tpm_pcr_extend, tpm_pcr_read).
// Implementations are safe for concurrent use.
type PCRs interface {
	// Banks lists the hash algorithms of the PCR banks this backend extends.
	Banks() []crypto.Hash
	// Extend extends pcr in every bank with that bank's digest; digests
	// must hold a digest of the right size for every bank (extra entries
	// are ignored). It returns nil only if the extend happened in every bank.
	Extend(pcr int, digests map[crypto.Hash][]byte) error
	// Read returns pcr's value in every bank.
	Read(pcr int) (map[crypto.Hash][]byte, error)
	// Close releases the backend (kills a private swtpm, closes a device).
	Close() error
}

// Resetter is implemented by backends that can reset a PCR to zeros. TPM
// backends can reset only [Resettable] PCRs; software can reset any.
type Resetter interface {
	Reset(pcr int) error
}

// Options tune [OpenContext]. The zero value is what [Open] uses.
type Options struct {
	// Banks restricts the banks to these algorithms, in this order; a TPM
	// must have each allocated. Nil means SHA-1 and SHA-256 for software,
	// and every allocated bank with a hash Go implements for a TPM.
	Banks []crypto.Hash
	// PCR is the backend PCR that receives the extends and reads addressed
	// to IMAPCR; other PCRs are passed through. Zero means the default:
	// IMAPCR itself, except on a device, where it is ResettablePCR. (PCR 0,
	// firmware code, is never a sensible stand-in, so zero is free.) A
	// Resettable stand-in is reset at open.
	PCR int
	// AllowRealPCR lets a device backend extend PCRs that cannot be reset
	// (such as PCR 10 itself). Their values then start from whatever the
	// machine measured since boot, and the extends stay until reboot.
	AllowRealPCR bool
	// EKCA, for a private swtpm, manufactures it first with an EK
	// certificate from a local CA kept in this directory
	// (ManufactureSwtpm).
	EKCA string
	// SwtpmState, for a private swtpm, is its state directory instead of a
	// fresh one; it is kept (a TPM to use again, e.g. in a VM).
	SwtpmState string
}

// Open opens a backend from its spec with default [Options]; the spec
// syntax is in the package comment. A private swtpm lives until Close.
func Open(spec string) (PCRs, error) {
	return OpenContext(context.Background(), spec, Options{})
}

// OpenContext opens a backend from its spec. Cancelling ctx closes the
// backend (a private swtpm is killed and its state removed); later calls
// then fail with ErrClosed or a transport error.
func OpenContext(ctx context.Context, spec string, opts Options) (PCRs, error) {
	s, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tpm %s: open: %w", s.Backend, err)
	}
	target, err := standIn(s.Backend, opts)
	if err != nil {
		return nil, err
	}
	for i, h := range opts.Banks {
		if slices.Contains(opts.Banks[:i], h) {
			return nil, fmt.Errorf("tpm %s: bank %s given twice", s.Backend, HashName(h))
		}
	}
	var p PCRs
	switch s.Backend {
	case BackendSoftware:
		banks := opts.Banks
		if banks == nil {
			banks = []crypto.Hash{crypto.SHA1, crypto.SHA256}
		}
		for _, h := range banks {
			if !h.Available() {
				return nil, fmt.Errorf("tpm software: bank %v not available", h)
			}
		}
		p = NewSoftware(banks...)
	case BackendSimulator:
		p, err = openSimulator(ctx, opts)
	case BackendSwtpm:
		p, err = openSwtpm(ctx, s, opts)
	case BackendDevice:
		p, err = openDevice(ctx, s, opts)
	default:
		err = fmt.Errorf("tpm: unknown backend %q", s.Backend)
	}
	if err != nil {
		return nil, err
	}
	return withStandIn(p, target)
}

// standIn resolves the PCR that stands in for IMAPCR (see Options.PCR) and
// enforces Options.AllowRealPCR for devices.
func standIn(backend string, opts Options) (int, error) {
	target := opts.PCR
	if target == 0 {
		target = IMAPCR
		if backend == BackendDevice {
			target = ResettablePCR
		}
	}
	if target < 0 || target >= NumPCRs {
		return 0, fmt.Errorf("tpm %s: PCR %d out of range 1..%d", backend, target, NumPCRs-1)
	}
	if backend == BackendDevice && !Resettable(target) && !opts.AllowRealPCR {
		return 0, fmt.Errorf("tpm device: PCR %d of a real TPM cannot be reset and extending it changes "+
			"the machine's measurements until reboot; use a resettable PCR (16, 23) or allow the real PCR explicitly", target)
	}
	return target, nil
}

// withStandIn routes IMAPCR to target and resets target if it can be
// reset; on error p is closed.
func withStandIn(p PCRs, target int) (PCRs, error) {
	if target != IMAPCR {
		p = &remap{PCRs: p, from: IMAPCR, to: target}
	}
	if Resettable(target) {
		if r, ok := p.(Resetter); ok {
			if err := r.Reset(IMAPCR); err != nil {
				return nil, errors.Join(err, p.Close())
			}
		}
	}
	return p, nil
}

// remap sends IMAPCR to a stand-in PCR.
type remap struct {
	PCRs
	from, to int
}

func (m *remap) pcr(pcr int) int {
	if pcr == m.from {
		return m.to
	}
	return pcr
}

func (m *remap) Extend(pcr int, digests map[crypto.Hash][]byte) error {
	return m.PCRs.Extend(m.pcr(pcr), digests)
}

func (m *remap) Read(pcr int) (map[crypto.Hash][]byte, error) { return m.PCRs.Read(m.pcr(pcr)) }

func (m *remap) Reset(pcr int) error {
	r, ok := m.PCRs.(Resetter)
	if !ok {
		return fmt.Errorf("tpm: reset PCR %d: backend cannot reset PCRs", m.pcr(pcr))
	}
	return r.Reset(m.pcr(pcr))
}

// bankNames renders banks for error messages ("sha1,sha256").
func bankNames(banks []crypto.Hash) string {
	s := ""
	for i, h := range banks {
		if i > 0 {
			s += ","
		}
		s += HashName(h)
	}
	return s
}

// HashName is the kernel's name for a hash (Linux v6.12:
// crypto/hash_info.c:hash_algo_name): "sha1", "sha256", ...
func HashName(h crypto.Hash) string {
	switch h {
	case crypto.SHA1:
		return "sha1"
	case crypto.SHA256:
		return "sha256"
	case crypto.SHA384:
		return "sha384"
	case crypto.SHA512:
		return "sha512"
	}
	return h.String()
}

// checkDigests validates digests against banks before anything is extended.
func checkDigests(backend string, pcr int, banks []crypto.Hash, digests map[crypto.Hash][]byte) error {
	if pcr < 0 || pcr >= NumPCRs {
		return fmt.Errorf("tpm %s: extend PCR %d: out of range 0..%d", backend, pcr, NumPCRs-1)
	}
	for _, h := range banks {
		d, ok := digests[h]
		if !ok {
			return fmt.Errorf("tpm %s: extend PCR %d: no %s digest", backend, pcr, HashName(h))
		}
		if len(d) != h.Size() {
			return fmt.Errorf("tpm %s: extend PCR %d: %s digest is %d bytes, want %d", backend, pcr, HashName(h), len(d), h.Size())
		}
	}
	return nil
}

// pickBanks applies Options.Banks to a TPM's allocated banks.
func pickBanks(backend string, allocated, want []crypto.Hash) ([]crypto.Hash, error) {
	if want == nil {
		if len(allocated) == 0 {
			return nil, fmt.Errorf("tpm %s: no allocated PCR bank with a supported hash", backend)
		}
		return allocated, nil
	}
	for _, h := range want {
		if !slices.Contains(allocated, h) {
			return nil, fmt.Errorf("tpm %s: bank %s not allocated (allocated: %s)", backend, HashName(h), bankNames(allocated))
		}
	}
	return slices.Clone(want), nil
}

// ErrNoSimulator is returned when opening the simulator in a build without
// it (defined in every build so callers can test for it).
var ErrNoSimulator = errors.New("tpm simulator: not in this build; rebuild with -tags tpmsim (needs cgo and libssl-dev)")

// ReadAll reads PCRs 0..n-1 of every bank p has: values[pcr][hash].
func ReadAll(p PCRs, n int) (map[int]map[crypto.Hash][]byte, error) {
	out := make(map[int]map[crypto.Hash][]byte, n)
	for i := 0; i < n; i++ {
		v, err := p.Read(i)
		if err != nil {
			return nil, fmt.Errorf("reading PCR %d: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}

// CannotRun tells an open error that means "cannot run here" (a missing
// swtpm binary, a build without the simulator) from bad input.
func CannotRun(err error) bool {
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, ErrNoSimulator)
}
