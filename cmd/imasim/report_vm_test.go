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

// The report's minimal reproducers, run as they are in a Debian 7.2.13
// guest (imasim vm run): xfs-write (the finding), xfs-overlay (loop
// images under an overlay), xfs-write-sync (a file the script's shell
// holds, appended to through its descriptor) and violation-tomtou
// (files held by a uid's shell). Every count each prints and its exit status are what the
// report predicts for that kernel's profile.
func TestReportReproducerOnDebian72(t *testing.T) {
	needAttestVM(t)
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("no /bin/busybox (apt-get install busybox-static)")
	}
	if m, _ := filepath.Glob(filepath.Join(vm.DefaultCache(), "7.2_*", "root")); len(m) == 0 {
		t.Skip("no Debian 7.2 kernel in " + vm.DefaultCache() + " (make kernels)")
	}
	v, err := cache.ParseKernelVersion("7.2.13")
	require.NoError(t, err)
	p, err := cache.ProfileFor(v)
	require.NoError(t, err)

	dir := t.TempDir()
	bin := filepath.Join(dir, "imasim")
	b := exec.Command("go", "build", "-o", bin, ".")
	b.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := b.CombinedOutput()
	require.NoError(t, err, "%s", out)

	var ee *exec.ExitError
	for _, name := range []string{"xfs-write", "xfs-overlay", "xfs-write-sync", "violation-tomtou"} {
		s, err := scenarios.Load(name)
		require.NoError(t, err)
		r, err := report.Build(s, report.Options{})
		require.NoError(t, err)
		require.NoError(t, r.ReproErr, name)
		var era *report.Era
		for _, e := range r.Eras {
			if e.Profile.Name == p.Name {
				era = e
			}
		}
		require.NotNil(t, era, "%s: profile %s in the report", name, p.Name)
		require.NotEmpty(t, era.Checks, name)

		script := filepath.Join(dir, name+".sh")
		require.NoError(t, os.WriteFile(script, []byte(r.Repro), 0o755))
		c := exec.Command(bin, "vm", "--kernel", "debian:7.2", "run", script)
		stdout, err := c.Output()
		code := 0
		if errors.As(err, &ee) {
			code = ee.ExitCode()
			t.Logf("%s stderr: %s", name, ee.Stderr)
		} else {
			require.NoError(t, err, name)
		}
		t.Logf("%s output:\n%s", name, stdout)
		require.NotContains(t, strings.ToLower(string(stdout)), "not found", "%s: every tool the reproducer calls is in the guest", name)
		for _, x := range era.Checks {
			st := "PASS"
			if !x.OK {
				st = "FAIL"
			}
			require.Contains(t, string(stdout), fmt.Sprintf("%s: %s (got %s)", st, x.Text, x.Got),
				"%s: the reproducer's count on the real kernel is the report's for profile %s", name, p.Name)
		}
		require.Equal(t, era.Exit, code, "%s: exit status", name)
	}

	// report --kernel boots the kernel itself (imasim vm --save) and
	// reads its run back as a capture.
	c := exec.Command(bin, "report", "xfs-write", "--kernel", "debian:7.2", "--profile", p.Name)
	stdout, err := c.Output()
	if errors.As(err, &ee) {
		t.Logf("stderr: %s", ee.Stderr)
	}
	require.NoError(t, err, "%s", stdout)
	flat := strings.Join(strings.Fields(string(stdout)), " ")
	require.Contains(t, flat, "Real kernels: MISSED on debian:7.2 (7.2.13")
	require.Contains(t, flat, "The model agrees with every one of them (1).")
	require.NotContains(t, strings.ToLower(string(stdout)), "not found", "every tool the reproducer calls is in the guest")
}
