package measure

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// benchEntries is the list size of the evmctl baseline (measure/bench.sh).
const benchEntries = 200_000

var benchOnce struct {
	sync.Once
	data []byte
	res  *Result
}

// genList writes n ima-ng entries (sha256 file digests, realistic paths)
// after a boot_aggregate, as a kernel would list them.
func genList(tb testing.TB, w io.Writer, n int) {
	tb.Helper()
	bw := NewWriter(w, WriteOptions{})
	ba, err := NewBootAggregate("ima-ng", SHA256, nil)
	require.NoError(tb, err)
	require.NoError(tb, bw.Write(ba))
	for i := 0; i < n-1; i++ {
		d := sha256.Sum256(binary.LittleEndian.AppendUint64(nil, uint64(i)))
		e, err := NewFileEntry("ima-ng", 10, SHA256, d[:], fmt.Sprintf("/usr/lib/x86_64-linux-gnu/pkg%d/lib%d.so.1", i%97, i))
		require.NoError(tb, err)
		require.NoError(tb, bw.Write(e))
	}
	require.NoError(tb, bw.Flush())
}

func benchList(tb testing.TB) []byte {
	benchOnce.Do(func() {
		var buf bytes.Buffer
		genList(tb, &buf, benchEntries)
		benchOnce.data = buf.Bytes()
	})
	return benchOnce.data
}

func benchReplay(b *testing.B, cfg ReplayConfig) {
	data := benchList(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Replay(NewReader(bytes.NewReader(data), ReadOptions{}), cfg)
		if err != nil || res.Entries != benchEntries {
			b.Fatalf("Replay: %v (%d entries)", err, res.Entries)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/list")
}

// BenchmarkReplay200k replays sha1+sha256 like evmctl (per-bank and SHA-1
// padded) over 200,000 ima-ng entries; evmctl 1.4 needs 0.57 s.
func BenchmarkReplay200k(b *testing.B) {
	benchReplay(b, ReplayConfig{Banks: []Algo{SHA1, SHA256}, Modes: []Mode{PerBank, SHA1Padded}})
}

// BenchmarkReplay200kAllModes adds the fallback mode.
func BenchmarkReplay200kAllModes(b *testing.B) {
	benchReplay(b, ReplayConfig{Banks: []Algo{SHA1, SHA256}})
}

// BenchmarkReplay200kVerify replays as `imasim list verify` does against a
// quote of the list's own sha1 and sha256 PCR 10 (default modes: the
// padded ones stay idle since per-bank matches). measure/bench.sh runs it
// with -cpu 1,2 for the two-core speed-up.
func BenchmarkReplay200kVerify(b *testing.B) {
	data := benchList(b)
	res, err := Replay(NewReader(bytes.NewReader(data), ReadOptions{}), ReplayConfig{Banks: []Algo{SHA1, SHA256}, Modes: []Mode{PerBank}})
	require.NoError(b, err)
	q := Quote{}
	for _, tr := range res.Tracks {
		q[tr.Bank] = map[int][]byte{10: tr.PCRs[0].Value}
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Replay(NewReader(bytes.NewReader(data), ReadOptions{}), ReplayConfig{Quote: q, OnlyExtended: true})
		if err != nil || res.Verify() != nil || len(res.Tracks) != 2 {
			b.Fatalf("Replay: %v, verify %v, %d tracks", err, res.Verify(), len(res.Tracks))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/list")
}

// BenchmarkRead200k only parses.
func BenchmarkRead200k(b *testing.B) {
	data := benchList(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		rd := NewReader(bytes.NewReader(data), ReadOptions{})
		for {
			if _, err := rd.Next(); err != nil {
				break
			}
		}
	}
}

// BenchmarkASCII200k renders the list as ASCII.
func BenchmarkASCII200k(b *testing.B) {
	data := benchList(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		require.NoError(b, WriteASCII(io.Discard, NewReader(bytes.NewReader(data), ReadOptions{}), 0))
	}
}
