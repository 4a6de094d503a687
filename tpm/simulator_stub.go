//go:build !tpmsim

package tpm

import (
	"context"
)

// SimulatorAvailable reports whether this build includes the simulator.
const SimulatorAvailable = false

func openSimulator(context.Context, Options) (PCRs, error) { return nil, ErrNoSimulator }
