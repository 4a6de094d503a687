// Package frame is the framed, checksummed text channel a guest agent uses
// to ship files to the host over a serial port or the console:
//
//	IMASIM1 <nonce> BEGIN <name> <size> <sha256>
//	IMASIM1 <nonce> D <base64 chunk>
//	IMASIM1 <nonce> END <name>
//	IMASIM1 <nonce> DONE <count>
//
// Every line carries the per-run nonce, so lines from an earlier run or
// from the kernel log interleaved on the same port are ignored. The reader
// reports truncation (no DONE, short blob), corruption (size or sha256
// mismatch, bad base64) and protocol errors.
//
// The guest is not trusted: a name is one plain path component
// (ValidName) and sizes are checked against MaxFile and MaxTotal before
// anything is kept, so a forged frame can neither name a host path nor
// make the host allocate what it announces.
package frame

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Magic starts every frame line.
const Magic = "IMASIM1"

// Limits on what a stream may carry.
const (
	MaxName  = 128       // bytes in a file name
	MaxFile  = 64 << 20  // bytes in one file
	MaxTotal = 256 << 20 // bytes in all files of a stream
)

// maxTotal is MaxTotal; tests lower it.
var maxTotal = MaxTotal

// ValidName says whether name is one plain path component: letters,
// digits, '.', '_' and '-', not starting with '.', at most MaxName bytes.
// Such a name joined onto a directory stays in it.
func ValidName(name string) bool {
	if name == "" || len(name) > MaxName || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// chunk is the raw bytes per data line (base64 of 57 bytes = 76 chars).
const chunk = 57

// Writer writes framed files.
type Writer struct {
	w     io.Writer
	nonce string
	n     int
	err   error
}

// NewWriter returns a Writer using nonce, which must be one word.
func NewWriter(w io.Writer, nonce string) *Writer { return &Writer{w: w, nonce: nonce} }

func (fw *Writer) line(s string) {
	if fw.err == nil {
		_, fw.err = io.WriteString(fw.w, Magic+" "+fw.nonce+" "+s+"\n")
	}
}

// File writes one named blob; name must be ValidName and data at most
// MaxFile bytes.
func (fw *Writer) File(name string, data []byte) error {
	if !ValidName(name) {
		return fmt.Errorf("frame: bad name %q", name)
	}
	if len(data) > MaxFile {
		return fmt.Errorf("frame: %s: %d bytes, over the limit of %d", name, len(data), MaxFile)
	}
	sum := sha256.Sum256(data)
	fw.line(fmt.Sprintf("BEGIN %s %d %s", name, len(data), hex.EncodeToString(sum[:])))
	for i := 0; i < len(data); i += chunk {
		j := min(i+chunk, len(data))
		fw.line("D " + base64.StdEncoding.EncodeToString(data[i:j]))
	}
	fw.line("END " + name)
	fw.n++
	return fw.err
}

// Done ends the stream.
func (fw *Writer) Done() error {
	fw.line("DONE " + strconv.Itoa(fw.n))
	return fw.err
}

// ErrTruncated means the stream ended before DONE.
var ErrTruncated = errors.New("frame: stream truncated (no DONE)")

// Read decodes the stream for nonce. It returns the files decoded so far
// together with any error, so a caller can still show partial results.
func Read(r io.Reader, nonce string) (map[string][]byte, error) {
	files := map[string][]byte{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	prefix := Magic + " " + nonce + " "
	var (
		cur   string
		size  int
		sum   string
		buf   []byte
		in    bool
		ln    int
		total int
	)
	for sc.Scan() {
		ln++
		line := strings.TrimRight(sc.Text(), "\r")
		i := strings.Index(line, prefix)
		if i < 0 {
			continue
		}
		f := strings.Fields(line[i+len(prefix):])
		if len(f) == 0 {
			return files, fmt.Errorf("frame: line %d: empty record", ln)
		}
		switch f[0] {
		case "BEGIN":
			if in {
				return files, fmt.Errorf("frame: line %d: BEGIN inside %s", ln, cur)
			}
			if len(f) != 4 {
				return files, fmt.Errorf("frame: line %d: bad BEGIN", ln)
			}
			if !ValidName(f[1]) {
				return files, fmt.Errorf("frame: line %d: bad name %q (want one plain path component)", ln, clip(f[1]))
			}
			if _, dup := files[f[1]]; dup {
				return files, fmt.Errorf("frame: line %d: %s sent twice", ln, f[1])
			}
			n, err := strconv.Atoi(f[2])
			if err != nil || n < 0 {
				return files, fmt.Errorf("frame: line %d: bad size %q", ln, clip(f[2]))
			}
			if n > MaxFile || total+n > maxTotal {
				return files, fmt.Errorf("frame: line %d: %s: %d bytes, over the limit of %d per file and %d per stream", ln, f[1], n, MaxFile, maxTotal)
			}
			if len(f[3]) != 2*sha256.Size {
				return files, fmt.Errorf("frame: line %d: %s: bad sha256 %q", ln, f[1], clip(f[3]))
			}
			// buf grows with the data that arrives, never to the announced size.
			cur, size, sum, buf, in = f[1], n, f[3], nil, true
		case "D":
			if !in {
				return files, fmt.Errorf("frame: line %d: data outside a file", ln)
			}
			if len(f) != 2 {
				return files, fmt.Errorf("frame: line %d: bad data line in %s", ln, cur)
			}
			b, err := base64.StdEncoding.DecodeString(f[1])
			if err != nil {
				return files, fmt.Errorf("frame: line %d: %s: corrupt data: %w", ln, cur, err)
			}
			buf = append(buf, b...)
			if len(buf) > size {
				return files, fmt.Errorf("frame: line %d: %s: more than the announced %d bytes", ln, cur, size)
			}
		case "END":
			if !in || len(f) != 2 || f[1] != cur {
				return files, fmt.Errorf("frame: line %d: unexpected END", ln)
			}
			if len(buf) != size {
				return files, fmt.Errorf("frame: %s: got %d bytes, announced %d (truncated)", cur, len(buf), size)
			}
			got := sha256.Sum256(buf)
			if hex.EncodeToString(got[:]) != strings.ToLower(sum) {
				return files, fmt.Errorf("frame: %s: sha256 mismatch (corrupted)", cur)
			}
			files[cur] = buf
			total += len(buf)
			in = false
		case "DONE":
			if in {
				return files, fmt.Errorf("frame: line %d: DONE inside %s", ln, cur)
			}
			if len(f) != 2 {
				return files, fmt.Errorf("frame: line %d: bad DONE", ln)
			}
			if n, err := strconv.Atoi(f[1]); err != nil || n != len(files) {
				return files, fmt.Errorf("frame: DONE announces %s files, got %d (%s)", clip(f[1]), len(files), strings.Join(names(files), ","))
			}
			return files, nil
		default:
			return files, fmt.Errorf("frame: line %d: unknown record %q", ln, clip(f[0]))
		}
	}
	if err := sc.Err(); err != nil {
		return files, fmt.Errorf("frame: %w", err)
	}
	if in {
		return files, fmt.Errorf("frame: %s cut off: %w", cur, ErrTruncated)
	}
	return files, ErrTruncated
}

// clip shortens guest text quoted in an error.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func names(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
