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
