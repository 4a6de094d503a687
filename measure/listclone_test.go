package measure_test

import (
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/measure"
)

// A clone keeps the dedup rule of its list (what appending every entry
// to an empty list would give) and appends independently of it.
func TestListClone(t *testing.T) {
	entry := func(content string, pcr int) *measure.Entry {
		d := sha256.Sum256([]byte(content))
		e, err := measure.NewFileEntry("ima-ng", pcr, measure.SHA256, d[:], "/prog")
		require.NoError(t, err)
		return e
	}
	for _, disable := range []bool{false, true} {
		l := &measure.List{DisableHTable: disable}
		v, err := measure.NewViolation("ima-ng", 10, measure.SHA256, "/log")
		require.NoError(t, err)
		for _, e := range []*measure.Entry{entry("a", 10), entry("b", 10), v, entry("a", 11)} {
			l.Append(e)
		}
		c := l.Clone()
		require.Equal(t, l.Entries, c.Entries)
		// The same verdicts as a list rebuilt by Append.
		r := &measure.List{DisableHTable: disable}
		for _, e := range l.Entries {
			r.Append(e)
		}
		for _, e := range []*measure.Entry{entry("a", 10), entry("c", 10), entry("a", 11), v} {
			assert.Equal(t, r.Append(e), c.Append(e), "disable=%v", disable)
		}
		assert.Equal(t, r.Len(), c.Len())
		assert.Less(t, l.Len(), c.Len(), "appending to the clone leaves the list alone")
	}
}
