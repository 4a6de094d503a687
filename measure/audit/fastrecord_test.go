package audit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fastLine is a record in the form fastRecord takes.
func fastLine(stamp string, typ int, serial uint64, body string) string {
	return fmt.Sprintf("[%s] audit: type=%d audit(1763805600.%03d:%d): %s\n", stamp, typ, serial%1000, serial, body)
}

// TestFastRecordTakesUsualLines: the usual kernel record lines, with
// stamps and serials of the lengths seen, go through fastRecord.
func TestFastRecordTakesUsualLines(t *testing.T) {
	body := `file="/usr/bin/x" hash="sha256:00" ppid=1 pid=2 comm="sh"`
	var log strings.Builder
	n := 0
	for _, stamp := range []string{"    0.003000", "12345.678901", "123456.789012", "  10.1"} {
		for _, serial := range []uint64{1, 42, 9999999, 1234567} {
			log.WriteString(fastLine(stamp, 1805, serial, fmt.Sprint(body, " n=", n)))
			n++
		}
	}
	s := NewScanner(&Bytes{Data: []byte(log.String())})
	taken := 0
	for {
		line, ln, ok := s.pend, s.pendLine, s.pendOK
		if ok {
			s.pendOK = false
		} else if line, ln, ok = s.read(); !ok {
			break
		}
		if rec, done := s.fastRecord(line, ln); done && rec {
			taken++
		}
	}
	require.Equal(t, n, taken)
}

// fastEdges are logs around the edges of fastRecord's form: stamps with
// a 't' or longer than 16 bytes, other types, headers that are not
// "ten digits.three digits:serial", serials of eight digits and more,
// short lines, wrapped lines and duplicates after a record, a window of
// rising serials and then some that are not.
func fastEdges() map[string][]byte {
	body := `file="/usr/bin/x" hash="sha256:00" ppid=1 pid=2 comm="sh"`
	logs := map[string][]byte{}
	var b strings.Builder
	for i := uint64(1); i <= 3*dupWindow; i++ {
		b.WriteString(fastLine("    0.003000", 1805, i, fmt.Sprintf(`file="/p%d" x=1`, i%7)))
		switch i % 997 {
		case 5:
			b.WriteString(fastLine("    0.003000", 1805, i, fmt.Sprintf(`file="/p%d" x=1`, i%7))) // a duplicate
		case 6:
			b.WriteString("hash=\"sha256:01\"\n") // a wrapped line
		case 7:
			b.WriteString(fastLine("    0.003000", 1805, i-5, body)) // a serial below the top
		case 8:
			b.WriteString(fastLine("    0.003000", 1300, i+1, body)) // another type
		}
	}
	logs["rising"] = []byte(b.String())
	lines := []string{
		fastLine("    0.003000", 1805, 1, body),
		fastLine("    0.0t3000", 1805, 2, body),
		fastLine("  1234567890.003000", 1805, 3, body),
		fastLine("    0.003000", 1804, 4, `file="/a`),
		"x\"\n",
		fastLine("    0.003000", 1899, 5, body),
		fastLine("    0.003000", 1900, 6, body),
		fastLine("    0.003000", 1300, 7, body),
		fastLine("    0.003000", 1805, 12345678, body),
		fastLine("    0.003000", 1805, 123456789012, body),
		fastLine("    0.003000", 1805, 9, ""),
		"[    0.003000] audit: type=1805 audit(1763805600.003:10):file=\"/b\" hash=\"sha256:00\" ppid=1 pid=2 comm=\"sh\"\n",
		"[    0.003000] audit: type=1805 audit(176380560.003:11): " + body + "\n",
		"[    0.003000] audit: type=1805 audit(1763805600.03:12): " + body + "\n",
		"[    0.003000] audit: type=1805 audit(1763805600.003:13 ): " + body + "\n",
		"[    0.003000] audit: type=1805 audit(1763805600.003:14): " + body + "\r\n",
		"[    0.003000] audit: type=18O5 audit(1763805600.003:15): " + body + "\n",
		"[    0.003000] audit:  type=1805 audit(1763805600.003:16): " + body + "\n",
		"[    0.003000] audit: type=1805 audit(1763805600.003:17)\n",
		"[    0.003000]audit: type=1805 audit(1763805600.003:18): " + body + "\n",
		fastLine("    0.003000", 1805, 19, `file="/c`),
		"hash=\"sha256:00\"\n",
		"pid=3\n",
		fastLine("    0.003000", 1805, 20, body),
		"{\"MESSAGE\":\"x\"}\n",
		fastLine("    0.003000", 1805, 20, body),
		fastLine("    0.003000", 1805, 1<<33, body),
		fastLine("    0.003000", 1805, 21, body),
	}
	logs["edges"] = []byte(strings.Join(lines, ""))
	return logs
}

// TestFastRecordMatchesGeneral: logs scanned in place (through
// fastRecord) give what the general path gives reading them through a
// reader: records, fields, counts, loss, duplicates.
func TestFastRecordMatchesGeneral(t *testing.T) {
	logs := fastEdges()
	logs["mixed"] = genMixedDmesg(3000, 2)
	for name, data := range logs {
		for _, opts := range []Options{{}, {NoSerialGaps: true}, {Marker: "pid=3"}, {MaxLine: 90}} {
			want := dumpScan(NewScannerOptions(bytes.NewReader(data), opts))
			got := dumpScan(NewScannerOptions(&Bytes{Data: data}, opts))
			if want != got {
				w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
				for i := range min(len(w), len(g)) {
					require.Equal(t, w[i], g[i], "%s %+v: line %d", name, opts, i)
				}
				require.Equal(t, len(w), len(g), "%s %+v", name, opts)
			}
		}
	}
}

// FuzzFastRecord compares the in-place scan with the general path on
// logs mutated from records of fastRecord's form.
func FuzzFastRecord(f *testing.F) {
	for _, data := range fastEdges() {
		f.Add(data[:min(len(data), 4000)])
	}
	f.Add([]byte(fastLine("    0.003000", 1805, 1, `file="/a" x=1`) + fastLine("    0.003000", 1805, 1, `file="/a" x=1`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		want := dumpScan(NewScannerOptions(bytes.NewReader(data), Options{}))
		if got := dumpScan(NewScannerOptions(&Bytes{Data: data}, Options{})); got != want {
			t.Fatalf("in place:\n%s\nthrough a reader:\n%s", got, want)
		}
	})
}

// FuzzStampTail compares stampTail with byte checks.
func FuzzStampTail(f *testing.F) {
	for _, s := range []string{"00.003:4", "99.999:)", "00.003;4", "0:.003:4", "0/.003:4", "00.0\xfa3:4", "\xf900.003:"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 8 {
			return
		}
		d := func(c byte) bool { return c >= '0' && c <= '9' }
		want := d(b[0]) && d(b[1]) && b[2] == '.' && d(b[3]) && d(b[4]) && d(b[5]) && b[6] == ':'
		if got := stampTail(binary.LittleEndian.Uint64(b)); got != want {
			t.Fatalf("stampTail(%q) = %v", b[:8], got)
		}
	})
}

// refPrintkStamp is printkStamp as it was first written, the reference
// for the one-pass scan of the numeric stamp.
func refPrintkStamp(msg []byte) bool {
	if len(msg) < 3 || msg[0] != '[' {
		return false
	}
	b := bytes.TrimLeft(msg[1:], " ")
	digits := func(b []byte) int {
		n := 0
		for n < len(b) && b[n] >= '0' && b[n] <= '9' {
			n++
		}
		return n
	}
	if n := digits(b); n > 0 {
		b = b[n:]
		if len(b) > 1 && b[0] == '.' {
			if m := digits(b[1:]); m > 0 {
				return len(b) > m+1 && b[m+1] == ']'
			}
		}
		return false
	}
	return weekdayStamp(b) // not rewritten: shared
}

func FuzzPrintkStamp(f *testing.F) {
	for _, s := range []string{"[    0.003000] x", "[12.5]", "[1.]", "[ 1.2", "[Mon Nov 22 10:00:00 2026] x", "[Sat x", "[  ]", "[1.2x]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		if got, want := printkStamp(msg), refPrintkStamp(msg); got != want {
			t.Fatalf("printkStamp(%q) = %v, reference %v", msg, got, want)
		}
	})
}

// FuzzStampEnd compares stampEnd with plain searches.
func FuzzStampEnd(f *testing.F) {
	for _, s := range []string{"[    0.003000] audit: type=1805", "[123456.789012] x", "[t] ", "[   1.0]]", "[Sat Nov 22 10:00:00 2026] x", "[0123456789abcdef]", "[0123456789abcdeft]", "[x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		want := bytes.IndexByte(msg, ']')
		if want < 0 || bytes.IndexByte(msg[:want], 't') >= 0 {
			want = -1
		}
		if got := stampEnd(msg); got != want {
			t.Fatalf("stampEnd(%q) = %d, want %d", msg, got, want)
		}
	})
}

// FuzzLeadingDigits compares leadingDigits with a byte loop.
func FuzzLeadingDigits(f *testing.F) {
	for _, s := range []string{"1234567)", "1)xxxxxx", ")1234567", "12345678", "0000001)", "9999999)", "12\xfa9)xxx", "/:09\x00\xff59"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 8 {
			return
		}
		want := 0
		var wantV uint64
		for want < 8 && b[want] >= '0' && b[want] <= '9' {
			wantV = wantV*10 + uint64(b[want]-'0')
			want++
		}
		if want == 8 {
			wantV = 0
		}
		n, v := leadingDigits(binary.LittleEndian.Uint64(b))
		if n != want || v != wantV {
			t.Fatalf("leadingDigits(%q) = %d, %d; want %d, %d", b[:8], n, v, want, wantV)
		}
	})
}

// TestFastRecordCheck: records read through fastRecord still call Bytes'
// Check every MiB, at the start of a line, and stop where it says.
func TestFastRecordCheck(t *testing.T) {
	var b bytes.Buffer
	for i := uint64(1); b.Len() < 3*checkEvery; i++ {
		b.WriteString(fastLine("    0.003000", 1805, i, fmt.Sprintf(`file="/p%d" hash="sha256:00"`, i%9)))
	}
	data := b.Bytes()
	stop := errors.New("stop")
	var offs []int64
	s := NewScanner(&Bytes{Data: data, Check: func(off int64) error {
		offs = append(offs, off)
		require.Equal(t, byte('['), data[off], "a line starts at %d", off)
		if len(offs) == 2 {
			return stop
		}
		return nil
	}})
	n := 0
	for s.Scan() {
		n++
	}
	require.ErrorIs(t, s.Err(), stop)
	require.Len(t, offs, 2)
	require.GreaterOrEqual(t, offs[0], int64(checkEvery))
	require.Less(t, offs[0], int64(checkEvery)+200)
	require.GreaterOrEqual(t, offs[1]-offs[0], int64(checkEvery))
	require.Less(t, offs[1]-offs[0], int64(checkEvery)+200)
	require.Equal(t, bytes.Count(data[:offs[1]], []byte("\n")), n, "records before the stop")
}
