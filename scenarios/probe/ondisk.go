package probe

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// i_version is invisible to userspace (statx masks STATX_CHANGE_COOKIE),
// so the probe reads what each filesystem stored on disk after unmount:
//
//   - XFS: di_changecount, xfs_db's "v3.change_count"
//     (Linux v6.12: fs/xfs/libxfs/xfs_inode_buf.c:xfs_inode_to_disk stores
//     inode_peek_iversion).
//   - ext4: l_i_version (osd1) and i_version_hi, debugfs's
//     "Version: 0xHI:0xLO" (Linux v6.12: fs/ext4/inode.c:ext4_inode_set_iversion_queried,
//     ext4_fill_raw_inode).
//   - btrfs: the inode item's sequence, dump-tree's "sequence N"
//     (Linux v6.12: fs/btrfs/inode.c:fill_inode_item).

// OnDiskTool names the command that reads fsType's stored i_version, ""
// when the type has none (tmpfs, overlay).
func OnDiskTool(fsType string) string {
	switch fsType {
	case "xfs":
		return "xfs_db"
	case "ext4":
		return "debugfs"
	case "btrfs":
		return "btrfs"
	}
	return ""
}

// ReadOnDiskIVersion reads the stored i_version of inode ino on the
// unmounted device dev.
func ReadOnDiskIVersion(ctx context.Context, fsType, dev string, ino uint64) (uint64, error) {
	var cmd *exec.Cmd
	var parse func(string, uint64) (uint64, error)
	switch fsType {
	case "xfs":
		cmd = exec.CommandContext(ctx, "xfs_db", "-r", "-c", fmt.Sprintf("inode %d", ino), "-c", "print v3.change_count", dev)
		parse = func(s string, _ uint64) (uint64, error) { return ParseXFSChangeCount(s) }
	case "ext4":
		cmd = exec.CommandContext(ctx, "debugfs", "-R", fmt.Sprintf("stat <%d>", ino), dev)
		parse = func(s string, _ uint64) (uint64, error) { return ParseDebugfsVersion(s) }
	case "btrfs":
		cmd = exec.CommandContext(ctx, "btrfs", "inspect-internal", "dump-tree", "-t", "fs", dev)
		parse = ParseBtrfsSequence
	default:
		return 0, fmt.Errorf("no on-disk i_version for %s", fsType)
	}
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", strings.Join(cmd.Args, " "), err)
	}
	v, err := parse(string(out), ino)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", strings.Join(cmd.Args, " "), err)
	}
	return v, nil
}

var xfsChangeCount = regexp.MustCompile(`(?m)^v3\.change_count = (\d+)\s*$`)

// ParseXFSChangeCount reads `v3.change_count = N` from xfs_db output.
func ParseXFSChangeCount(s string) (uint64, error) {
	m := xfsChangeCount.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("no v3.change_count in xfs_db output %q", firstLine(s))
	}
	return strconv.ParseUint(m[1], 10, 64)
}

var debugfsVersion = regexp.MustCompile(`Version: 0x([0-9a-fA-F]{1,8}):([0-9a-fA-F]{1,8})\b`)
var debugfsVersionSmall = regexp.MustCompile(`Version: 0x([0-9a-fA-F]{1,8})\b`)

// ParseDebugfsVersion reads `Version: 0xHI:LO` (256-byte inodes) or
// `Version: 0xLO` from debugfs's stat output.
func ParseDebugfsVersion(s string) (uint64, error) {
	if m := debugfsVersion.FindStringSubmatch(s); m != nil {
		hi, _ := strconv.ParseUint(m[1], 16, 32)
		lo, _ := strconv.ParseUint(m[2], 16, 32)
		return hi<<32 | lo, nil
	}
	if m := debugfsVersionSmall.FindStringSubmatch(s); m != nil {
		return strconv.ParseUint(m[1], 16, 32)
	}
	return 0, fmt.Errorf("no Version: in debugfs output %q", firstLine(s))
}

// ParseBtrfsSequence finds inode ino's INODE_ITEM in `btrfs inspect-internal
// dump-tree` output and reads its sequence.
func ParseBtrfsSequence(s string, ino uint64) (uint64, error) {
	key := fmt.Sprintf(" key (%d INODE_ITEM 0) ", ino)
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	in := false
	for sc.Scan() {
		line := sc.Text()
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "item ") {
			in = strings.Contains(line, key)
			continue
		}
		if !in {
			continue
		}
		f := strings.Fields(t)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "sequence" {
				return strconv.ParseUint(f[i+1], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no INODE_ITEM with a sequence for inode %d in dump-tree output", ino)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	if len(l) > 80 {
		l = l[:80]
	}
	return l
}
