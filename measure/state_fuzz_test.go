package measure

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzState (list verify --state FILE): a state that Resume accepts has
// no negative counts, and the replayer's own State gives back what it
// was resumed from (counts, and every PCR of the tracks it computes).
func FuzzState(f *testing.F) {
	r, err := NewReplayer(ReplayConfig{})
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range sampleList(f).Entries {
		if err := r.Add(e); err != nil {
			f.Fatal(err)
		}
	}
	good, _ := json.Marshal(r.State(1234))
	f.Add(good)
	f.Add([]byte(`{"entries":-5,"violations":-1,"tracks":[]}`))
	f.Add([]byte(`{"entries":1,"tracks":[{"bank":"sha1","mode":"per-bank","pcrs":{"10":"00"}}]}`))
	f.Add([]byte(`{"entries":0,"offset":-9,"tracks":[{"bank":"sha256","mode":"per-bank","pcrs":{"-1":""}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var st State
		if json.Unmarshal(data, &st) != nil {
			return
		}
		r, err := NewReplayer(ReplayConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Resume(st) != nil {
			return
		}
		if st.Entries < 0 || st.Violations < 0 || st.Offset < 0 {
			t.Fatalf("negative counts resumed: %+v", st)
		}
		back := r.State(st.Offset)
		if back.Entries != st.Entries || back.Violations != st.Violations {
			t.Fatalf("resumed %+v, state %+v", st, back)
		}
		for _, ts := range st.Tracks {
			for _, bt := range back.Tracks {
				if bt.Bank != ts.Bank || bt.Mode != ts.Mode {
					continue
				}
				for i, v := range ts.PCRs {
					if strings.ToLower(v) != bt.PCRs[i] && strings.Trim(v, "0") != "" {
						t.Fatalf("%s %s PCR %d: resumed %q, state %q", ts.Bank, ts.Mode, i, v, bt.PCRs[i])
					}
				}
			}
		}
	})
}
