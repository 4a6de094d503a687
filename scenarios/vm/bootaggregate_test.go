package vm

import (
	"bytes"
	"fmt"
	"os"
	"strings"
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

// A direct boot has no event log: boot_aggregate is checked against the
// PCRs the guest read, in the list's bank.
func TestCheckBootAggregatePCRs(t *testing.T) {
	pcrs := func(bank string, size int, seed byte) ([][]byte, string) {
		var vals [][]byte
		var b strings.Builder
		for i := 0; i < 10; i++ {
			v := bytes.Repeat([]byte{seed + byte(i)}, size)
			vals = append(vals, v)
			fmt.Fprintf(&b, "%s %d %X\n", bank, i, v)
		}
		return vals, b.String()
	}
	list := func(template string, a measure.Algo, vals [][]byte) []byte {
		var l measure.List
		ba, err := measure.NewBootAggregate(template, a, vals)
		require.NoError(t, err)
		l.Append(ba)
		var buf bytes.Buffer
		require.NoError(t, l.WriteBinary(&buf, measure.WriteOptions{}))
		return buf.Bytes()
	}
	v256, f256 := pcrs("sha256", 32, 1)
	v1, f1 := pcrs("sha1", 20, 7)
	file := []byte(f1 + f256)

	c := CheckBootAggregatePCRs(file, list("ima-ng", measure.SHA256, v256))
	require.True(t, c.OK, c.Err)
	require.Equal(t, c.Listed, c.FromPCRs)
	require.True(t, strings.HasPrefix(c.Listed, "sha256:"))
	c = CheckBootAggregatePCRs(file, list("ima", measure.SHA1, v1)) // the d field: sha1, PCRs 0-7
	require.True(t, c.OK, c.Err)

	// Another PCR 9: sha256 uses PCRs 0-9, so it no longer matches.
	other := bytes.Replace(file, []byte(fmt.Sprintf("sha256 9 %X", v256[9])), []byte("sha256 9 "+strings.Repeat("AB", 32)), 1)
	c = CheckBootAggregatePCRs(other, list("ima-ng", measure.SHA256, v256))
	require.False(t, c.OK)
	require.Contains(t, c.Err, "PCRs 0-9 give")
	require.False(t, (&Run{BootAgg: c}).Agree())

	for _, bad := range []struct{ file, want string }{
		{f256 + "sha256 10 00\n", "pcrs-0-9:11: want BANK INDEX HEX"},
		{"sha256 x 00\n", "pcrs-0-9:1: want BANK INDEX HEX"},
		{"sha256 1 zz\n", "pcrs-0-9:1:"},
		{f1, "pcrs-0-9: no sha256 PCR 0"},
	} {
		c = CheckBootAggregatePCRs([]byte(bad.file), list("ima-ng", measure.SHA256, v256))
		require.False(t, c.OK, bad.file)
		require.Contains(t, c.Err, bad.want)
	}
	c = CheckBootAggregatePCRs(file, nil)
	require.False(t, c.OK)
}
