package cache

import "path"

// MprotectCall is what ima_file_mprotect looks at when mprotect(2) adds
// PROT_EXEC to a file mapping.
type MprotectCall struct {
	// PolicyAppraise: ima_policy_flag has IMA_APPRAISE (some appraise
	// rule is loaded; with ima_appraise=log too).
	PolicyAppraise bool
	// Actions are the Flag* bits of the MMAP_CHECK and MMAP_CHECK_REQPROT
	// rules matching file_inode(vma->vm_file): the backing inode, which
	// overlay's mmap put in the vma (6.1: ovl_mmap; 7.2:
	// backing_file_mmap, vma_set_file).
	Actions uint64
	// Path is the file's path as opened; BackingPath the backing file's
	// path (Path when it is no overlay file).
	Path, BackingPath string
}

// Mprotect is what ima_file_mprotect did.
type Mprotect struct {
	// Checked: the policy has an appraise rule, so the rules were matched.
	Checked bool
	// Audit: a measure or appraise rule matched, and "collect_data
	// failed-mprotect" was audited (AUDIT_INTEGRITY_DATA) with Res and
	// Name as its res= and name=. Nothing is ever hashed or measured.
	Audit bool
	Res   int
	Name  string
	// Deny: an appraise rule matched, mprotect fails with -EPERM (in log
	// mode too).
	Deny bool
}

// FileMprotect models ima_file_mprotect (Linux v6.1.176, v6.12.107,
// v7.2.13: security/integrity/ima/ima_main.c) under profile p.
func FileMprotect(p *Profile, c MprotectCall) Mprotect {
	if !c.PolicyAppraise {
		return Mprotect{}
	}
	out := Mprotect{Checked: true, Name: c.Path}
	// 6.1: overlay's real file carries the overlay path
	// (open_with_fake_path). 6.7+: the backing file's own path is on
	// overlay's private layer mount, which d_absolute_path cannot name,
	// so ima_d_path falls back to the dentry name (Linux v7.2:
	// ima_api.c:ima_d_path).
	if all, _ := p.HasFeature("backing-file"); all && c.BackingPath != c.Path {
		out.Name = path.Base(c.BackingPath)
	}
	if c.Actions&(FlagMeasure|FlagAppraise) == 0 {
		return out
	}
	out.Audit, out.Res = true, 1
	if c.Actions&FlagAppraise != 0 {
		out.Deny, out.Res = true, 0
	}
	return out
}
