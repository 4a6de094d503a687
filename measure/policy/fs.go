package policy

import (
	"fmt"
	"sort"
	"strings"
)

// FS is a filesystem type as fsmagic= and fsname= see it: the superblock
// magic (include/uapi/linux/magic.h) and s_type->name.
type FS struct {
	Name  string
	Magic uint64
}

// filesystems maps type names to magics.
//
// Linux v7.2: include/uapi/linux/magic.h (PROC_SUPER_MAGIC ... ZONEFS_MAGIC);
// the names are each file_system_type's .name. ext2/ext3/ext4 share
// EXT4_SUPER_MAGIC, fuse and fuseblk FUSE_SUPER_MAGIC, nfs and nfs4
// NFS_SUPER_MAGIC.
var filesystems = map[string]uint64{
	"xfs":         0x58465342, // XFS_SUPER_MAGIC
	"ext4":        0xef53,     // EXT4_SUPER_MAGIC
	"ext3":        0xef53,
	"ext2":        0xef53,
	"btrfs":       0x9123683e, // BTRFS_SUPER_MAGIC
	"tmpfs":       0x01021994, // TMPFS_MAGIC
	"ramfs":       0x858458f6, // RAMFS_MAGIC
	"overlay":     0x794c7630, // OVERLAYFS_SUPER_MAGIC
	"fuse":        0x65735546, // FUSE_SUPER_MAGIC
	"fuseblk":     0x65735546,
	"f2fs":        0xf2f52010, // F2FS_SUPER_MAGIC
	"squashfs":    0x73717368, // SQUASHFS_MAGIC
	"erofs":       0xe0f5e1e2, // EROFS_SUPER_MAGIC_V1
	"iso9660":     0x9660,     // ISOFS_SUPER_MAGIC
	"vfat":        0x4d44,     // MSDOS_SUPER_MAGIC
	"msdos":       0x4d44,
	"exfat":       0x2011bab0, // EXFAT_SUPER_MAGIC
	"nfs":         0x6969,     // NFS_SUPER_MAGIC
	"nfs4":        0x6969,
	"cifs":        0xff534d42, // CIFS_SUPER_MAGIC
	"smb3":        0xfe534d42, // SMB2_SUPER_MAGIC
	"9p":          0x01021997, // V9FS_MAGIC
	"cramfs":      0x28cd3d45, // CRAMFS_MAGIC
	"hugetlbfs":   0x958458f6, // HUGETLBFS_MAGIC
	"zonefs":      0x5a4f4653, // ZONEFS_MAGIC
	"proc":        0x9fa0,     // PROC_SUPER_MAGIC
	"sysfs":       0x62656572, // SYSFS_MAGIC
	"debugfs":     0x64626720, // DEBUGFS_MAGIC
	"tracefs":     0x74726163, // TRACEFS_MAGIC
	"devpts":      0x1cd1,     // DEVPTS_SUPER_MAGIC
	"binfmt_misc": 0x42494e4d, // BINFMTFS_MAGIC
	"securityfs":  0x73636673, // SECURITYFS_MAGIC
	"selinuxfs":   0xf97cff8c, // SELINUX_MAGIC
	"smackfs":     0x43415d53, // SMACK_MAGIC
	"cgroup":      0x27e0eb,   // CGROUP_SUPER_MAGIC
	"cgroup2":     0x63677270, // CGROUP2_SUPER_MAGIC
	"nsfs":        0x6e736673, // NSFS_MAGIC
	"efivarfs":    0xde5e81e4, // EFIVARFS_MAGIC
	"pstore":      0x6165676c, // PSTOREFS_MAGIC
	"bpf":         0xcafe4a11, // BPF_FS_MAGIC
}

// LookupFS returns the filesystem type of a name ("xfs", "overlay", ...).
func LookupFS(name string) (FS, error) {
	m, ok := filesystems[name]
	if !ok {
		return FS{}, fmt.Errorf("unknown filesystem %q (known: %s)", name, strings.Join(FSNames(), " "))
	}
	return FS{name, m}, nil
}

// FSNames lists the known filesystem type names, sorted.
func FSNames() []string { return sortedKeys(filesystems) }

// FSByMagic names the filesystem types with a magic ("" if none), sorted
// and joined by '/'.
func FSByMagic(m uint64) string {
	var names []string
	for n, v := range filesystems {
		if v == m {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return strings.Join(names, "/")
}

func mustMagic(name string) uint64 {
	m, ok := filesystems[name]
	if !ok {
		panic("policy: no magic for " + name)
	}
	return m
}
