package audit

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// populateTable only faults pages in: whatever the table holds, at any
// length and offset, reads back unchanged.
func TestPopulateTableKeepsContents(t *testing.T) {
	for _, n := range []int{0, 1, 511, 32768, 32768 + 3, 1 << 17} {
		for _, off := range []int{0, 1, 7} {
			buf := make([]uint64, n+off)
			s := buf[off:]
			for i := range s {
				s[i] = uint64(i)*0x9e3779b97f4a7c15 | 1
			}
			populateTable(s)
			for i := range s {
				require.Equal(t, uint64(i)*0x9e3779b97f4a7c15|1, s[i], "n=%d off=%d slot %d", n, off, i)
			}
		}
	}
}
