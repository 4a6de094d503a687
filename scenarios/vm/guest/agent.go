package guest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imasim/imasim/scenarios/vm/frame"
)

// Main is the agent's entry point (PID 1 in the VM). It never returns on a
// real guest: it resets the VM after shipping the results.
func Main(jobPath string, console io.Writer) int {
	a := &agent{console: console, rep: &Report{Timing: map[string]float64{}}, files: map[string][]byte{}, kauditd: -1}
	defer a.finish()
	defer func() {
		if r := recover(); r != nil {
			buf := make([]byte, 8192)
			n := runtime.Stack(buf, false)
			a.fail("agent panic: %v\n%s", r, buf[:n])
		}
	}()
	b, err := os.ReadFile(jobPath)
	if err != nil {
		a.fail("job: %v", err)
		return 1
	}
	if err := json.Unmarshal(b, &a.job); err != nil {
		a.fail("job: %v", err)
		return 1
	}
	a.run()
	return 0
}

type agent struct {
	console io.Writer
	job     Job
	rep     *Report
	files   map[string][]byte
	kmsg    int      // raw fd: os.File would park EAGAIN reads in the netpoller
	kauditd int      // raw fd of the audit thread's /proc/PID/stat, -1 if none
	audit   []string // every audit record seen
	pending []string // records since the last take()
}

func (a *agent) logf(f string, args ...any) {
	fmt.Fprintf(a.console, "imasim-guest: "+f+"\n", args...)
}

func (a *agent) fail(f string, args ...any) {
	msg := fmt.Sprintf(f, args...)
	a.rep.Errors = append(a.rep.Errors, msg)
	a.logf("ERROR: %s", msg)
}

func (a *agent) phase(name string, t0 time.Time) {
	a.rep.Timing[name] = time.Since(t0).Seconds()
}

func (a *agent) run() {
	t0 := time.Now()
	a.logf("agent started")
	unix.Umask(0)
	for _, m := range []struct{ src, dst, typ string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"},
		{"securityfs", "/sys/kernel/security", "securityfs"},
	} {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.typ, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			a.fail("mount %s: %v", m.dst, err)
		}
	}
	var u unix.Utsname
	unix.Uname(&u)
	a.rep.Release = unix.ByteSliceToString(u.Release[:])
	// Linux v6.12: kernel/audit.c:kauditd_printk_skb drops records when
	// printk_ratelimit() says so; interval 0 turns the limit off.
	if err := os.WriteFile("/proc/sys/kernel/printk_ratelimit", []byte("0\n"), 0); err != nil {
		a.fail("printk_ratelimit: %v", err)
	}
	k, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		a.fail("kmsg: %v", err)
	} else {
		a.kmsg = k
	}
	a.kauditd = openKauditd()
	for _, m := range a.job.Modules {
		b, err := os.ReadFile(m)
		if err != nil {
			a.fail("module %s: %v", m, err)
			continue
		}
		if err := unix.InitModule(b, ""); err != nil && !errors.Is(err, unix.EEXIST) {
			a.fail("insmod %s: %v", m, err)
		}
	}
	a.phase("modules", t0)
	t0 = time.Now()
	if a.job.Policy != "" {
		if err := writeOnce("/sys/kernel/security/ima/policy", []byte(a.job.Policy)); err != nil {
			a.fail("load IMA policy: %v", err)
			return
		}
		a.files[FilePolicy], _ = os.ReadFile("/sys/kernel/security/ima/policy")
	}
	a.phase("policy", t0)
	t0 = time.Now()
	a.drain()
	a.pending = nil
	for _, sc := range a.job.Scenarios {
		a.rep.Scenarios = append(a.rep.Scenarios, a.scenario(sc))
	}
	a.phase("scenarios", t0)
	t0 = time.Now()
	for _, sc := range a.job.Scripts {
		a.rep.Scripts = append(a.rep.Scripts, a.script(sc))
	}
	if len(a.job.Scripts) > 0 {
		a.phase("scripts", t0)
	}
}

func writeOnce(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// drain reads every pending /dev/kmsg record and keeps the audit ones.
// Linux v6.12: kernel/audit.c:kauditd_printk_skb prints "type=%d %s" with
// pr_fmt "audit: ".
func (a *agent) drain() int {
	if a.kmsg <= 0 {
		return 0
	}
	n := 0
	buf := make([]byte, 8192)
	for {
		m, err := unix.Read(a.kmsg, buf)
		if err != nil {
			if errors.Is(err, unix.EPIPE) || errors.Is(err, unix.EINTR) {
				continue // overwritten records; keep reading
			}
			return n
		}
		if m <= 0 {
			return n
		}
		if r, ok := kmsgAudit(string(buf[:m])); ok {
			a.audit = append(a.audit, r)
			a.pending = append(a.pending, r)
			n++
		}
	}
}

// kmsgAudit returns the integrity audit record (types 1800-1899, text
// after "audit: ") in one /dev/kmsg record ("pri,seq,usec,flags;msg\n"
// plus " KEY=value" continuation lines; Documentation/ABI/testing/dev-kmsg).
func kmsgAudit(rec string) (string, bool) {
	_, msg, ok := strings.Cut(rec, ";")
	if !ok {
		return "", false
	}
	msg, _, _ = strings.Cut(msg, "\n")
	r, ok := strings.CutPrefix(msg, "audit: ")
	if !ok || !strings.HasPrefix(r, "type=18") {
		return "", false
	}
	return r, true
}

// settle returns the audit records of what ran before it. Records go
// through kauditd (Linux v6.12: kernel/audit.c:kauditd_thread, which
// sleeps only when audit_queue is empty, and kauditd_printk_skb): once
// that thread is asleep, every record queued so far is in /dev/kmsg. The
// records are queued by the syscalls the step made, all finished by now.
// Without a kauditd to watch, settle waits until no record arrived for
// job.Settle.
func (a *agent) settle() []string {
	quiet := a.job.Settle
	if quiet <= 0 {
		quiet = 40 * time.Millisecond
	}
	deadline := time.Now().Add(20 * quiet)
	last := time.Now()
	for time.Now().Before(deadline) {
		idle := a.kauditd >= 0 && kauditdIdle(a.kauditd)
		if a.drain() > 0 {
			last = time.Now()
		} else if idle {
			break
		}
		if time.Since(last) >= quiet {
			break
		}
		if a.kauditd >= 0 {
			time.Sleep(time.Millisecond) // lets kauditd run
		} else {
			time.Sleep(quiet / 4)
		}
	}
	out := a.pending
	a.pending = nil
	return out
}

// openKauditd opens /proc/PID/stat of the kernel thread kauditd, once,
// before the policy is written: rereading an open file is no new open
// for a FILE_CHECK rule to measure. -1 when there is none.
func openKauditd() int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if e.Name()[0] < '1' || e.Name()[0] > '9' {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/comm"); err == nil && string(bytes.TrimSpace(b)) == "kauditd" {
			fd, err := unix.Open("/proc/"+e.Name()+"/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				return fd
			}
		}
	}
	return -1
}

// kauditdIdle says whether kauditd is asleep (state S, after the
// command name in /proc/PID/stat): waiting for records, none queued.
func kauditdIdle(fd int) bool {
	var buf [512]byte
	n, err := unix.Pread(fd, buf[:], 0)
	if err != nil || n <= 0 {
		return false
	}
	b := buf[:n]
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'S'
}

func (a *agent) finish() {
	t0 := time.Now()
	a.drain()
	if len(a.pending) > 0 && len(a.rep.Scenarios) > 0 {
		s := &a.rep.Scenarios[len(a.rep.Scenarios)-1]
		if len(s.Steps) > 0 {
			st := &s.Steps[len(s.Steps)-1]
			st.Audit = append(st.Audit, a.pending...)
		}
	}
	read := func(name, p string) {
		b, err := os.ReadFile(p)
		if err != nil {
			a.fail("read %s: %v", p, err)
			return
		}
		a.files[name] = b
	}
	// PCRs first, the list after: with a policy that measures root's
	// FILE_CHECK opens every file read here is measured at open, so the
	// list ends with these reads and PCR 10 equals a prefix of it (the
	// host replays to the matching entry, vm.Replay).
	if _, err := os.Stat("/sys/class/tpm/tpm0"); err == nil {
		read(FilePCRSHA1, "/sys/class/tpm/tpm0/pcr-sha1/10")
		read(FilePCR256, "/sys/class/tpm/tpm0/pcr-sha256/10")
		var pcrs bytes.Buffer
		for _, bank := range []string{"sha1", "sha256"} {
			for i := 0; i < 10; i++ {
				if b, err := os.ReadFile(fmt.Sprintf("/sys/class/tpm/tpm0/pcr-%s/%d", bank, i)); err == nil {
					fmt.Fprintf(&pcrs, "%s %d %s\n", bank, i, bytes.TrimSpace(b))
				}
			}
		}
		a.files[FilePCRs] = pcrs.Bytes()
	} else {
		a.fail("no /sys/class/tpm/tpm0: the kernel found no TPM")
	}
	read(FileViol, "/sys/kernel/security/ima/violations")
	read(FileBinList, "/sys/kernel/security/ima/binary_runtime_measurements")
	read(FileASCII, "/sys/kernel/security/ima/ascii_runtime_measurements")
	// The firmware's event log, to check boot_aggregate on the host; a
	// guest whose firmware left none just has no file.
	if b, err := os.ReadFile("/sys/kernel/security/tpm0/binary_bios_measurements"); err == nil {
		a.files[FileEventLog] = b
	}
	a.files[FileDmesg] = readDmesg()
	if bytes.Contains(a.files[FileDmesg], []byte("activating TPM-bypass")) {
		a.rep.Bypass = true
	}
	a.files[FileAudit] = []byte(strings.Join(a.audit, "\n") + "\n")
	a.phase("collect", t0)
	rep, _ := json.MarshalIndent(a.rep, "", " ")
	a.files[FileReport] = rep
	if err := a.ship(); err != nil {
		a.logf("ERROR: shipping results: %v", err)
	}
	unix.Sync()
	a.logf("done, resetting the guest")
	if os.Getpid() == 1 || os.Getenv(EnvMarker) == "1" {
		// A reset, not a power-off: QEMU runs with -no-reboot and exits
		// either way, and a direct (PVH) boot has no ACPI to power off.
		unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
		select {}
	}
}

func readDmesg() []byte {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return []byte(fmt.Sprintf("(kmsg: %v)\n", err))
	}
	defer unix.Close(fd)
	var out bytes.Buffer
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(fd, buf)
		if err != nil {
			if errors.Is(err, unix.EPIPE) || errors.Is(err, unix.EINTR) {
				continue
			}
			return out.Bytes()
		}
		if n <= 0 {
			return out.Bytes()
		}
		rec := buf[:n]
		if i := bytes.IndexByte(rec, ';'); i >= 0 {
			hdr := strings.Split(string(rec[:i]), ",")
			line, _, _ := bytes.Cut(rec[i+1:], []byte("\n"))
			ts := ""
			if len(hdr) >= 3 {
				ts = hdr[2]
			}
			fmt.Fprintf(&out, "[%s] %s\n", ts, line)
		}
	}
}

// ship writes every file through the frame channel.
func (a *agent) ship() error {
	dev := a.job.ResultDev
	if dev == "" {
		dev = "/dev/ttyS1"
	}
	f, err := os.OpenFile(dev, os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CBAUD
		t.Cflag |= unix.CS8 | unix.B115200
		unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t)
	}
	w := frame.NewWriter(f, a.job.Nonce)
	names := []string{FileReport, FileAudit, FileBinList, FileASCII, FileViol, FilePCRSHA1, FilePCR256, FilePolicy, FileDmesg, FileEventLog, FilePCRs}
	for _, n := range names {
		if b, ok := a.files[n]; ok {
			if err := w.File(n, b); err != nil {
				return err
			}
		}
	}
	if err := w.Done(); err != nil {
		return err
	}
	// tcdrain: wait until the UART has sent everything.
	unix.IoctlSetInt(int(f.Fd()), unix.TCSBRK, 1)
	return nil
}

// waitDisks waits for virtio disks with the wanted serials and returns
// serial -> /dev/vdX.
func waitDisks(want []string, timeout time.Duration) (map[string]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		got := map[string]string{}
		ents, _ := filepath.Glob("/sys/block/vd*/serial")
		for _, e := range ents {
			b, err := os.ReadFile(e)
			if err == nil {
				got[strings.TrimSpace(string(b))] = "/dev/" + filepath.Base(filepath.Dir(e))
			}
		}
		missing := []string{}
		for _, w := range want {
			if got[w] == "" {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			return got, nil
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("virtio disks %s did not appear within %s", strings.Join(missing, ","), timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
