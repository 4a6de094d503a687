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
