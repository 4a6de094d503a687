package tpm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// openDevice opens a kernel TPM character device. The kernel's resource
// manager (/dev/tpmrm0) has already sent Startup. Unless opts.AllowRealPCR,
// Extend refuses PCRs that cannot be reset.
func openDevice(ctx context.Context, s Spec, opts Options) (PCRs, error) {
	fi, err := os.Stat(s.Path)
	if err != nil {
		return nil, fmt.Errorf("tpm device: open %s: %w", s.Path, err)
	}
	if fi.Mode()&os.ModeCharDevice == 0 {
		return nil, fmt.Errorf("tpm device: open %s: not a character device (%v)", s.Path, fi.Mode())
	}
	// Open it blocking: os.OpenFile would make a pollable device
	// non-blocking, and the kernel then queues each command and answers a
	// read that comes too early with 0 bytes (Linux v6.12:
	// drivers/char/tpm/tpm-dev-common.c:tpm_common_write, O_NONBLOCK), which
	// looks like EOF. Blocking, write returns once the response is ready.
	fd, err := unix.Open(s.Path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("tpm device: open %s: %w", s.Path, &os.PathError{Op: "open", Path: s.Path, Err: err})
	}
	f := os.NewFile(uintptr(fd), s.Path)
	c, err := newChip(BackendDevice, &fileTPM{f: f}, f.Close, opts)
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	c.protect = !opts.AllowRealPCR
	stop := context.AfterFunc(ctx, func() { c.Close() })
	c.cleanup = chainCleanup(func() error { stop(); return nil }, c.cleanup)
	return c, nil
}

// deviceBufSize is the kernel's TPM buffer size, the largest response a
// device returns (Linux v6.12: include/linux/tpm.h:TPM_BUFSIZE).
const deviceBufSize = 4096

// fileTPM is a go-tpm transport over a TPM character device: write one
// command, read its response (Linux v6.12: drivers/char/tpm/tpm-dev-common.c:
// tpm_common_write, tpm_common_read). It does what go-tpm's linuxtpm does,
// but through os.File's own I/O, which retries EINTR: linuxtpm's poll(2)
// fails with EINTR when the Go runtime preempts the thread, after the
// command was sent, so the caller could not tell whether it ran.
type fileTPM struct {
	f *os.File
}

// Send implements transport.TPM. The kernel hands over the whole response
// in one read; further reads are only for devices that deliver it in pieces
// (a pseudo-terminal in tests).
func (d *fileTPM) Send(cmd []byte) ([]byte, error) {
	if _, err := d.f.Write(cmd); err != nil {
		return nil, fmt.Errorf("send command: %w", err)
	}
	rsp := make([]byte, deviceBufSize)
	n := 0
	for {
		m, err := d.f.Read(rsp[n:])
		n += m
		if n >= 10 {
			size := int(binary.BigEndian.Uint32(rsp[2:6]))
			if size < 10 || size > maxResponse {
				return nil, fmt.Errorf("read response: bad response size %d", size)
			}
			if n >= size {
				return rsp[:size], nil
			}
			if size > len(rsp) {
				rsp = append(rsp, make([]byte, size-len(rsp))...)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("read response (%d bytes so far): %w", n, err)
		}
	}
}
