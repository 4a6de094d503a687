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

// File writes one named blob; name must not contain blanks.
func (fw *Writer) File(name string, data []byte) error {
	if name == "" || strings.ContainsAny(name, " \t\r\n") {
		return fmt.Errorf("frame: bad name %q", name)
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
		cur  string
		size int
		sum  string
		buf  []byte
		in   bool
		ln   int
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
			n, err := strconv.Atoi(f[2])
			if err != nil || n < 0 {
				return files, fmt.Errorf("frame: line %d: bad size %q", ln, f[2])
			}
			cur, size, sum, buf, in = f[1], n, f[3], make([]byte, 0, n), true
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
			in = false
		case "DONE":
			if in {
				return files, fmt.Errorf("frame: line %d: DONE inside %s", ln, cur)
			}
			if len(f) != 2 {
				return files, fmt.Errorf("frame: line %d: bad DONE", ln)
			}
			if n, err := strconv.Atoi(f[1]); err != nil || n != len(files) {
				return files, fmt.Errorf("frame: DONE announces %s files, got %d (%s)", f[1], len(files), strings.Join(names(files), ","))
			}
			return files, nil
		default:
			return files, fmt.Errorf("frame: line %d: unknown record %q", ln, f[0])
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

func names(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
