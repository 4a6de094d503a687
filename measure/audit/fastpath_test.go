package audit

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fastLogs returns the real logs in testdata and generated ones: raw
// audit.log events, and printk records with hex-encoded, quoted and
// truncated paths, wrapped lines and duplicates.
func fastLogs(t testing.TB) map[string][]byte {
	logs := map[string][]byte{}
	files, err := filepath.Glob(filepath.Join(testdata, "*"))
	require.NoError(t, err)
	for _, p := range files {
		if st, err := os.Stat(p); err != nil || st.IsDir() || strings.HasSuffix(p, ".md") {
			continue
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		logs[filepath.Base(p)] = b
	}
	var b bytes.Buffer
	_, err = genAuditLog(&b, 1<<20)
	require.NoError(t, err)
	logs["generated-audit.log"] = b.Bytes()
	logs["generated-dmesg"] = genMixedDmesg(3000, 1)
	return logs
}

// genMixedDmesg writes n printk records of several integrity types whose
// paths are plain, hex-encoded (spaces, quotes, non-ASCII), empty or cut
// inside their quotes, with some wrapped and duplicated lines.
func genMixedDmesg(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	var b bytes.Buffer
	b.WriteString("[    0.000000] Linux version 6.1.0-41-amd64 (x) #1 SMP Debian 6.1.158-1 (2025-11-20)\n")
	for i := 1; i <= n; i++ {
		path := fmt.Sprintf("/usr/bin/p%d", rng.IntN(50))
		var file string
		switch rng.IntN(6) {
		case 0:
			file = strings.ToUpper(fmt.Sprintf("%x", path+" x\"é"))
		case 1:
			file = `""`
		default:
			file = strconv.Quote(path)
		}
		typ := []int{1805, 1805, 1805, 1804, 1800, 1807, 1806}[rng.IntN(7)]
		line := fmt.Sprintf("[%5d.000000] audit: type=%d audit(1763805600.%03d:%d): ", i, typ, i%1000, i)
		switch typ {
		case 1805:
			line += fmt.Sprintf("file=%s hash=\"sha256:%064x\" ppid=1 pid=%d auid=0 uid=0 euid=0 comm=\"sh\" exe=\"/usr/bin/dash\" subj=unconfined", file, i, i)
		case 1807:
			line += "action=measure func=FILE_CHECK mask=^MAY_READ uid<1000 permit_directio res=1"
		default:
			line += fmt.Sprintf("pid=%d uid=0 op=invalid_pcr cause=ToMToU comm=2F78 name=%s dev=\"vda\" ino=12 res=1", i, file)
		}
		switch rng.IntN(20) {
		case 0: // cut inside a quoted value
			if q := strings.LastIndexByte(line, '"'); q > 0 {
				line = line[:q]
			}
		case 1: // wrapped
			if k := strings.Index(line, " comm="); k > 0 {
				line = line[:k] + "\n" + line[k+1:]
			}
		}
		b.WriteString(line + "\n")
		if rng.IntN(15) == 0 {
			b.WriteString(line + "\n") // the same record again
		}
	}
	return b.Bytes()
}

// TestFastAccessorsMatchRecord: Type, Path, Fields and Truncated, read
// without building the Record, agree with the Record, whichever is asked
// first.
func TestFastAccessorsMatchRecord(t *testing.T) {
	for name, data := range fastLogs(t) {
		for _, recordFirst := range []bool{false, true} {
			s := NewScannerOptions(bytes.NewReader(data), Options{Marker: "imasim-step"})
			n := 0
			for s.Scan() {
				var r Record
				if recordFirst {
					r = s.Record()
				}
				pathBytes := s.Path()
				path := string(pathBytes)
				views := slices.Clone(s.Fields())
				trunc := s.Truncated()
				require.Equal(t, path, string(pathBytes), "Path() stays valid after Fields()")
				if !recordFirst {
					r = s.Record()
				}
				require.Equal(t, r.Type, s.Type(), "%s line %d", name, r.Line)
				require.Equal(t, r.Path(), path, "%s line %d", name, r.Line)
				require.Equal(t, r.Truncated, trunc, "%s line %d", name, r.Line)
				require.Len(t, views, len(r.Fields), "%s line %d", name, r.Line)
				for i, f := range r.Fields {
					v := views[i]
					require.Equal(t, f, Field{Key: string(v.Key), Value: string(v.Value), Op: v.Op, Encoding: v.Encoding}, "%s line %d", name, r.Line)
				}
				n++
			}
			require.NoError(t, s.Err(), name)
			assert.Equal(t, s.Stats().Records+s.Stats().Markers, n, name)
		}
	}
}

// TestReportMatchesReference: the text report, written from the
// Scanner's fast accessors, is byte for byte what the simple form (fmt
// over a built Record, a map of paths) writes.
func TestReportMatchesReference(t *testing.T) {
	for name, data := range fastLogs(t) {
		for _, sum := range []bool{false, true} {
			var got bytes.Buffer
			_, err := WriteText(&got, bytes.NewReader(data), ReportOptions{Name: name, Summary: sum})
			require.NoError(t, err, name)
			want := referenceText(t, name, data, sum)
			if got.String() != want {
				gl, wl := strings.Split(got.String(), "\n"), strings.Split(want, "\n")
				for i := range min(len(gl), len(wl)) {
					require.Equal(t, wl[i], gl[i], "%s (summary %v) line %d", name, sum, i+1)
				}
				require.Equal(t, len(wl), len(gl), name)
			}
		}
	}
}

// referenceText is the report as first written: fmt per record, a map of
// paths, sorted strings.
func referenceText(t *testing.T, name string, data []byte, summary bool) string {
	var w strings.Builder
	s := NewScanner(bytes.NewReader(data))
	perFile := map[string]int{}
	fmt.Fprintf(&w, "# %s\n", name)
	n := 0
	for s.Scan() {
		r := s.Record()
		if r.Type == TypeRule {
			perFile[r.Path()]++
		}
		if summary {
			continue
		}
		if n == 0 {
			fmt.Fprintf(&w, "%-6s %-22s %-8s %-24s %s\n", "LINE", "TYPE", "SERIAL", "PATH", "DETAIL")
		}
		n++
		fmt.Fprintf(&w, "%-6d %-22s %-8d %-24s %s\n", r.Line, r.Type, r.Serial, refQuote(r.Path(), "-"), refDetail(r))
	}
	require.NoError(t, s.Err())
	if n > 0 {
		fmt.Fprintln(&w)
	}
	full := w.String()
	// The summary part is shared code (textPrinter.end) but for the
	// per-file table, checked here against the map.
	var tail bytes.Buffer
	p := &textPrinter{}
	res := Result{Stats: s.Stats(), Loss: s.Loss(), PerFile: NewPathCounts()}
	if k, ok := s.Kernel(); ok {
		res.Kernel = &k
	}
	for path, c := range perFile {
		for range c {
			res.PerFile.Add([]byte(path))
		}
	}
	bw := bufio.NewWriter(&tail)
	p.w = bw
	p.end(res)
	bw.Flush()
	paths := make([]string, 0, len(perFile))
	for p := range perFile {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var table strings.Builder
	fmt.Fprintf(&table, "\nINTEGRITY_RULE (1805) records per file: %d files\n", len(paths))
	for _, p := range paths {
		fmt.Fprintf(&table, "  %5d  %s\n", perFile[p], refQuote(p, "-"))
	}
	require.Contains(t, tail.String(), table.String())
	return full + tail.String()
}

func refQuote(v, empty string) string {
	if v == "" {
		return empty
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c > '~' || c == '"' {
			return strconv.Quote(v)
		}
	}
	return v
}

func refDetail(r Record) string {
	var keys []string
	switch r.Type {
	case TypeRule:
		keys = []string{"hash", "pid", "uid", "euid", "comm"}
	case TypePolicyRule, TypeEVMXattr:
	default:
		keys = []string{"op", "cause", "comm", "res"}
	}
	var b strings.Builder
	add := func(f Field) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f.Key)
		if f.Op != 0 {
			b.WriteByte(f.Op)
			b.WriteString(refQuote(f.Value, `""`))
		}
	}
	if keys == nil {
		for _, f := range r.Fields {
			add(f)
		}
	} else {
		for _, k := range keys {
			for _, f := range r.Fields {
				if f.Key == k {
					add(f)
					break
				}
			}
		}
	}
	if r.Truncated {
		b.WriteString(" (truncated)")
	}
	if r.Joined > 0 {
		fmt.Fprintf(&b, " (joined %d wrapped lines)", r.Joined)
	}
	return b.String()
}

// TestPathCounts compares PathCounts with a map on random paths: short,
// empty, with NUL and high bytes, and longer than a chunk's share.
func TestPathCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := NewPathCounts()
	want := map[string]int{}
	for i := 0; i < 200000; i++ {
		var p []byte
		switch rng.IntN(100) {
		case 0:
			p = bytes.Repeat([]byte{byte('a' + rng.IntN(3))}, chunkSize/4+rng.IntN(3))
		case 1:
			p = nil
		case 2:
			p = []byte{0, byte(rng.IntN(3)), 0xff}
		default:
			p = fmt.Appendf(nil, "/usr/lib/pkg%d/lib%d.so", rng.IntN(40), rng.IntN(5000))
		}
		c.Add(p)
		want[string(p)]++
	}
	assert.Equal(t, want, c.Map())
	assert.Equal(t, len(want), c.Len())
	assert.Equal(t, 200000, c.Total())
	var order []string
	c.Sorted(func(p []byte, n int) {
		require.Equal(t, want[string(p)], n)
		order = append(order, string(p))
	})
	assert.True(t, sort.StringsAreSorted(order))
	assert.Len(t, order, len(want))
	assert.Equal(t, 0, c.Count([]byte("/not/there")))
	// Listing takes the table's memory; counting goes on after it.
	for p, n := range want {
		require.Equal(t, n, c.Count([]byte(p)), "%q", p)
		break
	}
	c.Sorted(func([]byte, int) {})
	again := 0
	c.Sorted(func([]byte, int) { again++ }) // twice in a row
	assert.Equal(t, len(want), again)
	for i := 0; i < 5000; i++ {
		p := fmt.Appendf(nil, "/usr/lib/pkg%d/lib%d.so", rng.IntN(40), rng.IntN(6000))
		c.Add(p)
		want[string(p)]++
	}
	assert.Equal(t, want, c.Map())
}

// TestPathCountsFull: when the store is full, counting stops with an
// error, the counts so far stay, and Add does nothing more.
func TestPathCountsFull(t *testing.T) {
	c := NewPathCounts()
	c.limit = 2
	long := func(b byte) []byte { return bytes.Repeat([]byte{b}, chunkSize/4+1) }
	c.Add([]byte("/short"))
	c.Add(long('a'))
	c.Add([]byte("/short"))
	require.NoError(t, c.Err())
	c.Add(long('b'))        // a third chunk
	c.Add([]byte("/other")) // no room either: the last chunk is the long path's
	c.Len()
	require.ErrorContains(t, c.Err(), "too many distinct file paths")
	c.Add([]byte("/later"))
	assert.Equal(t, map[string]int{"/short": 2, string(long('a')): 1}, c.Map())
}

// TestRadixSort: radixSort orders by k like a comparison sort, stable,
// on keys that share bytes, differ in one byte or are all equal.
func TestRadixSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 2, 300, 5000} {
		for _, mask := range []uint64{0, 0xff, 0xff00ff0000000000, ^uint64(0)} {
			a := make([]sortKey, n)
			for i := range a {
				a[i] = sortKey{k: 0x1122334455667788 ^ rng.Uint64()&mask, i: uint32(i)}
			}
			want := slices.Clone(a)
			slices.SortStableFunc(want, func(x, y sortKey) int { return cmp.Compare(x.k, y.k) })
			radixSort(a, make([]sortKey, n))
			require.Equal(t, want, a, "n %d mask %x", n, mask)
		}
	}
}

// TestPathCountsSortedBuckets lists sets built to hit each way a bucket
// is sorted: paths that end where their bucket's shared prefix ends,
// trailing NULs (which pad like a path's end), keys equal for 8 bytes
// and more, long shared prefixes and buckets of one, of under 16, of
// under 256 and of more.
func TestPathCountsSortedBuckets(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	long := strings.Repeat("x", 40)
	for round := range 20 {
		c := NewPathCounts()
		want := map[string]int{}
		n := []int{1, 10, 200, 3000}[round%4]
		for range n {
			var p string
			switch rng.IntN(6) {
			case 0:
				p = "/a/" + long[:rng.IntN(len(long))]
			case 1:
				p = "/a/" + long[:rng.IntN(12)] + strings.Repeat("\x00", rng.IntN(3))
			case 2:
				p = fmt.Sprintf("/a/%s%d", long, rng.IntN(50))
			case 3:
				p = fmt.Sprintf("/b%d/lib%d.so.%d", rng.IntN(3), rng.IntN(1e6), rng.IntN(3))
			case 4:
				p = fmt.Sprintf("/a/%c", 'a'+rng.IntN(26))
			default:
				p = "/" + strings.Repeat("\x00", rng.IntN(10))
			}
			c.Add([]byte(p))
			want[p]++
		}
		var got []string
		c.Sorted(func(p []byte, k int) {
			require.Equal(t, want[string(p)], k, "%q", p)
			got = append(got, string(p))
		})
		keys := slices.Collect(maps.Keys(want))
		sort.Strings(keys)
		require.Equal(t, keys, got, "round %d", round)
	}
}
