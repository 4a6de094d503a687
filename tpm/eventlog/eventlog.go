// Package eventlog replays a TPM event log (the firmware's
// binary_bios_measurements: TCG PC Client, SHA-1 or crypto agile) into PCR
// values per bank and computes IMA's boot_aggregate from them, to check a
// measurement list's first entry. Parsing is go-attestation's
// (attest.ParseEventLog); this package only replays and aggregates.
package eventlog

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-attestation/attest"

	"github.com/imasim/imasim/measure"
)

// NumPCRs is the number of PCRs of a PC-client TPM.
const NumPCRs = 24

// MaxSize bounds an event log read by Read (real logs are tens of KiB).
const MaxSize = 16 << 20

// evNoAction is EV_NO_ACTION: recorded, never extended (TCG PC Client
// Platform Firmware Profile, "Event Types").
const evNoAction = 0x3

// Log is a replayed event log.
type Log struct {
	// Banks are the log's digest banks imasim can hash, in log order.
	Banks []crypto.Hash
	// Skipped are banks in the log that imasim cannot hash (e.g. SM3).
	Skipped []string
	// PCRs holds, per bank, PCRs 0-23 as the log replays them (zeros for
	// a PCR without events; PCR 0 starts at the StartupLocality).
	PCRs map[crypto.Hash][NumPCRs][]byte
	// Events is the number of events, EV_NO_ACTION included.
	Events int

	el *attest.EventLog
}

var algs = []struct {
	alg attest.HashAlg
	h   crypto.Hash
}{
	{attest.HashSHA1, crypto.SHA1},
	{attest.HashSHA256, crypto.SHA256},
	{attest.HashSHA384, crypto.SHA384},
	{attest.HashSHA512, crypto.SHA512},
}

// Read reads and replays a log of at most MaxSize bytes.
func Read(r io.Reader) (*Log, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("event log larger than %d bytes", MaxSize)
	}
	return Parse(b)
}

// Parse parses and replays a log.
func Parse(b []byte) (*Log, error) {
	if len(b) == 0 {
		return nil, errors.New("empty event log")
	}
	el, err := attest.ParseEventLog(b)
	if err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	l := &Log{PCRs: map[crypto.Hash][NumPCRs][]byte{}, el: el}
	for _, a := range el.Algs {
		h, ok := cryptoHash(a)
		if !ok {
			l.Skipped = append(l.Skipped, a.String())
			continue
		}
		events := el.Events(a)
		l.Events = len(events)
		pcrs, err := replay(h, events)
		if err != nil {
			return nil, fmt.Errorf("event log, %s bank: %w", a, err)
		}
		l.Banks = append(l.Banks, h)
		l.PCRs[h] = pcrs
	}
	if len(l.Banks) == 0 {
		return nil, fmt.Errorf("event log has no bank imasim can hash (%s)", strings.Join(l.Skipped, ","))
	}
	return l, nil
}

func cryptoHash(a attest.HashAlg) (crypto.Hash, bool) {
	for _, x := range algs {
		if x.alg == a {
			return x.h, true
		}
	}
	return 0, false
}

// replay extends each event's digest of bank h into its PCR, as a TPM
// did during boot: PCR = H(PCR || digest). EV_NO_ACTION events are not
// extended; a StartupLocality one sets PCR 0's initial value to the
// locality TPM2_Startup came from (TCG PC Client Platform Firmware
// Profile, "Startup Locality Event").
func replay(h crypto.Hash, events []attest.Event) ([NumPCRs][]byte, error) {
	var pcrs [NumPCRs][]byte
	for i := range pcrs {
		pcrs[i] = make([]byte, h.Size())
	}
	extended := [NumPCRs]bool{}
	for n, e := range events {
		if e.Index < 0 || e.Index >= NumPCRs {
			return pcrs, fmt.Errorf("event %d: PCR %d out of range 0-%d", n, e.Index, NumPCRs-1)
		}
		if e.Type == evNoAction {
			if e.Index == 0 && len(e.Data) == 17 && bytes.HasPrefix(e.Data, []byte("StartupLocality")) && !extended[0] {
				pcrs[0][h.Size()-1] = e.Data[16]
			}
			continue
		}
		if len(e.Digest) != h.Size() {
			return pcrs, fmt.Errorf("event %d (PCR %d, %s): no %d-byte digest for this bank", n, e.Index, e.Type, h.Size())
		}
		d := h.New()
		d.Write(pcrs[e.Index])
		d.Write(e.Digest)
		pcrs[e.Index] = d.Sum(nil)
		extended[e.Index] = true
	}
	return pcrs, nil
}

// BootAggregate is IMA's boot_aggregate for bank a, from the replayed
// PCRs 0-9 (0-7 for SHA-1) (Linux v6.12: ima_crypto.c:ima_calc_boot_aggregate_tfm).
func (l *Log) BootAggregate(a measure.Algo) ([]byte, error) {
	h, ok := a.CryptoHash()
	if !ok {
		return nil, fmt.Errorf("boot_aggregate: %s is not a TPM bank", a)
	}
	pcrs, ok := l.PCRs[h]
	if !ok {
		return nil, fmt.Errorf("boot_aggregate: the event log has no %s bank", a)
	}
	return measure.BootAggregate(a, pcrs[:10])
}

// Verify checks the log against PCR values read from (or quoted by) a
// TPM, with go-attestation's replay (EventLog.Verify, which also tries its
// known firmware workarounds): every PCR given that has events must match.
func (l *Log) Verify(pcrs map[crypto.Hash]map[int][]byte) error {
	var in []attest.PCR
	for h, m := range pcrs {
		for i, v := range m {
			in = append(in, attest.PCR{Index: i, Digest: v, DigestAlg: h})
		}
	}
	if len(in) == 0 {
		return errors.New("no PCR values to verify the event log against")
	}
	_, err := l.el.Verify(in)
	return err
}

// CheckList compares the first entry of a measurement list, which must be
// boot_aggregate, with the boot_aggregate computed from the log in the
// entry's own digest algorithm.
func (l *Log) CheckList(first *measure.Entry) (want []byte, a measure.Algo, err error) {
	name, ok := first.FileName()
	if !ok || name != "boot_aggregate" {
		return nil, 0, fmt.Errorf("the list's first entry is %q, not boot_aggregate", name)
	}
	prefix, d, ok := first.FileDigest()
	if !ok {
		return nil, 0, errors.New("the list's boot_aggregate has no digest")
	}
	a = measure.SHA1
	if prefix != "" {
		if a, err = measure.ParseAlgo(prefix); err != nil {
			return nil, 0, fmt.Errorf("boot_aggregate digest: %w", err)
		}
	}
	if len(d) != a.Size() {
		return nil, a, fmt.Errorf("boot_aggregate digest has %d bytes, %s has %d", len(d), a, a.Size())
	}
	if want, err = l.BootAggregate(a); err != nil {
		return nil, a, err
	}
	if !bytes.Equal(want, d) {
		return want, a, &MismatchError{Algo: a, Listed: d, FromLog: want}
	}
	return want, a, nil
}

// MismatchError is a list's boot_aggregate that differs from the log's.
type MismatchError struct {
	Algo            measure.Algo
	Listed, FromLog []byte
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("boot_aggregate %s: list has %x, event log gives %x", e.Algo, e.Listed, e.FromLog)
}
