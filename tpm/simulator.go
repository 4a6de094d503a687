//go:build tpmsim

package tpm

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2/transport"
)

// SimulatorAvailable reports whether this build includes the simulator.
const SimulatorAvailable = true

// The go-tpm-tools simulator is one C TPM per process. imasim starts it once
// and hands it to one backend at a time: simSlot is held from open to Close,
// so access is serialised and each backend starts from a TPM reset (PCRs
// zero). Nothing else in the process may call simulator.Get.
var (
	simSlot = make(chan struct{}, 1)
	sim     *simulator.Simulator // guarded by simSlot
)

// openSimulator waits for the simulator (or ctx), resets it as at reboot
// and wraps it in a chip whose Close frees it for the next caller.
func openSimulator(ctx context.Context, opts Options) (PCRs, error) {
	select {
	case simSlot <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("tpm simulator: open: waiting for the simulator: %w", ctx.Err())
	}
	release := func() error { <-simSlot; return nil }
	var err error
	if sim == nil {
		sim, err = simulator.Get() // manufactures and starts the TPM
	} else {
		err = sim.Reset() // TPM reset + Startup(CLEAR): PCRs back to zero
	}
	if err != nil {
		if sim != nil {
			_ = sim.Close() // frees go-tpm-tools' own lock for a fresh Get
		}
		sim = nil
		return nil, errors.Join(fmt.Errorf("tpm simulator: start: %w", err), release())
	}
	c, err := newChip(BackendSimulator, transport.FromReadWriter(sim), release, opts)
	if err != nil {
		return nil, errors.Join(err, release())
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	c.cleanup = chainCleanup(func() error { stop(); return nil }, c.cleanup)
	return c, nil
}
