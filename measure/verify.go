package measure

import (
	"crypto"
	"fmt"
	"slices"
)

// ExtendDigests gives one digest per TPM bank for e in mode m, as the
// kernel computes them; banks imasim does not know get the padded SHA-1
// digest, as the kernel gives banks it does not know (Linux v6.12:
// ima_queue.c:ima_init_digests).
func (e *Entry) ExtendDigests(banks []crypto.Hash, m Mode) map[crypto.Hash][]byte {
	out := map[crypto.Hash][]byte{}
	for _, h := range banks {
		if a, ok := AlgoFromCrypto(h); ok {
			out[h] = e.ExtendDigest(a, m)
		} else {
			out[h] = e.PaddedDigest(h.Size())
		}
	}
	return out
}

// QuoteOf makes a Quote of PCR values read per PCR and hash (as
// tpm.ReadAll gives them), keeping the banks listed that imasim can hash.
func QuoteOf(banks []crypto.Hash, vals map[int]map[crypto.Hash][]byte) Quote {
	q := Quote{}
	for _, h := range banks {
		a, ok := AlgoFromCrypto(h)
		if !ok {
			continue
		}
		for i, v := range vals {
			if d, ok := v[h]; ok {
				if q[a] == nil {
					q[a] = map[int][]byte{}
				}
				q[a][i] = d
			}
		}
	}
	return q
}

// VerifyQuoted is Verify for a replay against quoted PCRs (quoted:
// some were given): a list that extends none of them fails too.
func (res *Result) VerifyQuoted(quoted bool) error {
	err := res.Verify()
	if err == nil && quoted && len(res.Verdicts()) == 0 {
		err = fmt.Errorf("none of the quoted PCRs is extended by the list (%d entries)", res.Entries)
	}
	return err
}

// Resumed gives the banks and modes of s's tracks, each once, in the
// order they first appear: what a resumed replay must replay.
func (s State) Resumed() ([]Algo, []Mode, error) {
	var banks []Algo
	var modes []Mode
	for _, ts := range s.Tracks {
		a, aerr := ParseAlgo(ts.Bank)
		m, merr := ParseMode(ts.Mode)
		if aerr != nil || merr != nil {
			return nil, nil, fmt.Errorf("bad track %s %s", ts.Bank, ts.Mode)
		}
		if !slices.Contains(banks, a) {
			banks = append(banks, a)
		}
		if !slices.Contains(modes, m) {
			modes = append(modes, m)
		}
	}
	return banks, modes, nil
}
