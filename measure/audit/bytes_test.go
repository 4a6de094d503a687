package audit

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scanAll reads every record of s with the fast accessors first, then the
// Record, and returns them with the final stats, loss and kernel.
func dumpScan(s *Scanner) string {
	var b strings.Builder
	for s.Scan() {
		fmt.Fprintf(&b, "%d %q %v %v|", s.Type(), s.Path(), s.Truncated(), s.Fields())
		r := s.Record()
		fmt.Fprintf(&b, "%+v\n", r)
	}
	k, ok := s.Kernel()
	fmt.Fprintf(&b, "%+v\n%+v\n%+v %v\nerr %v\n", s.Stats(), s.Loss(), k, ok, s.Err())
	return b.String()
}

// TestBytesMatchesStream: a log scanned in place (Bytes) gives the same
// records, counts, loss evidence and reports as read through a reader, and
// its data is not written to.
func TestBytesMatchesStream(t *testing.T) {
	logs := fastLogs(t)
	long := bytes.Repeat([]byte("x"), 3*bufSize+17)
	logs["long-lines"] = slices.Concat([]byte("[    1.000000] audit: type=1805 audit(1.1:1): file=\"/a\" comm="), long,
		[]byte("\n[    1.000000] audit: type=1805 audit(1.1:2): file=\""), long, []byte("\n\xff\xfe junk "), long[:bufSize-1], []byte("\nend"))
	logs["binary-late"] = slices.Concat(bytes.Repeat([]byte("[ 1.0] audit: type=1805 audit(1.1:1): file=\"/a\"\n"), 2000), []byte("\x00\x01\x02\n"))
	logs["binary-head"] = []byte("[ 1.0] audit: x\n\x00\x01\x02\n")
	for name, data := range logs {
		for _, opts := range []Options{{}, {MaxLine: 100}, {MaxLine: bufSize + 5, Marker: "imasim-step"}, {NoSerialGaps: true}} {
			keep := bytes.Clone(data)
			want := dumpScan(NewScannerOptions(bytes.NewReader(data), opts))
			got := dumpScan(NewScannerOptions(&Bytes{Data: data}, opts))
			if want != got {
				w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
				for i := range min(len(w), len(g)) {
					if w[i] != g[i] {
						t.Fatalf("%s %+v: line %d:\nstream %.300s\nbytes  %.300s", name, opts, i, w[i], g[i])
					}
				}
				t.Fatalf("%s %+v: %d lines, want %d", name, opts, len(g), len(w))
			}
			require.Equal(t, keep, data, "%s: data written to", name)
		}
		for _, sum := range []bool{false, true} {
			o := ReportOptions{Name: name, Summary: sum, Scan: Options{Marker: "imasim-step"}}
			var a, b, c, d bytes.Buffer
			_, err1 := WriteText(&a, bytes.NewReader(data), o)
			_, err2 := WriteText(&b, &Bytes{Data: data}, o)
			assert.Equal(t, err1, err2, name)
			require.Equal(t, a.String(), b.String(), "%s summary %v", name, sum)
			_, err1 = WriteJSON(&c, bytes.NewReader(data), o)
			_, err2 = WriteJSON(&d, &Bytes{Data: data}, o)
			assert.Equal(t, err1, err2, name)
			require.Equal(t, c.String(), d.String(), "%s summary %v", name, sum)
		}
	}
}

// TestBytesCheck: Check is called as the scan goes and its error stops it.
func TestBytesCheck(t *testing.T) {
	var b bytes.Buffer
	for b.Len() < 3*checkEvery {
		b.WriteString("[    1.000000] virtio_net virtio0 enp0s3: renamed from eth0\n")
	}
	stop := errors.New("stop")
	calls := 0
	var offs []int64
	s := NewScanner(&Bytes{Data: b.Bytes(), Check: func(off int64) error {
		calls++
		offs = append(offs, off)
		require.Equal(t, byte('['), b.Bytes()[off], "a line starts at %d", off)
		if calls == 2 {
			return stop
		}
		return nil
	}})
	for s.Scan() {
	}
	assert.ErrorIs(t, s.Err(), stop)
	assert.Equal(t, 2, calls)
	assert.GreaterOrEqual(t, offs[0], int64(checkEvery))
	assert.GreaterOrEqual(t, offs[1]-offs[0], int64(checkEvery))
	assert.Less(t, s.Stats().Lines, strings.Count(b.String(), "\n"))
}

// TestStampAfterReadAhead: the audit time survives the read of the line
// after the record (which may move the reader's buffer), also when the
// reader gives one byte at a time.
func TestStampAfterReadAhead(t *testing.T) {
	for name, data := range fastLogs(t) {
		s := NewScanner(iotest.OneByteReader(bytes.NewReader(data)))
		for s.Scan() {
			r := s.Record()
			if r.Form == FormKernel || r.Form == FormKmsg || r.Form == FormAuditLog {
				require.False(t, r.Time.IsZero(), "%s line %d: %s", name, r.Line, r)
			}
		}
	}
}
