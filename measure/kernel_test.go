package measure

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunningKernelList compares this package's ASCII rendering of the
// running kernel's binary lists with the kernel's own ASCII files, and
// checks every template digest. It needs root and IMA's securityfs.
func TestRunningKernelList(t *testing.T) {
	dir := "/sys/kernel/security/ima"
	if _, err := os.Stat(filepath.Join(dir, "binary_runtime_measurements")); err != nil {
		t.Skipf("no IMA measurement list on this kernel (%v)", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "binary_runtime_measurements*"))
	for _, bin := range files {
		suffix := strings.TrimPrefix(filepath.Base(bin), "binary_runtime_measurements")
		t.Run("binary_runtime_measurements"+suffix, func(t *testing.T) {
			bank := SHA1
			if suffix != "" {
				a, err := ParseAlgo(strings.TrimPrefix(suffix, "_"))
				if err != nil {
					t.Skipf("bank %s: %v", suffix, err)
				}
				bank = a
			}
			// Read the binary list first: the ASCII one can only be longer.
			b, err := os.ReadFile(bin)
			require.NoError(t, err)
			a, err := os.ReadFile(filepath.Join(dir, "ascii_runtime_measurements"+suffix))
			require.NoError(t, err)
			l, err := ReadList(bytes.NewReader(b), ReadOptions{Bank: bank})
			require.NoError(t, err)
			var ours bytes.Buffer
			require.NoError(t, l.WriteASCII(&ours, bank))
			require.True(t, bytes.HasPrefix(a, ours.Bytes()), "rendering differs from the kernel's ASCII list")
			res, err := l.Replay(ReplayConfig{Banks: []Algo{bank}, Modes: []Mode{PerBank}})
			require.NoError(t, err)
			assert.Zero(t, res.DigestErrorCount, "entries with wrong template digests: %v", res.DigestErrors)
		})
	}
}
