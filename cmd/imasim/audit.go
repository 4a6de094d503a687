package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/imasim/imasim/internal/input"
	"github.com/imasim/imasim/measure/audit"
)

const auditSynopsis = `audit [flags] FILE|-

Print the IMA/EVM integrity audit records (types 1800-1899) of a log, the
number of INTEGRITY_RULE (1805) records per file, and any evidence that the
log lost records. FILE is dmesg or console text (with or without printk
timestamps), /dev/kmsg records, /var/log/audit/audit.log (raw or
'ausearch -i'), 'journalctl -o json' or journalctl text; gzip is undone;
- is stdin. The kernel version is taken from a boot banner or auditd's
DAEMON_START record when the log has one.

Loss evidence: gaps in audit serial numbers (not checked for ausearch
output), printk rate limiting ("kauditd_printk_skb: N callbacks
suppressed", "printk: N messages suppressed"), audit_lost=/backlog/rate
limit messages, /dev/kmsg sequence gaps, console "printk messages
dropped", journald "Missed N kernel messages", over-long lines. A record
count from a lossy log may be short; a clean log can still have lost
records after its last one.

Exit status: 0 parsed (loss evidence is reported but not an error unless
--strict); 2 usage error, unreadable input, or not a log (binary data
in the first 64 KiB, or text with no line in a known log form);
3 with --strict when loss evidence was found`

// cmdAudit implements `imasim audit`: flags and output selection; the
// reading, counting and printing are measure/audit's.
func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("audit", auditSynopsis, stderr)
	format := addFormat(fs, "text", "json")
	strict := fs.Bool("strict", false, "exit 3 when the log shows evidence of lost records")
	summary := fs.Bool("summary", false, "print only counts and loss evidence, not each record")
	noGaps := fs.Bool("no-serial-gaps", false, "do not treat audit serial gaps as loss (for logs filtered by type)")
	marker := fs.String("marker", "", "also print log lines containing this text (e.g. step markers written to /dev/kmsg)")
	types := fs.String("types", "", "comma-separated record types to print, by number or name (e.g. 1805,INTEGRITY_PCR); default all")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "imasim audit: want exactly one FILE (or - for stdin)")
		fs.Usage()
		return exitUsage
	}
	fmtName, err := format.get("text", "json")
	if err != nil {
		fmt.Fprintf(stderr, "imasim audit: %v\n", err)
		return exitUsage
	}
	want, err := parseTypes(*types)
	if err != nil {
		fmt.Fprintf(stderr, "imasim audit: %v\n", err)
		return exitUsage
	}

	name := pos[0]
	f, err := input.Open(ctx, name)
	if err != nil {
		fmt.Fprintf(stderr, "imasim audit: %v\n", err)
		return exitUsage
	}
	defer f.Close()
	if name == "-" {
		name = "<stdin>"
	}
	var in io.Reader
	m := mapLog(ctx, f)
	if m != nil {
		defer m.unmap()
		in = m.bytes
	} else if in, err = audit.Decompress(f); err != nil {
		fmt.Fprintf(stderr, "imasim audit: %s: %v\n", name, err)
		return exitUsage
	}
	o := audit.ReportOptions{Name: name, Summary: *summary, Types: want,
		Scan: audit.Options{NoSerialGaps: *noGaps, Marker: *marker}}
	var res audit.Result
	err = m.catchFault(func() error {
		var err error
		if fmtName == "json" {
			res, err = audit.WriteJSON(stdout, in, o)
		} else {
			res, err = audit.WriteText(safeWriter{stdout}, in, o) // log text is untrusted
		}
		return err
	})
	var oe *audit.OutputError
	switch {
	case errors.As(err, &oe):
		fmt.Fprintf(stderr, "imasim audit: %v\n", err)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "imasim audit: %s: %v\n", name, err)
		return exitUsage
	}
	if *strict && res.Loss.Lossy() {
		fmt.Fprintf(stderr, "imasim audit: %s: the log lost records (evidence %d); counts are not reliable\n", name, len(res.Loss.Evidence)+res.Loss.More)
		return exitInconcl
	}
	return exitOK
}

// parseTypes parses the --types list; nil means all.
func parseTypes(s string) (map[audit.Type]bool, error) {
	m, err := audit.ParseTypes(splitList(s))
	if err != nil {
		return nil, fmt.Errorf("--types: %w", err)
	}
	return m, nil
}

// mappedLog is a regular file mapped for reading in place.
type mappedLog struct {
	data  []byte
	bytes *audit.Bytes
}

// mapLog maps f when it is a non-empty regular file that is not gzip, so
// that the scan reads it without copying; nil means read it instead.
// Every MiB the scan checks ctx and the pages behind it are released
// (they stay in the page cache), so that the process's memory does not
// grow with the log.
func mapLog(ctx context.Context, f io.Reader) *mappedLog {
	st, ok := f.(interface{ Stat() (os.FileInfo, error) })
	fd, ok2 := f.(interface{ Fd() uintptr })
	if !ok || !ok2 {
		return nil
	}
	fi, err := st.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() < 2 || fi.Size() != int64(int(fi.Size())) {
		return nil
	}
	data, err := unix.Mmap(int(fd.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil
	}
	if data[0] == 0x1f && data[1] == 0x8b { // gzip: read through Decompress
		unix.Munmap(data)
		return nil
	}
	_ = unix.Madvise(data, unix.MADV_SEQUENTIAL)
	m := &mappedLog{data: data}
	page := int64(os.Getpagesize())
	m.bytes = &audit.Bytes{Data: data, Check: func(off int64) error {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		if end := (off - 256<<10) &^ (page - 1); end > 0 {
			_ = unix.Madvise(data[:end], unix.MADV_DONTNEED)
		}
		return nil
	}}
	return m
}

func (m *mappedLog) unmap() { unix.Munmap(m.data) }

// catchFault runs f; a memory fault in the mapping (the file shrank
// while it was read) becomes an error with its byte offset instead of a
// crash. m may be nil.
func (m *mappedLog) catchFault(f func() error) (err error) {
	if m == nil {
		return f()
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			fa, ok := r.(interface{ Addr() uintptr })
			base := uintptr(unsafe.Pointer(unsafe.SliceData(m.data)))
			if !ok || fa.Addr() < base || fa.Addr() >= base+uintptr(len(m.data)) {
				panic(r)
			}
			err = fmt.Errorf("cannot read byte offset %d: the file shrank while it was read", fa.Addr()-base)
		}
	}()
	return f()
}
