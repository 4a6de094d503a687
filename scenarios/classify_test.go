package scenarios

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/imasim/imasim/cache"
)

func TestClassify(t *testing.T) {
	v1, v2 := []byte{1, 2, 3, 4}, []byte{5, 6, 7, 8}
	same := judged{seen: true, before: v1, now: v1, metaSame: true}
	changed := judged{seen: true, before: v1, now: v2, metaSame: true}
	tests := []struct {
		name    string
		out     cache.Outcome
		j       judged
		verdict string
		cause   string // a part of the cause (verbose)
	}{
		{"first evaluation", cache.Outcome{Evaluated: true, First: true, Cause: "c"}, judged{now: v1, metaSame: true}, OK, "c"},
		{"indeterminate wins", cache.Outcome{Evaluated: true, Indeterminate: "i_version unknown", Cause: "c"}, same, Indeterminate, "c -- indeterminate: i_version unknown"},
		{"failed appraisal retried", cache.Outcome{Appraised: true, Retried: true, Cause: "c"}, same, OK, "c"},
		{"evicted inode re-read", cache.Outcome{Evaluated: true, First: true, Cause: "c"}, same, OK, "new iint"},
		{"re-hash of unchanged content", cache.Outcome{Evaluated: true, Cause: "c"}, same, Excessive, "content unchanged since the last evaluation"},
		{"re-appraisal, metadata unchanged", cache.Outcome{Evaluated: true}, judged{seen: true, before: v1, now: v1, metaSame: true, appraise: true}, Excessive, "and so is its EVM-protected metadata"},
		{"re-hash after a metadata change", cache.Outcome{Evaluated: true}, judged{seen: true, before: v1, now: v1, appraise: true}, OK, ""},
		{"re-hash of changed content", cache.Outcome{Evaluated: true, Cause: "c"}, changed, OK, "c"},
		{"cached over changed content", cache.Outcome{Digest: v1, Cause: "c"}, changed, Missed, "but content changed: measured 01020304, now 05060708"},
		{"cached, content same", cache.Outcome{Digest: v1, Cause: "c"}, same, OK, "c"},
		{"cached over changed metadata", cache.Outcome{Digest: v1}, judged{seen: true, before: v1, now: v1, appraise: true}, Missed, "EVM-protected metadata"},
		{"re-appraised from the cached hash", cache.Outcome{Appraised: true, Cause: "c"}, changed, OK, "re-appraised from the cached hash: c"},
	}
	for _, tc := range tests {
		v, c := classify(tc.out, tc.j, allCauses)
		assert.Equal(t, tc.verdict, v, tc.name)
		assert.Contains(t, c, tc.cause, tc.name)
		qv, qc := classify(tc.out, tc.j, noCauses)
		assert.Equal(t, v, qv, "%s: quiet gives the same verdict", tc.name)
		if tc.verdict != Indeterminate {
			assert.Equal(t, tc.out.Cause, qc, "%s: quiet adds nothing to the cause: %q", tc.name, qc)
		}
		hv, hc := classify(tc.out, tc.j, causeHeads)
		assert.Equal(t, v, hv, "%s: heads give the same verdict", tc.name)
		head, _, _ := strings.Cut(c, " -- ")
		assert.Equal(t, head, hc, "%s: heads are the cause up to its details", tc.name)
	}
}
