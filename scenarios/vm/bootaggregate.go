package vm

import (
	"bytes"
	"encoding/hex"
	"errors"

	"github.com/imasim/imasim/measure"
	"github.com/imasim/imasim/tpm/eventlog"
)

// BootAggregateCheck is a list's first entry (boot_aggregate) against the
// boot_aggregate computed from the firmware's TPM event log.
type BootAggregateCheck struct {
	Listed  string `json:"listed"`             // ALGO:HEX as the kernel listed it
	FromLog string `json:"from_log,omitempty"` // the same computed from the event log
	OK      bool   `json:"ok"`
	Err     string `json:"error,omitempty"`
}

// CheckBootAggregate replays the guest's event log (tpm/eventlog) and
// compares the boot_aggregate it gives with the first entry of the
// binary list.
func CheckBootAggregate(eventLog, binList []byte) *BootAggregateCheck {
	c := &BootAggregateCheck{}
	l, err := measure.ReadList(bytes.NewReader(binList), measure.ReadOptions{})
	if err == nil && l.Len() == 0 {
		err = errors.New("empty measurement list")
	}
	if err != nil {
		c.Err = "measurement list: " + err.Error()
		return c
	}
	if pre, d, ok := l.Entries[0].FileDigest(); ok {
		c.Listed = pre + ":" + hex.EncodeToString(d)
	}
	log, err := eventlog.Parse(eventLog)
	if err != nil {
		c.Err = err.Error()
		return c
	}
	want, a, err := log.CheckList(l.Entries[0])
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
