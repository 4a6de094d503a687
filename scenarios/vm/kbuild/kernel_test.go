package kbuild

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/imasim/imasim/scenarios/vm"
)

func TestWithBootAppend(t *testing.T) {
	assert.Equal(t, BootAppend, WithBootAppend(""))
	assert.Equal(t, "quiet "+BootAppend, WithBootAppend("quiet"))
	assert.Equal(t, "quiet "+BootAppend, WithBootAppend(WithBootAppend("quiet")), "once")
}

// A built: name that is not in the cache, or not a name, is a usage
// error; a missing image path is one too, and neither is a build.
func TestResolveBadSpecs(t *testing.T) {
	cache := t.TempDir()
	for _, spec := range []string{"built:nope", "built:../x"} {
		_, _, err := Resolve(context.Background(), spec, nil, "", cache)
		assert.True(t, errors.Is(err, vm.ErrUsage), "%s: %v", spec, err)
	}
	_, built, err := Resolve(context.Background(), "/nonexistent/bzImage", nil, "", cache)
	assert.Error(t, err)
	assert.False(t, built)
}
