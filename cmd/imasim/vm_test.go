package main

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWorseVM(t *testing.T) {
	assert.True(t, worseVM(exitFail, exitCannot))
	assert.True(t, worseVM(127, exitOK), "a script's own failure code is not lost")
	assert.False(t, worseVM(127, exitUsage))
	assert.False(t, worseVM(exitOK, exitOK))
}

func TestParseFlagsDoubleDash(t *testing.T) {
	fs := newFlags("t", "t", io.Discard)
	v := fs.Bool("v", false, "")
	pos, _, ok := parseFlags(fs, []string{"run", "t.sh", "--", "-x", "-v", "--", "y"})
	require.True(t, ok)
	assert.Equal(t, []string{"run", "t.sh", "-x", "-v", "--", "y"}, pos, "everything after -- is the script's")
	assert.False(t, *v, "a -v after -- is not imasim's")
	pos, _, ok = parseFlags(fs, []string{"run", "-v", "t.sh"})
	require.True(t, ok)
	assert.Equal(t, []string{"run", "t.sh"}, pos)
	assert.True(t, *v, "flags between positionals are still imasim's")
}
