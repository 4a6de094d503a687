package vm

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/real"
	"github.com/imasim/imasim/scenarios/vm/guest"
)

// loadXFSWrite is the 7.2.13 capture of xfs-write with its scenario.
func loadXFSWrite(t *testing.T) (*BootResult, *scenarios.Scenario, *cache.Profile) {
	t.Helper()
	dir := "../../testdata/vm/debian-7.2/xfs-write"
	br, _, err := LoadCapture(dir)
	require.NoError(t, err)
	s, err := scenarios.Parse(bytes.NewReader(br.Files["scenario.scn"]), dir+"/scenario.scn")
	require.NoError(t, err)
	p, err := cache.LoadProfile("7.1")
	require.NoError(t, err)
	return br, s, p
}

// A step the kernel cannot perform (its mount fails with ENODEV: no
// such filesystem) makes the run "cannot run here", never an agreement.
func TestVerdictCannotRunStep(t *testing.T) {
	br, s, p := loadXFSWrite(t)
	rep := &br.Report.Scenarios[0]
	cr := &real.CannotRunError{Reason: "the kernel has no xfs filesystem (mount -t xfs /dev/vdb /mnt: no such device)"}
	rep.Steps = rep.Steps[:1]
	rep.Steps[0].Err = "xfs-write.scn:9: fs: " + cr.Error()
	rep.Unsupported, rep.Err = cr.Reason, rep.Steps[0].Err
	r, err := Compare(s, p, "7.2.13+deb14-cloud-amd64", br, 0)
	require.NoError(t, err)
	require.ErrorIs(t, r.Err, ErrCannotRun)
	var b bytes.Buffer
	require.NoError(t, WriteText(&b, &Kernel{Release: "7.2.13+deb14-cloud-amd64", Spec: "debian:7.2"}, p, []*Run{r}, false))
	assert.Contains(t, b.String(), "CANNOT RUN on this kernel")
	assert.Contains(t, b.String(), "no such device")
	assert.NotContains(t, b.String(), "agree")
}

// A kernel log that lost records decides nothing: no agreement either.
func TestVerdictLossyNoAgree(t *testing.T) {
	br, s, p := loadXFSWrite(t)
	br.Files[guest.FileDmesg] = append(br.Files[guest.FileDmesg], []byte("[   9.000000] audit_log_start: 12 callbacks suppressed\n")...)
	r, err := Compare(s, p, "7.2.13+deb14-cloud-amd64", br, 0)
	require.NoError(t, err)
	require.NotEmpty(t, r.Lossy)
	var b bytes.Buffer
	require.NoError(t, WriteText(&b, &Kernel{Release: "7.2.13+deb14-cloud-amd64", Spec: "debian:7.2"}, p, []*Run{r}, false))
	assert.Contains(t, b.String(), "INCONCLUSIVE")
	assert.NotContains(t, b.String(), "model and kernel agree")
}
