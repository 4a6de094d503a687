package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/report"
	"github.com/imasim/imasim/scenarios/vm"
)

// The report's minimal reproducer for xfs-write, run as it is in a
// Debian 7.2.13 guest (imasim vm run): every count it prints and its exit
// status are what the report predicts for that kernel's profile.
func TestReportReproducerOnDebian72(t *testing.T) {
	needAttestVM(t)
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("no /bin/busybox (apt-get install busybox-static)")
	}
	if m, _ := filepath.Glob(filepath.Join(vm.DefaultCache(), "7.2_*", "root")); len(m) == 0 {
		t.Skip("no Debian 7.2 kernel in " + vm.DefaultCache() + " (make kernels)")
	}
	s, err := scenarios.Load("xfs-write")
	require.NoError(t, err)
	r, err := report.Build(s, report.Options{})
	require.NoError(t, err)
	require.NoError(t, r.ReproErr)
	v, err := cache.ParseKernelVersion("7.2.13")
	require.NoError(t, err)
	p, err := cache.ProfileFor(v)
	require.NoError(t, err)
	var era *report.Era
	for _, e := range r.Eras {
		if e.Profile.Name == p.Name {
			era = e
		}
	}
	require.NotNil(t, era, "profile %s in the report", p.Name)
	require.NotEmpty(t, era.Checks)

	dir := t.TempDir()
	bin := filepath.Join(dir, "imasim")
	b := exec.Command("go", "build", "-o", bin, ".")
	b.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := b.CombinedOutput()
	require.NoError(t, err, "%s", out)
	script := filepath.Join(dir, "repro.sh")
	require.NoError(t, os.WriteFile(script, []byte(r.Repro), 0o755))

	c := exec.Command(bin, "vm", "--kernel", "debian:7.2", "run", script)
	stdout, err := c.Output()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
		t.Logf("stderr: %s", ee.Stderr)
	} else {
		require.NoError(t, err)
	}
	t.Logf("script output:\n%s", stdout)
	for _, x := range era.Checks {
		st := "PASS"
		if !x.OK {
			st = "FAIL"
		}
		require.Contains(t, string(stdout), fmt.Sprintf("%s: %s (got %s)", st, x.Text, x.Got),
			"the reproducer's count on the real kernel is the report's for profile %s", p.Name)
	}
	require.Equal(t, era.Exit, code, "exit status")

	// report --kernel boots the kernel itself (imasim vm --save) and
	// reads its run back as a capture.
	c = exec.Command(bin, "report", "xfs-write", "--kernel", "debian:7.2", "--profile", p.Name)
	stdout, err = c.Output()
	if errors.As(err, &ee) {
		t.Logf("stderr: %s", ee.Stderr)
	}
	require.NoError(t, err, "%s", stdout)
	flat := strings.Join(strings.Fields(string(stdout)), " ")
	require.Contains(t, flat, "Real kernels: MISSED on debian:7.2 (7.2.13")
	require.Contains(t, flat, "The model agrees with every one of them (1).")
	require.NotContains(t, strings.ToLower(string(stdout)), "not found", "every tool the reproducer calls is in the guest")
}
