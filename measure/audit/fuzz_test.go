package audit

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzScanner feeds arbitrary logs to the Scanner: it must not panic,
// must account for every line, and every record must be an integrity one.
func FuzzScanner(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(testdata, "*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil && !strings.HasSuffix(p, ".md") {
			f.Add(b)
		}
	}
	f.Add([]byte("audit: type=1805 audit(1.1:1): file=\"a\nb\" hash=\"x\"\n"))
	f.Add([]byte("5,1,2,-;audit: type=1804 audit(0.5:3): op=invalid_pcr cause=ToMToU name=2F20\n 5,2,3,-;x\n"))
	f.Add([]byte("type=INTEGRITY_RULE msg=audit(11/22/26 10:00:00.1:2) : file=/a b c=d\n"))
	f.Add([]byte(`{"_TRANSPORT":"audit","_AUDIT_TYPE":"1805","_AUDIT_ID":"1","MESSAGE":[73,78]}` + "\n"))
	f.Add([]byte("audit: type=1805 audit(1.1:18446744073709551615): a=1\naudit: type=1805 audit(1.1:1): a=1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewScannerOptions(strings.NewReader(string(data)), Options{MaxLine: 512})
		n := 0
		for s.Scan() {
			// The accessors that skip building the Record agree with it.
			path := string(s.Path())
			views := slices.Clone(s.Fields())
			trunc := s.Truncated()
			r := s.Record()
			if path != r.Path() || trunc != r.Truncated || len(views) != len(r.Fields) {
				t.Fatalf("line %d: fast path %q/%v/%d fields, record %q/%v/%d", r.Line, path, trunc, len(views), r.Path(), r.Truncated, len(r.Fields))
			}
			for i, v := range views {
				if f := r.Fields[i]; f.Key != string(v.Key) || f.Value != string(v.Value) || f.Op != v.Op || f.Encoding != v.Encoding {
					t.Fatalf("line %d field %d: view %q=%q, record %q", r.Line, i, v.Key, v.Value, f)
				}
			}
			if !r.Type.Integrity() {
				t.Fatalf("record of type %d", r.Type)
			}
			if r.Line <= 0 || r.Line > s.Stats().Lines {
				t.Fatalf("record line %d of %d", r.Line, s.Stats().Lines)
			}
			checkRoundTrip(t, r)
			n++
		}
		// The only error from memory is "not a log": binary data at an
		// offset inside the head, at or before the first NUL there; or
		// text with no line in a known form.
		var nl *NotLogError
		if err := s.Err(); err != nil && !errors.As(err, &nl) {
			t.Fatal(err)
		}
		if z := bytes.IndexByte(data[:min(len(data), HeadCheck)], 0); z >= 0 && (nl == nil || nl.Offset < 0 || nl.Offset > int64(z)) {
			t.Fatalf("NUL at %d, error %v", z, s.Err())
		}
		if nl != nil && nl.Offset >= int64(min(len(data), HeadCheck)) {
			t.Fatalf("binary offset %d past the head of %d bytes", nl.Offset, len(data))
		}
		if nl != nil && nl.Offset < 0 && s.Stats().Recognized > 0 {
			t.Fatalf("text with %d known lines called not a log", s.Stats().Recognized)
		}
		st := s.Stats()
		if st.Records != n {
			t.Fatalf("Stats.Records %d, scanned %d", st.Records, n)
		}
		if st.Lines > strings.Count(string(data), "\n")+1 {
			t.Fatalf("%d lines from %d newlines", st.Lines, strings.Count(string(data), "\n"))
		}
		if l := s.Loss(); len(l.Evidence) > MaxEvidence {
			t.Fatalf("%d evidence entries kept", len(l.Evidence))
		}
		// Scanned in place, the log gives the same records and counts and
		// is not written to.
		keep := bytes.Clone(data)
		opts := Options{MaxLine: 512}
		if a, b := dumpScan(NewScannerOptions(bytes.NewReader(data), opts)), dumpScan(NewScannerOptions(&Bytes{Data: data}, opts)); a != b {
			t.Fatalf("in place:\n%s\nthrough a reader:\n%s", b, a)
		}
		if !bytes.Equal(keep, data) {
			t.Fatal("in-place scan wrote to its input")
		}
	})
}

// FuzzParseFields checks the field tokenizer on arbitrary record bodies.
func FuzzParseFields(f *testing.F) {
	f.Add(`file="/x" hash="sha256:00" ppid=1 comm=2F20 uid<1000 permit_directio`)
	f.Add("a=1\x1dUID=\"root\" msg='op=x'")
	f.Add(`file=/tmp/a b hash=sha256:00 c=`)
	f.Fuzz(func(t *testing.T, body string) {
		fs, _ := parseFields(body, nil)
		for _, fl := range fs {
			if fl.Key == "" && fl.Op == 0 {
				t.Fatalf("empty field from %q", body)
			}
			_ = fl.String()
		}
		for _, fl := range parseInterpreted(body, nil) {
			_ = fl.String()
		}
	})
}

// FuzzPathCounts adds the NUL-separated parts of data to a PathCounts and
// to a map: same counts, same distinct paths, sorted order.
func FuzzPathCounts(f *testing.F) {
	f.Add([]byte("/a\x00/b\x00/a\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := NewPathCounts()
		want := map[string]int{}
		for _, p := range bytes.Split(data, []byte{0}) {
			c.Add(p)
			want[string(p)]++
		}
		if c.Len() != len(want) {
			t.Fatalf("%d distinct, want %d", c.Len(), len(want))
		}
		prev := ""
		i := 0
		c.Sorted(func(p []byte, n int) {
			if want[string(p)] != n || (i > 0 && string(p) <= prev) {
				t.Fatalf("path %q count %d (want %d) after %q", p, n, want[string(p)], prev)
			}
			prev = string(p)
			i++
		})
	})
}

// checkRoundTrip re-parses a raw-form record rendered by Record.String and
// wants the same type, serial and fields back.
func checkRoundTrip(t *testing.T, r Record) {
	t.Helper()
	text := r.String()
	if r.Truncated || r.Form == FormAusearch || r.Form == FormJournal || r.Time.IsZero() || strings.ContainsAny(text, "\n\r") {
		return
	}
	// A bare Scanner with a tiny reader: NewScanner's 64 KiB buffer per
	// record would dominate fuzzing time.
	s := &Scanner{r: bufio.NewReaderSize(strings.NewReader(""), 16), opts: Options{NoSerialGaps: true, MaxLine: defaultMaxLine}}
	if !s.handle([]byte(text), 1) {
		t.Fatalf("String() = %q does not parse back", text)
	}
	got := s.Record()
	if got.Type != r.Type || got.Serial != r.Serial || !slices.Equal(got.Fields, r.Fields) {
		t.Fatalf("round trip of %q:\n got %v %d %q\nwant %v %d %q", text, got.Type, got.Serial, got.Fields, r.Type, r.Serial, r.Fields)
	}
}

// FuzzAtou: atou agrees with strconv.ParseUint on decimal digits (no sign,
// at most 20 bytes, no overflow) and refuses everything else.
func FuzzAtou(f *testing.F) {
	for _, s := range []string{"0", "18446744073709551615", "18446744073709551616", "99999999999999999999", "1234567890123456789", "+1", "1a", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := atou([]byte(s))
		want, err := strconv.ParseUint(s, 10, 64)
		wantOK := err == nil && len(s) <= 20 && strings.Trim(s, "0123456789") == ""
		if ok != wantOK || (ok && n != want) {
			t.Fatalf("atou(%q) = %d, %v; ParseUint %d, %v", s, n, ok, want, err)
		}
	})
}

// TestByteClass: the tokenizer's table says what the plain comparisons say.
func TestByteClass(t *testing.T) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		sep := b == ' ' || b == '\t' || b == 0x1d
		if fieldSep(b) != sep || (byteClass[b]&classKeyEnd != 0) != (sep || b == '=' || b == '<' || b == '>') {
			t.Fatalf("byte %#x: class %b", b, byteClass[b])
		}
	}
}

// FuzzReport: the text report written from the Scanner's fast accessors
// is the one written from built Records (referenceText), and so is the
// report of the log scanned in place.
func FuzzReport(f *testing.F) {
	f.Add([]byte("[    1.000000] audit: type=1805 audit(1.1:1): file=\"/a\" hash=\"sha256:00\" pid=1 uid=0 euid=0 comm=2F61 x='y z\n"))
	f.Add([]byte("audit: type=1804 audit(1.2:2): op=invalid_pcr cause=\"open\"writers comm==\"x\" res=1 pid<3 cause=2\n"))
	f.Add([]byte("type=INTEGRITY_RULE msg=audit(1.3:3): file=\"/b\" hash=\"sha256:01 comm=\"sh\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got, in bytes.Buffer
		_, err := WriteText(&got, bytes.NewReader(data), ReportOptions{Name: "f"})
		if err != nil {
			return
		}
		if want := referenceText(t, "f", data, false); got.String() != want {
			t.Fatalf("report:\n%s\nreference:\n%s", got.String(), want)
		}
		if _, err := WriteText(&in, &Bytes{Data: data}, ReportOptions{Name: "f"}); err != nil || in.String() != got.String() {
			t.Fatalf("in place (%v):\n%s\nthrough a reader:\n%s", err, in.String(), got.String())
		}
	})
}

// FuzzNeedsQuote: needsQuote says what a byte-by-byte check says.
func FuzzNeedsQuote(f *testing.F) {
	f.Add([]byte("/usr/lib/x86_64-linux-gnu/libc.so.6"))
	f.Add([]byte("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))
	f.Add([]byte("/tmp/a b\"\x7f\xff~~~~~~~~"))
	f.Fuzz(func(t *testing.T, v []byte) {
		for start := 0; start < len(v) && start < 9; start++ {
			w := v[start:]
			want := false
			for _, c := range w {
				want = want || c <= ' ' || c > '~' || c == '"'
			}
			if got := needsQuote(w); got != want {
				t.Fatalf("needsQuote(%q) = %v", w, got)
			}
		}
	})
}

// FuzzRawHeader: the one-pass header reader agrees with the general
// search (first ')', last ':', serial by atou, not interpreted) whenever
// it takes the header, and takes every plain "sec.frac:serial)" header.
func FuzzRawHeader(f *testing.F) {
	for _, s := range []string{"1763805600.001:2): x", "1.2:3)", "1:)", ":)", "1.2.3)", "1:2:3)", "1:2.3)",
		"1:12345678901234567890)", "1:1234567890123456789)", "11/22/2026 10:00:00.123:5)", "1:2", ")"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		cp, colon, serial := rawHeader(b)
		want := bytes.IndexByte(b, ')')
		if cp < 0 {
			if want >= 0 && strings.Trim(s[:want], "0123456789.") == "" {
				t.Fatalf("rawHeader(%q) refused a header without ':'", s)
			}
			if c := strings.IndexByte(s, ':'); want >= 0 && c >= 0 && c < want && want-c-1 <= 19 &&
				strings.Trim(s[:c], "0123456789.") == "" && strings.Trim(s[c+1:want], "0123456789") == "" {
				t.Fatalf("rawHeader(%q) refused a plain header", s)
			}
			return
		}
		hdr := b[:want]
		wantColon := bytes.LastIndexByte(hdr, ':')
		var wantSerial uint64
		if wantColon >= 0 {
			wantSerial, _ = atou(hdr[wantColon+1:])
		}
		if cp != want || colon != wantColon || serial != wantSerial || bytes.ContainsAny(hdr, " /") {
			t.Fatalf("rawHeader(%q) = %d, %d, %d; want %d, %d, %d", s, cp, colon, serial, want, wantColon, wantSerial)
		}
	})
}

// FuzzDigits8: the eight-byte digit test says what a byte loop says.
func FuzzDigits8(f *testing.F) {
	for _, s := range []string{"01234567", "0123456/", "012345:7", "\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7", "9999999\x3f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) < 8 {
			return
		}
		want := strings.Trim(s[:8], "0123456789") == ""
		if got := digits8([]byte(s)); got != want {
			t.Fatalf("digits8(%q) = %v", s[:8], got)
		}
	})
}
