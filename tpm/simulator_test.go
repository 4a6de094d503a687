//go:build tpmsim

package tpm

import (
	"context"
	"crypto"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSimulatorSerialised: one simulator per process; a second open waits
// for the first Close, and starts from zeroed PCRs.
func TestSimulatorSerialised(t *testing.T) {
	banks := []crypto.Hash{crypto.SHA1, crypto.SHA256}
	p, err := OpenContext(context.Background(), "simulator", Options{Banks: banks})
	require.NoError(t, err)
	extendSeq(t, p, IMAPCR, 3)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = OpenContext(ctx, "simulator", Options{})
	require.Error(t, err, "second open while the first is in use")
	assert.Contains(t, err.Error(), "tpm simulator: open: waiting for the simulator")
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	opened := make(chan PCRs)
	go func() {
		q, err := OpenContext(context.Background(), "simulator", Options{Banks: banks})
		assert.NoError(t, err)
		opened <- q
	}()
	select {
	case <-opened:
		t.Fatal("second open did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	require.NoError(t, p.Close())
	q := <-opened
	require.NotNil(t, q)
	defer q.Close()
	got, err := q.Read(IMAPCR)
	require.NoError(t, err)
	assert.Equal(t, make([]byte, 20), got[crypto.SHA1], "fresh PCR 10 after reopen")
}

// TestSimulatorTPMError: a TPM error response from the simulator.
func TestSimulatorTPMError(t *testing.T) {
	p := openT(t, "simulator", Options{})
	t.Logf("simulator banks: %s", bankNames(p.Banks()))
	err := p.Extend(17, digestsOf(p.Banks(), "x"))
	assert.ErrorContains(t, err, "tpm simulator: extend PCR 17 (")
}
