package vm

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// maxProgressLine bounds the partial console line kept between reads; a
// longer line is not a progress line and is dropped.
const maxProgressLine = 4096

// progressWriter forwards the agent's progress from the console to the
// log without -v: each "scenario NAME" line and each step that failed
// ("line N: OP -> ERROR"). It keeps a partial line until its newline
// arrives, so a line split across reads is printed whole, once.
type progressWriter struct {
	w       io.Writer
	partial []byte
	skip    bool // the current line outgrew maxProgressLine
}

func newProgressWriter(w io.Writer) *progressWriter { return &progressWriter{w: w} }

func (p *progressWriter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.add(b)
			break
		}
		p.add(b[:i])
		if !p.skip {
			p.line(string(p.partial))
		}
		p.partial, p.skip = p.partial[:0], false
		b = b[i+1:]
	}
	return n, nil
}

func (p *progressWriter) add(b []byte) {
	if p.skip {
		return
	}
	if len(p.partial)+len(b) > maxProgressLine {
		p.partial, p.skip = p.partial[:0], true
		return
	}
	p.partial = append(p.partial, b...)
}

// line prints one complete console line if it is progress.
func (p *progressWriter) line(l string) {
	const tag = "imasim-guest: "
	i := strings.Index(l, tag)
	if i < 0 {
		return
	}
	msg := strings.TrimSpace(l[i+len(tag):])
	switch {
	case strings.HasPrefix(msg, "scenario "):
	case strings.HasPrefix(msg, "line ") && strings.Contains(msg, " -> "):
		msg = "step failed: " + msg
	default:
		return
	}
	fmt.Fprintf(p.w, "imasim vm: guest: %s\n", msg)
}
