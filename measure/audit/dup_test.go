package audit

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDuplicateWindow checks the Scanner's duplicate detection against a
// plain model: a record is a duplicate when one of the last dupWindow
// records kept had the same type, serial and text (trailing blanks and
// auditd's enriched part aside). The log repeats records at distances
// around the window, with changed type, serial or trailing blanks, and
// its serials sometimes fall back.
func TestDuplicateWindow(t *testing.T) {
	type rec struct {
		typ    int
		serial int
		body   string
	}
	rng := rand.New(rand.NewPCG(11, 12))
	var recs []rec
	serial := 1
	for i := 0; i < 40000; i++ {
		if len(recs) > 0 && rng.IntN(3) == 0 {
			d := []int{1, 2, 100, dupWindow - 1, dupWindow, dupWindow + 1, dupWindow + 7, 3 * dupWindow}[rng.IntN(8)]
			if d > len(recs) {
				d = len(recs)
			}
			r := recs[len(recs)-d]
			switch rng.IntN(6) {
			case 0:
				r.typ = 1804
			case 1:
				r.serial++
			case 2:
				r.body += "  \t"
			case 3:
				r.body += " x=1"
			}
			recs = append(recs, r)
			continue
		}
		if rng.IntN(500) == 0 && serial > 3000 {
			serial -= 3000 // serials fall (a reboot): rising runs meet kept ones
		}
		recs = append(recs, rec{1805, serial, fmt.Sprintf("file=\"/p%d\" hash=\"sha256:%x\" pid=%d", rng.IntN(50), rng.IntN(7), rng.IntN(3))})
		serial++
	}
	var log bytes.Buffer
	for _, r := range recs {
		fmt.Fprintf(&log, "audit: type=%d audit(1763805600.100:%d): %s\n", r.typ, r.serial, r.body)
	}
	// The model.
	var want []int // serials of the records kept
	wantDup := 0
	var window []string // the last dupWindow records kept, oldest first
	in := map[string]bool{}
	for _, r := range recs {
		k := fmt.Sprintf("%d/%d/%s", r.typ, r.serial, strings.TrimRight(r.body, " \t"))
		if in[k] {
			wantDup++
			continue
		}
		window = append(window, k)
		in[k] = true
		if len(window) > dupWindow {
			delete(in, window[0])
			window = window[1:]
		}
		want = append(want, r.serial)
	}
	for _, in := range []io.Reader{bytes.NewReader(log.Bytes()), &Bytes{Data: log.Bytes()}} {
		s := NewScannerOptions(in, Options{NoSerialGaps: true})
		var got []int
		for s.Scan() {
			got = append(got, int(s.Serial()))
		}
		require.NoError(t, s.Err())
		require.Equal(t, wantDup, s.Stats().Duplicates, "%T", in)
		require.Equal(t, want, got, "%T", in)
	}
	require.Greater(t, wantDup, 1000)
}

// TestDuplicateEvictedFromRun: a record that left the window while its
// serials rose is forgotten, even when a record kept later shares its
// type and serial; the wrapped one is hashed when kept, in place too.
func TestDuplicateEvictedFromRun(t *testing.T) {
	var log bytes.Buffer
	rec := func(serial int, body string) {
		fmt.Fprintf(&log, "audit: type=1805 audit(1763805600.100:%d): %s\n", serial, body)
	}
	for _, a := range []string{"file=\"/a\nb\"", `file="/a"`} {
		rec(1, a)
		for i := 2; i <= dupWindow+1; i++ {
			rec(i, fmt.Sprintf(`file="/r%d"`, i))
		}
		rec(1, `file="/b"`) // kept: its pair (1805, 1) is no longer in the window
		rec(1, a)           // kept: a left the window
		rec(1, `file="/b"`) // a duplicate
		for i := 2; i <= dupWindow+1; i++ {
			rec(i, fmt.Sprintf(`file="/s%d"`, i))
		}
	}
	for _, in := range []io.Reader{bytes.NewReader(log.Bytes()), &Bytes{Data: log.Bytes()}} {
		s := NewScannerOptions(in, Options{NoSerialGaps: true})
		n := 0
		for s.Scan() {
			n++
		}
		require.NoError(t, s.Err())
		require.Equal(t, 4*dupWindow+6, n, "%T", in)
		require.Equal(t, 2, s.Stats().Duplicates, "%T", in)
	}
}
