package cache

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 16 item 9: inherit: had no depth limit, and each level kept its
// file open. A chain deeper than MaxInherit is an error; MaxInherit
// levels work.
func TestInheritDepth(t *testing.T) {
	dir := t.TempDir()
	chain := func(n int) string {
		for i := 0; i <= n; i++ {
			base := "6.12"
			if i > 0 {
				base = fmt.Sprintf("p%d.profile", i-1)
			}
			text := fmt.Sprintf("inherit: %s\nname: p%d\nkernels: 6.12 .. 6.12\n", base, i)
			require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("p%d.profile", i)), []byte(text), 0o644))
		}
		return filepath.Join(dir, fmt.Sprintf("p%d.profile", n))
	}
	p, err := LoadProfile(chain(MaxInherit))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("p%d", MaxInherit), p.Name)
	_, err = LoadProfile(chain(MaxInherit + 1))
	assert.ErrorContains(t, err, "inherit: chain deeper than 8 files")

	// A directory symlink to itself makes every level a new path.
	loop := t.TempDir()
	require.NoError(t, os.Symlink(".", filepath.Join(loop, "x")))
	require.NoError(t, os.WriteFile(filepath.Join(loop, "p.profile"), []byte("inherit: x/p.profile\nname: p\nkernels: 6.12 .. 6.12\n"), 0o644))
	_, err = LoadProfileContext(context.Background(), filepath.Join(loop, "p.profile"))
	assert.ErrorContains(t, err, "chain deeper than")
}

// Profile files are read with a bound.
func TestProfileFileBound(t *testing.T) {
	_, err := LoadProfile("/dev/zero")
	assert.ErrorContains(t, err, "longer than the limit of 1 MiB")
}
