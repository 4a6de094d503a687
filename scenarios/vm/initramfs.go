package vm

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/imasim/imasim/scenarios/vm/guest"
)

// initScript is /init: busybox sets up nothing itself; the agent mounts,
// loads modules and resets the guest (QEMU runs with -no-reboot: a reset
// ends it; a direct boot has no ACPI to power off). If the agent cannot
// start, reset so the host sees a truncated run instead of a hang.
const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
IMASIM_GUEST=1 /imasim vm guest /job.json
echo "imasim-guest: agent exited with status $?"
/bin/busybox reboot -f
`

// Initramfs describes what goes into the guest's initramfs.
type Initramfs struct {
	Agent   string    // static imasim binary
	Busybox string    // static busybox
	Modules []*Module // load order
	Files   []File    // extra files (scripts, host tools and their libraries)
	Job     guest.Job // Modules is filled in by Write
}

// Write builds the newc archive at p.
func (in *Initramfs) Write(p string) error {
	for _, b := range []struct{ what, p string }{{"guest agent (imasim)", in.Agent}, {"busybox", in.Busybox}} {
		if err := checkStatic(b.p); err != nil {
			return fmt.Errorf("%w: %s %s: %v", ErrCannotRun, b.what, b.p, err)
		}
	}
	f, err := os.Create(p)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	c := NewCPIOWriter(bw)
	for _, d := range []string{"dev", "proc", "sys", "tmp", "run", "mnt", "bin", "sbin", "lib/modules", "etc", "root", "usr/bin"} {
		c.Mkdir(d, 0o755) // parents of Files come with them
	}
	c.CharDev("dev/console", 0o600, 5, 1)
	c.CharDev("dev/null", 0o666, 1, 3)
	c.File("init", 0o755, []byte(initScript))
	add := func(dst, src string) error {
		b, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		return c.File(dst, 0o755, b)
	}
	if err := add("bin/busybox", in.Busybox); err != nil {
		return err
	}
	c.Symlink("bin/sh", "busybox")
	if err := add("imasim", in.Agent); err != nil {
		return err
	}
	c.Symlink("usr/bin/imasim", "/imasim")
	for _, f := range in.Files {
		dst := strings.TrimPrefix(path.Clean(f.Dst), "/")
		if dst == "" || dst == "." || strings.HasPrefix(dst, "..") {
			return fmt.Errorf("initramfs: bad guest path %q", f.Dst)
		}
		if f.Link != "" {
			if err := c.Symlink(dst, f.Link); err != nil {
				return fmt.Errorf("initramfs: %w", err)
			}
			continue
		}
		b := f.Data
		if f.Src != "" {
			var err error
			if b, err = os.ReadFile(f.Src); err != nil {
				return fmt.Errorf("initramfs: %w", err)
			}
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		if err := c.File(dst, mode, b); err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
	}
	in.Job.Modules = nil
	for _, m := range in.Modules {
		b, err := readModuleCached(m.Path)
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		dst := path.Join("lib/modules", m.Name+".ko")
		c.File(dst, 0o644, b)
		in.Job.Modules = append(in.Job.Modules, "/"+dst)
	}
	job, err := json.MarshalIndent(in.Job, "", " ")
	if err != nil {
		return err
	}
	c.File("job.json", 0o644, job)
	if err := c.Close(); err != nil {
		f.Close()
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("initramfs: %w", err)
	}
	return f.Close()
}

// checkStatic refuses dynamically linked binaries (no loader in the guest).
func checkStatic(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, pr := range f.Progs {
		if pr.Type == elf.PT_INTERP {
			return fmt.Errorf("dynamically linked (build it with CGO_ENABLED=0, e.g. make build)")
		}
	}
	return nil
}

// readModuleCached keeps a decompressed copy next to a .ko.xz (pure-Go xz
// is slow: ~3 s per initramfs for the 7.2 modules otherwise). Best effort.
func readModuleCached(p string) ([]byte, error) {
	if strings.HasSuffix(p, ".ko") {
		return os.ReadFile(p)
	}
	raw := p + ".raw"
	if b, err := os.ReadFile(raw); err == nil {
		return b, nil
	}
	b, err := ReadModule(p)
	if err != nil {
		return nil, err
	}
	if tmp, err := os.CreateTemp(filepath.Dir(p), ".raw-*"); err == nil {
		_, werr := tmp.Write(b)
		if cerr := tmp.Close(); werr == nil && cerr == nil {
			os.Rename(tmp.Name(), raw)
		} else {
			os.Remove(tmp.Name())
		}
	}
	return b, nil
}
