package vm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/imasim/imasim/measure"
	"github.com/imasim/imasim/scenarios/vm/guest"
	"github.com/imasim/imasim/tpm/eventlog"
)

// BootAggregateCheck is a list's first entry (boot_aggregate) against the
// boot_aggregate computed from the firmware's TPM event log, or, in a
// guest without one (a direct boot), from PCRs 0-9 as the guest read them.
type BootAggregateCheck struct {
	Listed   string `json:"listed"`              // ALGO:HEX as the kernel listed it
	FromLog  string `json:"from_log,omitempty"`  // the same computed from the event log
	FromPCRs string `json:"from_pcrs,omitempty"` // or from the PCRs
	OK       bool   `json:"ok"`
	Err      string `json:"error,omitempty"`
}

// CheckBootAggregatePCRs compares the list's boot_aggregate with the one
// PCRs 0-9 of its bank give (guest.FilePCRs lines "BANK INDEX HEX"),
// computed as ima_calc_boot_aggregate does (measure.BootAggregate). It
// shows IMA read the TPM it was given; unlike the event log it cannot
// show what the firmware measured.
func CheckBootAggregatePCRs(pcrFile, binList []byte) *BootAggregateCheck {
	c := &BootAggregateCheck{}
	first, err := firstEntry(binList)
	if err != nil {
		c.Err = err.Error()
		return c
	}
	pre, listed, ok := first.FileDigest()
	if name, _ := first.FileName(); !ok || name != "boot_aggregate" {
		c.Err = "the list does not start with boot_aggregate"
		return c
	}
	if pre == "" {
		pre = "sha1" // the ima template's d field
	}
	c.Listed = pre + ":" + hex.EncodeToString(listed)
	a, err := measure.ParseAlgo(pre)
	if err != nil {
		c.Err = err.Error()
		return c
	}
	pcrs := make([][]byte, 10)
	for i, line := range strings.Split(string(pcrFile), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.Atoi(f[min(1, len(f)-1)])
		if len(f) != 3 || err != nil || n < 0 || n > 9 {
			c.Err = fmt.Sprintf("%s:%d: want BANK INDEX HEX", guest.FilePCRs, i+1)
			return c
		}
		if f[0] != pre {
			continue
		}
		if pcrs[n], err = hex.DecodeString(f[2]); err != nil {
			c.Err = fmt.Sprintf("%s:%d: %v", guest.FilePCRs, i+1, err)
			return c
		}
	}
	need := 10 // ima_calc_boot_aggregate: PCRs 0-7 for sha1, 0-9 otherwise
	if a == measure.SHA1 {
		need = 8
	}
	for i := 0; i < need; i++ {
		if pcrs[i] == nil {
			c.Err = fmt.Sprintf("%s: no %s PCR %d", guest.FilePCRs, pre, i)
			return c
		}
	}
	want, err := measure.BootAggregate(a, pcrs)
	if err != nil {
		c.Err = err.Error()
		return c
	}
	c.FromPCRs = pre + ":" + hex.EncodeToString(want)
	if !bytes.Equal(want, listed) {
		c.Err = fmt.Sprintf("boot_aggregate %s, PCRs 0-9 give %s", c.Listed, c.FromPCRs)
		return c
	}
	c.OK = true
	return c
}

// CheckBootAggregate replays the guest's event log (tpm/eventlog) and
// compares the boot_aggregate it gives with the first entry of the
// binary list.
func CheckBootAggregate(eventLog, binList []byte) *BootAggregateCheck {
	c := &BootAggregateCheck{}
	first, err := firstEntry(binList)
	if err != nil {
		c.Err = err.Error()
		return c
	}
	if pre, d, ok := first.FileDigest(); ok {
		c.Listed = pre + ":" + hex.EncodeToString(d)
	}
	log, err := eventlog.Parse(eventLog)
	if err != nil {
		c.Err = err.Error()
		return c
	}
	want, a, err := log.CheckList(first)
	if want != nil {
		c.FromLog = a.String() + ":" + hex.EncodeToString(want)
	}
	if err != nil {
		c.Err = err.Error()
		return c
	}
	c.OK = true
	return c
}

// firstEntry reads a binary list's first entry.
func firstEntry(binList []byte) (*measure.Entry, error) {
	l, err := measure.ReadList(bytes.NewReader(binList), measure.ReadOptions{})
	if err == nil && l.Len() == 0 {
		err = errors.New("empty measurement list")
	}
	if err != nil {
		return nil, fmt.Errorf("measurement list: %w", err)
	}
	return l.Entries[0], nil
}
