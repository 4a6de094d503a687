package cache

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProfileWriteText: one row per switch, each filesystem and feature,
// in sorted order, with the profile's citation.
func TestProfileWriteText(t *testing.T) {
	p, err := LoadProfile("6.12")
	require.NoError(t, err)
	var b bytes.Buffer
	p.WriteText(&b)
	out := b.String()
	assert.True(t, strings.HasPrefix(out, "name:        6.12\n"), out)
	last := ""
	for k := range p.FS {
		assert.Contains(t, out, "\nfs."+k+" ")
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "fs.") {
			assert.Less(t, last, line)
			last = line
		}
	}
	for k := range p.Features {
		assert.Contains(t, out, "\nfeature."+k+" ")
	}
	if c := p.Cites["collect"]; c != "" {
		assert.Contains(t, out, c)
	}
}

// The commits the profile names, each with its id (or subject alone)
// and where it was read; none, no heading.
func TestProfileWriteTextCommits(t *testing.T) {
	p, err := LoadProfile("7.1")
	require.NoError(t, err)
	require.NotEmpty(t, p.Commits)
	var b bytes.Buffer
	p.WriteText(&b)
	out := b.String()
	_, after, ok := strings.Cut(out, "\ncommits:")
	require.True(t, ok, out)
	for k, c := range p.Commits {
		assert.Contains(t, after, "\n"+k+strings.Repeat(" ", 25-len(k))+c.String()+"\n"+strings.Repeat(" ", 25)+c.ReadAt+"\n")
	}
	assert.Contains(t, after, `1cf7e834a6fb ("xfs: switch to multigrain timestamps")`)

	p.Commits = nil
	b.Reset()
	p.WriteText(&b)
	assert.NotContains(t, b.String(), "commits:")
}

func TestDetectionWriteText(t *testing.T) {
	d, err := Detect("5.14.0-503.el9.x86_64", "")
	require.Error(t, err)
	require.NotNil(t, d)
	var b bytes.Buffer
	d.WriteText(&b)
	assert.Contains(t, b.String(), "profile:  none fits; nearest ")
	d, err = Detect("6.1.0-50-cloud-amd64", "6.1.176")
	require.NoError(t, err)
	b.Reset()
	d.WriteText(&b)
	assert.Contains(t, b.String(), "profile:  6.1-stable (kernels ")
	assert.Contains(t, b.String(), "kernel:   6.1.0-50-cloud-amd64 (Debian, upstream 6.1.176)\n")
}
