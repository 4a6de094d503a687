package vfs

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A truncate size past MaxSize (or negative) is an error before any
// allocation; issue 16: 1 TiB was a fatal out-of-memory.
func TestTruncateBounded(t *testing.T) {
	w := NewWorld(true)
	newFile(t, w, "tmpfs", "/t", "/t/f")
	for _, n := range []int{1 << 40, -1} {
		err := w.Truncate("/t/f", n)
		assert.ErrorContains(t, err, "the model holds contents in memory")
	}
	require.NoError(t, w.Truncate("/t/f", 4096))
	i, err := w.Lookup("/t/f")
	require.NoError(t, err)
	assert.Len(t, i.Content, 4096)
}
