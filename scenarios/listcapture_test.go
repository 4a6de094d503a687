package scenarios

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/measure"
)

// The model's list entries for a file and its violation are the ones real
// kernels wrote for the same scenario, for templates and hashes set on
// their command line (testdata/vm/lists/README.md): every field but the
// name (the guest runs under /s0), and the template digest once the name
// is the guest's.
func TestModelListsMatchRealKernels(t *testing.T) {
	dirs, err := filepath.Glob("../testdata/vm/lists/*")
	require.NoError(t, err)
	n := 0
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		n++
		t.Run(filepath.Base(dir), func(t *testing.T) {
			p, err := cache.LoadProfile(filepath.Join(dir, "profile"))
			require.NoError(t, err)
			s, err := Load(filepath.Join(dir, "scenario.scn"))
			require.NoError(t, err)
			res, err := Run(s, p)
			require.NoError(t, err)

			data, err := os.ReadFile(filepath.Join(dir, "binary_runtime_measurements"))
			require.NoError(t, err)
			real, err := measure.ReadList(bytes.NewReader(data), measure.ReadOptions{})
			require.NoError(t, err)
			quote := measure.Quote{}
			for _, a := range []measure.Algo{measure.SHA1, measure.SHA256} {
				b, err := os.ReadFile(filepath.Join(dir, "pcr-"+a.String()+"-10"))
				require.NoError(t, err)
				v, err := hex.DecodeString(strings.TrimSpace(string(b)))
				require.NoError(t, err)
				quote[a] = map[int][]byte{10: v}
			}
			rr, err := real.Replay(measure.ReplayConfig{Quote: quote, Modes: []measure.Mode{measure.PerBank}})
			require.NoError(t, err)
			require.NoError(t, rr.Verify(), "the real list replays to the real PCRs")

			// boot_aggregate aside, the scenario's entries in order
			model, kern := res.ML.Entries[1:], real.Entries[1:]
			require.Len(t, kern, len(model))
			require.Equal(t, 1, res.Violations)
			for i, m := range model {
				k := kern[i]
				require.Equal(t, k.Template.ListName(), m.Template.ListName(), "entry %d template", i+1)
				require.Equal(t, k.IsViolation(), m.IsViolation(), "entry %d", i+1)
				got := m.Clone()
				for j, f := range m.Template.Fields {
					if f.ID == "n" || f.ID == "n-ng" {
						mn, _ := m.FileName()
						kn, _ := k.FileName()
						require.Equal(t, "/s0"+mn, kn, "entry %d name", i+1)
						got.Fields[j] = k.Fields[j]
						continue
					}
					require.Equal(t, k.Fields[j], m.Fields[j], "entry %d field %s", i+1, f.ID)
				}
				if !k.IsViolation() {
					require.Equal(t, k.Digest, got.TemplateHash(measure.SHA1), "entry %d template digest", i+1)
				}
			}
		})
	}
	require.NotZero(t, n, "no captures under testdata/vm/lists")
}
