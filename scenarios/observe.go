package scenarios

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Seen is what one step saw, as one line of text that the model and a real
// kernel both produce for the same step, so the two compare as strings:
// the content a read, pread or mapping returned, and what fstat or statx
// reported compared with the previous look at the same file.
type Seen struct {
	Line int    `json:"line"`
	Op   string `json:"op"`
	Text string `json:"seen"`
}

// MaxSeenPreview bounds the quoted start of the content in a Seen text.
const MaxSeenPreview = 40

// ContentSeen describes content a read or a mapping returned: its size,
// the start of its SHA-256 and a quoted preview.
func ContentSeen(b []byte) string {
	sum := sha256.Sum256(b)
	pv := b
	more := ""
	if len(pv) > MaxSeenPreview {
		pv, more = pv[:MaxSeenPreview], "..."
	}
	return fmt.Sprintf("%d bytes sha256:%s %s%s", len(b), hex.EncodeToString(sum[:6]), strconv.Quote(string(pv)), more)
}

// MapPage is how much of a file a mapping step looks at: one page.
const MapPage = 4096

// MappedSeen describes what a one-page mapping of content shows from
// offset off: the page past the end of the file reads as zeros, which
// are not content (scenario files do not end in NUL bytes).
func MappedSeen(page []byte) string {
	return ContentSeen(bytes.TrimRight(page, "\x00"))
}

// StatFacts are the fields of fstat/statx an interpreter compares to
// notice that its file changed under it.
type StatFacts struct {
	Dev, Ino uint64
	Ctime    int64 // nanoseconds
	Mode     uint32
	// Verity is STATX_ATTR_VERITY (statx only).
	Verity bool
}

// StatSeen describes a look at a file's metadata against the previous
// look at the same handle or path (nil: the first): which of dev, ino,
// ctime and mode changed, and, for statx, the verity attribute.
func StatSeen(prev *StatFacts, cur StatFacts, statx bool) string {
	var b strings.Builder
	if prev == nil {
		b.WriteString("first look")
	} else {
		var same, changed []string
		for _, f := range []struct {
			n  string
			eq bool
		}{{"dev", prev.Dev == cur.Dev}, {"ino", prev.Ino == cur.Ino}, {"ctime", prev.Ctime == cur.Ctime}, {"mode", prev.Mode == cur.Mode}} {
			if f.eq {
				same = append(same, f.n)
			} else {
				changed = append(changed, f.n)
			}
		}
		if len(changed) == 0 {
			b.WriteString("unchanged")
		} else {
			b.WriteString(strings.Join(changed, ",") + " changed")
		}
		if len(same) > 0 && len(changed) > 0 {
			b.WriteString(", " + strings.Join(same, ",") + " same")
		}
	}
	if statx {
		if cur.Verity {
			b.WriteString("; verity")
		} else {
			b.WriteString("; no verity")
		}
	}
	return b.String()
}

// StatChanged reports whether a look shows the file changed since prev:
// what an interpreter comparing fstat (dev, ino, ctime) or checking
// STATX_ATTR_VERITY would refuse.
func StatChanged(prev *StatFacts, cur StatFacts, statx bool) (bool, string) {
	if prev == nil {
		return false, ""
	}
	switch {
	case prev.Dev != cur.Dev || prev.Ino != cur.Ino:
		return true, "dev/ino changed"
	case prev.Ctime != cur.Ctime:
		return true, "ctime changed"
	case statx && prev.Verity && !cur.Verity:
		return true, "STATX_ATTR_VERITY gone"
	}
	return false, ""
}
