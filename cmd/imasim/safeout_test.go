package main

import "testing"

// FuzzSafePrefix: safePrefix stops at the first byte unsafeByte refuses,
// as a byte-by-byte loop does.
func FuzzSafePrefix(f *testing.F) {
	f.Add([]byte("plain text\twith tab\nand newline"))
	f.Add([]byte("0123456789abcdef\x1b[2J"))
	f.Add([]byte("\xff\xfe\x80\x7f\x20\x1f"))
	f.Fuzz(func(t *testing.T, p []byte) {
		for start := 0; start < len(p) && start < 9; start++ {
			q := p[start:]
			want := 0
			for want < len(q) && !unsafeByte(q[want]) {
				want++
			}
			if got := safePrefix(q); got != want {
				t.Fatalf("safePrefix(%q) = %d, want %d", q, got, want)
			}
		}
	})
}
