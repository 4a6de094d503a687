// Package policy parses, validates and matches the IMA policy language the
// way the Linux kernel does (security/integrity/ima/ima_policy.c:
// ima_parse_rule, ima_validate_rule, ima_match_rules, ima_match_policy;
// Documentation/ABI/testing/ima_policy).
//
// The model follows Linux v7.2 (read in Debian's linux-source 7.2.13) and
// keeps the differences of older kernels behind Kernel.Version (read in
// 6.1.176 and 6.12.107). Real Debian kernels of all three versions agree
// with the parser on every rule of testdata/policies/oracle and with the
// matcher on the accesses recorded there (TestKernel*Oracle).
//
// The matcher takes plain attribute structs, so the package imports
// nothing of imasim. Typical use:
//
//	p, err := policy.ParseKernel(r, "scenario.policy", policy.Kernel{Version: v})
//	fs, _ := policy.LookupFS("xfs")
//	d := p.Match(policy.Attrs{Func: policy.BprmCheck, Mask: policy.MayExec,
//		UID: 65534, EUID: 65534, FSMagic: fs.Magic, FSName: fs.Name}.WithDefaultCaps())
//	measure := d.Actions&policy.Measure != 0
package policy

import (
	"fmt"
	"sort"
	"strings"
)

// Func is an IMA hook, analogous to Linux's enum ima_hooks (ima.h). The
// numeric values are this package's own; use String for the kernel name.
type Func int

// The hooks. PostSetattr has no policy keyword: the kernel matches it
// against rules of every func and mask (ima_match_rules).
const (
	FuncNone Func = iota
	FileCheck
	MmapCheck
	MmapCheckReqprot
	BprmCheck
	CredsCheck
	PostSetattr
	ModuleCheck
	FirmwareCheck
	KexecKernelCheck
	KexecInitramfsCheck
	PolicyCheck
	KexecCmdline
	KeyCheck
	CriticalData
	SetxattrCheck
)

// funcNames are the kernel's hook names (ima.h __ima_hooks) in Func order.
var funcNames = [...]string{
	FuncNone: "NONE", FileCheck: "FILE_CHECK", MmapCheck: "MMAP_CHECK",
	MmapCheckReqprot: "MMAP_CHECK_REQPROT", BprmCheck: "BPRM_CHECK",
	CredsCheck: "CREDS_CHECK", PostSetattr: "POST_SETATTR",
	ModuleCheck: "MODULE_CHECK", FirmwareCheck: "FIRMWARE_CHECK",
	KexecKernelCheck: "KEXEC_KERNEL_CHECK", KexecInitramfsCheck: "KEXEC_INITRAMFS_CHECK",
	PolicyCheck: "POLICY_CHECK", KexecCmdline: "KEXEC_CMDLINE", KeyCheck: "KEY_CHECK",
	CriticalData: "CRITICAL_DATA", SetxattrCheck: "SETXATTR_CHECK",
}

// funcAliases are the func= spellings ima_parse_rule accepts besides the
// hook names (Linux v7.2: ima_policy.c:ima_parse_rule, Opt_func).
var funcAliases = map[string]Func{"PATH_CHECK": FileCheck, "FILE_MMAP": MmapCheck}

// ParseFunc parses a hook name, accepting the kernel's aliases PATH_CHECK
// and FILE_MMAP and the keyword-less POST_SETATTR. It does not apply era or
// config limits; the rule parser does.
func ParseFunc(s string) (Func, error) {
	if f, ok := funcAliases[s]; ok {
		return f, nil
	}
	for f, n := range funcNames {
		if n == s && Func(f) != FuncNone {
			return Func(f), nil
		}
	}
	return FuncNone, fmt.Errorf("unknown func %q", s)
}

// String returns the kernel's name of the hook.
func (f Func) String() string {
	if f >= 0 && int(f) < len(funcNames) {
		return funcNames[f]
	}
	return fmt.Sprintf("Func(%d)", int(f))
}

// Funcs returns every hook in Func order, FuncNone excluded.
func Funcs() []Func {
	out := make([]Func, 0, len(funcNames)-1)
	for f := FileCheck; int(f) < len(funcNames); f++ {
		out = append(out, f)
	}
	return out
}

// Mask bits as the kernel's MAY_* (Linux: include/linux/fs.h).
type Mask int

// The access bits a mask= condition can name.
const (
	MayExec   Mask = 0x1
	MayWrite  Mask = 0x2
	MayRead   Mask = 0x4
	MayAppend Mask = 0x8
)

var maskNames = []struct {
	m Mask
	n string
}{{MayExec, "MAY_EXEC"}, {MayWrite, "MAY_WRITE"}, {MayRead, "MAY_READ"}, {MayAppend, "MAY_APPEND"}}

// ParseMask parses MAY_* names joined by '|' (the CLI's form; a policy's
// mask= takes exactly one name).
func ParseMask(s string) (Mask, error) {
	var m Mask
	for _, p := range strings.Split(s, "|") {
		found := false
		for _, mn := range maskNames {
			if p == mn.n {
				m |= mn.m
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown mask %q (want MAY_EXEC, MAY_WRITE, MAY_READ or MAY_APPEND)", p)
		}
	}
	return m, nil
}

func (m Mask) String() string {
	var parts []string
	for _, mn := range maskNames {
		if m&mn.m != 0 {
			parts = append(parts, mn.n)
		}
	}
	if rest := m &^ (MayExec | MayWrite | MayRead | MayAppend); rest != 0 {
		parts = append(parts, fmt.Sprintf("%#x", int(rest)))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

// Action bits as ima_policy.c defines them; the positive ones equal ima.h's
// IMA_MEASURE, IMA_APPRAISE, IMA_AUDIT and IMA_HASH, and each dont_ action
// is its positive one shifted left by one.
type Action int

// The actions. DontAudit exists since Linux v6.19.
const (
	Measure      Action = 0x1
	DontMeasure  Action = 0x2
	Appraise     Action = 0x4
	DontAppraise Action = 0x8
	Audit        Action = 0x40
	DontAudit    Action = 0x80
	Hash         Action = 0x100
	DontHash     Action = 0x200

	// DoMask is ima.h's IMA_DO_MASK: the positive actions.
	DoMask = Measure | Appraise | Audit | Hash
)

var actionNames = []struct {
	a Action
	n string
}{
	{Measure, "measure"}, {DontMeasure, "dont_measure"}, {Appraise, "appraise"},
	{DontAppraise, "dont_appraise"}, {Audit, "audit"}, {DontAudit, "dont_audit"},
	{Hash, "hash"}, {DontHash, "dont_hash"},
}

// String names the actions, joined by '|' when several bits are set.
func (a Action) String() string {
	var parts []string
	for _, an := range actionNames {
		if a&an.a != 0 {
			parts = append(parts, an.n)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "|")
}

// Flag is a bit of a rule's kernel flags word (struct ima_rule_entry.flags):
// the low bits say which conditions and options the rule has
// (ima_policy.c IMA_FUNC...IMA_FS_SUBTYPE), the high bits are ima.h's
// non-action flags a matching rule hands to the hook.
type Flag uint32

// Condition and option flags (Linux v7.2: ima_policy.c).
const (
	FlagFunc          Flag = 0x0001
	FlagMask          Flag = 0x0002
	FlagFSMagic       Flag = 0x0004
	FlagUID           Flag = 0x0008
	FlagFOwner        Flag = 0x0010
	FlagFSUUID        Flag = 0x0020
	FlagInMask        Flag = 0x0040
	FlagEUID          Flag = 0x0080
	FlagPCR           Flag = 0x0100
	FlagFSName        Flag = 0x0200
	FlagKeyrings      Flag = 0x0400
	FlagLabel         Flag = 0x0800
	FlagValidateAlgos Flag = 0x1000
	FlagGID           Flag = 0x2000
	FlagEGID          Flag = 0x4000
	FlagFGroup        Flag = 0x8000
	FlagFSSubtype     Flag = 0x10000
)

// Non-action flags (Linux v7.2: ima.h IMA_NONACTION_FLAGS).
const (
	DigsigRequired       Flag = 0x01000000
	PermitDirectio       Flag = 0x02000000
	Sigv3Required        Flag = 0x08000000
	FailUnverifiableSigs Flag = 0x10000000
	ModsigAllowed        Flag = 0x20000000
	CheckBlacklist       Flag = 0x40000000
	VerityRequired       Flag = 0x80000000

	// NonActionFlags is ima.h's IMA_NONACTION_FLAGS.
	NonActionFlags Flag = 0xff000000
)

var flagNames = []struct {
	f Flag
	n string
}{
	{FlagFunc, "func"}, {FlagMask, "mask"}, {FlagFSMagic, "fsmagic"}, {FlagUID, "uid"},
	{FlagFOwner, "fowner"}, {FlagFSUUID, "fsuuid"}, {FlagInMask, "inmask"}, {FlagEUID, "euid"},
	{FlagPCR, "pcr"}, {FlagFSName, "fsname"}, {FlagKeyrings, "keyrings"}, {FlagLabel, "label"},
	{FlagValidateAlgos, "appraise_algos"}, {FlagGID, "gid"}, {FlagEGID, "egid"},
	{FlagFGroup, "fgroup"}, {FlagFSSubtype, "fs_subtype"},
	{DigsigRequired, "digsig_required"}, {PermitDirectio, "permit_directio"},
	{Sigv3Required, "sigv3_required"}, {FailUnverifiableSigs, "fail_unverifiable_sigs"},
	{ModsigAllowed, "modsig_allowed"}, {CheckBlacklist, "check_blacklist"},
	{VerityRequired, "verity_required"},
}

// String names the flags, joined by '|'.
func (f Flag) String() string {
	var parts []string
	for _, fn := range flagNames {
		if f&fn.f != 0 {
			parts = append(parts, fn.n)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "|")
}

// Subaction is the appraisal sub-action a matching appraise rule adds
// (Linux v7.2: ima_policy.c:get_subaction, ima.h IMA_*_APPRAISE).
type Subaction uint32

// The appraisal sub-actions.
const (
	FileAppraise  Subaction = 0x00001000
	MmapAppraise  Subaction = 0x00004000
	BprmAppraise  Subaction = 0x00010000
	ReadAppraise  Subaction = 0x00040000
	CredsAppraise Subaction = 0x00100000
)

func (s Subaction) String() string {
	var parts []string
	for _, sn := range []struct {
		s Subaction
		n string
	}{{FileAppraise, "file"}, {MmapAppraise, "mmap"}, {BprmAppraise, "bprm"}, {ReadAppraise, "read"}, {CredsAppraise, "creds"}} {
		if s&sn.s != 0 {
			parts = append(parts, sn.n)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "|")
}

// Attrs is what a rule is matched against: the hook and access mask, the
// task's credentials (struct cred) and capabilities, the file's owner, its
// superblock (magic, type name, subtype, UUID), LSM labels, and the data
// name KEY_CHECK and CRITICAL_DATA match (keyring or label).
type Attrs struct {
	Func Func
	Mask Mask

	UID, EUID, GID, EGID uint32
	// SUID and SGID are the saved ids; euid=/egid= conditions also try them
	// (and uid/gid) when the task has CAP_SETUID/CAP_SETGID.
	SUID, SGID           uint32
	CapSetUID, CapSetGID bool

	FOwner, FGrp uint32

	FSMagic   uint64
	FSName    string   // s_type->name, e.g. "xfs"
	FSSubtype string   // s_subtype (FUSE); "" means none
	FSUUID    [16]byte // s_uuid; zero for none

	// LSM labels of the task (Subj*) and the file (Obj*). A rule with an
	// LSM condition matches only the label given here; "" never matches,
	// as on a kernel where no LSM recognises the rule.
	SubjUser, SubjRole, SubjType string
	ObjUser, ObjRole, ObjType    string

	// FuncData is the keyring (KEY_CHECK) or label (CRITICAL_DATA).
	FuncData string
}

// WithDefaultCaps returns a with CapSetUID and CapSetGID as a task without
// capability tweaks has them: all capabilities while its euid is 0, none
// otherwise (capabilities(7): a nonzero euid clears the effective set).
// Checked on real kernels (testdata/policies/oracle/custom-*).
func (a Attrs) WithDefaultCaps() Attrs {
	a.CapSetUID, a.CapSetGID = a.EUID == 0, a.EUID == 0
	return a
}

// Decision is the result of matching (ima_match_policy): the accumulated
// positive actions, the appraisal sub-action and non-action flags the
// matching rules contributed, the PCR and template of the last rule that
// set them (PCR defaults to 10, Template "" means the boot default), the
// allowed appraisal algorithms of the last appraise rule with
// appraise_algos=, and the 0-based indexes of the rules that matched.
type Decision struct {
	Actions      Action
	Subaction    Subaction
	Flags        Flag
	PCR          int
	Template     string
	AllowedAlgos []string
	Rules        []int
}

// Kernel returns the decision as the int ima_match_policy returns:
// actions, sub-action and non-action flags in one word.
func (d Decision) Kernel() uint32 {
	return uint32(d.Actions) | uint32(d.Subaction) | uint32(d.Flags)
}

// Op is a comparison operator of an id condition.
type Op int

// The id operators: uid=, uid>, uid<.
const (
	OpEq Op = iota
	OpGt
	OpLt
)

func (o Op) String() string {
	switch o {
	case OpGt:
		return ">"
	case OpLt:
		return "<"
	}
	return "="
}

func (o Op) apply(have, want uint32) bool {
	switch o {
	case OpGt:
		return have > want
	case OpLt:
		return have < want
	}
	return have == want
}

// LSM condition slots in the kernel's order (ima_policy.c enum
// lsm_rule_types).
const (
	ObjUser = iota
	ObjRole
	ObjType
	SubjUser
	SubjRole
	SubjType
	numLSM
)

var lsmKeys = [numLSM]string{"obj_user", "obj_role", "obj_type", "subj_user", "subj_role", "subj_type"}

// Rule is one parsed policy rule, analogous to struct ima_rule_entry.
// Flags says which of the fields are set.
type Rule struct {
	Line int    // 1-based line in the source; 0 for built-in rules
	Text string // the rule as written (trimmed)

	Action Action
	Flags  Flag
	Func   Func
	Mask   Mask // FlagMask: equal; FlagInMask: contains

	FSMagic   uint64
	FSUUID    [16]byte
	FSName    string
	FSSubtype string

	// UID holds uid= or euid= (the kernel keeps one value for both), GID
	// likewise gid= or egid=.
	UID, GID       uint32
	UIDOp, GIDOp   Op
	FOwner, FGroup uint32
	FOwnerOp       Op
	FGroupOp       Op

	PCR          int
	Template     string
	AllowedAlgos []string
	Keyrings     []string
	Labels       []string
	LSM          [numLSM]string // "" when absent

	era Version // the kernel the rule was parsed for (String follows it)
}

// Policy is an ordered rule list.
type Policy struct {
	Name  string
	Rules []Rule
	// FailSecurely is the ima_policy=fail_securely boot option: matching
	// appraise rules add FailUnverifiableSigs.
	FailSecurely bool
	// Warnings are things the kernel accepts that are probably not meant
	// (a repeated pcr=, an ignored appraise_flag=).
	Warnings []*Error
}

// Error locates a policy error: file, 1-based line and column (bytes) of
// the offending word, and the reason.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg) }

// sortedKeys returns a map's keys in order (for deterministic messages).
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
