package vm

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/vm/guest"
)

// TestCaptures checks the parsers, the list replay and the model
// comparison against the real runs committed under testdata/vm.
func TestCaptures(t *testing.T) {
	dirs, err := filepath.Glob("../../testdata/vm/*/*")
	require.NoError(t, err)
	var n int
	for _, dir := range dirs {
		kind := filepath.Base(filepath.Dir(dir))
		if !strings.HasPrefix(kind, "debian-") && !strings.HasPrefix(kind, "built-") {
			continue
		}
		n++
		t.Run(filepath.Base(filepath.Dir(dir))+"/"+filepath.Base(dir), func(t *testing.T) {
			br, info, err := LoadCapture(dir)
			require.NoError(t, err)
			list, err := ParseBinaryList(br.Files[guest.FileBinList])
			require.NoError(t, err)
			require.NotEmpty(t, list)
			assert.Equal(t, "boot_aggregate", list[0].Path)
			assert.Equal(t, "ima-sig", list[0].Template) // Debian CONFIG_IMA_DEFAULT_TEMPLATE
			rep := Replay(list, map[string]string{"sha1": string(br.Files[guest.FilePCRSHA1]), "sha256": string(br.Files[guest.FilePCR256])})
			require.Len(t, rep, 2)
			for _, b := range rep {
				assert.True(t, b.OK, "PCR 10 %s: replayed %s, real %s", b.Bank, b.Replayed, b.Real)
			}
			for _, l := range strings.Split(strings.TrimSpace(string(br.Files[guest.FileAudit])), "\n") {
				a, err := ParseAuditRecord(l)
				require.NoError(t, err, l)
				assert.GreaterOrEqual(t, a.Type, 1800)
				assert.LessOrEqual(t, a.Type, 1808)
			}
			// The scenario text the capture was made with (line numbers matter).
			s, err := scenarios.Parse(bytes.NewReader(br.Files["scenario.scn"]), filepath.Join(dir, "scenario.scn"))
			require.NoError(t, err)
			v, err := cache.ParseKernelVersion(info["version"])
			require.NoError(t, err)
			p, err := cache.ProfileFor(v)
			if strings.HasPrefix(kind, "built-") {
				// A kernel built from source stands for the profile it
				// was compared with (imasim kernel build records it).
				p, err = cache.LoadProfile(info["profile"])
			}
			require.NoError(t, err)
			r, err := Compare(s, p, info["release"], br, 0)
			require.NoError(t, err)
			require.NoError(t, r.Err)
			// The disagreements recorded when the capture was made (compare.txt)
			var want []string
			for _, l := range strings.Split(string(br.Files["compare.txt"]), "\n") {
				if d, ok := strings.CutPrefix(strings.TrimSpace(l), "MODEL DEFECT: "); ok {
					want = append(want, d)
				}
			}
			// must come out again, and no new ones; a recorded one that is
			// gone means the model was fixed (logged, not a failure).
			recorded := map[string]bool{}
			for _, d := range want {
				recorded[d] = true
			}
			for _, d := range r.Defects {
				assert.True(t, recorded[d], "new disagreement with the captured kernel %s: %s", info["release"], d)
				delete(recorded, d)
			}
			for d := range recorded {
				t.Logf("recorded disagreement no longer reproduced (model fixed?): %s", d)
			}
			assert.Empty(t, r.Lossy, "the captured kernel log lost audit records")
		})
	}
	if n == 0 {
		t.Skip("no captures under testdata/vm")
	}
}
