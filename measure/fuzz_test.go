package measure

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func binarySeeds(tb testing.TB) [][]byte {
	var out [][]byte
	for _, l := range []*List{sampleList(tb), allTemplates(tb)} {
		for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			var buf bytes.Buffer
			require.NoError(tb, l.WriteBinary(&buf, WriteOptions{Order: o}))
			out = append(out, buf.Bytes())
		}
	}
	return out
}

// FuzzBinaryReader: never panic; bad input yields a *ParseError; whatever
// parses re-serialises to exactly the bytes it was read from.
func FuzzBinaryReader(f *testing.F) {
	for _, s := range binarySeeds(f) {
		f.Add(s)
		f.Add(s[:len(s)/2])
	}
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 64))
	for _, s := range capturedSeeds(f, "binary_runtime_measurements") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := NewReader(bytes.NewReader(data), ReadOptions{MaxDataLen: 1 << 16})
		var l List
		l.DisableHTable = true
		var end int64
		for {
			e, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				var pe *ParseError
				require.True(t, errors.As(err, &pe), "error %v is not a *ParseError", err)
				require.Equal(t, l.Len(), pe.Entry)
				require.Equal(t, end, pe.Offset)
				break
			}
			l.Append(e.Clone())
			end = rd.Offset()
		}
		var buf bytes.Buffer
		require.NoError(t, l.WriteBinary(&buf, WriteOptions{Order: rd.Order()}))
		require.Equal(t, string(data[:end]), buf.String())
		// Rendering and replay of anything that parsed must not fail.
		require.NoError(t, l.WriteASCII(io.Discard, 0))
		_, err := l.Replay(ReplayConfig{Banks: []Algo{SHA1, SHA256}})
		require.NoError(t, err)
	})
}

// FuzzASCIIReader: never panic; what parses renders to text that parses to
// the same entries and renders identically again.
func FuzzASCIIReader(f *testing.F) {
	for _, l := range []*List{sampleList(f), allTemplates(f)} {
		var buf bytes.Buffer
		require.NoError(f, l.WriteASCII(&buf, 0))
		f.Add(buf.String())
		for _, line := range strings.SplitAfter(buf.String(), "\n") {
			f.Add(line)
		}
	}
	f.Add(" 9 0000 ima-ng :00 x\n")
	for _, s := range capturedSeeds(f, "ascii_runtime_measurements") {
		f.Add(string(s))
	}
	f.Fuzz(func(t *testing.T, text string) {
		l, err := ReadASCIIList(strings.NewReader(text), ReadOptions{MaxDataLen: 1 << 16})
		if err != nil {
			var pe *ParseError
			require.True(t, errors.As(err, &pe), "error %v is not a *ParseError", err)
		}
		var out1 bytes.Buffer
		for _, e := range l.Entries {
			out1.Write(AppendASCII(nil, e, e.DigestAlgo))
		}
		l2, err := ReadASCIIList(bytes.NewReader(out1.Bytes()), ReadOptions{MaxDataLen: 1 << 16})
		require.NoError(t, err, "re-parsing %q", out1.String())
		require.Equal(t, l.Len(), l2.Len())
		var out2 bytes.Buffer
		// Fields may differ where the kernel's text form is ambiguous (a
		// d-ng of just ":" NUL prints like an empty field); the text may not.
		for _, e := range l2.Entries {
			out2.Write(AppendASCII(nil, e, e.DigestAlgo))
		}
		require.Equal(t, out1.String(), out2.String())
	})
}

// FuzzParsePCRs: never panic; every value has its bank's size.
func FuzzParsePCRs(f *testing.F) {
	f.Add("PCR-10: " + strings.Repeat("ab", 20) + "\n")
	f.Add(strings.Repeat("cd", 32))
	f.Add("sha256:\n  10 : 0x" + strings.Repeat("cd", 32) + "\n")
	f.Fuzz(func(t *testing.T, text string) {
		q, err := ParsePCRs(strings.NewReader(text), 0)
		if err != nil {
			return
		}
		for a, m := range q {
			for i, d := range m {
				require.Len(t, d, a.Size(), "PCR %d", i)
				require.Less(t, i, NumPCRs)
			}
		}
	})
}

// capturedSeeds returns the legacy lists real kernels wrote (testdata).
func capturedSeeds(tb testing.TB, name string) [][]byte {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "lists", "kernel", "*", name))
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(tb, err)
		out = append(out, b)
	}
	return out
}
