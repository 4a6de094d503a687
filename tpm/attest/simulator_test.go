//go:build tpmsim

package attest

import (
	"context"
	"testing"

	"github.com/imasim/imasim/tpm"
	"github.com/stretchr/testify/require"
)

// The go-tpm-tools simulator quotes as swtpm does.
func TestQuoteSimulator(t *testing.T) {
	p, err := tpm.OpenContext(context.Background(), "simulator", tpm.Options{})
	require.NoError(t, err)
	defer p.Close()
	nonce := []byte("simulator")
	for _, kind := range []KeyType{RSA, ECC} {
		ev := quoteOn(t, p, kind, nonce, sel10)
		q, err := Verify(ev, nonce)
		require.NoError(t, err)
		v, err := p.Read(10)
		require.NoError(t, err)
		for _, s := range sel10 {
			require.Equal(t, v[s.Hash], q.PCRs[s.Hash][10])
		}
		_, err = Verify(ev, []byte("other"))
		require.ErrorIs(t, err, ErrNonce)
	}
}
