package frame

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func encode(t testing.TB, nonce string, files map[string][]byte, order []string) string {
	var b bytes.Buffer
	w := NewWriter(&b, nonce)
	for _, n := range order {
		require.NoError(t, w.File(n, files[n]))
	}
	require.NoError(t, w.Done())
	return b.String()
}

func TestRoundTrip(t *testing.T) {
	files := map[string][]byte{"a": []byte("hello"), "empty": nil, "big": bytes.Repeat([]byte{0, 1, 2, 0xff}, 1000)}
	s := encode(t, "n1", files, []string{"a", "empty", "big"})
	// Kernel noise, CRLF and another run's lines are ignored.
	noisy := "[ 1.0] boot\r\nIMASIM1 other BEGIN x 1 00\n" + strings.ReplaceAll(s, "\n", "\r\n") + "trailing\n"
	got, err := Read(strings.NewReader(noisy), "n1")
	require.NoError(t, err)
	assert.Equal(t, []byte("hello"), got["a"])
	assert.Empty(t, got["empty"])
	assert.Equal(t, files["big"], got["big"])
	assert.Len(t, got, 3)
}

func TestErrors(t *testing.T) {
	files := map[string][]byte{"a": bytes.Repeat([]byte("x"), 200), "b": []byte("yy")}
	good := encode(t, "n", files, []string{"a", "b"})
	lines := strings.Split(strings.TrimSuffix(good, "\n"), "\n")
	data := -1
	for i, l := range lines {
		if strings.Contains(l, " D ") {
			data = i
			break
		}
	}
	require.GreaterOrEqual(t, data, 0)
	flip := append([]string{}, lines...)
	d := []byte(flip[data])
	d[len(d)-3] ^= 0x01 // one base64 character changes: sha256 mismatch
	flip[data] = string(d)
	drop := append(append([]string{}, lines[:data]...), lines[data+1:]...)
	for _, tc := range []struct {
		name, in, want string
		partial        int
	}{
		{"no DONE", strings.Join(lines[:len(lines)-1], "\n"), "truncated", 2},
		{"cut inside a file", strings.Join(lines[:data+1], "\n"), "cut off", 0},
		{"corrupted byte", strings.Join(flip, "\n"), "", 0},
		{"missing data line", strings.Join(drop, "\n"), "truncated", 0},
		{"bad base64", strings.Replace(good, lines[data], "IMASIM1 n D !!!!", 1), "corrupt data", 0},
		{"DONE count", strings.Replace(good, "DONE 2", "DONE 3", 1), "announces", 2},
		{"unknown record", strings.Replace(good, "DONE 2", "WHAT 2", 1), "unknown record", 2},
		{"wrong nonce", good, "truncated", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nonce := "n"
			if tc.name == "wrong nonce" {
				nonce = "m"
			}
			got, err := Read(strings.NewReader(tc.in), nonce)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Len(t, got, tc.partial)
		})
	}
}

func TestBadName(t *testing.T) {
	w := NewWriter(&bytes.Buffer{}, "n")
	assert.Error(t, w.File("a b", nil))
	assert.Error(t, w.File("", nil))
}

func FuzzRead(f *testing.F) {
	var b bytes.Buffer
	w := NewWriter(&b, "n")
	w.File("x", []byte("data"))
	w.Done()
	f.Add(b.String())
	f.Add("IMASIM1 n BEGIN x 3 00\nIMASIM1 n D AAAA\nIMASIM1 n END x\n")
	f.Add("IMASIM1 n DONE 0\n")
	f.Fuzz(func(t *testing.T, s string) {
		files, err := Read(strings.NewReader(s), "n")
		if err == nil && files == nil {
			t.Fatal("nil files without error")
		}
	})
}
