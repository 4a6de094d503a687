package vm

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/imasim/imasim/measure"
	"github.com/imasim/imasim/scenarios"
)

// ParseBinaryList reads binary_runtime_measurements with package measure
// (Linux v6.12: ima_fs.c:ima_measurements_show).
func ParseBinaryList(b []byte) ([]scenarios.ListEntry, error) {
	l, err := measure.ReadList(bytes.NewReader(b), measure.ReadOptions{})
	if err != nil {
		return nil, fmt.Errorf("measurement list: %w", err)
	}
	out := make([]scenarios.ListEntry, 0, len(l.Entries))
	for _, e := range l.Entries {
		out = append(out, scenarios.NewListEntry(e))
	}
	return out, nil
}

// BankReplay is one PCR bank's replay result.
type BankReplay struct {
	Bank     string `json:"bank"`
	Replayed string `json:"replayed"`
	Real     string `json:"real"`
	OK       bool   `json:"ok"`
	// Collection counts the entries after the match that the agent's own
	// reads of the PCR, list and violations files added (measured when a
	// policy measures root's FILE_CHECK opens).
	Collection int `json:"collection_entries,omitempty"`
}

// collectionEntry says whether a list entry is one of the agent's reads
// of its results (securityfs, the TPM's PCR files in sysfs).
func collectionEntry(name string) bool {
	return strings.HasPrefix(name, "/sys/kernel/security/") || strings.Contains(name, "/tpm0/pcr-")
}

// Replay extends PCR 10 from zero with the list, per bank with that bank's
// template hash (violations 0xff..) as kernels >= 5.8 do, and compares with
// the real values read from /sys/class/tpm/tpm0/pcr-<bank>/10. The agent
// reads the PCRs before the list, so the real value may equal a prefix of
// it: OK when it does and only the agent's reads come after.
func Replay(list []scenarios.ListEntry, real map[string]string) []BankReplay {
	q := measure.Quote{}
	var banks []measure.Algo
	for _, name := range []string{"sha1", "sha256"} {
		v, ok := real[name]
		if !ok {
			continue
		}
		a, _ := measure.ParseAlgo(name)
		banks = append(banks, a)
		pq, err := measure.ParsePCRs(strings.NewReader(v), a)
		if err == nil {
			q.Merge(pq)
		}
	}
	l := &measure.List{}
	for _, e := range list {
		l.Entries = append(l.Entries, e.Entry)
	}
	// tail[i]: entries after index i are all the agent's reads.
	tail := make([]bool, len(list)+1)
	tail[len(list)] = true
	for i := len(list) - 1; i >= 0; i-- {
		tail[i] = tail[i+1] && collectionEntry(list[i].Path)
	}
	res, err := l.Replay(measure.ReplayConfig{Banks: banks, Modes: []measure.Mode{measure.PerBank}, Quote: q})
	var out []BankReplay
	for _, a := range banks {
		br := BankReplay{Bank: a.String(), Real: strings.ToLower(strings.TrimSpace(real[a.String()]))}
		if err == nil {
			for _, t := range res.Tracks {
				if t.Bank != a {
					continue
				}
				for _, p := range t.PCRs {
					if p.PCR != 10 {
						continue
					}
					br.Replayed = hex.EncodeToString(p.Value)
					for _, m := range p.Matches {
						if m >= -1 && tail[m+1] {
							br.Replayed, br.Collection = br.Real, len(list)-m-1
						}
					}
				}
			}
		}
		br.OK = br.Replayed != "" && br.Replayed == br.Real
		out = append(out, br)
	}
	return out
}
