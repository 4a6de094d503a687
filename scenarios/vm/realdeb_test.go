package vm

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cached Debian kernel packages unpack under the hardened extractor
// into the same tree the cache holds (files, sizes and symlinks).
func TestExtractRealDebs(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: unpacks the cached kernel packages")
	}
	debs, _ := filepath.Glob(filepath.Join(DefaultCache(), "*_*", "*.deb"))
	if len(debs) == 0 {
		t.Skip("no Debian kernel packages in the cache (make kernels)")
	}
	byDir := map[string][]string{}
	for _, d := range debs {
		byDir[filepath.Dir(d)] = append(byDir[filepath.Dir(d)], d)
	}
	for dir, ds := range byDir {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			out := t.TempDir()
			for _, d := range ds {
				require.NoError(t, ExtractDeb(d, out))
			}
			// The cache may hold more (files other tools left there).
			want, got := treeOf(t, filepath.Join(dir, "root")), treeOf(t, out)
			assert.Greater(t, len(got), 100)
			for p, g := range got {
				assert.Equal(t, want[p], g, p)
			}
			k, err := FindKernel(out)
			require.NoError(t, err)
			kc, err := FindKernel(filepath.Join(dir, "root"))
			require.NoError(t, err)
			assert.Equal(t, kc.Release, k.Release)
		})
	}
}

func treeOf(t *testing.T, root string) map[string]string {
	m := map[string]string{}
	require.NoError(t, filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			m[rel] = "-> " + l
		case fi.Mode().IsRegular():
			m[rel] = fi.Mode().String() + " " + itoa(fi.Size())
		}
		return nil
	}))
	return m
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
