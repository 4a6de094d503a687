package tpm

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
)

// openDevice opens a kernel TPM character device through go-tpm's linuxtpm
// transport. The kernel's resource manager (/dev/tpmrm0) has already sent
// Startup. Unless opts.AllowRealPCR, Extend refuses PCRs that cannot be reset.
func openDevice(ctx context.Context, s Spec, opts Options) (PCRs, error) {
	t, err := linuxtpm.Open(s.Path)
	if err != nil {
		return nil, fmt.Errorf("tpm device: open %s: %w", s.Path, err)
	}
	c, err := newChip(BackendDevice, t, t.Close, opts)
	if err != nil {
		return nil, errors.Join(err, t.Close())
	}
	c.protect = !opts.AllowRealPCR
	stop := context.AfterFunc(ctx, func() { c.Close() })
	c.cleanup = chainCleanup(func() error { stop(); return nil }, c.cleanup)
	return c, nil
}
