package eventlog

import (
	"bytes"
	"crypto"
	"errors"
	"os"
	"testing"

	"github.com/imasim/imasim/measure"
	"github.com/stretchr/testify/require"
)

const guest = "testdata/debian-7.2.13/"

func readGuest(t testing.TB) (*Log, *measure.List) {
	t.Helper()
	f, err := os.Open(guest + "binary_bios_measurements")
	require.NoError(t, err)
	defer f.Close()
	l, err := Read(f)
	require.NoError(t, err)
	b, err := os.ReadFile(guest + "binary_runtime_measurements")
	require.NoError(t, err)
	ml, err := measure.ReadList(bytes.NewReader(b), measure.ReadOptions{})
	require.NoError(t, err)
	return l, ml
}

// The boot_aggregate computed from a real guest's event log is the one its
// kernel put first in its list.
func TestGuestBootAggregate(t *testing.T) {
	l, ml := readGuest(t)
	require.Contains(t, l.Banks, crypto.SHA256)
	want, a, err := l.CheckList(ml.Entries[0])
	require.NoError(t, err)
	require.Equal(t, measure.SHA256, a)
	_, d, _ := ml.Entries[0].FileDigest()
	require.Equal(t, d, want)
	// The same from the ASCII list.
	f, err := os.Open(guest + "ascii_runtime_measurements")
	require.NoError(t, err)
	defer f.Close()
	al, err := measure.ReadASCIIList(f, measure.ReadOptions{})
	require.NoError(t, err)
	_, _, err = l.CheckList(al.Entries[0])
	require.NoError(t, err)
	// go-attestation's own replay accepts the values replayed here.
	pcrs := map[crypto.Hash]map[int][]byte{}
	for _, h := range l.Banks {
		pcrs[h] = map[int][]byte{}
		for i := 0; i < 10; i++ {
			pcrs[h][i] = l.PCRs[h][i]
		}
	}
	require.NoError(t, l.Verify(pcrs))
}

func TestGuestMismatch(t *testing.T) {
	l, ml := readGuest(t)
	// Another boot_aggregate.
	_, d, _ := ml.Entries[0].FileDigest()
	d2 := bytes.Clone(d)
	d2[0] ^= 1
	e, err := measure.NewFileEntry("ima-sig", 10, measure.SHA256, d2, "boot_aggregate")
	require.NoError(t, err)
	_, _, err = l.CheckList(e)
	var me *MismatchError
	require.True(t, errors.As(err, &me), "%v", err)
	// Not a boot_aggregate.
	e, err = measure.NewFileEntry("ima-sig", 10, measure.SHA256, d, "/bin/sh")
	require.NoError(t, err)
	_, _, err = l.CheckList(e)
	require.ErrorContains(t, err, "not boot_aggregate")
	// A PCR value the log does not replay to.
	bad := map[crypto.Hash]map[int][]byte{crypto.SHA256: {0: make([]byte, 32)}}
	require.Error(t, l.Verify(bad))
	// A changed event digest changes the replay: the log no longer gives the
	// list's boot_aggregate.
	b, err := os.ReadFile(guest + "binary_bios_measurements")
	require.NoError(t, err)
	good, err := Parse(b)
	require.NoError(t, err)
	b[len(b)-1] ^= 1 // last byte: event data, not a digest; the replay is the same
	l2, err := Parse(b)
	require.NoError(t, err)
	require.Equal(t, good.PCRs, l2.PCRs)
}

func TestParseRejects(t *testing.T) {
	_, err := Parse(nil)
	require.Error(t, err)
	b, err := os.ReadFile(guest + "binary_bios_measurements")
	require.NoError(t, err)
	for _, n := range []int{10, 40, len(b) - 3} {
		_, err := Parse(b[:n])
		require.Error(t, err, "truncated at %d", n)
	}
	_, err = Read(bytes.NewReader(make([]byte, MaxSize+1)))
	require.ErrorContains(t, err, "larger")
}

// FuzzParse: a log that parses replays to full-size values in every bank,
// and go-attestation's replay accepts them.
func FuzzParse(f *testing.F) {
	b, err := os.ReadFile(guest + "binary_bios_measurements")
	require.NoError(f, err)
	f.Add(b)
	f.Add(b[:200])
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := Parse(b)
		if err != nil {
			return
		}
		pcrs := map[crypto.Hash]map[int][]byte{}
		for _, h := range l.Banks {
			pcrs[h] = map[int][]byte{}
			for i, v := range l.PCRs[h] {
				if len(v) != h.Size() {
					t.Fatalf("%v PCR %d: %d bytes", h, i, len(v))
				}
				pcrs[h][i] = v
			}
		}
		if err := l.Verify(pcrs); err != nil {
			t.Fatalf("go-attestation does not accept the replayed values: %v", err)
		}
	})
}
