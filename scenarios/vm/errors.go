package vm

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/imasim/imasim/internal/interrupt"
)

// Error classes the CLI maps to exit codes.
var (
	// ErrCannotRun: no QEMU/swtpm/apt, kernel unavailable, a feature missing (exit 32).
	ErrCannotRun = errors.New("cannot run here")
	// ErrUsage: bad flags or input (exit 2).
	ErrUsage = errors.New("usage")
	// ErrBoot: the VM broke (panic, oops, TPM-bypass, timeout, truncated results).
	ErrBoot = errors.New("vm run failed")
	// ErrInterrupted: the context was cancelled (Ctrl-C, SIGTERM; exit 3).
	ErrInterrupted = interrupt.ErrInterrupted
	// ErrKernelCrash: the guest kernel panicked or oopsed (wraps ErrBoot).
	ErrKernelCrash = fmt.Errorf("%w: kernel crashed", ErrBoot)
)

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}
