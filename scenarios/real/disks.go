package real

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imasim/imasim/scenarios"
)

// Disks hands out block devices for a scenario's disk-backed `fs` steps.
// index counts those steps from 0 in scenario order (tmpfs needs no disk).
// The device must hold a fresh filesystem of type fsType; it stays valid
// until cleanup is called, which Run does after unmounting.
type Disks interface {
	Prepare(ctx context.Context, fsType string, index int) (dev string, cleanup func() error, err error)
}

// DiskTypes lists the filesystem types of s's disk-backed fs steps, in
// the order Disks.Prepare is asked for them, so a VM runner can make one
// image per entry and hand them over as Devices.
func DiskTypes(s *scenarios.Scenario) []string {
	var out []string
	for _, st := range s.Steps {
		if fs, ok := st.Op.(scenarios.FS); ok && needsDisk(fs.Type) {
			out = append(out, fs.Type)
		}
	}
	return out
}

func needsDisk(fsType string) bool { return fsType != "tmpfs" && fsType != "ramfs" }

// Devices are pre-made devices (the VM guest's /dev/vdX), one per
// disk-backed fs step in order, already formatted by the host.
type Devices []string

// Prepare returns the index'th device; cleanup does nothing.
func (d Devices) Prepare(_ context.Context, fsType string, index int) (string, func() error, error) {
	if index < 0 || index >= len(d) {
		return "", nil, fmt.Errorf("no device for %s filesystem #%d (have %d devices)", fsType, index, len(d))
	}
	return d[index], func() error { return nil }, nil
}

// Loop makes sparse image files in Dir, formats them with mkfs.TYPE and
// attaches them to loop devices (host use; needs root).
type Loop struct {
	Dir string
	// Size is the image size in bytes; 0 means DefaultImageSize.
	Size int64
	// Keep leaves the images in Dir (the loop devices are still detached).
	Keep bool
}

// DefaultImageSize fits mkfs.xfs's 300 MB minimum (xfsprogs 6.x) and
// btrfs's; images are sparse, so the space is not used.
const DefaultImageSize = 320 << 20

// mkfsArgs are the formatting commands. ext4 gets 256-byte inodes so
// i_version_hi exists (Linux: fs/ext4/ext4.h:EXT4_FITS_IN_INODE).
var mkfsArgs = map[string][]string{
	"xfs":   {"mkfs.xfs", "-q", "-f"},
	"ext4":  {"mkfs.ext4", "-q", "-F", "-I", "256"},
	"btrfs": {"mkfs.btrfs", "-q", "-f"},
}

// MkfsCommand names the program that formats fsType, or "" when unknown.
func MkfsCommand(fsType string) string {
	if a, ok := mkfsArgs[fsType]; ok {
		return a[0]
	}
	return ""
}

// Prepare creates DIR/disk<index>-<type>.img, formats it and attaches it.
// Cleanup detaches the loop device and removes the image.
func (l *Loop) Prepare(ctx context.Context, fsType string, index int) (string, func() error, error) {
	args, ok := mkfsArgs[fsType]
	if !ok {
		return "", nil, fmt.Errorf("no mkfs known for filesystem type %q (have xfs, ext4, btrfs)", fsType)
	}
	size := l.Size
	if size == 0 {
		size = DefaultImageSize
	}
	img := filepath.Join(l.Dir, fmt.Sprintf("disk%d-%s.img", index, fsType))
	f, err := os.OpenFile(img, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", nil, fmt.Errorf("creating image: %w", err)
	}
	rmImage := func() error {
		if l.Keep {
			return nil
		}
		if err := os.Remove(img); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing image %s: %w", img, err)
		}
		return nil
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", nil, errors.Join(fmt.Errorf("sizing image %s: %w", img, err), rmImage())
	}
	cmd := exec.CommandContext(ctx, args[0], append(args[1:], img)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", nil, errors.Join(fmt.Errorf("%s %s: %w: %s", args[0], img, err, strings.TrimSpace(string(out))), rmImage())
	}
	dev, detach, err := AttachLoop(img)
	if err != nil {
		return "", nil, errors.Join(err, rmImage())
	}
	return dev, func() error { return errors.Join(detach(), rmImage()) }, nil
}

// AttachLoop attaches file to a free loop device with LO_FLAGS_AUTOCLEAR
// and returns its path and a detach function. The device is held open
// until detach, so autoclear only fires once detach has closed it (and
// frees the device even if this process dies).
// Linux v6.12: drivers/block/loop.c:loop_configure.
func AttachLoop(file string) (string, func() error, error) {
	back, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		return "", nil, fmt.Errorf("loop: opening %s: %w", file, err)
	}
	defer back.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return "", nil, fmt.Errorf("loop: %w", err)
	}
	defer ctl.Close()
	for try := 0; try < 20; try++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return "", nil, fmt.Errorf("loop: LOOP_CTL_GET_FREE: %w", err)
		}
		dev := fmt.Sprintf("/dev/loop%d", n)
		lf, err := os.OpenFile(dev, os.O_RDWR, 0)
		if err != nil {
			return "", nil, fmt.Errorf("loop: opening %s: %w", dev, err)
		}
		cfg := unix.LoopConfig{Fd: uint32(back.Fd())}
		cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR
		copy(cfg.Info.File_name[:], file)
		if err := unix.IoctlLoopConfigure(int(lf.Fd()), &cfg); err != nil {
			lf.Close()
			if errors.Is(err, unix.EBUSY) { // taken by someone else meanwhile
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return "", nil, fmt.Errorf("loop: LOOP_CONFIGURE %s on %s: %w", file, dev, err)
		}
		detach := func() error {
			err := unix.IoctlSetInt(int(lf.Fd()), unix.LOOP_CLR_FD, 0)
			if errors.Is(err, unix.ENXIO) { // already detached
				err = nil
			}
			if cerr := lf.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("loop: detaching %s: %w", dev, err)
			}
			return nil
		}
		return dev, detach, nil
	}
	return "", nil, fmt.Errorf("loop: no free loop device for %s after 20 tries", file)
}
