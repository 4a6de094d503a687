package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/measure/digsig"
	"github.com/imasim/imasim/scenarios/vm"
	"github.com/imasim/imasim/scenarios/vm/kbuild"
)

// xfs-write on the real Debian 7.2.13 kernel: the guest's swtpm quotes
// PCR 10, the list replays to it, boot_aggregate matches the guest's event
// log, the verifier accepts, and the program on disk has changed.
func TestAttestVMXFSWrite(t *testing.T) {
	needAttestVM(t)
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("no /bin/busybox (apt-get install busybox-static)")
	}
	if m, _ := filepath.Glob(filepath.Join(vm.DefaultCache(), "7.2_*", "root")); len(m) == 0 {
		t.Skip("no Debian 7.2 kernel in " + vm.DefaultCache() + " (make kernels)")
	}
	bin := filepath.Join(t.TempDir(), "imasim")
	b := exec.Command("go", "build", "-o", bin, ".")
	b.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := b.CombinedOutput()
	require.NoError(t, err, "%s", out)

	dir := filepath.Join(t.TempDir(), "out")
	c := exec.Command(bin, "attest", "xfs-write", "--kernel", "debian:7.2", "--json", "--out", dir)
	stdout, err := c.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Logf("stderr: %s", ee.Stderr)
	}
	require.NoError(t, err, "%s", stdout)
	var d struct {
		Results []struct {
			Kernel        string `json:"kernel"`
			BootAggregate string `json:"boot_aggregate"`
			Verify        struct {
				Verified bool `json:"verified"`
			} `json:"verification"`
			Files []struct {
				Status, Installed, Measured string
				OnDisk                      string `json:"on_disk"`
			} `json:"files"`
			Missed int `json:"accepted_changed"`
		} `json:"results"`
	}
	require.NoError(t, json.Unmarshal(stdout, &d), "%s", stdout)
	require.Len(t, d.Results, 1)
	r := d.Results[0]
	require.Contains(t, r.Kernel, "7.2.13")
	require.True(t, r.Verify.Verified)
	require.Contains(t, r.BootAggregate, "matches the guest's event log")
	require.Equal(t, 1, r.Missed)
	require.Equal(t, "accepted-changed", r.Files[0].Status)
	require.Equal(t, r.Files[0].Installed, r.Files[0].Measured)
	for _, f := range []string{"quote.msg", "quote.sig", "quote.pcrs", "ak.pub.pem", "binary_runtime_measurements", "binary_bios_measurements", "runtime-policy.json"} {
		require.FileExists(t, filepath.Join(dir, f))
	}
	// The saved evidence verifies again with the separate verbs.
	nonce, err := os.ReadFile(filepath.Join(dir, "nonce"))
	require.NoError(t, err)
	code, vout, errs := imasim("attest", "verify", dir, "--nonce", string(nonce[:len(nonce)-1]),
		"--list", filepath.Join(dir, "binary_runtime_measurements"), "--policy", filepath.Join(dir, "runtime-policy.json"))
	require.Equal(t, exitOK, code, vout+errs)
	code, vout, errs = imasim("attest", "boot-aggregate", filepath.Join(dir, "binary_bios_measurements"), "--list", filepath.Join(dir, "binary_runtime_measurements"))
	require.Equal(t, exitOK, code, vout+errs)
}

// xfs-write on the kernel built with the seed's v2 patch: v2 re-measures
// the rewritten program (ctime moved), so the same verifier that accepts
// Debian 7.2.13 rejects this machine (exit 1), and the model agrees.
func TestAttestBuiltFixV2Rejects(t *testing.T) {
	needAttestVM(t)
	if _, err := kbuild.Built(t.Context(), "built:fix-v2", vm.DefaultCache()); err != nil {
		t.Skipf("built:fix-v2 not in the kernel cache (make built-kernels): %v", err)
	}
	bin := filepath.Join(t.TempDir(), "imasim")
	b := exec.Command("go", "build", "-o", bin, ".")
	b.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := b.CombinedOutput()
	require.NoError(t, err, "%s", out)

	c := exec.Command(bin, "attest", "xfs-write", "--kernel", "built:fix-v2", "--json")
	stdout, err := c.Output()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", stdout)
	require.Equal(t, 1, ee.ExitCode(), "stderr: %s", ee.Stderr)
	var d struct {
		Results []struct {
			Files []struct {
				Status, Installed, Measured string
				OnDisk                      string `json:"on_disk"`
			} `json:"files"`
			Missed int `json:"accepted_changed"`
		} `json:"results"`
	}
	require.NoError(t, json.Unmarshal(stdout, &d), "%s", stdout)
	require.Len(t, d.Results, 1)
	r := d.Results[0]
	require.Equal(t, 0, r.Missed)
	require.Equal(t, r.Files[0].OnDisk, r.Files[0].Measured, "the new content was measured")
	require.NotEqual(t, r.Files[0].Installed, r.Files[0].Measured)
}

// needAttestVM skips t unless a VM can boot here (root, QEMU, swtpm,
// mkfs.xfs, go to build the guest agent).
func needAttestVM(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots a VM (-short)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (loop devices in the guest image build, as imasim vm)")
	}
	for _, b := range []string{"qemu-system-x86_64", "swtpm", "mkfs.xfs", "go"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed", b)
		}
	}
}

// EVM HMACs on the real Debian kernels (7.2.13, and 6.12 and 6.1 when
// cached): the guest loads a known EVM key (an encrypted key imasim seals
// with a user master key), and the kernel accepts imasim's HMACs (a chmod
// passes evm_inode_setattr, a new security.ima evm_protect_xattr) but not
// one made with another key or without the FS UUID; imasim verifies the
// HMACs the kernel then writes, and not with another key or without the
// UUID.
func TestEVMHMACKernel(t *testing.T) {
	needAttestVM(t)
	for _, b := range []string{"keyctl", "setfattr", "getfattr", "losetup", "mkfs.ext4"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed (Debian keyutils, attr, util-linux, e2fsprogs)", b)
		}
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("no /bin/busybox (apt-get install busybox-static)")
	}
	if m, _ := filepath.Glob(filepath.Join(vm.DefaultCache(), "7.2_*", "root")); len(m) == 0 {
		t.Skip("no Debian 7.2 kernel in " + vm.DefaultCache() + " (make kernels)")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "imasim")
	b := exec.Command("go", "build", "-o", bin, ".")
	b.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := b.CombinedOutput()
	require.NoError(t, err, "%s", out)

	keys := filepath.Join(tmp, "evm")
	require.NoError(t, os.Mkdir(keys, 0o700))
	master, key, wrong := []byte("imasim test master key 0123456789"), make([]byte, 32), make([]byte, 32)
	rand.Read(key)
	rand.Read(wrong)
	iv := make([]byte, 16)
	rand.Read(iv)
	load, err := digsig.EncryptedKeyLoad("user:kmk", master, key, iv)
	require.NoError(t, err)
	for n, b := range map[string][]byte{"master": master, "evm-key": key, "wrong-key": wrong} {
		require.NoError(t, os.WriteFile(filepath.Join(keys, n), b, 0o600))
	}
	for _, v := range []string{"7.2", "6.12", "6.1"} {
		t.Run(v, func(t *testing.T) {
			if m, _ := filepath.Glob(filepath.Join(vm.DefaultCache(), v+"_*", "root")); len(m) == 0 {
				t.Skip("no Debian " + v + " kernel in " + vm.DefaultCache() + " (make kernels)")
			}
			// --retries: a boot that panics under TCG on a loaded machine
			// ("IO-APIC + timer doesn't work") is bad luck, not the result.
			c := exec.Command(bin, "vm", "--kernel", "debian:"+v, "run", "testdata/evm-hmac-guest.sh",
				"--tools", strings.Join(append(vm.DefaultTools, "keyctl", "sha256sum"), ","), "--file", keys+":/evm", "--retries", "2", "--", load, "5d1c2c5e-0f6a-4c1e-9b7e-1a2b3c4d5e6f")
			var stderr strings.Builder
			c.Stderr = &stderr
			stdout, err := c.Output()
			t.Logf("guest:\n%s\nstderr:\n%s", stdout, stderr.String())
			require.NoError(t, err)
			for _, want := range []string{"load-encrypted-key", "kernel-accepts-imasim-hmac-chmod", "kernel-accepts-imasim-hmac-setxattr",
				"kernel-refuses-wrong-key", "kernel-refuses-wrong-key-setxattr", "kernel-refuses-hmac-without-uuid",
				"imasim-verifies-kernel-hmac-a", "imasim-verifies-kernel-hmac-d", "imasim-refuses-wrong-key-a",
				"imasim-refuses-without-uuid-a", "imasim-refuses-wrong-key-d", "imasim-refuses-without-uuid-d"} {
				require.Contains(t, string(stdout), "== result "+want+" ok\n")
			}
			require.NotContains(t, string(stdout), " FAIL\n")
		})
	}
}

// attest SCENARIO --kernel debian:7.2 --swtpm-ca: the guest's swtpm is
// manufactured with an EK certificate; the host checks it and seals a
// credential to the AK, which the guest's TPM activates through
// /dev/tpmrm0 before the quote (signed by that AK) is verified. Under
// another CA the run fails.
func TestAttestVMEK(t *testing.T) {
	needAttestVM(t)
	needEKTools(t)
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("no /bin/busybox (apt-get install busybox-static)")
	}
	if m, _ := filepath.Glob(filepath.Join(vm.DefaultCache(), "7.2_*", "root")); len(m) == 0 {
		t.Skip("no Debian 7.2 kernel in " + vm.DefaultCache() + " (make kernels)")
	}
	bin := filepath.Join(t.TempDir(), "imasim")
	b := exec.Command("go", "build", "-o", bin, ".")
	b.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := b.CombinedOutput()
	require.NoError(t, err, "%s", out)
	ca, otherCA := t.TempDir(), t.TempDir()
	c := exec.Command(bin, "attest", "xfs-write", "--kernel", "debian:7.2", "--swtpm-ca", ca, "--json")
	stdout, err := c.Output()
	require.NoError(t, err, "%s", stdout)
	var d struct {
		Results []struct {
			EK     string `json:"ek"`
			Verify struct {
				Verified bool `json:"verified"`
			} `json:"verification"`
			Missed int `json:"accepted_changed"`
		} `json:"results"`
	}
	require.NoError(t, json.Unmarshal(stdout, &d), "%s", stdout)
	r := d.Results[0]
	require.True(t, r.Verify.Verified)
	require.Equal(t, 1, r.Missed)
	require.True(t, strings.HasPrefix(r.EK, "ok: issued by \"swtpm-localca\""), r.EK)
	require.Contains(t, r.EK, "credential ok: the TPM holding the EK activated a credential")
	require.Contains(t, r.EK, "in the guest, through /dev/tpmrm0")

	c = exec.Command(bin, "attest", "xfs-write", "--kernel", "debian:7.2", "--swtpm-ca", otherCA, "--ek-ca", localCA(ca))
	stdout, err = c.Output()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", stdout)
	require.Equal(t, exitFail, ee.ExitCode(), "%s", stdout)
	require.Contains(t, string(stdout), "ek      EK certificate FAILED")
}
