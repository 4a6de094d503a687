package main

import (
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// safeWriter passes text that quotes untrusted input (log lines, file
// names from a list) with control characters other than newline and tab
// shown as \xNN: a forged log must not move the cursor, retitle the
// terminal or hide lines.
type safeWriter struct{ w io.Writer }

func unsafeByte(c byte) bool { return c < 0x20 && c != '\n' && c != '\t' || c == 0x7f }

func (s safeWriter) Write(p []byte) (int, error) {
	i := 0
	for i < len(p) && !unsafeByte(p[i]) {
		i++
	}
	if i == len(p) {
		return s.w.Write(p)
	}
	b := make([]byte, 0, len(p)+16)
	for _, c := range p {
		if unsafeByte(c) {
			b = fmt.Appendf(b, `\x%02x`, c)
		} else {
			b = append(b, c)
		}
	}
	if _, err := s.w.Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}

// terminal reports whether w is a terminal.
func terminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
