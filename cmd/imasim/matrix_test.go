package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMatrixShardsCoverCatalogue(t *testing.T) {
	seen := map[string]int{}
	for _, sh := range []string{"1/3", "2/3", "3/3"} {
		code, out, errs := imasim("matrix", "--shard", sh, "--profiles", "7.1", "--json")
		require.Equal(t, 0, code, errs)
		var doc struct {
			Rows []struct{ Scenario string } `json:"rows"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &doc))
		for _, r := range doc.Rows {
			seen[r.Scenario]++
		}
	}
	code, out, _ := imasim("scenario", "list")
	require.Equal(t, 0, code)
	n := len(strings.Split(strings.TrimSpace(out), "\n"))
	assert.Len(t, seen, n)
	for s, c := range seen {
		assert.Equal(t, 1, c, s)
	}
}
