package measure

import (
	"io"
	"maps"
	"slices"
)

// List is an in-memory measurement list with the kernel's append rule,
// analogous to ima_measurements plus ima_htable
// (Linux v6.12: security/integrity/ima/ima_queue.c).
type List struct {
	Entries []*Entry
	// DisableHTable models CONFIG_IMA_DISABLE_HTABLE: no deduplication.
	DisableHTable bool
	seen          map[dedupKey]struct{}
}

type dedupKey struct {
	pcr    int
	digest string
}

// Append adds e unless an entry with the same template digest and PCR is
// already listed (Linux v6.12: ima_queue.c:ima_add_template_entry,
// ima_lookup_digest_entry); violations are always added. It reports whether
// e was added; a skipped entry is not extended into any PCR either.
func (l *List) Append(e *Entry) bool {
	if !e.IsViolation() && !l.DisableHTable {
		k := dedupKey{e.PCR, string(e.digestFor(SHA1, e.order()))}
		if l.seen == nil {
			l.seen = map[dedupKey]struct{}{}
		}
		if _, dup := l.seen[k]; dup {
			return false
		}
		l.seen[k] = struct{}{}
	}
	l.Entries = append(l.Entries, e)
	return true
}

// Clone returns a list with the same entries (shared, not copied) that
// appends independently of l. For a list built by Append it is what
// appending each entry to an empty list gives, without hashing the
// entries again.
func (l *List) Clone() *List {
	return &List{Entries: slices.Clone(l.Entries), DisableHTable: l.DisableHTable, seen: maps.Clone(l.seen)}
}

// Len returns the number of entries.
func (l *List) Len() int { return len(l.Entries) }

// Reader returns an EntryReader over the list's entries.
func (l *List) Reader() EntryReader { return &listReader{l: l} }

type listReader struct {
	l *List
	i int
}

func (r *listReader) Next() (*Entry, error) {
	if r.i >= len(r.l.Entries) {
		return nil, io.EOF
	}
	r.i++
	return r.l.Entries[r.i-1], nil
}

// WriteBinary writes the list as binary_runtime_measurements (opt.Bank 0 or
// SHA1) or binary_runtime_measurements_<bank>.
func (l *List) WriteBinary(w io.Writer, opt WriteOptions) error {
	bw := NewWriter(w, opt)
	for _, e := range l.Entries {
		if err := bw.Write(e); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteASCII writes the list as ascii_runtime_measurements (bank SHA1; 0
// keeps each entry's own digest) or ascii_runtime_measurements_<bank>.
func (l *List) WriteASCII(w io.Writer, bank Algo) error {
	return WriteASCII(w, l.Reader(), bank)
}

// Replay replays the list with cfg.
func (l *List) Replay(cfg ReplayConfig) (*Result, error) {
	return Replay(l.Reader(), cfg)
}

// ReadList reads a whole binary list into memory (entries cloned).
func ReadList(r io.Reader, opt ReadOptions) (*List, error) {
	return collect(NewReader(r, opt))
}

// ReadASCIIList reads a whole ASCII list into memory.
func ReadASCIIList(r io.Reader, opt ReadOptions) (*List, error) {
	return collect(NewASCIIReader(r, opt))
}

func collect(rd EntryReader) (*List, error) {
	l := &List{DisableHTable: true} // keep what the file has
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return l, nil
		}
		if err != nil {
			return l, err
		}
		l.Append(e.Clone())
	}
}
