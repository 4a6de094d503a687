package tpm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// Timeouts for talking to swtpm. A TPM command on swtpm takes microseconds
// to milliseconds; these only bound a hung peer.
const (
	swtpmCommandTimeout = 30 * time.Second
	swtpmStartTimeout   = 10 * time.Second
)

// maxResponse bounds a TPM response (TPM 2.0 responses are at most a few KiB).
const maxResponse = 1 << 16

// Control-channel commands of swtpm's socket interface: a big-endian uint32
// command code, then the request; the reply starts with a uint32 TPM result
// (swtpm: include/swtpm/tpm_ioctl.h, "Commands used by the non-CUSE TPMs").
const (
	swtpmCmdInit = 0x02 // CMD_INIT, request: uint32 init_flags
)

// streamTPM is a go-tpm transport over a stream socket carrying raw TPM 2.0
// commands and responses, as swtpm's data channel does.
type streamTPM struct {
	conn    net.Conn
	timeout time.Duration
	// broken is the first I/O error: after it, a late response could be
	// taken for the next command's, so every later Send fails.
	broken error
}

// Send implements transport.TPM: write the command, read the 10-byte
// response header (tag, size, code), then the rest of the response.
func (s *streamTPM) Send(cmd []byte) ([]byte, error) {
	if s.broken != nil {
		return nil, fmt.Errorf("connection unusable after an earlier error: %w", s.broken)
	}
	rsp, err := s.send(cmd)
	if err != nil {
		s.broken = err
	}
	return rsp, err
}

func (s *streamTPM) send(cmd []byte) ([]byte, error) {
	if err := s.conn.SetDeadline(time.Now().Add(s.timeout)); err != nil {
		return nil, fmt.Errorf("set deadline: %w", err)
	}
	if _, err := s.conn.Write(cmd); err != nil {
		if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
			return nil, fmt.Errorf("send command: connection lost (swtpm gone?): %w", err)
		}
		return nil, fmt.Errorf("send command: %w", err)
	}
	rsp := make([]byte, 10)
	if _, err := io.ReadFull(s.conn, rsp); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("read response: connection closed by peer (swtpm gone?): %w", err)
		}
		return nil, fmt.Errorf("read response: %w", err)
	}
	size := binary.BigEndian.Uint32(rsp[2:6])
	if size < 10 || size > maxResponse {
		return nil, fmt.Errorf("read response: bad response size %d", size)
	}
	rsp = append(rsp, make([]byte, size-10)...)
	if _, err := io.ReadFull(s.conn, rsp[10:]); err != nil {
		return nil, fmt.Errorf("read response body: %w", err)
	}
	return rsp, nil
}

// swtpmInit sends CMD_INIT on a swtpm control channel: the TPM is (re)started
// as at power-on, so all PCRs are back to their reset values after Startup.
func swtpmInit(ctx context.Context, network, addr string, retryUntil time.Time) error {
	conn, err := dial(ctx, network, addr, retryUntil)
	if err != nil {
		return fmt.Errorf("connect control channel: %w", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(swtpmCommandTimeout)); err != nil {
		return fmt.Errorf("control channel: %w", err)
	}
	req := binary.BigEndian.AppendUint32(nil, swtpmCmdInit)
	req = binary.BigEndian.AppendUint32(req, 0) // init_flags: keep volatile state
	if _, err := conn.Write(req); err != nil {
		return fmt.Errorf("send CMD_INIT: %w", err)
	}
	var res [4]byte
	if _, err := io.ReadFull(conn, res[:]); err != nil {
		return fmt.Errorf("read CMD_INIT result: %w", err)
	}
	if rc := binary.BigEndian.Uint32(res[:]); rc != 0 {
		return fmt.Errorf("CMD_INIT: swtpm result 0x%x", rc)
	}
	return nil
}

// startup sends TPM2_Startup(CLEAR); a TPM that has already started
// answers TPM_RC_INITIALIZE, which is fine.
func startup(backend string, t transport.TPM) error {
	_, err := tpm2.Startup{StartupType: tpm2.TPMSUClear}.Execute(t)
	if err == nil || errors.Is(err, tpm2.TPMRCInitialize) {
		return nil
	}
	hint := ""
	if backend == BackendSwtpm {
		hint = " (start swtpm with --flags not-need-init,startup-clear, or give ctrl=)"
	}
	return fmt.Errorf("tpm %s: startup%s: %w", backend, hint, err)
}

// dial connects, retrying a refused or missing Unix socket until deadline
// (a starting swtpm creates its socket just before it listens).
func dial(ctx context.Context, network, addr string, deadline time.Time) (net.Conn, error) {
	d := net.Dialer{Timeout: swtpmCommandTimeout}
	for {
		conn, err := d.DialContext(ctx, network, addr)
		if err == nil || time.Now().After(deadline) ||
			!(errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)) {
			return conn, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// openSwtpm starts a private swtpm or connects to a running one.
func openSwtpm(ctx context.Context, s Spec, opts Options) (PCRs, error) {
	if s.Network == "" {
		return startSwtpm(ctx, opts)
	}
	c, err := connectSwtpm(ctx, s.Network, s.Addr, s.Ctrl, time.Time{}, nil, opts)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	c.cleanup = chainCleanup(func() error { stop(); return nil }, c.cleanup)
	return c, nil
}

// connectSwtpm connects to the data channel of a running swtpm; with ctrl it
// first sends CMD_INIT. Dials are retried until retryUntil. extra runs after
// closing the connection, on Close or on error.
func connectSwtpm(ctx context.Context, network, addr, ctrl string, retryUntil time.Time, extra func() error, opts Options) (*chip, error) {
	fail := func(step string, err error) (*chip, error) {
		err = fmt.Errorf("tpm swtpm: %s: %w", step, err)
		if extra != nil {
			err = errors.Join(err, extra())
		}
		return nil, err
	}
	if ctrl != "" {
		if err := swtpmInit(ctx, network, ctrl, retryUntil); err != nil {
			return fail("init via control channel "+ctrl, err)
		}
	}
	conn, err := dial(ctx, network, addr, retryUntil)
	if err != nil {
		return fail("connect data channel", err)
	}
	cleanup := chainCleanup(conn.Close, extra)
	t := &streamTPM{conn: conn, timeout: swtpmCommandTimeout}
	if err := startup(BackendSwtpm, t); err != nil {
		return nil, errors.Join(err, cleanup())
	}
	c, err := newChip(BackendSwtpm, t, cleanup, opts)
	if err != nil {
		return nil, errors.Join(err, cleanup())
	}
	return c, nil
}

// chainCleanup runs every non-nil f in order and joins their errors.
func chainCleanup(fs ...func() error) func() error {
	return func() error {
		var errs []error
		for _, f := range fs {
			if f != nil {
				errs = append(errs, f())
			}
		}
		return errors.Join(errs...)
	}
}

// swtpmProc is a private swtpm process and its temp dir.
type swtpmProc struct {
	cmd    *exec.Cmd
	dir    string
	out    bytes.Buffer // stdout+stderr, for error messages
	outMu  sync.Mutex
	exited chan struct{}
	once   sync.Once
	err    error
}

func (p *swtpmProc) Write(b []byte) (int, error) {
	p.outMu.Lock()
	defer p.outMu.Unlock()
	if p.out.Len() < 1<<16 {
		p.out.Write(b)
	}
	return len(b), nil
}

func (p *swtpmProc) output() string {
	p.outMu.Lock()
	defer p.outMu.Unlock()
	return string(bytes.TrimSpace(p.out.Bytes()))
}

// stop kills swtpm, waits for it and removes its state; it is idempotent
// and safe to call from any goroutine.
func (p *swtpmProc) stop() error {
	p.once.Do(func() {
		if p.cmd.Process != nil {
			_ = p.cmd.Process.Kill() // fails only if it already exited
			<-p.exited
		}
		if err := os.RemoveAll(p.dir); err != nil {
			p.err = fmt.Errorf("remove swtpm state: %w", err)
		}
	})
	return p.err
}

// startSwtpm runs `swtpm socket --tpm2` with fresh state in a temp dir,
// Unix data and control sockets, then INIT + Startup(CLEAR) through them.
// The process is killed and the dir removed on Close, on ctx cancel; it
// exits by itself (Pdeathsig, --terminate) if this process dies.
func startSwtpm(ctx context.Context, opts Options) (PCRs, error) {
	bin, err := exec.LookPath("swtpm")
	if err != nil {
		return nil, fmt.Errorf("tpm swtpm: start: %w (install swtpm, e.g. Debian's swtpm package)", err)
	}
	dir, err := os.MkdirTemp("", "imasim-swtpm-")
	if err != nil {
		return nil, fmt.Errorf("tpm swtpm: start: %w", err)
	}
	state := filepath.Join(dir, "state")
	if opts.SwtpmState != "" {
		state = opts.SwtpmState
	}
	data, ctrl := filepath.Join(dir, "data.sock"), filepath.Join(dir, "ctrl.sock")
	if err := os.MkdirAll(state, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("tpm swtpm: start: %w", err)
	}
	if opts.EKCA != "" {
		if err := ManufactureSwtpm(ctx, state, opts.EKCA); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	p := &swtpmProc{dir: dir, exited: make(chan struct{})}
	// --terminate: swtpm exits when the data connection closes, so it
	// cannot outlive this process even where Pdeathsig does not fire.
	p.cmd = exec.Command(bin, "socket", "--tpm2", "--terminate",
		"--tpmstate", "dir="+state,
		"--server", "type=unixio,path="+data,
		"--ctrl", "type=unixio,path="+ctrl)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("tpm swtpm: start: %w", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()

	if err := waitSockets(ctx, p, data, ctrl); err != nil {
		return nil, errors.Join(fmt.Errorf("tpm swtpm: start: %w", err), p.stop())
	}
	c, err := connectSwtpm(ctx, "unix", data, ctrl, time.Now().Add(swtpmStartTimeout), p.stop, opts)
	if err != nil {
		return nil, err
	}
	c.swtpm = p
	stop := context.AfterFunc(ctx, func() {
		p.stop() // unblocks a command in flight
		c.Close()
	})
	c.cleanup = chainCleanup(func() error { stop(); return nil }, c.cleanup)
	return c, nil
}

// waitSockets waits until swtpm listens on both sockets, or exits.
func waitSockets(ctx context.Context, p *swtpmProc, socks ...string) error {
	deadline := time.Now().Add(swtpmStartTimeout)
	for _, sock := range socks {
		for {
			if _, err := os.Stat(sock); err == nil {
				break
			}
			select {
			case <-p.exited:
				return fmt.Errorf("swtpm exited (%v): %s", p.cmd.ProcessState, p.output())
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("swtpm did not create %s within %v: %s", sock, swtpmStartTimeout, p.output())
			}
		}
	}
	return nil
}
