package main

import (
	"encoding/binary"
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
	if safePrefix(p) == len(p) {
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

// safePrefix returns the length of p's leading run of safe bytes, eight
// bytes at a time: a word is looked at byte by byte only when it may hold
// a byte below 0x20 (newline and tab among them) or 0x7f.
func safePrefix(p []byte) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(p); i += 8 {
		x := binary.LittleEndian.Uint64(p[i:])
		y := x ^ 0x7f*lo
		if ((x-0x20*lo)&^x|(y-lo)&^y)&hi != 0 {
			for j := i; j < i+8; j++ {
				if unsafeByte(p[j]) {
					return j
				}
			}
		}
	}
	for i < len(p) && !unsafeByte(p[i]) {
		i++
	}
	return i
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
