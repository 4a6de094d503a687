package scenarios

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQuietAgrees runs every built-in scenario under every built-in
// profile in normal and quiet mode (the mode explore searches in): the
// verdicts, evaluations, audit counts and measurements must be the same.
func TestQuietAgrees(t *testing.T) {
	for _, s := range loadAll(t) {
		for _, p := range profiles(t) {
			name := s.Name + "/" + p.Name
			t.Run(name, func(t *testing.T) {
				full, err := RunWith(s, p, Options{})
				require.NoError(t, err)
				quiet, err := RunWith(s, p, Options{Quiet: true})
				require.NoError(t, err)
				require.Equal(t, full.NA, quiet.NA)
				require.Len(t, quiet.Steps, len(full.Steps))
				for k, st := range full.Steps {
					q := quiet.Steps[k]
					where := fmt.Sprintf("line %d %s %s", st.Line, st.Hook, st.Path)
					assert.Equal(t, st.Verdict, q.Verdict, "%s: normal cause: %s", where, st.Cause)
					assert.Equal(t, st.Evaluated, q.Evaluated, where)
				}
				assert.Equal(t, full.AuditRecords, quiet.AuditRecords)
				assert.Equal(t, full.Measurements, quiet.Measurements)
				assert.Equal(t, full.Violations, quiet.Violations)
			})
		}
	}
}
