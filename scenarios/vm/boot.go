package vm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/imasim/imasim/internal/interrupt"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/real"
	"github.com/imasim/imasim/scenarios/vm/frame"
	"github.com/imasim/imasim/scenarios/vm/guest"
)

// Options configure a boot.
type Options struct {
	// Parallel boots this many policy groups of one kernel at once
	// (0 or 1: one after another).
	Parallel int
	Kernel   *Kernel
	Agent    string // static imasim binary (default: this executable)
	Busybox  string // static busybox (default /bin/busybox)
	Accel    string // tcg (default) or kvm (falls back to tcg)
	MemMB    int
	CPU      string        // QEMU -cpu model ("" = QEMU's default)
	Append   string        // extra kernel command line
	Boot     time.Duration // until the agent's first line
	Idle     time.Duration // without console output
	Total    time.Duration
	Keep     bool   // keep the work dir
	WorkDir  string // parent of the work dir (default os.TempDir)
	Verbose  bool   // print the QEMU command, the console
	Log      io.Writer
	Settle   time.Duration
	// Retries is how often a boot whose kernel crashed is repeated (every
	// crash is still reported). Kernel crashes under TCG are not always the
	// kernel's fault: see the -cx16 note in boot.
	Retries int
	// TPMState is a swtpm state directory (a TPM manufactured with an EK
	// certificate) whose files the boot's swtpm starts from, instead of a
	// fresh TPM; the directory itself is not changed.
	TPMState string
	// BootMode is "auto" (or ""): a direct PVH boot of the kernel's
	// vmlinux when it has the entry note, else the bzImage; "pvh": only
	// direct; "bios": the bzImage through SeaBIOS, with ACPI and the
	// firmware's TPM event log (what attestation needs). See pvh.go.
	BootMode string
	// PVHDir caches extracted vmlinux images (default: the user cache
	// directory's imasim/pvh).
	PVHDir string
}

// BootModes are the values of Options.BootMode.
var BootModes = []string{"auto", "pvh", "bios"}

// kernelImage picks what QEMU's -kernel gets and the command line the
// boot mode adds.
func kernelImage(o Options) (image, append string, err error) {
	switch o.BootMode {
	case "bios":
		return o.Kernel.Image, "", nil
	case "", "auto", "pvh":
	default:
		return "", "", fmt.Errorf("boot mode %q: want one of %s", o.BootMode, strings.Join(BootModes, ", "))
	}
	dir := o.PVHDir
	if dir == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			c = os.TempDir()
		}
		dir = filepath.Join(c, "imasim", "pvh")
	}
	p, err := PVHImage(o.Kernel.Image, dir)
	if err == nil {
		return p, pvhAppend, nil
	}
	if o.BootMode == "pvh" {
		return "", "", fmt.Errorf("%w: --boot-mode pvh: %v", ErrCannotRun, err)
	}
	if _, told := pvhWarned.LoadOrStore(o.Kernel.Image, true); !told {
		fmt.Fprintf(o.Log, "imasim vm: booting the bzImage through the BIOS: %v\n", err)
	}
	return o.Kernel.Image, "", nil
}

var pvhWarned sync.Map

// Group is what one boot runs: scenarios sharing the policy, then
// scripts (RunScripts). Files go into the initramfs for the scripts, and
// Load names kernel modules to load besides those the scenarios need
// (loop, xfs, overlay...); a name the kernel has built in or lacks is
// skipped (the script reports what it misses).
type Group struct {
	Policy    string
	Scenarios []*scenarios.Scenario
	Scripts   []guest.Script
	Files     []File
	Load      []string
}

// GroupByPolicy groups scenarios with identical policies, keeping order.
func GroupByPolicy(ss []*scenarios.Scenario) []Group {
	var out []Group
	idx := map[string]int{}
	for _, s := range ss {
		p := PolicyText(s)
		i, ok := idx[p]
		if !ok {
			i = len(out)
			idx[p] = i
			out = append(out, Group{Policy: p})
		}
		out[i].Scenarios = append(out[i].Scenarios, s)
	}
	return out
}

// MaxDisks bounds the virtio disks of one boot: each is a PCI device and
// QEMU's i440FX machine has 32 slots, some taken (measured: the 61st
// disk fails with "PCI: no slot/function available").
const MaxDisks = 24

// SplitByDisks splits groups so that no boot needs more than max disks
// (a scenario needing more gets a boot of its own).
func SplitByDisks(groups []Group, max int) []Group {
	var out []Group
	for _, g := range groups {
		cur := Group{Policy: g.Policy}
		n := 0
		for _, s := range g.Scenarios {
			d := len(real.DiskTypes(s))
			if len(cur.Scenarios) > 0 && n+d > max {
				out = append(out, cur)
				cur, n = Group{Policy: g.Policy}, 0
			}
			cur.Scenarios = append(cur.Scenarios, s)
			n += d
		}
		if len(cur.Scenarios) > 0 {
			out = append(out, cur)
		}
	}
	return out
}

// PolicyText is the policy a scenario loads, one rule per line.
func PolicyText(s *scenarios.Scenario) string {
	var b strings.Builder
	for _, p := range s.Policy {
		b.WriteString(p.Rule + "\n")
	}
	return b.String()
}

// ScenarioSource returns the text a scenario was parsed from.
func ScenarioSource(s *scenarios.Scenario) ([]byte, error) {
	if name, ok := strings.CutPrefix(s.File, "builtin:"); ok {
		if b, ok := scenarios.BuiltinSource(name); ok {
			return b, nil
		}
	}
	b, err := os.ReadFile(s.File)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", s.Name, err)
	}
	return b, nil
}

// BootResult is what one boot produced.
type BootResult struct {
	Files   map[string][]byte
	Report  guest.Report
	Console string
	Command []string
	WorkDir string // set when kept
	Timing  []Phase
	Accel   string
}

// Phase is a named duration for the timing line.
type Phase struct {
	Name string
	D    time.Duration
}

// diskFS are the fs types the host makes images for.
var diskFS = map[string]struct {
	sizeMB int
	mkfs   []string
}{
	"xfs":   {300, []string{"mkfs.xfs", "-q", "-f"}},
	"ext4":  {64, []string{"mkfs.ext4", "-q", "-F"}},
	"btrfs": {128, []string{"mkfs.btrfs", "-q", "-f"}},
}

// errNoAgent marks a boot whose guest agent never started.
var errNoAgent = errors.New("the guest agent never started")

// Boot runs one group in one VM. With Accel kvm a boot that hangs before
// the agent starts (nested KVM does) is retried under TCG.
func Boot(ctx context.Context, o Options, g Group) (*BootResult, error) {
	if o.Accel != "kvm" {
		return boot(ctx, o, g)
	}
	ko := o
	ko.Boot = 30 * time.Second
	if o.Boot != 0 && o.Boot < ko.Boot {
		ko.Boot = o.Boot
	}
	res, err := boot(ctx, ko, g)
	if err == nil || !errors.Is(err, errNoAgent) || ctx.Err() != nil {
		return res, err
	}
	if o.Log != nil {
		fmt.Fprintf(o.Log, "imasim vm: WARNING: the KVM boot hung (%v); retrying under TCG\n", strings.SplitN(err.Error(), "\n", 2)[0])
	}
	o.Accel = "tcg"
	return boot(ctx, o, g)
}

func boot(ctx context.Context, o Options, g Group) (res *BootResult, err error) {
	res = &BootResult{Files: map[string][]byte{}}
	if ctx.Err() != nil {
		return res, ErrInterrupted
	}
	defer func() {
		// Whatever broke after Ctrl-C (a killed mkfs, a missing socket)
		// broke because of it.
		if err != nil && ctx.Err() != nil && !errors.Is(err, ErrInterrupted) {
			err = fmt.Errorf("%w (%v)", ErrInterrupted, err)
		}
	}()
	if o.Log == nil {
		o.Log = io.Discard
	}
	for _, t := range []string{"qemu-system-x86_64", "swtpm"} {
		if _, err := exec.LookPath(t); err != nil {
			return res, fmt.Errorf("%w: %s not found (apt-get install qemu-system-x86 swtpm)", ErrCannotRun, t)
		}
	}
	if o.Busybox == "" {
		o.Busybox = "/bin/busybox"
	}
	if o.Agent == "" {
		if o.Agent, err = os.Executable(); err != nil {
			return res, fmt.Errorf("%w: guest agent: %v", ErrCannotRun, err)
		}
	}
	if o.MemMB == 0 {
		o.MemMB = 1024
	}
	if o.Boot == 0 {
		o.Boot = 90 * time.Second
	}
	if o.Idle == 0 {
		o.Idle = 60 * time.Second
	}
	if o.Total == 0 {
		o.Total = 10 * time.Minute
	}
	work, err := os.MkdirTemp(o.WorkDir, "imasim-vm-")
	if err != nil {
		return res, fmt.Errorf("work dir: %w", err)
	}
	var rm *interrupt.Cleanup
	if !o.Keep {
		rm = interrupt.Register("VM work dir "+work, func() error { return os.RemoveAll(work) })
	}
	defer func() {
		if o.Keep {
			res.WorkDir = work
			fmt.Fprintf(o.Log, "imasim vm: work dir kept: %s\n", work)
		} else if err := rm.Run(); err != nil {
			fmt.Fprintf(o.Log, "imasim vm: WARNING: left behind: %v\n", err)
		}
	}()
	t0 := time.Now()
	nonce := make([]byte, 8)
	rand.Read(nonce)
	job := guest.Job{Nonce: hex.EncodeToString(nonce), Policy: g.Policy, ResultDev: "/dev/ttyS1", Settle: o.Settle,
		Scripts: g.Scripts}
	var drives []string
	need := map[string]bool{}
	for i, s := range g.Scenarios {
		src, err := ScenarioSource(s)
		if err != nil {
			return res, err
		}
		js := guest.Scenario{Name: s.Name, Source: string(src), Root: fmt.Sprintf("/s%d", i), Disks: map[int]guest.Disk{}}
		for _, st := range s.Steps {
			switch o := st.Op.(type) {
			case scenarios.Overlay:
				need["overlay"] = true
			case scenarios.FS:
				spec, ok := diskFS[o.Type]
				if o.Type == "tmpfs" {
					continue
				}
				if !ok {
					return res, fmt.Errorf("%w: scenario %s line %d: no disk images for fs %s", ErrCannotRun, s.Name, st.Line, o.Type)
				}
				if _, err := exec.LookPath(spec.mkfs[0]); err != nil {
					return res, fmt.Errorf("%w: %s not found (needed for %s line %d)", ErrCannotRun, spec.mkfs[0], s.Name, st.Line)
				}
				need[o.Type] = true
				serial := fmt.Sprintf("imasim%d-%d", i, st.Line)
				img := filepath.Join(work, serial+".img")
				if err := makeDisk(ctx, img, spec.sizeMB, spec.mkfs); err != nil {
					return res, err
				}
				js.Disks[st.Line] = guest.Disk{Serial: serial, FSType: o.Type}
				id := fmt.Sprintf("d%d", len(drives)/2)
				drives = append(drives, "-drive", "file="+img+",if=none,id="+id+",format=raw,cache=unsafe",
					"-device", "virtio-blk-pci,drive="+id+",serial="+serial)
			}
		}
		job.Scenarios = append(job.Scenarios, js)
	}
	res.Timing = append(res.Timing, Phase{"disks", time.Since(t0)})
	t0 = time.Now()
	in := &Initramfs{Agent: o.Agent, Busybox: o.Busybox, Job: job, Files: g.Files}
	if o.Kernel.ModDir != "" {
		tree, err := ScanModules(o.Kernel.ModDir)
		if err != nil {
			return res, err
		}
		want := []string{"virtio_pci", "virtio_blk"}
		for _, n := range []string{"xfs", "ext4", "btrfs", "overlay"} {
			if need[n] {
				want = append(want, n)
			}
		}
		// Built in on some kernels (virtio_pci on 6.12+, ext4 everywhere).
		optional := map[string]bool{"virtio_pci": true, "virtio_blk": true, "ext4": true}
		for _, n := range g.Load {
			want = append(want, n)
			optional[ModName(n)] = true
			if tree.Mods[ModName(n)] == nil && !tree.Builtin[ModName(n)] {
				fmt.Fprintf(o.Log, "imasim vm: WARNING: kernel %s has no module %s (neither built in nor in %s): not loaded\n",
					o.Kernel.Release, n, o.Kernel.ModDir)
			}
		}
		if in.Modules, err = tree.Resolve(want, optional); err != nil {
			return res, fmt.Errorf("%w: kernel %s: %v", ErrCannotRun, o.Kernel.Release, err)
		}
	}
	initrd := filepath.Join(work, "initramfs.cpio")
	if err := in.Write(initrd); err != nil {
		return res, err
	}
	res.Timing = append(res.Timing, Phase{"initramfs", time.Since(t0)})

	tpm, err := startSwtpm(ctx, work, o.TPMState)
	if err != nil {
		return res, err
	}
	defer tpm.stop()

	accel := o.Accel
	if accel == "" {
		accel = "tcg"
	}
	if accel == "kvm" {
		if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err != nil {
			fmt.Fprintf(o.Log, "imasim vm: --accel kvm: %v; falling back to tcg\n", err)
			accel = "tcg"
		} else {
			f.Close()
			accel = "kvm:tcg" // QEMU tries kvm, then tcg
		}
	}
	res.Accel = accel
	results := filepath.Join(work, "results.txt")
	args := []string{"qemu-system-x86_64", "-accel", strings.Split(accel, ":")[0]}
	if strings.Contains(accel, ":") {
		args = append(args, "-accel", "tcg")
	}
	// Under TCG: QEMU's default model without CMPXCHG16B. Debian 6.12.107
	// double-faults in __kmalloc_noprof (SLUB's cmpxchg16b fast path) in
	// about one boot of three with cx16 under QEMU 7.2 TCG, also with
	// -cpu max/Nehalem and -machine q35; without cx16 16 of 16 boots were
	// clean here. 6.1 and 7.2 never crashed either way.
	cpu := o.CPU
	if cpu == "" && !strings.HasPrefix(accel, "kvm") {
		cpu = "qemu64,-cx16"
	}
	if cpu != "" {
		args = append(args, "-cpu", cpu)
	}
	image, modeAppend, err := kernelImage(o)
	if err != nil {
		return res, err
	}
	cmdline := strings.TrimSpace("console=ttyS0 panic=-1 oops=panic quiet " + modeAppend)
	if needsAppraiseLog(g.Policy) {
		// The scenarios' files carry no IMA signatures: appraise and
		// log, do not refuse (CONFIG_IMA_APPRAISE_BOOTPARAM).
		cmdline += " ima_appraise=log"
	}
	args = append(args, "-m", strconv.Itoa(o.MemMB), "-smp", "1",
		"-nodefaults", "-display", "none", "-no-reboot", "-no-user-config",
		"-kernel", image, "-initrd", initrd,
		"-append", strings.TrimSpace(cmdline+" "+o.Append),
		"-serial", "stdio", "-serial", "file:"+results,
		"-chardev", "socket,id=chrtpm,path="+tpm.sock,
		"-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-tis,tpmdev=tpm0")
	args = append(args, drives...)
	res.Command = args
	if o.Verbose {
		fmt.Fprintf(o.Log, "imasim vm: %s\n", shellQuote(args))
	}
	t0 = time.Now()
	con, err := runQEMU(ctx, o, args, results)
	res.Console = con.text
	os.WriteFile(filepath.Join(work, "console.log"), []byte(con.text), 0o644) // for --keep
	res.Timing = append(res.Timing, Phase{"boot", con.agentAt}, Phase{"run", time.Since(t0) - con.agentAt})
	if err != nil {
		return res, err
	}
	if b := brokenKernel(res.Console); b != "" {
		return res, fmt.Errorf("%w: %s: %s\n%s", ErrKernelCrash, o.Kernel.Release, b, oopsExcerpt(res.Console))
	}
	rf, err := os.Open(results)
	if err != nil {
		return res, fmt.Errorf("%w: no results from the guest: %v", ErrBoot, err)
	}
	defer rf.Close()
	res.Files, err = frame.Read(rf, job.Nonce)
	if err != nil {
		return res, fmt.Errorf("%w: results channel: %v (console tail:\n%s)", ErrBoot, err, tail(res.Console, 15))
	}
	if err := json.Unmarshal(res.Files[guest.FileReport], &res.Report); err != nil {
		return res, fmt.Errorf("%w: guest report: %v", ErrBoot, err)
	}
	if res.Report.Bypass || bytes.Contains(res.Files[guest.FileDmesg], []byte("activating TPM-bypass")) {
		return res, fmt.Errorf("%w: kernel %s: ima: No TPM chip found, activating TPM-bypass (swtpm not seen)", ErrBoot, o.Kernel.Release)
	}
	if b := brokenKernel(string(res.Files[guest.FileDmesg])); b != "" {
		return res, fmt.Errorf("%w: %s: %s\n%s", ErrKernelCrash, o.Kernel.Release, b, oopsExcerpt(string(res.Files[guest.FileDmesg])))
	}
	return res, nil
}

func makeDisk(ctx context.Context, img string, sizeMB int, mkfs []string) error {
	f, err := os.Create(img)
	if err != nil {
		return fmt.Errorf("disk image: %w", err)
	}
	if err := f.Truncate(int64(sizeMB) << 20); err != nil {
		f.Close()
		return fmt.Errorf("disk image: %w", err)
	}
	f.Close()
	args := append(append([]string{}, mkfs[1:]...), img)
	if out, err := exec.CommandContext(ctx, mkfs[0], args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", mkfs[0], img, err, out)
	}
	return nil
}

// brokenKernel finds a panic, oops or TPM-bypass in kernel output.
func brokenKernel(log string) string {
	for _, m := range []string{"Kernel panic - not syncing", "Oops:", "BUG: ", "general protection fault", "activating TPM-bypass"} {
		if i := strings.Index(log, m); i >= 0 {
			end := strings.IndexByte(log[i:], '\n')
			if end < 0 {
				end = len(log) - i
			}
			return strings.TrimSpace(log[i : i+end])
		}
	}
	return ""
}

// oopsExcerpt returns the first oops/BUG report from a console log: the
// header, RIP and call trace, without register dumps.
func oopsExcerpt(log string) string {
	lines := strings.Split(log, "\n")
	start := -1
	for i, l := range lines {
		if strings.Contains(l, "BUG: ") || strings.Contains(l, "Oops:") || strings.Contains(l, "general protection fault") {
			start = i
			break
		}
	}
	if start < 0 {
		return ""
	}
	var out []string
	for _, l := range lines[start:] {
		if strings.Contains(l, "---[ end trace") || len(out) >= 40 {
			break
		}
		if strings.Contains(l, "RSP:") || strings.Contains(l, " RAX: ") || strings.Contains(l, " RDX: ") ||
			strings.Contains(l, " RBP: ") || strings.Contains(l, " R10: ") || strings.Contains(l, " R13: ") ||
			strings.Contains(l, "Code: ") {
			continue
		}
		out = append(out, "  "+strings.TrimSpace(l))
	}
	return strings.Join(out, "\n")
}

type swtpm struct {
	cmd  *exec.Cmd
	sock string
	out  bytes.Buffer
	kill *interrupt.Cleanup
}

// startSwtpm starts swtpm with a fresh state dir (a copy of from's files
// when from is set) as our child; stop kills it by pid (swtpm 0.7 does
// not exit when QEMU dies).
func startSwtpm(ctx context.Context, work, from string) (*swtpm, error) {
	state := filepath.Join(work, "tpm")
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, fmt.Errorf("swtpm state: %w", err)
	}
	if from != "" {
		if err := copyState(from, state); err != nil {
			return nil, fmt.Errorf("swtpm state: %w", err)
		}
	}
	t := &swtpm{sock: filepath.Join(work, "swtpm.sock")}
	t.cmd = exec.Command("swtpm", "socket", "--tpm2", "--tpmstate", "dir="+state,
		"--ctrl", "type=unixio,path="+t.sock)
	t.cmd.Stdout, t.cmd.Stderr = &t.out, &t.out
	t.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := t.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: swtpm: %v", ErrCannotRun, err)
	}
	t.kill = interrupt.Register(fmt.Sprintf("swtpm (pid %d)", t.cmd.Process.Pid), func() error {
		t.cmd.Process.Kill()
		t.cmd.Wait()
		return nil
	})
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(t.sock); err == nil {
			return t, nil
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.stop()
	return nil, fmt.Errorf("%w: swtpm did not create %s: %s", ErrCannotRun, t.sock, t.out.String())
}

func (t *swtpm) stop() { t.kill.Run() }

// copyState copies the regular files of a swtpm state directory.
func copyState(from, to string) error {
	ents, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

type console struct {
	text    string
	agentAt time.Duration
}

// runQEMU runs QEMU with stdin from /dev/null and the console on a pipe
// (never the user's tty), enforcing the boot, idle and total timeouts and
// the size limits on the console and the results file, and always kills
// and reaps it.
// The guest decides how much it writes: QEMU is stopped when the console
// (kept in memory) or the results port (a file) grows past these.
var (
	maxConsole int64 = 64 << 20
	maxResults int64 = 2 * frame.MaxTotal // base64 and framing: 4/3 and a little
)

func runQEMU(ctx context.Context, o Options, args []string, results string) (console, error) {
	var c console
	cmd := exec.Command(args[0], args[1:]...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return c, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return c, fmt.Errorf("%w: qemu: %v", ErrCannotRun, err)
	}
	var reaped atomic.Bool // the group kill only while QEMU's pid is ours
	stop := interrupt.Register(fmt.Sprintf("QEMU (pid %d)", cmd.Process.Pid), func() error {
		if !reaped.Load() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		cmd.Process.Kill() // a no-op once reaped (pidfd)
		return nil
	})
	defer stop.Run()
	var (
		mu      sync.Mutex
		buf     bytes.Buffer
		last    = time.Now()
		agentAt time.Duration
		flooded bool
	)
	done := make(chan struct{})
	prog := newProgressWriter(o.Log)
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for {
			n, err := stdout.Read(b)
			if n > 0 {
				mu.Lock()
				if int64(buf.Len()+n) > maxConsole {
					flooded = true
					mu.Unlock()
					return
				}
				buf.Write(b[:n])
				last = time.Now()
				if agentAt == 0 && bytes.Contains(buf.Bytes(), []byte("imasim-guest:")) {
					agentAt = time.Since(start)
				}
				mu.Unlock()
				if o.Verbose {
					o.Log.Write(b[:n])
				} else {
					prog.Write(b[:n])
				}
			}
			if err != nil {
				return
			}
		}
	}()
	exited := make(chan error, 1)
	go func() {
		<-done
		if flooded {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Process.Kill()
		}
		err := cmd.Wait()
		reaped.Store(true)
		exited <- err
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	kill := func(why string) error {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Process.Kill()
		<-exited
		if why == "" {
			return ErrBoot
		}
		return fmt.Errorf("%w: %s", ErrBoot, why)
	}
	var runErr error
loop:
	for {
		select {
		case err := <-exited:
			mu.Lock()
			fl := flooded
			mu.Unlock()
			switch {
			case fl:
				runErr = fmt.Errorf("%w: the guest wrote more than %d bytes to the console (limit)", ErrBoot, maxConsole)
			case err != nil:
				runErr = fmt.Errorf("%w: qemu: %v: %s", ErrBoot, err, strings.TrimSpace(stderr.String()))
			}
			break loop
		case <-ctx.Done():
			kill("")
			runErr = ErrInterrupted
			break loop
		case <-tick.C:
			mu.Lock()
			idle, at := time.Since(last), agentAt
			mu.Unlock()
			el := time.Since(start)
			var rsize int64
			if fi, err := os.Stat(results); err == nil {
				rsize = fi.Size()
			}
			switch {
			case rsize > maxResults:
				runErr = kill(fmt.Sprintf("the guest wrote more than %d bytes to the results port (limit)", maxResults))
			case el > o.Total:
				runErr = kill(fmt.Sprintf("total timeout %s", o.Total))
			case at == 0 && el > o.Boot:
				runErr = fmt.Errorf("%w (boot timeout %s)", errNoAgent, o.Boot)
				runErr = fmt.Errorf("%w: %w", kill(""), runErr)
			case at != 0 && idle > o.Idle:
				runErr = kill(fmt.Sprintf("idle timeout: no console output for %s", o.Idle))
			}
			if runErr != nil {
				break loop
			}
		}
	}
	mu.Lock()
	c.text, c.agentAt = buf.String(), agentAt
	mu.Unlock()
	if runErr != nil && errors.Is(runErr, ErrBoot) {
		runErr = fmt.Errorf("%w (console tail:\n%s)", runErr, tail(c.text, 15))
	}
	return c, runErr
}

// tail is the last n lines of s (at most 64 KiB of them), found from the
// end: s may be a flooded console.
func tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	nl := len(s) // the n-th newline from the end, -1 when there are fewer
	for ; n > 0 && nl >= 0; n-- {
		nl = strings.LastIndexByte(s[:nl], '\n')
	}
	i := nl + 1
	if len(s)-i > 64<<10 {
		i = len(s) - 64<<10
	}
	return s[i:]
}

// shellQuote renders argv for copy and paste.
func shellQuote(args []string) string {
	var out []string
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$\\;&|<>()*?[]{}!#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}
