package tpm

import (
	"context"
	"crypto"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// startPtySwtpm runs `swtpm chardev` on the master side of a pseudo-terminal
// in raw mode and returns the slave's path: a character device speaking raw
// TPM 2.0, standing in for /dev/tpmrm0 so the device backend's own code path
// (go-tpm's linuxtpm on a char device) runs for real.
func startPtySwtpm(t testing.TB) string {
	t.Helper()
	needSwtpm(t)
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skip("no /dev/ptmx: ", err)
	}
	defer master.Close()
	require.NoError(t, unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	require.NoError(t, err)
	slave := "/dev/pts/" + strconv.Itoa(n)
	// Raw mode on the terminal, so bytes pass through untouched.
	tio, err := unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS)
	require.NoError(t, err)
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	tio.Cflag &^= unix.CSIZE | unix.PARENB
	tio.Cflag |= unix.CS8
	tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 1, 0
	require.NoError(t, unix.IoctlSetTermios(int(master.Fd()), unix.TCSETS, tio))

	// Hold the slave open so the master never sees a hang-up between the
	// backend's opens (swtpm stops reading on one).
	hold, err := os.OpenFile(slave, os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { hold.Close() })

	state := filepath.Join(t.TempDir(), "state")
	require.NoError(t, os.Mkdir(state, 0o700))
	cmd := exec.Command("swtpm", "chardev", "--tpm2", "--fd", "3", "--tpmstate", "dir="+state,
		"--flags", "not-need-init,startup-clear")
	cmd.ExtraFiles = []*os.File{master}
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	return slave
}

// TestDevice runs the device backend on a pty-backed swtpm: stand-in PCR 23
// reset at open, the real-PCR guard, and the explicit real PCR 10.
func TestDevice(t *testing.T) {
	dev := startPtySwtpm(t)
	banks := []crypto.Hash{crypto.SHA1, crypto.SHA256}
	const want1, want256 = "c14a6a126c12371d84af39ceb17019bf1e30ad7e",
		"d30b600b5ccd153615056b8c793ace34438cb6dd3f9cf0f65c4ebc1e6c838032"

	// Default: PCR 23 stands in, and is reset at every open.
	for range 2 {
		p, err := OpenContext(context.Background(), "device:"+dev, Options{Banks: banks})
		require.NoError(t, err)
		extendSeq(t, p, IMAPCR, 3)
		got, err := p.Read(IMAPCR)
		require.NoError(t, err)
		assert.Equal(t, want1, hex.EncodeToString(got[crypto.SHA1]))
		assert.Equal(t, want256, hex.EncodeToString(got[crypto.SHA256]))
		c := p.(*remap).PCRs.(*chip)
		at23, err := c.Read(ResettablePCR)
		require.NoError(t, err)
		assert.Equal(t, got, at23, "extends landed in PCR 23")
		real10, err := c.Read(IMAPCR)
		require.NoError(t, err)
		assert.Equal(t, make([]byte, 20), real10[crypto.SHA1], "real PCR 10 untouched")

		err = p.Extend(11, digestsOf(banks, "x"))
		assert.ErrorContains(t, err, "tpm device: extend PCR 11 (sha1,sha256): refusing to extend a real PCR that cannot be reset")
		require.NoError(t, p.Close())
	}

	// PCR 10 itself only when allowed.
	_, err := OpenContext(context.Background(), "device:"+dev, Options{PCR: 10})
	assert.ErrorContains(t, err, "tpm device: PCR 10 of a real TPM cannot be reset")
	p, err := OpenContext(context.Background(), "device:"+dev, Options{PCR: 10, AllowRealPCR: true, Banks: banks})
	require.NoError(t, err)
	defer p.Close()
	_, isRemap := p.(*remap)
	assert.False(t, isRemap)
	extendSeq(t, p, IMAPCR, 3)
	got, err := p.Read(IMAPCR)
	require.NoError(t, err)
	assert.Equal(t, want1, hex.EncodeToString(got[crypto.SHA1]))
	require.NoError(t, p.Extend(11, digestsOf(banks, "x")), "real PCRs allowed")
}

func TestDeviceMissing(t *testing.T) {
	path := t.TempDir() + "/tpmrm9"
	_, err := Open("device:" + path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tpm device: open "+path)
	assert.ErrorIs(t, err, os.ErrNotExist)

	// A regular file is not a TPM.
	f := t.TempDir() + "/file"
	require.NoError(t, os.WriteFile(f, nil, 0o600))
	_, err = Open("device:" + f)
	assert.ErrorContains(t, err, "not a character device")

	// The real-PCR guard fires before the device is touched.
	_, err = OpenContext(context.Background(), "device:"+path, Options{PCR: 10})
	assert.ErrorContains(t, err, "cannot be reset")
}
