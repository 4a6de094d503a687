package vm

import (
	"bytes"
	"os"
	"testing"

	"github.com/imasim/imasim/measure"
	"github.com/stretchr/testify/require"
)

// A real Debian 7.2.13 guest's event log and list (tpm/eventlog's golden):
// boot_aggregate matches; a list with another boot_aggregate does not.
func TestCheckBootAggregate(t *testing.T) {
	dir := "../../tpm/eventlog/testdata/debian-7.2.13/"
	ev, err := os.ReadFile(dir + "binary_bios_measurements")
	require.NoError(t, err)
	list, err := os.ReadFile(dir + "binary_runtime_measurements")
	require.NoError(t, err)
	c := CheckBootAggregate(ev, list)
	require.True(t, c.OK, c.Err)
	require.Equal(t, "sha256:01e671c6d4bb9b7d30cd3a83ea89f2ebe3a2e4e3097a06754cdf03a3a9cf032f", c.Listed)
	require.Equal(t, c.Listed, c.FromLog)

	var l measure.List
	ba, err := measure.NewBootAggregate("ima-ng", measure.SHA256, nil) // no TPM: zeros
	require.NoError(t, err)
	l.Append(ba)
	var buf bytes.Buffer
	require.NoError(t, l.WriteBinary(&buf, measure.WriteOptions{}))
	c = CheckBootAggregate(ev, buf.Bytes())
	require.False(t, c.OK)
	require.Contains(t, c.Err, "event log gives")
	require.Equal(t, "sha256:01e671c6d4bb9b7d30cd3a83ea89f2ebe3a2e4e3097a06754cdf03a3a9cf032f", c.FromLog)

	c = CheckBootAggregate([]byte("junk"), list)
	require.False(t, c.OK)
	c = CheckBootAggregate(ev, nil)
	require.False(t, c.OK)
	r := &Run{BootAgg: c}
	require.False(t, r.Agree())
}
