package tpm

import (
	"context"
	"crypto"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Known answers computed independently (Python hashlib): PCR = H(PCR || d)
// from a zero PCR.
func TestSoftwareKnownAnswers(t *testing.T) {
	tests := []struct {
		name string
		bank crypto.Hash
		// extends: "zero" extends one all-zero digest; "seq3" the digests of
		// "imasim 0", "imasim 1", "imasim 2".
		extends string
		want    string
	}{
		{"sha1 zero digest", crypto.SHA1, "zero", "b80de5d138758541c5f05265ad144ab9fa86d1db"},
		{"sha256 zero digest", crypto.SHA256, "zero", "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b"},
		{"sha1 three files", crypto.SHA1, "seq3", "c14a6a126c12371d84af39ceb17019bf1e30ad7e"},
		{"sha256 three files", crypto.SHA256, "seq3", "d30b600b5ccd153615056b8c793ace34438cb6dd3f9cf0f65c4ebc1e6c838032"},
		{"sha384 three files", crypto.SHA384, "seq3",
			"57dd932b5566343db6be6146c9578cb7aa0f1ca1950198ec130934de73e09117f86f19368c92a2c5dcdab5eac7397f71"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSoftware(tt.bank)
			if tt.extends == "zero" {
				require.NoError(t, s.Extend(IMAPCR, map[crypto.Hash][]byte{tt.bank: make([]byte, tt.bank.Size())}))
			} else {
				extendSeq(t, s, IMAPCR, 3)
			}
			got, err := s.Read(IMAPCR)
			require.NoError(t, err)
			assert.Equal(t, tt.want, hex.EncodeToString(got[tt.bank]), "Read(%d)[%v]", IMAPCR, tt.bank)
			// Other PCRs stay zero.
			other, err := s.Read(IMAPCR + 1)
			require.NoError(t, err)
			assert.Equal(t, make([]byte, tt.bank.Size()), other[tt.bank])
		})
	}
}

func TestSoftwareErrors(t *testing.T) {
	s := NewSoftware(crypto.SHA1, crypto.SHA256)
	tests := []struct {
		name    string
		pcr     int
		digests map[crypto.Hash][]byte
		want    string
	}{
		{"pcr negative", -1, digestsOf(s.Banks(), "x"), "tpm software: extend PCR -1: out of range"},
		{"pcr 24", 24, digestsOf(s.Banks(), "x"), "tpm software: extend PCR 24: out of range"},
		{"missing bank", 10, digestsOf([]crypto.Hash{crypto.SHA1}, "x"), "tpm software: extend PCR 10: no sha256 digest"},
		{"short digest", 10, map[crypto.Hash][]byte{crypto.SHA1: make([]byte, 20), crypto.SHA256: make([]byte, 20)},
			"tpm software: extend PCR 10: sha256 digest is 20 bytes, want 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Extend(tt.pcr, tt.digests)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	// A refused extend changed nothing.
	got, err := s.Read(10)
	require.NoError(t, err)
	assert.Equal(t, make([]byte, 20), got[crypto.SHA1])
	_, err = s.Read(24)
	assert.ErrorContains(t, err, "read PCR 24: out of range")
}

func TestSoftwareReset(t *testing.T) {
	s := NewSoftware(crypto.SHA256)
	extendSeq(t, s, 10, 2)
	require.NoError(t, s.Reset(10))
	got, err := s.Read(10)
	require.NoError(t, err)
	assert.Equal(t, make([]byte, 32), got[crypto.SHA256])
	assert.Error(t, s.Reset(24))
}

func TestOpenDefaults(t *testing.T) {
	for _, spec := range []string{"", "software"} {
		p, err := Open(spec)
		require.NoError(t, err)
		assert.Equal(t, []crypto.Hash{crypto.SHA1, crypto.SHA256}, p.Banks(), "Open(%q).Banks()", spec)
		require.NoError(t, p.Close())
	}
	p := openT(t, "software", Options{Banks: []crypto.Hash{crypto.SHA384}})
	assert.Equal(t, []crypto.Hash{crypto.SHA384}, p.Banks())

	_, err := OpenContext(context.Background(), "software", Options{Banks: []crypto.Hash{crypto.SHA1, crypto.SHA1}})
	assert.ErrorContains(t, err, "tpm software: bank sha1 given twice")

	_, err = Open("tpm3")
	assert.ErrorContains(t, err, `unknown backend "tpm3"`)
}

// TestStandIn checks Options.PCR: IMAPCR's extends land in the stand-in PCR,
// which is reset at open when it can be.
func TestStandIn(t *testing.T) {
	tests := []struct {
		name    string
		backend string
		opts    Options
		want    int
		wantErr string
	}{
		{"software default", BackendSoftware, Options{}, IMAPCR, ""},
		{"swtpm default", BackendSwtpm, Options{}, IMAPCR, ""},
		{"device default", BackendDevice, Options{}, ResettablePCR, ""},
		{"device pcr 16", BackendDevice, Options{PCR: 16}, 16, ""},
		{"device real pcr refused", BackendDevice, Options{PCR: 10}, 0, "tpm device: PCR 10 of a real TPM cannot be reset"},
		{"device real pcr allowed", BackendDevice, Options{PCR: 10, AllowRealPCR: true}, 10, ""},
		{"software pcr 23", BackendSoftware, Options{PCR: 23}, 23, ""},
		{"out of range", BackendSoftware, Options{PCR: 24}, 0, "tpm software: PCR 24 out of range"},
		{"negative", BackendSwtpm, Options{PCR: -1}, 0, "tpm swtpm: PCR -1 out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := standIn(tt.backend, tt.opts)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}

	// Software with PCR 23 standing in: a dirty PCR 23 is reset, then
	// extends of PCR 10 land there.
	s := NewSoftware(crypto.SHA1)
	extendSeq(t, s, 23, 1)
	p, err := withStandIn(s, 23)
	require.NoError(t, err)
	extendSeq(t, p, IMAPCR, 3)
	via, err := p.Read(IMAPCR)
	require.NoError(t, err)
	direct, err := s.Read(23)
	require.NoError(t, err)
	assert.Equal(t, "c14a6a126c12371d84af39ceb17019bf1e30ad7e", hex.EncodeToString(via[crypto.SHA1]))
	assert.Equal(t, via, direct)
	real10, err := s.Read(IMAPCR)
	require.NoError(t, err)
	assert.Equal(t, make([]byte, 20), real10[crypto.SHA1], "the real PCR 10 was left alone")
}

// TestBackendsAgree is the bit-for-bit check: the same extends give the same
// PCR values on every backend this machine has.
func TestBackendsAgree(t *testing.T) {
	banks := []crypto.Hash{crypto.SHA1, crypto.SHA256}
	want := NewSoftware(banks...)
	extendSeq(t, want, IMAPCR, 50)
	wantPCR, err := want.Read(IMAPCR)
	require.NoError(t, err)

	type backend struct {
		name string
		spec func(t *testing.T) string
		opts Options
	}
	backends := []backend{
		{"software", func(*testing.T) string { return "software" }, Options{}},
		{"software-pcr23", func(*testing.T) string { return "software" }, Options{PCR: 23}},
		{"swtpm", func(t *testing.T) string { needSwtpm(t); return "swtpm" }, Options{}},
		{"swtpm-pcr16", func(t *testing.T) string { needSwtpm(t); return "swtpm" }, Options{PCR: 16}},
		{"swtpm-unix-ctrl", func(t *testing.T) string {
			s := startExternalSwtpm(t, "unix")
			return "swtpm:unix:" + s.data + ",ctrl=" + s.ctrl
		}, Options{}},
		{"swtpm-unix-flags", func(t *testing.T) string {
			s := startExternalSwtpm(t, "unix", "--flags", "not-need-init,startup-clear")
			return "swtpm:unix:" + s.data
		}, Options{}},
		{"swtpm-tcp-ctrl", func(t *testing.T) string {
			s := startExternalSwtpm(t, "tcp")
			return "swtpm:tcp:" + s.data + ",ctrl=" + s.ctrl
		}, Options{}},
		{"device-pty", func(t *testing.T) string { return "device:" + startPtySwtpm(t) }, Options{}},
		{"device-pty-real-pcr", func(t *testing.T) string { return "device:" + startPtySwtpm(t) }, Options{PCR: 10, AllowRealPCR: true}},
		{"simulator", func(t *testing.T) string {
			if !SimulatorAvailable {
				t.Skip("simulator not in this build: go test -tags tpmsim")
			}
			return "simulator"
		}, Options{}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			opts := b.opts
			opts.Banks = banks
			p := openT(t, b.spec(t), opts)
			assert.Equal(t, banks, p.Banks())
			extendSeq(t, p, IMAPCR, 50)
			got, err := p.Read(IMAPCR)
			require.NoError(t, err)
			for _, h := range banks {
				assert.Equal(t, hex.EncodeToString(wantPCR[h]), hex.EncodeToString(got[h]), "%s PCR %d %v", b.name, IMAPCR, h)
			}
			require.NoError(t, p.Close())
			require.NoError(t, p.Close(), "second Close")
			assert.ErrorIs(t, p.Extend(IMAPCR, digestsOf(banks, "late")), ErrClosed)
		})
	}
}

// TestSwtpmDefaultBanks opens a private swtpm without Options.Banks and checks
// every bank it reports agrees with software banks of the same hashes.
func TestSwtpmDefaultBanks(t *testing.T) {
	needSwtpm(t)
	p := openT(t, "swtpm", Options{})
	banks := p.Banks()
	require.NotEmpty(t, banks)
	t.Logf("swtpm banks: %s", bankNames(banks))
	s := NewSoftware(banks...)
	extendSeq(t, s, IMAPCR, 5)
	extendSeq(t, p, IMAPCR, 5)
	want, err := s.Read(IMAPCR)
	require.NoError(t, err)
	got, err := p.Read(IMAPCR)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

// TestDeviceLogicOnSwtpm runs the device rules (stand-in PCR 23, reset at
// open, real PCRs refused) against a real TPM: a private swtpm dressed up as
// a device, since this machine has no TPM device.
func TestDeviceLogicOnSwtpm(t *testing.T) {
	needSwtpm(t)
	banks := []crypto.Hash{crypto.SHA1, crypto.SHA256}
	raw := openT(t, "swtpm", Options{Banks: banks})
	c := raw.(*chip)
	c.protect = true
	// Dirty PCR 23 as an earlier run would have.
	extendSeq(t, c, ResettablePCR, 2)

	target, err := standIn(BackendDevice, Options{})
	require.NoError(t, err)
	p, err := withStandIn(c, target)
	require.NoError(t, err)
	extendSeq(t, p, IMAPCR, 3)
	got, err := p.Read(IMAPCR)
	require.NoError(t, err)
	assert.Equal(t, "c14a6a126c12371d84af39ceb17019bf1e30ad7e", hex.EncodeToString(got[crypto.SHA1]))
	assert.Equal(t, "d30b600b5ccd153615056b8c793ace34438cb6dd3f9cf0f65c4ebc1e6c838032", hex.EncodeToString(got[crypto.SHA256]))

	c.protect = false
	real10, err := c.Read(IMAPCR)
	require.NoError(t, err)
	assert.Equal(t, make([]byte, 20), real10[crypto.SHA1], "real PCR 10 untouched")
	c.protect = true

	err = p.Extend(11, digestsOf(banks, "x"))
	assert.ErrorContains(t, err, "tpm swtpm: extend PCR 11 (sha1,sha256): refusing to extend a real PCR")
}

// TestFaultTPMError: a TPM error response fails the call, names backend and
// step, wraps the TPM_RC, and changes nothing.
func TestFaultTPMError(t *testing.T) {
	needSwtpm(t)
	banks := []crypto.Hash{crypto.SHA1, crypto.SHA256}
	p := openT(t, "swtpm", Options{Banks: banks})
	before, err := p.Read(17)
	require.NoError(t, err)

	// PCR 17 (DRTM) cannot be extended from locality 0.
	err = p.Extend(17, digestsOf(banks, "x"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tpm swtpm: extend PCR 17 (sha1,sha256): ")
	assert.ErrorIs(t, err, tpm2.TPMRCLocality)
	after, err := p.Read(17)
	require.NoError(t, err)
	assert.Equal(t, before, after, "PCR 17 unchanged")

	// PCR 10 cannot be reset.
	extendSeq(t, p, IMAPCR, 1)
	before, err = p.Read(IMAPCR)
	require.NoError(t, err)
	err = p.(Resetter).Reset(IMAPCR)
	assert.ErrorContains(t, err, "tpm swtpm: reset PCR 10: ")
	assert.ErrorIs(t, err, tpm2.TPMRCLocality)
	after, err = p.Read(IMAPCR)
	require.NoError(t, err)
	assert.Equal(t, before, after, "PCR 10 unchanged")
}

// TestFaultSwtpmKilled: swtpm dies mid-run; the next extend and read fail.
func TestFaultSwtpmKilled(t *testing.T) {
	needSwtpm(t)
	t.Run("private", func(t *testing.T) {
		p := openT(t, "swtpm", Options{})
		extendSeq(t, p, IMAPCR, 3)
		proc := p.(*chip).swtpm
		require.NoError(t, proc.cmd.Process.Kill())
		<-proc.exited
		err := p.Extend(IMAPCR, digestsOf(p.Banks(), "after kill"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "tpm swtpm: extend PCR 10 (")
		_, err = p.Read(IMAPCR)
		assert.ErrorContains(t, err, "tpm swtpm: read PCR 10: ")
		require.NoError(t, p.Close())
		assert.NoDirExists(t, proc.dir)
	})
	for _, network := range []string{"unix", "tcp"} {
		t.Run("connected-"+network, func(t *testing.T) {
			s := startExternalSwtpm(t, network)
			p := openT(t, "swtpm:"+network+":"+s.data+",ctrl="+s.ctrl, Options{})
			extendSeq(t, p, IMAPCR, 3)
			s.kill()
			err := p.Extend(IMAPCR, digestsOf(p.Banks(), "after kill"))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "tpm swtpm: extend PCR 10 (")
		})
	}
}

// TestFaultSwtpmHung: swtpm stops answering; the extend times out, and the
// connection is not trusted again (a late answer must not pass for the
// next command's).
func TestFaultSwtpmHung(t *testing.T) {
	needSwtpm(t)
	banks := []crypto.Hash{crypto.SHA256}
	p := openT(t, "swtpm", Options{Banks: banks})
	c := p.(*chip)
	c.tpm.(*streamTPM).timeout = 200 * time.Millisecond
	extendSeq(t, p, IMAPCR, 1)
	proc := c.swtpm.cmd.Process
	require.NoError(t, proc.Signal(syscall.SIGSTOP))
	err := p.Extend(IMAPCR, digestsOf(banks, "while stopped"))
	require.NoError(t, proc.Signal(syscall.SIGCONT))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tpm swtpm: extend PCR 10 (sha256): read response: ")
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)

	// swtpm runs again and has answered by now, but the backend stays failed.
	time.Sleep(50 * time.Millisecond)
	_, err = p.Read(IMAPCR)
	assert.ErrorContains(t, err, "tpm swtpm: read PCR 10: connection unusable after an earlier error")
}

// TestFaultSocketMissing: nothing listens where the spec points.
func TestFaultSocketMissing(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		spec string
		want string
	}{
		{"unix data", "swtpm:unix:" + dir + "/nope.sock", "tpm swtpm: connect data channel: "},
		{"unix ctrl", "swtpm:unix:" + dir + "/nope.sock,ctrl=" + dir + "/ctrl.sock", "tpm swtpm: init via control channel " + dir + "/ctrl.sock: "},
		{"tcp data", "swtpm:tcp:127.0.0.1:" + freePort(t), "tpm swtpm: connect data channel: "},
		{"tcp ctrl", "swtpm:tcp:127.0.0.1:" + freePort(t) + ",ctrl=" + freePort(t), "tpm swtpm: init via control channel 127.0.0.1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.spec)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestFaultNotInitialised: a swtpm that needs INIT, connected without ctrl.
func TestFaultNotInitialised(t *testing.T) {
	s := startExternalSwtpm(t, "unix")
	_, err := Open("swtpm:unix:" + s.data)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tpm swtpm: startup (start swtpm with --flags not-need-init,startup-clear, or give ctrl=)")
}

// TestSwtpmContextCancel: cancelling the context kills a private swtpm and
// removes its state.
func TestSwtpmContextCancel(t *testing.T) {
	needSwtpm(t)
	ctx, cancel := context.WithCancel(context.Background())
	p, err := OpenContext(ctx, "swtpm", Options{})
	require.NoError(t, err)
	extendSeq(t, p, IMAPCR, 1)
	proc := p.(*chip).swtpm
	cancel()
	select {
	case <-proc.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("swtpm still running 10s after cancel")
	}
	assert.Eventually(t, func() bool { _, err := os.Stat(proc.dir); return os.IsNotExist(err) }, 5*time.Second, 10*time.Millisecond)
	err = p.Extend(IMAPCR, digestsOf(p.Banks(), "late"))
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "tpm swtpm: extend PCR 10"), err.Error())
	require.NoError(t, p.Close())

	// An already cancelled context opens nothing.
	_, err = OpenContext(ctx, "swtpm", Options{})
	assert.ErrorIs(t, err, context.Canceled)
}

// TestSwtpmBanksOption: asking for a bank the TPM lacks fails at open and
// leaves no swtpm behind.
func TestSwtpmBanksOption(t *testing.T) {
	needSwtpm(t)
	_, err := OpenContext(context.Background(), "swtpm", Options{Banks: []crypto.Hash{crypto.SHA3_256}})
	assert.ErrorContains(t, err, "tpm swtpm: bank SHA3-256 not allocated")
	assert.Empty(t, swtpmChildren())
}

// TestConcurrentExtends: goroutines extending different PCRs at once on one
// backend each get the same values as a sequential software run.
func TestConcurrentExtends(t *testing.T) {
	specs := []string{"software"}
	if _, err := exec.LookPath("swtpm"); err == nil {
		specs = append(specs, "swtpm")
	}
	if SimulatorAvailable {
		specs = append(specs, "simulator")
	}
	banks := []crypto.Hash{crypto.SHA1, crypto.SHA256}
	want := NewSoftware(banks...)
	extendSeq(t, want, 0, 20)
	wantPCR, err := want.Read(0)
	require.NoError(t, err)
	for _, spec := range specs {
		t.Run(spec, func(t *testing.T) {
			p := openT(t, spec, Options{Banks: banks})
			var wg sync.WaitGroup
			for pcr := range 8 {
				wg.Go(func() { // assert, not require: not the test goroutine
					for i := range 20 {
						assert.NoError(t, p.Extend(pcr, digestsOf(banks, fmt.Sprintf("imasim %d", i))))
					}
				})
			}
			wg.Wait()
			for pcr := range 8 {
				got, err := p.Read(pcr)
				require.NoError(t, err)
				assert.Equal(t, wantPCR, got, "%s PCR %d", spec, pcr)
			}
		})
	}
}

// TestReadAll: every PCR of every bank, with the one extended PCR
// differing from the others.
func TestReadAll(t *testing.T) {
	p, err := Open("software")
	require.NoError(t, err)
	defer p.Close()
	d := map[crypto.Hash][]byte{}
	for _, h := range p.Banks() {
		d[h] = make([]byte, h.Size())
		d[h][0] = 1
	}
	require.NoError(t, p.Extend(10, d))
	vals, err := ReadAll(p, 24)
	require.NoError(t, err)
	require.Len(t, vals, 24)
	for _, h := range p.Banks() {
		assert.Len(t, vals[9][h], h.Size())
		assert.NotEqual(t, vals[9][h], vals[10][h], "%v", h)
	}
	_, err = ReadAll(p, 25)
	assert.ErrorContains(t, err, "reading PCR 24")
}

func TestCannotRun(t *testing.T) {
	assert.True(t, CannotRun(fmt.Errorf("swtpm: %w", exec.ErrNotFound)))
	assert.True(t, CannotRun(ErrNoSimulator))
	assert.False(t, CannotRun(fmt.Errorf("bad spec")))
}
