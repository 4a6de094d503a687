package measure

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCapturedKernelLists checks lists that real kernels wrote (captured by
// testdata/lists/capture under QEMU with swtpm; see its README): the
// rendering of every binary list, legacy and per-bank, is byte-identical to
// the kernel's ASCII file; the replay reaches the TPM's PCRs in the mode the
// kernel used; boot_aggregate matches PCRs 0-9; counts match.
func TestCapturedKernelLists(t *testing.T) {
	dirs, err := filepath.Glob("../testdata/lists/kernel/linux-*")
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			pf, err := os.Open(filepath.Join(dir, "pcrs"))
			require.NoError(t, err)
			quote, err := ParsePCRs(pf, 0)
			pf.Close()
			require.NoError(t, err)

			// Linux 6.1 (Debian) builds sha512 as a module IMA cannot
			// load at boot: sha384/sha512 banks get padded SHA-1.
			wantMode := map[Algo]Mode{SHA1: PerBank, SHA256: PerBank, SHA384: PerBank, SHA512: PerBank}
			if strings.HasPrefix(filepath.Base(dir), "linux-6.1.") {
				wantMode[SHA384], wantMode[SHA512] = Fallback, Fallback
			}

			bins, _ := filepath.Glob(filepath.Join(dir, "binary_runtime_measurements*"))
			require.NotEmpty(t, bins)
			for _, bin := range bins {
				suffix := strings.TrimPrefix(filepath.Base(bin), "binary_runtime_measurements")
				t.Run("file"+suffix, func(t *testing.T) {
					bank := SHA1
					if suffix != "" {
						bank, err = ParseAlgo(suffix[1:])
						require.NoError(t, err)
					}
					data, err := os.ReadFile(bin)
					require.NoError(t, err)
					l, err := ReadList(bytes.NewReader(data), ReadOptions{Bank: bank})
					require.NoError(t, err)

					wantASCII, err := os.ReadFile(filepath.Join(dir, "ascii_runtime_measurements"+suffix))
					require.NoError(t, err)
					var ascii bytes.Buffer
					require.NoError(t, l.WriteASCII(&ascii, bank))
					assert.Equal(t, string(wantASCII), ascii.String(), "ASCII rendering")

					// The ASCII file parses back to the same entries.
					la, err := ReadASCIIList(bytes.NewReader(wantASCII), ReadOptions{Bank: bank})
					require.NoError(t, err)
					require.Equal(t, l.Len(), la.Len())

					// The binary list round-trips byte for byte.
					var again bytes.Buffer
					require.NoError(t, l.WriteBinary(&again, WriteOptions{Bank: bank}))
					assert.Equal(t, data, again.Bytes())

					for _, src := range []*List{l, la} {
						res, err := src.Replay(ReplayConfig{Quote: quote, OnlyExtended: true})
						require.NoError(t, err)
						require.NoError(t, res.Verify())
						for _, v := range res.Verdicts() {
							assert.Equal(t, wantMode[v.Bank], v.Mode, "%s bank", v.Bank)
							assert.Equal(t, l.Len()-1, v.Index[10], "%s PCR 10 matches after the last entry", v.Bank)
						}
					}
				})
			}

			l, err := readCapturedList(filepath.Join(dir, "binary_runtime_measurements"))
			require.NoError(t, err)
			count, _ := os.ReadFile(filepath.Join(dir, "runtime_measurements_count"))
			assert.Equal(t, strconv.Itoa(l.Len()), strings.TrimSpace(string(count)))
			viol, _ := os.ReadFile(filepath.Join(dir, "violations"))
			nv := 0
			for _, e := range l.Entries {
				if e.IsViolation() {
					nv++
				}
			}
			assert.Equal(t, strconv.Itoa(nv), strings.TrimSpace(string(viol)))

			// boot_aggregate from the TPM's PCRs 0-9 in the bank the kernel
			// picked (ima_hash's, here sha256, or sha1 for "ima").
			name, _ := l.Entries[0].FileName()
			require.Equal(t, "boot_aggregate", name)
			prefix, digest, _ := l.Entries[0].FileDigest()
			a := SHA1
			if prefix != "" {
				a, err = ParseAlgo(prefix)
				require.NoError(t, err)
			}
			pcrs := make([][]byte, 10)
			for i := range pcrs {
				pcrs[i] = quote[a][i]
			}
			got, err := BootAggregate(a, pcrs)
			require.NoError(t, err)
			assert.Equal(t, digest, got, "boot_aggregate over %s PCRs", a)
		})
	}
}

func readCapturedList(path string) (*List, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadList(f, ReadOptions{})
}
