package tpm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// swtpmSetupTimeout bounds swtpm_setup (key generation and the local CA).
const swtpmSetupTimeout = 2 * time.Minute

// ManufactureSwtpm runs swtpm_setup on state, as a TPM vendor manufactures
// a TPM: an RSA and an ECC EK with certificates signed by swtpm_localca,
// and the banks sha1, sha256, sha384 and sha512, like an unmanufactured
// swtpm. The local CA lives in caDir (created when missing; kept across
// calls, so one CA certifies many TPMs): its root is
// caDir/swtpm-localca-rootca-cert.pem, the issuer caDir/issuercert.pem.
// Nothing outside state and caDir is written (the configs are in caDir,
// not /etc).
func ManufactureSwtpm(ctx context.Context, state, caDir string) error {
	for _, b := range []string{"swtpm_setup", "swtpm_localca"} {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("tpm swtpm: manufacture: %w (install Debian's swtpm-tools)", err)
		}
	}
	caDir, err := filepath.Abs(caDir)
	if err != nil {
		return fmt.Errorf("tpm swtpm: manufacture: %w", err)
	}
	if err := os.MkdirAll(caDir, 0o700); err != nil {
		return fmt.Errorf("tpm swtpm: manufacture: %w", err)
	}
	conf := filepath.Join(caDir, "swtpm-localca.conf")
	opts := filepath.Join(caDir, "swtpm-localca.options")
	setup := filepath.Join(caDir, "swtpm_setup.conf")
	files := map[string]string{
		conf: fmt.Sprintf("statedir = %[1]s\nsigningkey = %[1]s/signkey.pem\nissuercert = %[1]s/issuercert.pem\ncertserial = %[1]s/certserial\n", caDir),
		opts: "--platform-manufacturer imasim\n--platform-version 1\n--platform-model swtpm\n",
		setup: fmt.Sprintf("create_certs_tool = swtpm_localca\ncreate_certs_tool_config = %s\ncreate_certs_tool_options = %s\nactive_pcr_banks = sha1,sha256,sha384,sha512\n",
			conf, opts),
	}
	for f, s := range files {
		if err := os.WriteFile(f, []byte(s), 0o600); err != nil {
			return fmt.Errorf("tpm swtpm: manufacture: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, swtpmSetupTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, "swtpm_setup", "--tpm2", "--tpmstate", state, "--create-ek-cert",
		"--config", setup, "--overwrite")
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if out, err := c.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("tpm swtpm: swtpm_setup --create-ek-cert: %w: %s", err, out)
	}
	return nil
}
