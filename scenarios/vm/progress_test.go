package vm

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

const sampleConsole = "[    3.1] loop: module loaded\n" +
	"imasim-guest: scenario btrfs-write: 5 steps\n" +
	"imasim-guest: line 4: fs btrfs /mnt\n" +
	"imasim-guest: line 5: mount -> mount -t btrfs /dev/vdb /mnt: no such device\n" +
	"[    4.2] random kernel line\n" +
	"imasim-guest: scenario xfs-write: 7 steps\n"

// However the console arrives in pieces, the progress lines come out
// whole, once each, in order.
func TestProgressWholeLines(t *testing.T) {
	var want bytes.Buffer
	newProgressWriter(&want).Write([]byte(sampleConsole))
	assert.Equal(t, "imasim vm: guest: scenario btrfs-write: 5 steps\n"+
		"imasim vm: guest: step failed: line 5: mount -> mount -t btrfs /dev/vdb /mnt: no such device\n"+
		"imasim vm: guest: scenario xfs-write: 7 steps\n", want.String())
	for cut := 1; cut < len(sampleConsole); cut++ {
		for _, size := range []int{1, 3, 7, 64} {
			var got bytes.Buffer
			p := newProgressWriter(&got)
			p.Write([]byte(sampleConsole[:cut]))
			rest := sampleConsole[cut:]
			for len(rest) > 0 {
				k := min(size, len(rest))
				p.Write([]byte(rest[:k]))
				rest = rest[k:]
			}
			if got.String() != want.String() {
				t.Fatalf("cut at %d, pieces of %d:\n%s", cut, size, got.String())
			}
		}
	}
}

// A console line longer than the bound is dropped, not printed in part,
// and the lines after it still come through.
func TestProgressLongLine(t *testing.T) {
	var got bytes.Buffer
	p := newProgressWriter(&got)
	long := "imasim-guest: scenario " + strings.Repeat("x", 2*maxProgressLine)
	for i := 0; i < len(long); i += 100 {
		p.Write([]byte(long[i:min(i+100, len(long))]))
	}
	p.Write([]byte("\nimasim-guest: scenario next: 1 steps\n"))
	assert.Equal(t, "imasim vm: guest: scenario next: 1 steps\n", got.String())
}

// Whatever the guest prints, and however it is split, the progress output
// is the same, made of whole bounded lines of the progress form.
func FuzzProgress(f *testing.F) {
	f.Add([]byte(sampleConsole), 5)
	f.Add([]byte("imasim-guest: scenario a\nimasim-guest: line 1: x -> y\n\x00\xff"), 1)
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		var whole, parts bytes.Buffer
		newProgressWriter(&whole).Write(b)
		p := newProgressWriter(&parts)
		if cut < 0 {
			cut = -cut
		}
		if len(b) == 0 {
			cut = 0
		} else {
			cut %= len(b)
		}
		p.Write(b[:cut])
		p.Write(b[cut:])
		if whole.String() != parts.String() {
			t.Fatalf("split at %d changes the output:\n%q\n%q", cut, whole.String(), parts.String())
		}
		for _, l := range strings.Split(strings.TrimSuffix(whole.String(), "\n"), "\n") {
			if l == "" && whole.Len() == 0 {
				continue
			}
			if !strings.HasPrefix(l, "imasim vm: guest: ") || len(l) > maxProgressLine+64 {
				t.Fatalf("bad progress line %q", l)
			}
		}
	})
}
