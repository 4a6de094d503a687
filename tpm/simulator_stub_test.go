//go:build !tpmsim

package tpm

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSimulatorNotBuilt(t *testing.T) {
	_, err := Open("simulator")
	assert.ErrorIs(t, err, ErrNoSimulator)
	assert.ErrorContains(t, err, "-tags tpmsim")
}
