package frame

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"runtime"
	"strconv"
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

// FuzzRead: whatever a guest sends, every file returned has a valid name
// and fits the limits, and a stream read without error holds exactly what
// its DONE announced.
func FuzzRead(f *testing.F) {
	var b bytes.Buffer
	w := NewWriter(&b, "n")
	w.File("x", []byte("data"))
	w.Done()
	f.Add(b.String())
	f.Add("IMASIM1 n BEGIN x 3 00\nIMASIM1 n D AAAA\nIMASIM1 n END x\n")
	f.Add("IMASIM1 n DONE 0\n")
	f.Add("IMASIM1 n BEGIN ../x 1 " + strings.Repeat("0", 64) + "\n")
	f.Add("IMASIM1 n BEGIN big 1099511627776 " + strings.Repeat("0", 64) + "\n")
	f.Fuzz(func(t *testing.T, s string) {
		files, err := Read(strings.NewReader(s), "n")
		if err == nil && files == nil {
			t.Fatal("nil files without error")
		}
		total := 0
		for name, data := range files {
			if !ValidName(name) {
				t.Fatalf("returned bad name %q", name)
			}
			if len(data) > MaxFile {
				t.Fatalf("%s: %d bytes", name, len(data))
			}
			total += len(data)
			sum := sha256.Sum256(data)
			if !strings.Contains(strings.ToLower(s), hex.EncodeToString(sum[:])) {
				t.Fatalf("%s: returned without its sha256 in the stream", name)
			}
		}
		if total > maxTotal {
			t.Fatalf("%d bytes in all", total)
		}
		if err == nil && !strings.Contains(s, "DONE") {
			t.Fatal("no DONE in a stream read without error")
		}
	})
}

// FuzzRoundTrip: a file the writer accepts reads back unchanged, among
// noise lines (kernel messages on the same port).
func FuzzRoundTrip(f *testing.F) {
	f.Add("report.json", []byte("{}"), "[ 1.0] noise")
	f.Add("a", []byte{}, "")
	f.Add("../x", []byte("x"), "IMASIM1 m D AAAA")
	f.Fuzz(func(t *testing.T, name string, data []byte, noise string) {
		var b bytes.Buffer
		w := NewWriter(&b, "n")
		if err := w.File(name, data); err != nil {
			if ValidName(name) {
				t.Fatalf("writer refused valid name %q: %v", name, err)
			}
			return
		}
		if !ValidName(name) {
			t.Fatalf("writer took bad name %q", name)
		}
		require.NoError(t, w.Done())
		noise = strings.NewReplacer("\n", " ", "\r", " ", Magic+" n ", "").Replace(noise)
		in := noise + "\n" + strings.ReplaceAll(b.String(), "\n", "\n"+noise+"\n")
		got, err := Read(strings.NewReader(in), "n")
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		if len(got) != 1 || !bytes.Equal(got[name], data) {
			t.Fatalf("read back %d files, %q = %q, want %q", len(got), name, got[name], data)
		}
	})
}

// A guest chooses the names and sizes in its frames: a name that is not
// one plain path component, or a size past the limits, is refused before
// anything is allocated or returned (issue 16: ../escape, BEGIN big 1 TiB).
func TestHostileFrames(t *testing.T) {
	sum := strings.Repeat("0", 64)
	for _, tc := range []struct{ name, in, want string }{
		{"dotdot", "IMASIM1 n BEGIN ../escape 1 " + sum + "\n", "bad name"},
		{"deep dotdot", "IMASIM1 n BEGIN a/../../x 1 " + sum + "\n", "bad name"},
		{"absolute", "IMASIM1 n BEGIN /etc/passwd 1 " + sum + "\n", "bad name"},
		{"subdir", "IMASIM1 n BEGIN a/b 1 " + sum + "\n", "bad name"},
		{"dot", "IMASIM1 n BEGIN . 1 " + sum + "\n", "bad name"},
		{"dotdot alone", "IMASIM1 n BEGIN .. 1 " + sum + "\n", "bad name"},
		{"hidden", "IMASIM1 n BEGIN .bashrc 1 " + sum + "\n", "bad name"},
		{"nul", "IMASIM1 n BEGIN a\x00b 1 " + sum + "\n", "bad name"},
		{"backslash", "IMASIM1 n BEGIN a\\b 1 " + sum + "\n", "bad name"},
		{"long", "IMASIM1 n BEGIN " + strings.Repeat("a", MaxName+1) + " 1 " + sum + "\n", "bad name"},
		{"huge size", "IMASIM1 n BEGIN big 1099511627776 " + sum + "\n", "limit"},
		{"past the file limit", "IMASIM1 n BEGIN big " + strconv.Itoa(MaxFile+1) + " " + sum + "\n", "limit"},
		{"overflow", "IMASIM1 n BEGIN big 99999999999999999999999 " + sum + "\n", "bad size"},
		{"bad sum", "IMASIM1 n BEGIN a 1 xyz\n", "bad sha256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			got, err := Read(strings.NewReader(tc.in+"IMASIM1 n D AA==\nIMASIM1 n END x\nIMASIM1 n DONE 1\n"), "n")
			runtime.ReadMemStats(&after)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, got)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<20), "allocated for a refused frame")
		})
	}
	// The writer refuses what the reader would.
	w := NewWriter(&bytes.Buffer{}, "n")
	for _, n := range []string{"../x", "/x", "a/b", ".", ".."} {
		assert.Error(t, w.File(n, nil), n)
	}
}

// The total of a stream is bounded too: many files each under MaxFile.
func TestTotalLimit(t *testing.T) {
	defer func(m int) { maxTotal = m }(maxTotal)
	maxTotal = 8 << 20
	one := bytes.Repeat([]byte{'x'}, 1<<20)
	var b bytes.Buffer
	w := NewWriter(&b, "n")
	n := maxTotal/len(one) + 1
	for i := 0; i < n; i++ {
		require.NoError(t, w.File("f"+strconv.Itoa(i), one))
	}
	require.NoError(t, w.Done())
	got, err := Read(&b, "n")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "limit")
	total := 0
	for _, f := range got {
		total += len(f)
	}
	assert.LessOrEqual(t, total, maxTotal)
}

// A name sent twice would silently replace the first file.
func TestDuplicateName(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b, "n")
	require.NoError(t, w.File("a", []byte("1")))
	require.NoError(t, w.File("a", []byte("2")))
	require.NoError(t, w.Done())
	_, err := Read(&b, "n")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "twice")
}
