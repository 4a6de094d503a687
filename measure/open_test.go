package measure

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOpenListDetects: a list written in either byte order or as ASCII
// opens as the same entries, and the form is told from the first bytes.
func TestOpenListDetects(t *testing.T) {
	l := sampleList(t)
	dir := t.TempDir()
	var le, be, ascii bytes.Buffer
	require.NoError(t, l.WriteBinary(&le, WriteOptions{Order: binary.LittleEndian}))
	require.NoError(t, l.WriteBinary(&be, WriteOptions{Order: binary.BigEndian}))
	require.NoError(t, l.WriteASCII(&ascii, 0))
	for name, b := range map[string][]byte{"le": le.Bytes(), "be": be.Bytes(), "ascii_runtime_measurements": ascii.Bytes()} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, b, 0o644))
		f, err := OpenList(context.Background(), path, OpenOptions{})
		require.NoError(t, err, name)
		assert.Equal(t, name == "ascii_runtime_measurements", f.ASCII(), name)
		var got bytes.Buffer
		require.NoError(t, WriteASCII(&got, f, 0), name)
		require.NoError(t, f.Close())
		// A big-endian list's template digests are over big-endian fields:
		// compare the rest of each line.
		assert.Equal(t, noDigests(ascii.String()), noDigests(got.String()), name)
	}
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	_, err := OpenList(context.Background(), empty, OpenOptions{})
	assert.ErrorIs(t, err, ErrEmptyList)
	_, err = OpenList(context.Background(), empty, OpenOptions{Order: "middle"})
	assert.ErrorContains(t, err, `bad byte order "middle"`)
}

func noDigests(list string) []string {
	var out []string
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 2 {
			out = append(out, strings.Join(append(f[:1:1], f[2:]...), " "))
		}
	}
	return out
}

// TestOpenListResume: a state saved after some entries resumes on the
// same list (by seeking a binary file) to the replay of the whole list.
func TestOpenListResume(t *testing.T) {
	l := sampleList(t)
	path := filepath.Join(t.TempDir(), "binary_runtime_measurements")
	var buf bytes.Buffer
	require.NoError(t, l.WriteBinary(&buf, WriteOptions{Order: binary.BigEndian}))
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	cfg := ReplayConfig{Banks: []Algo{SHA256}, Modes: []Mode{PerBank}}

	whole, err := NewReplayer(cfg)
	require.NoError(t, err)
	f, err := OpenList(context.Background(), path, OpenOptions{})
	require.NoError(t, err)
	require.NoError(t, whole.AddAll(f))
	f.Close()

	half, err := NewReplayer(cfg)
	require.NoError(t, err)
	f, err = OpenList(context.Background(), path, OpenOptions{})
	require.NoError(t, err)
	for i := 0; i < l.Len()/2; i++ {
		e, err := f.Next()
		require.NoError(t, err)
		require.NoError(t, half.Add(e))
	}
	st := f.State(half)
	f.Close()
	assert.Equal(t, "be", st.Order)
	assert.Positive(t, st.Offset)

	rest, err := NewReplayer(cfg)
	require.NoError(t, err)
	f, err = OpenList(context.Background(), path, OpenOptions{})
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.Resume(st, rest))
	require.NoError(t, rest.AddAll(f))
	w, _ := whole.PCR(SHA256, PerBank, 10)
	r, _ := rest.PCR(SHA256, PerBank, 10)
	assert.Equal(t, w, r)
	_, err = f.Next()
	assert.Equal(t, io.EOF, err)
}

func TestBankFromName(t *testing.T) {
	assert.Equal(t, SHA256, BankFromName("/x/ascii_runtime_measurements_sha256"))
	assert.Equal(t, Algo(0), BankFromName("/x/binary_runtime_measurements"))
	assert.Equal(t, Algo(0), BankFromName("a_b/list"))
}

// FuzzParseOrder (--order/--in-order): le and be are opposite orders, and
// the name of a parsed order parses to it again.
func FuzzParseOrder(f *testing.F) {
	for _, s := range []string{"le", "be", "little", "big", "auto", "", "LE"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, auto bool) {
		o, err := ParseOrder(s, auto)
		if err != nil {
			return
		}
		if o == nil {
			if !auto {
				t.Fatalf("%q: auto without allowAuto", s)
			}
			return
		}
		back, err := ParseOrder(OrderName(o), false)
		if err != nil || back != o {
			t.Fatalf("%q -> %s -> %v, %v", s, OrderName(o), back, err)
		}
	})
}

// FuzzLooksASCII: a head whose first u32 is a PCR index in either byte
// order is never taken for ASCII, and an ASCII head starts with a digit
// or a space.
func FuzzLooksASCII(f *testing.F) {
	f.Add([]byte("10 ab"))
	f.Add([]byte{10, 0, 0, 0})
	f.Add([]byte(" 9"))
	f.Fuzz(func(t *testing.T, head []byte) {
		got := LooksASCII(head)
		if got && head[0] != ' ' && (head[0] < '0' || head[0] > '9') {
			t.Fatalf("%q taken for ASCII", head)
		}
		if len(head) >= 4 && (binary.LittleEndian.Uint32(head) < NumPCRs || binary.BigEndian.Uint32(head) < NumPCRs) && got {
			t.Fatalf("%x: a PCR index taken for ASCII", head)
		}
	})
}

func TestStateResumed(t *testing.T) {
	st := State{Tracks: []TrackState{{Bank: "sha256", Mode: "per-bank"}, {Bank: "sha1", Mode: "per-bank"}, {Bank: "sha256", Mode: "sha1-padded"}}}
	banks, modes, err := st.Resumed()
	require.NoError(t, err)
	assert.Equal(t, []Algo{SHA256, SHA1}, banks)
	assert.Equal(t, []Mode{PerBank, SHA1Padded}, modes)
	st.Tracks = append(st.Tracks, TrackState{Bank: "sha256", Mode: "sideways"})
	_, _, err = st.Resumed()
	assert.EqualError(t, err, "bad track sha256 sideways")
}
