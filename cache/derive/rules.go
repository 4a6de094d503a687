package derive

import (
	"regexp"
	"strings"
)

// A rule decides one profile key from code shapes. Shapes follow the
// kernel code the model cites (docs/kernel-notes.md); each rule names them.
type rule struct {
	key    string
	derive func(*tree) Finding
}

const (
	imaMain = "security/integrity/ima/ima_main.c"
	imaAPI  = "security/integrity/ima/ima_api.c"
)

// Absent is the value of a feature the tree does not have.
const Absent = "absent"

func undecided(why, file string, line int) Finding {
	return Finding{Shape: "undecided: " + why, File: file, Line: line}
}

func found(value, shape, file string, line int) Finding {
	return Finding{Value: value, Shape: shape, File: file, Line: line}
}

// inFn locates name in file and applies decide to it.
func inFn(t *tree, file, name string, decide func(f *fn, text string) Finding) Finding {
	f, err := t.fn(file, name)
	if err != nil {
		return undecided(err.Error(), file, 0)
	}
	text, _ := t.read(file)
	return decide(f, text)
}

// firstLine is the line of the first match of re in the comment-free
// file, 0 when none.
func firstLine(t *tree, file, re string) int {
	text, err := t.read(file)
	if err != nil {
		return 0
	}
	loc := regexp.MustCompile(re).FindStringIndex(stripComments(text))
	if loc == nil {
		return 0
	}
	return lineOf(text, loc[0])
}

var rules = []rule{
	{"collect", func(t *tree) Finding {
		// ima_collect_measurement: what it caches as the version.
		return inFn(t, imaAPI, "ima_collect_measurement", func(f *fn, text string) Finding {
			cookie := has(f.body, `STATX_CHANGE_COOKIE`)
			switch {
			case cookie && has(f.body, `inode_peek_iversion\s*\(`):
				return found("cookie-else-peek", "change_cookie, else inode_peek_iversion", f.file, f.at(text, `inode_peek_iversion`))
			case cookie && has(f.body, `ctime`):
				return found("cookie-else-ctime", "change_cookie, else ctime", f.file, f.at(text, `ctime`))
			case cookie:
				return found("cookie", "vfs_getattr_nosec(STATX_CHANGE_COOKIE) only", f.file, f.at(text, `STATX_CHANGE_COOKIE`))
			case has(f.body, `inode_query_iversion\s*\(\s*inode\s*\)`):
				return found("query-file-inode", "inode_query_iversion(file_inode)", f.file, f.at(text, `inode_query_iversion`))
			}
			return undecided("no change_cookie and no inode_query_iversion(inode)", f.file, f.line)
		})
	}},
	{"stacked", func(t *tree) Finding {
		// process_measurement: the block comparing the real (backing) inode.
		return inFn(t, imaMain, "process_measurement", func(f *fn, text string) Finding {
			real := `d_real_inode\s*\(|backing_inode|real_inode`
			if !has(f.body, real) {
				return found("none", "no check of the real inode", f.file, f.line)
			}
			cmp := `inode_eq_iversion\s*\(|integrity_inode_attrs_changed\s*\(`
			if !has(f.body, cmp) {
				return undecided("real inode looked at, but no i_version comparison", f.file, f.at(text, real))
			}
			if has(f.body, `integrity_inode_attrs_changed\s*\(`) {
				h, err := t.fn("include/linux/integrity.h", "integrity_inode_attrs_changed")
				if err == nil && has(h.body, `vfs_getattr|ctime`) {
					htext, _ := t.read(h.file)
					return found("getattr", "integrity_inode_attrs_changed goes through getattr/ctime", h.file, h.at(htext, `vfs_getattr|ctime`))
				}
			}
			return found("iversion", "real inode dev/ino and inode_eq_iversion", f.file, f.at(text, cmp))
		})
	}},
	{"last-writer", func(t *tree) Finding {
		return inFn(t, imaMain, "ima_check_last_writer", func(f *fn, text string) Finding {
			switch {
			case has(f.body, `ima_detect_file_change\s*\(`):
				h, err := t.fn(imaMain, "ima_detect_file_change")
				if err != nil || !has(h.body, `STATX_CHANGE_COOKIE`) || !has(h.body, `inode_eq_iversion`) {
					return undecided("ima_detect_file_change without change_cookie and i_version", f.file, f.line)
				}
				return found("detect-file-change", "ima_detect_file_change: change_cookie, else inode_eq_iversion", h.file, h.line)
			case has(f.body, `STATX_CHANGE_COOKIE`) && has(f.body, `ctime`):
				return found("cookie-else-ctime", "change_cookie, else ctime", f.file, f.at(text, `ctime`))
			case has(f.body, `STATX_CHANGE_COOKIE`):
				return found("cookie", "change_cookie != cached", f.file, f.at(text, `STATX_CHANGE_COOKIE`))
			case has(f.body, `IS_I_VERSION\s*\(`) && has(f.body, `inode_eq_iversion\s*\(`):
				return found("iversion", "!IS_I_VERSION || !inode_eq_iversion", f.file, f.at(text, `IS_I_VERSION`))
			}
			return undecided("no known comparison", f.file, f.line)
		})
	}},
	{"violations", func(t *tree) Finding {
		return inFn(t, imaMain, "ima_rdwr_violation_check", func(f *fn, text string) Finding {
			if has(f.body, `IMA_MAY_EMIT_TOMTOU|IMA_EMITTED_OPENWRITERS`) {
				return found("once", "IMA_MAY_EMIT_TOMTOU / IMA_EMITTED_OPENWRITERS", f.file, f.at(text, `IMA_MAY_EMIT_TOMTOU|IMA_EMITTED_OPENWRITERS`))
			}
			if has(f.body, `send_tomtou`) {
				return found("every", "no rate limiting", f.file, f.line)
			}
			return undecided("no ToMToU logic", f.file, f.line)
		})
	}},
	{"overlay-unverifiable", func(t *tree) Finding {
		const file = "fs/overlayfs/super.c"
		if !t.exists(file) {
			return undecided("no "+file, file, 0)
		}
		if l := firstLine(t, file, `SB_I_IMA_UNVERIFIABLE_SIGNATURE`); l > 0 {
			return found("true", "overlayfs sets SB_I_IMA_UNVERIFIABLE_SIGNATURE", file, l)
		}
		return found("false", "overlayfs sets no SB_I_IMA_UNVERIFIABLE_SIGNATURE", file, 0)
	}},
	{"truncate-resets", func(t *tree) Finding {
		if l := firstLine(t, imaMain, `LSM_HOOK_INIT\s*\(\s*(path_truncate|file_truncate)`); l > 0 {
			return found("true", "IMA registers path_truncate/file_truncate", imaMain, l)
		}
		if l := firstLine(t, "security/security.c", `ima_(path|file)_truncate\s*\(`); l > 0 {
			return found("true", "security.c calls IMA's truncate hooks", "security/security.c", l)
		}
		return found("false", "no IMA truncate hook", imaMain, 0)
	}},
	{"evm-metadata", func(t *tree) Finding {
		return inFn(t, imaMain, "process_measurement", func(f *fn, text string) Finding {
			if has(f.body, `evm_metadata_changed\s*\(`) {
				return found("true", "evm_metadata_changed in the stacked block", f.file, f.at(text, `evm_metadata_changed`))
			}
			return found("false", "no evm_metadata_changed", f.file, f.line)
		})
	}},
	{"change-cookie", func(t *tree) Finding {
		for _, file := range []string{"include/linux/stat.h", "include/uapi/linux/stat.h"} {
			if l := firstLine(t, file, `#define\s+STATX_CHANGE_COOKIE`); l > 0 {
				return found("true", "STATX_CHANGE_COOKIE defined", file, l)
			}
		}
		if !t.exists("include/linux/stat.h") {
			return undecided("no include/linux/stat.h", "include/linux/stat.h", 0)
		}
		return found("false", "no STATX_CHANGE_COOKIE", "include/linux/stat.h", 0)
	}},
	{"fs.xfs", func(t *tree) Finding {
		const sup = "fs/xfs/xfs_super.c"
		if firstLine(t, sup, `SB_I_VERSION`) == 0 {
			return undecided("xfs sets no SB_I_VERSION", sup, 0)
		}
		mg := firstLine(t, sup, `FS_MGTIME`)
		return inFn(t, "fs/xfs/xfs_iops.c", "xfs_vn_getattr", func(f *fn, text string) Finding {
			cookie := has(f.body, `STATX_CHANGE_COOKIE`)
			switch {
			case mg > 0 && !cookie:
				return found("xfs-mg", "FS_MGTIME, getattr reports no change_cookie", sup, mg)
			case mg == 0:
				return found("xfs", "no FS_MGTIME; getattr "+map[bool]string{true: "reports", false: "has no"}[cookie]+" change_cookie", f.file, f.line)
			}
			return undecided("multigrain XFS whose getattr reports change_cookie", f.file, f.at(text, `STATX_CHANGE_COOKIE`))
		})
	}},
	{"fs.ext4", func(t *tree) Finding {
		const sup = "fs/ext4/super.c"
		if !t.exists(sup) {
			return undecided("no "+sup, sup, 0)
		}
		if l := firstLine(t, sup, `FS_MGTIME`); l > 0 {
			return found("ext4-mg", "FS_MGTIME", sup, l)
		}
		l, always := ext4Always(t)
		if !always {
			return found("ext4-5.10", "SB_I_VERSION only with -o iversion", sup, l)
		}
		if fl, forced := forcedBump(t); forced {
			return found("ext4", "i_version always on; timestamp updates force the bump", "fs/inode.c", fl)
		} else if fl > 0 {
			return found("ext4-6.1", "i_version always on; bump only when queried", "fs/inode.c", fl)
		}
		return undecided("no inode_maybe_inc_iversion in fs/inode.c", "fs/inode.c", 0)
	}},
	{"fs.tmpfs", func(t *tree) Finding {
		const sh = "mm/shmem.c"
		if !t.exists(sh) {
			return undecided("no "+sh, sh, 0)
		}
		l := firstLine(t, sh, `SB_I_VERSION`)
		if l == 0 {
			return found("tmpfs-5.10", "tmpfs sets no SB_I_VERSION", sh, 0)
		}
		if m := firstLine(t, sh, `FS_MGTIME`); m > 0 {
			return found("tmpfs-mg", "FS_MGTIME", sh, m)
		}
		if fl, forced := forcedBump(t); forced {
			return found("tmpfs", "SB_I_VERSION; timestamp updates force the bump", "fs/inode.c", fl)
		} else if fl > 0 {
			return found("tmpfs-6.1", "SB_I_VERSION; bump only when queried", sh, l)
		}
		return undecided("no inode_maybe_inc_iversion in fs/inode.c", "fs/inode.c", 0)
	}},
	{"remount-clears-iversion", func(t *tree) Finding {
		// A filesystem keeps SB_I_VERSION over a remount when its
		// init_fs_context puts it in fc->sb_flags (the context a
		// reconfigure starts from); set only in fill_super, the VFS's
		// reconfigure drops it (MS_RMT_MASK).
		var drop []string
		line, file := 0, ""
		if firstLine(t, "mm/shmem.c", `SB_I_VERSION`) > 0 {
			if !setInContext(t, "mm/shmem.c", "shmem_init_fs_context") {
				drop = append(drop, "tmpfs")
				line, file = firstLine(t, "mm/shmem.c", `SB_I_VERSION`), "mm/shmem.c"
			}
		}
		if _, always := ext4Always(t); always && !setInContext(t, "fs/ext4/super.c", "ext4_init_fs_context") {
			drop = append(drop, "ext4")
			if file == "" {
				line, file = firstLine(t, "fs/ext4/super.c", `SB_I_VERSION`), "fs/ext4/super.c"
			}
		}
		if len(drop) == 0 {
			if l := firstLine(t, "mm/shmem.c", `SB_I_VERSION`); l > 0 {
				return found("none", "SB_I_VERSION set in init_fs_context", "mm/shmem.c", l)
			}
			return found("none", "no filesystem sets SB_I_VERSION outside init_fs_context", "mm/shmem.c", 0)
		}
		return found(strings.Join(drop, ","), "SB_I_VERSION set outside init_fs_context", file, line)
	}},
	{"feature.execve-check", func(t *tree) Finding {
		for _, file := range []string{"include/uapi/linux/fcntl.h", "fs/exec.c"} {
			if l := firstLine(t, file, `AT_EXECVE_CHECK`); l > 0 {
				return found("present", "AT_EXECVE_CHECK", file, l)
			}
		}
		return found(Absent, "no AT_EXECVE_CHECK", "fs/exec.c", 0)
	}},
	{"feature.backing-file", func(t *tree) Finding {
		if t.exists("fs/backing-file.c") {
			return found("present", "fs/backing-file.c", "fs/backing-file.c", 1)
		}
		return found(Absent, "no fs/backing-file.c", "fs/overlayfs/file.c", 0)
	}},
	{"feature.mmap-backing-file-hook", func(t *tree) Finding {
		// "lsm: add backing_file LSM hooks" (v7.1-rc1, 6.12.95):
		// backing_file_mmap asks the LSMs about the backing file.
		if l := firstLine(t, "fs/backing-file.c", `security_mmap_backing_file\s*\(`); l > 0 {
			return found("present", "backing_file_mmap calls security_mmap_backing_file", "fs/backing-file.c", l)
		}
		return found(Absent, "no security_mmap_backing_file call", "fs/backing-file.c", 0)
	}},
}

// ext4Always: ext4 sets SB_I_VERSION outside the iversion mount option.
func ext4Always(t *tree) (int, bool) {
	text, err := t.read("fs/ext4/super.c")
	if err != nil {
		return 0, false
	}
	code := stripComments(text)
	re := regexp.MustCompile(`(?:s_flags|sb_flags)\s*\|=\s*SB_I_VERSION`)
	first := 0
	for _, loc := range re.FindAllStringIndex(code, -1) {
		l := lineOf(text, loc[0])
		if first == 0 {
			first = l
		}
		// the option's case label within the three lines before
		before := code[:loc[0]]
		if k := strings.LastIndex(before, "case Opt_i_version"); k >= 0 && strings.Count(before[k:], "\n") <= 3 {
			continue
		}
		return l, true
	}
	return first, false
}

// forcedBump: fs/inode.c forces the i_version bump when timestamps change
// (inode_maybe_inc_iversion(inode, updated) or with true), 6.6+; the line
// of the call either way, 0 when there is none.
func forcedBump(t *tree) (int, bool) {
	if l := firstLine(t, "fs/inode.c", `inode_maybe_inc_iversion\s*\(\s*inode\s*,\s*(updated|true|!!\w+|\w+\s*&)`); l > 0 {
		return l, true
	}
	return firstLine(t, "fs/inode.c", `inode_maybe_inc_iversion\s*\(`), false
}

// setInContext: function name puts SB_I_VERSION into fc->sb_flags.
func setInContext(t *tree, file, name string) bool {
	f, err := t.fn(file, name)
	return err == nil && has(f.body, `sb_flags\s*\|=\s*SB_I_VERSION`)
}
