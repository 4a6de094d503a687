// Package policy parses and matches the IMA policy language
// (Linux: security/integrity/ima/ima_policy.c, Documentation/ABI/testing/ima_policy).
// The matcher takes plain attribute structs, so it imports nothing of imasim.
package policy

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Func is an IMA hook (Linux: ima.h enum ima_hooks).
type Func int

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

var funcNames = map[string]Func{
	"FILE_CHECK": FileCheck, "PATH_CHECK": FileCheck,
	"MMAP_CHECK": MmapCheck, "FILE_MMAP": MmapCheck,
	"MMAP_CHECK_REQPROT": MmapCheckReqprot,
	"BPRM_CHECK":         BprmCheck, "CREDS_CHECK": CredsCheck,
	"POST_SETATTR": PostSetattr, "MODULE_CHECK": ModuleCheck,
	"FIRMWARE_CHECK": FirmwareCheck, "KEXEC_KERNEL_CHECK": KexecKernelCheck,
	"KEXEC_INITRAMFS_CHECK": KexecInitramfsCheck, "POLICY_CHECK": PolicyCheck,
	"KEXEC_CMDLINE": KexecCmdline, "KEY_CHECK": KeyCheck,
	"CRITICAL_DATA": CriticalData, "SETXATTR_CHECK": SetxattrCheck,
}

// ParseFunc parses a func= value, accepting the kernel's aliases.
func ParseFunc(s string) (Func, error) {
	if f, ok := funcNames[s]; ok {
		return f, nil
	}
	return FuncNone, fmt.Errorf("unknown func %q", s)
}

func (f Func) String() string {
	best := ""
	for n, v := range funcNames {
		if v == f && (best == "" || len(n) > len(best) || (len(n) == len(best) && n < best)) {
			best = n
		}
	}
	switch f {
	case FileCheck:
		return "FILE_CHECK"
	case MmapCheck:
		return "MMAP_CHECK"
	}
	if best == "" {
		return "NONE"
	}
	return best
}

// Mask bits as the kernel's MAY_* (Linux: include/linux/fs.h).
type Mask int

const (
	MayExec   Mask = 0x1
	MayWrite  Mask = 0x2
	MayRead   Mask = 0x4
	MayAppend Mask = 0x8
)

// Action bits as ima.h defines them.
type Action int

const (
	Measure      Action = 0x1
	DontMeasure  Action = 0x2
	Appraise     Action = 0x4
	DontAppraise Action = 0x8
	Audit        Action = 0x40
	Hash         Action = 0x100
	DontHash     Action = 0x200
)

// Attrs is what a rule is matched against: the hook, the access mask, the
// task's credentials and the file's owner and filesystem.
type Attrs struct {
	Func                               Func
	Mask                               Mask
	UID, EUID, GID, EGID, FOwner, FGrp uint32
	FSMagic                            uint64
	FSName                             string
}

// Decision is the result of matching: the accumulated actions (only the
// positive ones: Measure, Appraise, Audit, Hash), the PCR and template of
// the last rule that set them, and the 0-based indexes of matching rules.
type Decision struct {
	Actions  Action
	PCR      int
	Template string
	Rules    []int
}

// Rule is one parsed policy line.
type Rule struct {
	Line   int
	Text   string
	Action Action
	Func   Func
	uid    *uint32
}

// Policy is an ordered rule list.
type Policy struct {
	Name  string
	Rules []Rule
}

// Error locates a policy error.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg) }

// Parse reads a policy; name is used in error locations.
// (First version: actions measure/audit/appraise/hash and func=, uid=.)
func Parse(r io.Reader, name string) (*Policy, error) {
	p := &Policy{Name: name}
	sc := bufio.NewScanner(r)
	ln := 0
	for sc.Scan() {
		ln++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		r := Rule{Line: ln, Text: line}
		switch f[0] {
		case "measure":
			r.Action = Measure
		case "dont_measure":
			r.Action = DontMeasure
		case "audit":
			r.Action = Audit
		case "appraise":
			r.Action = Appraise
		case "hash":
			r.Action = Hash
		default:
			return nil, &Error{name, ln, 1, fmt.Sprintf("unknown action %q", f[0])}
		}
		for _, c := range f[1:] {
			k, v, _ := strings.Cut(c, "=")
			switch k {
			case "func":
				fn, err := ParseFunc(v)
				if err != nil {
					return nil, &Error{name, ln, strings.Index(sc.Text(), c) + 1, err.Error()}
				}
				r.Func = fn
			case "uid":
				u, err := strconv.ParseUint(v, 10, 32)
				if err != nil {
					return nil, &Error{name, ln, strings.Index(sc.Text(), c) + 1, "bad uid"}
				}
				u32 := uint32(u)
				r.uid = &u32
			default:
				return nil, &Error{name, ln, strings.Index(sc.Text(), c) + 1, fmt.Sprintf("unsupported condition %q", k)}
			}
		}
		p.Rules = append(p.Rules, r)
	}
	return p, sc.Err()
}

// Match applies the rules as ima_match_policy does: per action pair the
// first matching rule decides, pairs accumulate.
func (p *Policy) Match(a Attrs) Decision {
	d := Decision{PCR: 10}
	decided := Action(0)
	for i, r := range p.Rules {
		if r.Func != FuncNone && r.Func != a.Func {
			continue
		}
		if r.uid != nil && *r.uid != a.UID {
			continue
		}
		pair := r.Action | r.Action>>1 | r.Action<<1
		if decided&pair != 0 {
			continue
		}
		d.Rules = append(d.Rules, i)
		decided |= pair
		if r.Action&(Measure|Appraise|Audit|Hash) != 0 {
			d.Actions |= r.Action
		}
	}
	return d
}
