//go:build !tpmsim

package tpm

import (
	"context"
	"errors"
)

// ErrNoSimulator is returned when opening the simulator in a build without it.
var ErrNoSimulator = errors.New("tpm simulator: not in this build; rebuild with -tags tpmsim (needs cgo and libssl-dev)")

// SimulatorAvailable reports whether this build includes the simulator.
const SimulatorAvailable = false

func openSimulator(context.Context, Options) (PCRs, error) { return nil, ErrNoSimulator }
