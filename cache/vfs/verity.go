package vfs

import (
	"errors"
	"fmt"
)

// ErrVerity is the refusal to change an fs-verity file's data (EPERM).
var ErrVerity = errors.New("operation not permitted: the file has fs-verity")

// verityModels are the filesystems with fs-verity in the kernels modelled
// (Linux v6.1.176 .. v7.2.13: fs/ext4/verity.c, fs/btrfs/verity.c; tmpfs
// and XFS have none).
var verityModels = map[string]bool{"ext4": true, "btrfs": true}

// EnableVerity is FS_IOC_ENABLE_VERITY on the file at p, opened read-only
// (Linux v7.2.13: fs/verity/enable.c:fsverity_ioctl_enable: a regular
// file, no writer (deny_write_access, ETXTBSY), a filesystem with
// fs-verity). Overlayfs does not pass the ioctl on (ENOTTY): enable it on
// the layer's own path.
func (w *World) EnableVerity(p string) error {
	i, err := w.Lookup(p)
	if err != nil {
		return err
	}
	if i.SB.Model.Overlay {
		return fmt.Errorf("%s: overlayfs does not pass FS_IOC_ENABLE_VERITY on (ENOTTY); enable it on the lower layer's path", p)
	}
	if !verityModels[i.SB.Model.Type] {
		return fmt.Errorf("%s: %s has no fs-verity (EOPNOTSUPP; ext4 and btrfs have)", p, i.SB.Model.Type)
	}
	if i.Writers > 0 {
		return fmt.Errorf("%s: open for writing (ETXTBSY)", p)
	}
	i.Verity = true
	return nil
}

// verityDeniesWrite refuses a write open of an fs-verity file
// (Linux v7.2.13: fs/verity/open.c:fsverity_file_open, EPERM). Through
// overlay the open copies the file up first, and the upper copy has no
// fs-verity (fs/overlayfs/copy_up.c copies data, not the verity
// metadata), so only a real inode refuses.
func (w *World) verityDeniesWrite(i *Inode) error {
	if i.SB.Model.Overlay || !i.Verity {
		return nil
	}
	return ErrVerity
}

// Fstat is fstat(2) or statx(2) with the basic mask on a file (by its
// inode): Getattr as a user asks it, ctime included (which marks a
// multigrain ctime queried; Linux v6.13: fs/stat.c:fill_mg_cmtime) and
// no change cookie (user space cannot get one). Through overlay the
// attributes and times are the upper-most real file's, st_dev/st_ino
// the lower origin's (Linux v6.1.176 .. v7.2.13:
// fs/overlayfs/inode.c:ovl_getattr, ovl_map_dev_ino).
func (w *World) Fstat(i *Inode) Stat { return w.Getattr(i, false, true) }
