package audit

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// genAuditLog writes about size bytes of a raw audit.log: syscall events
// (SYSCALL, CWD, PATH, PROCTITLE, EOE sharing one serial) with an
// INTEGRITY_RULE record every tenth event, as auditd writes them.
func genAuditLog(w io.Writer, size int64) (records int, err error) {
	var buf bytes.Buffer
	var written int64
	serial := uint64(1000)
	sec := int64(1763805600)
	for ev := 0; written < size; ev++ {
		buf.Reset()
		ts := fmt.Sprintf("%d.%03d:%d", sec+int64(ev/1000), ev%1000, serial)
		fmt.Fprintf(&buf, "type=SYSCALL msg=audit(%s): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=7ffd1234 a2=80000 a3=0 items=1 ppid=1 pid=%d auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=\"cat\" exe=\"/usr/bin/cat\" subj=unconfined key=\"watch\"\n", ts, 1000+ev%30000)
		fmt.Fprintf(&buf, "type=CWD msg=audit(%s): cwd=\"/root\"\n", ts)
		fmt.Fprintf(&buf, "type=PATH msg=audit(%s): item=0 name=\"/etc/hosts\" inode=%d dev=fe:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\n", ts, 4000+ev%100)
		fmt.Fprintf(&buf, "type=PROCTITLE msg=audit(%s): proctitle=636174002F6574632F686F737473\n", ts)
		fmt.Fprintf(&buf, "type=EOE msg=audit(%s): \n", ts)
		serial++
		if ev%10 == 0 {
			ts = fmt.Sprintf("%d.%03d:%d", sec+int64(ev/1000), ev%1000, serial)
			fmt.Fprintf(&buf, "type=INTEGRITY_RULE msg=audit(%s): file=\"/usr/bin/prog%d\" hash=\"sha256:%064x\" ppid=1 pid=%d auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=\"sh\" exe=\"/usr/bin/dash\" subj=unconfined\n", ts, ev%500, ev, 1000+ev%30000)
			serial++
			records++
		}
		n, err := w.Write(buf.Bytes())
		if err != nil {
			return records, err
		}
		written += int64(n)
	}
	return records, nil
}

// BenchmarkScanAuditLog parses a generated ~200 MB audit.log (the file is
// made once in a temp dir, not committed). Goal: ≥100 MB/s on one core,
// memory independent of the log size. IMASIM_BENCH_MB changes the size.
func BenchmarkScanAuditLog(b *testing.B) {
	size := int64(200) << 20
	if v := os.Getenv("IMASIM_BENCH_MB"); v != "" {
		var mb int64
		if _, err := fmt.Sscan(v, &mb); err == nil && mb > 0 {
			size = mb << 20
		}
	}
	if testing.Short() {
		size = 8 << 20
	}
	path := filepath.Join(b.TempDir(), "audit.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	want, err := genAuditLog(f, size)
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		s := NewScanner(f)
		n := 0
		for s.Scan() {
			n++
		}
		f.Close()
		if s.Err() != nil || n != want || s.Loss().Lossy() {
			b.Fatalf("scan: %d records (want %d), err %v, loss %v", n, want, s.Err(), s.Loss().Evidence)
		}
	}
	b.StopTimer()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
}

// TestMemoryIndependentOfSize checks that scanning a log 8x larger does not
// grow the live heap: the scanner keeps only fixed-size windows.
func TestMemoryIndependentOfSize(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 48 MB of log")
	}
	heap := func(size int64) uint64 {
		pr, pw := io.Pipe()
		go func() {
			_, err := genAuditLog(pw, size)
			pw.CloseWithError(err)
		}()
		s := NewScanner(pr)
		var peak uint64
		n := 0
		for s.Scan() {
			n++
			if n%500 == 0 {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
		if s.Err() != nil {
			t.Fatal(s.Err())
		}
		return peak
	}
	small := heap(6 << 20)
	big := heap(48 << 20)
	t.Logf("peak heap: 6 MB log %d KiB, 48 MB log %d KiB", small>>10, big>>10)
	if big > small+4<<20 {
		t.Errorf("heap grew with log size: %d -> %d bytes", small, big)
	}
}

// BenchmarkScanDmesgRules parses a dmesg made only of INTEGRITY_RULE
// records: the cost of yielding records (fields, strings) rather than of
// skipping other lines.
func BenchmarkScanDmesgRules(b *testing.B) {
	var buf bytes.Buffer
	n := 0
	for buf.Len() < 16<<20 {
		fmt.Fprintf(&buf, "[%5d.%06d] audit: type=1805 audit(1763805600.%03d:%d): file=\"/usr/bin/prog%d\" hash=\"sha256:%064x\" ppid=1 pid=%d auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=\"sh\" exe=\"/usr/bin/dash\" subj=unconfined\n",
			n/1000, n%1000000, n%1000, n+1, n%500, n, 1000+n%30000)
		n++
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		s := NewScanner(bytes.NewReader(data))
		got := 0
		for s.Scan() {
			got++
		}
		if got != n || s.Loss().Lossy() {
			b.Fatalf("scan: %d records, want %d; loss %v", got, n, s.Loss().Evidence)
		}
	}
}

// TestNoAllocationPerOtherLine checks that lines which are not integrity
// records cost no allocation: scanning 10x more of them allocates the same.
func TestNoAllocationPerOtherLine(t *testing.T) {
	mallocs := func(lines int) uint64 {
		var b bytes.Buffer
		b.WriteString("[    0.000000] Linux version 6.12.57+deb13-cloud-amd64 (x) #1\n")
		for i := 0; i < lines; i++ {
			fmt.Fprintf(&b, "type=SYSCALL msg=audit(1763805600.%03d:%d): arch=c000003e syscall=257 success=yes exit=3 comm=\"cat\" exe=\"/usr/bin/cat\"\n", i%1000, i+1)
			fmt.Fprintf(&b, "[%5d.000000] virtio_net virtio0 enp0s3: renamed from eth0\n", i)
		}
		data := b.Bytes()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := NewScanner(bytes.NewReader(data))
		for s.Scan() {
		}
		runtime.ReadMemStats(&after)
		if s.Err() != nil || s.Stats().Skipped != 2*lines+1 {
			t.Fatalf("scan: %v, %+v", s.Err(), s.Stats())
		}
		return after.Mallocs - before.Mallocs
	}
	small, big := mallocs(2000), mallocs(20000)
	t.Logf("allocations: %d lines %d, %d lines %d", 4000, small, 40000, big)
	if big > small+20 {
		t.Errorf("allocations grow with other lines: %d -> %d", small, big)
	}
}

// BenchmarkPathCountsSorted adds n distinct paths in the form
// scripts/auditgen writes and lists them in order: the distinct-path
// cost of `imasim audit --summary`, without the log.
func BenchmarkPathCountsSorted(b *testing.B) {
	const n = 1 << 20
	paths := make([][]byte, n)
	for i := range paths {
		paths[i] = fmt.Appendf(nil, "/usr/lib/x86_64-linux-gnu/pkg%d/libimasim%d.so.6", i%97, i)
	}
	var add, list time.Duration
	for b.Loop() {
		t0 := time.Now()
		c := NewPathCounts()
		for _, p := range paths {
			c.Add(p)
		}
		c.Len()
		t1 := time.Now()
		sum := 0
		c.Sorted(func(p []byte, n int) { sum += len(p) + n })
		if sum == 0 {
			b.Fatal("nothing listed")
		}
		add, list = add+t1.Sub(t0), list+time.Since(t1)
	}
	b.ReportMetric(float64(add.Nanoseconds())/float64(b.N*n), "add-ns/path")
	b.ReportMetric(float64(list.Nanoseconds())/float64(b.N*n), "list-ns/path")
}
