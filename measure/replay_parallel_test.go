package measure

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// sliceReader yields entries of a list (copies, like a reader's reuse would
// not matter to Replay).
type sliceReader struct {
	es  []*Entry
	i   int
	err error // returned after the entries (nil: io.EOF)
}

func (s *sliceReader) Next() (*Entry, error) {
	if s.i >= len(s.es) {
		if s.err != nil {
			return nil, s.err
		}
		return nil, io.EOF
	}
	s.i++
	return s.es[s.i-1], nil
}

// genMixed makes n entries of several templates and banks' digests with
// violations, wrong stored digests and several PCRs.
func genMixed(t testing.TB, n int, seed uint64) []*Entry {
	rng := rand.New(rand.NewPCG(seed, 3))
	var es []*Entry
	for i := 0; i < n; i++ {
		tmpl := []string{"ima-ng", "ima-ng", "ima", "ima-sig"}[rng.IntN(4)]
		algo := SHA256
		if tmpl == "ima" {
			algo = SHA1
		}
		pcr := 10
		if rng.IntN(10) == 0 {
			pcr = 11
		}
		name := fmt.Sprintf("/usr/lib/p%d/lib%d.so", i%7, i)
		var e *Entry
		var err error
		if rng.IntN(40) == 0 {
			e, err = NewViolation(tmpl, pcr, algo, name)
		} else {
			d := sha256.Sum256(binary.LittleEndian.AppendUint64(nil, uint64(i)))
			e, err = NewFileEntry(tmpl, pcr, algo, d[:algo.Size()], name)
			if err == nil && rng.IntN(50) == 0 {
				e.Digest[0] ^= 1 // a wrong stored template digest
			}
		}
		require.NoError(t, err)
		es = append(es, e)
	}
	return es
}

func sequentialReplay(t testing.TB, rd EntryReader, cfg ReplayConfig) (*Result, State, error) {
	r, err := NewReplayer(cfg)
	require.NoError(t, err)
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err == nil {
			err = r.Add(e)
		}
		if err != nil {
			return r.Result(), r.State(0), err
		}
	}
	return r.Result(), r.State(0), nil
}

func parallelReplay(t testing.TB, rd EntryReader, cfg ReplayConfig) (*Result, State, error) {
	r, err := NewReplayer(cfg)
	require.NoError(t, err)
	err = r.addAllParallel(rd)
	return r.Result(), r.State(0), err
}

// TestParallelReplayMatchesSequential: the batched replay on several
// goroutines gives the same PCRs, matches, digest errors, violations and
// errors as Add one entry at a time, on generated lists and the real ones
// in testdata.
func TestParallelReplayMatchesSequential(t *testing.T) {
	type tc struct {
		name string
		rd   func() EntryReader
		cfg  ReplayConfig
	}
	var tcs []tc
	for _, n := range []int{0, 1, replayBatch - 1, replayBatch, 3*replayBatch + 7, 5000} {
		es := genMixed(t, n, uint64(n))
		// A quote equal to the replay after some entry, so matches are set.
		seq, _, err := sequentialReplay(t, &sliceReader{es: es[:n/2]}, ReplayConfig{Banks: []Algo{SHA1, SHA256}})
		require.NoError(t, err)
		q := Quote{}
		for _, tr := range seq.Tracks {
			if tr.Mode == PerBank {
				for _, p := range tr.PCRs {
					if q[tr.Bank] == nil {
						q[tr.Bank] = map[int][]byte{}
					}
					q[tr.Bank][p.PCR] = p.Value
				}
			}
		}
		for _, cfg := range []ReplayConfig{
			{Banks: []Algo{SHA1, SHA256}},
			{Banks: []Algo{SHA256, SHA384, SHA1}, Modes: []Mode{PerBank, SHA1Padded}},
			{Quote: q},
			{Quote: q, Banks: []Algo{SHA512}, Modes: []Mode{Fallback}},
		} {
			es := es
			tcs = append(tcs, tc{fmt.Sprintf("%d entries %v %v", n, cfg.Banks, cfg.Modes), func() EntryReader { return &sliceReader{es: es} }, cfg})
		}
		tcs = append(tcs, tc{fmt.Sprintf("%d entries then a read error", n), func() EntryReader {
			return &sliceReader{es: es, err: fmt.Errorf("%w: test", ErrTruncated)}
		}, ReplayConfig{}})
	}
	bad := genMixed(t, 600, 9)
	bad[400].PCR = NumPCRs
	tcs = append(tcs, tc{"bad PCR", func() EntryReader { return &sliceReader{es: bad} }, ReplayConfig{}})
	lists, _ := filepath.Glob(filepath.Join("..", "testdata", "lists", "kernel", "*", "binary_runtime_measurements"))
	lists = append(lists, filepath.Join("..", "testdata", "lists", "sample.bin"), filepath.Join("..", "testdata", "lists", "sample-be.bin"))
	require.GreaterOrEqual(t, len(lists), 4)
	for _, file := range lists {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		tcs = append(tcs, tc{file, func() EntryReader { return NewReader(bytes.NewReader(data), ReadOptions{}) }, ReplayConfig{}})
	}
	for _, c := range tcs {
		t.Run(c.name, func(t *testing.T) {
			wantRes, wantState, wantErr := sequentialReplay(t, c.rd(), c.cfg)
			gotRes, gotState, gotErr := parallelReplay(t, c.rd(), c.cfg)
			if wantErr != nil {
				require.EqualError(t, gotErr, wantErr.Error())
			} else {
				require.NoError(t, gotErr)
			}
			require.Equal(t, wantRes, gotRes)
			require.Equal(t, wantState, gotState)
		})
	}
}

// TestIdleModes: with the default modes, SHA1Padded and Fallback are
// replayed only for banks whose per-bank replay misses the quote (or that
// have none); verdicts, and every track that is reported, equal the
// replay of all modes from the start.
func TestIdleModes(t *testing.T) {
	es := genMixed(t, 3000, 5)
	all := []Mode{PerBank, SHA1Padded, Fallback}
	eager, _, err := sequentialReplay(t, &sliceReader{es: es}, ReplayConfig{Banks: []Algo{SHA1, SHA256, SHA384}, Modes: all})
	require.NoError(t, err)
	quoteOf := func(m Mode, banks ...Algo) Quote {
		q := Quote{}
		for _, tr := range eager.Tracks {
			if tr.Mode == m || tr.Bank == SHA1 {
				for _, b := range banks {
					if tr.Bank == b {
						q[b] = map[int][]byte{}
						for _, p := range tr.PCRs {
							q[b][p.PCR] = p.Value
						}
					}
				}
			}
		}
		return q
	}
	merge := func(a, b Quote) Quote {
		for k, v := range b {
			a[k] = v
		}
		return a
	}
	for _, c := range []struct {
		name  string
		quote Quote
		woken []Algo // banks whose padded modes must be reported
	}{
		{"no quote", nil, []Algo{SHA256, SHA384}},
		{"per-bank quote", quoteOf(PerBank, SHA1, SHA256, SHA384), nil},
		{"padded sha256", merge(quoteOf(PerBank, SHA1, SHA384), quoteOf(SHA1Padded, SHA256)), []Algo{SHA256}},
		{"fallback sha384", merge(quoteOf(PerBank, SHA256), quoteOf(Fallback, SHA384)), []Algo{SHA384}},
		{"sha1 only quoted", quoteOf(PerBank, SHA1), []Algo{SHA256, SHA384}},
	} {
		t.Run(c.name, func(t *testing.T) {
			banks := []Algo{SHA1, SHA256, SHA384}
			full, fullState, err := sequentialReplay(t, &sliceReader{es: es}, ReplayConfig{Banks: banks, Modes: all, Quote: c.quote})
			require.NoError(t, err)
			for _, run := range []func(testing.TB, EntryReader, ReplayConfig) (*Result, State, error){sequentialReplay, parallelReplay} {
				got, gotState, err := run(t, &sliceReader{es: es}, ReplayConfig{Banks: banks, Quote: c.quote})
				require.NoError(t, err)
				var want []TrackResult
				for _, tr := range full.Tracks {
					if tr.Mode == PerBank || slices.Contains(c.woken, tr.Bank) {
						want = append(want, tr)
					}
				}
				require.Equal(t, want, got.Tracks)
				require.Equal(t, full.Verdicts(), got.Verdicts())
				require.Equal(t, full.Verify() == nil, got.Verify() == nil)
				require.Equal(t, fullState, gotState, "State replays the idle modes")
			}
		})
	}
}
