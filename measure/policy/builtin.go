package policy

import (
	"fmt"
	"strings"
)

// BuiltinNames are the names Builtin accepts: the ima_policy= boot values
// and the older ima_tcb boot option.
var BuiltinNames = []string{"tcb", "appraise_tcb", "secure_boot", "critical_data", "ima_tcb"}

// IsBuiltin reports whether spec names built-in policies (see Builtin).
func IsBuiltin(spec string) bool {
	for _, p := range strings.FieldsFunc(spec, isBootSep) {
		if p != "fail_securely" && !contains(BuiltinNames, p) {
			return false
		}
	}
	return spec != ""
}

func isBootSep(r rune) bool { return r == ' ' || r == '|' || r == '\n' }

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// Builtin returns the boot-time policy for the newest kernel; see
// BuiltinKernel.
func Builtin(spec string) (*Policy, error) { return BuiltinKernel(spec, Kernel{}) }

// BuiltinKernel returns the policy a kernel builds from ima_policy=spec:
// one or more of tcb, appraise_tcb, secure_boot, critical_data and
// fail_securely joined by '|' (ima_tcb stands for the ima_tcb boot
// option). The rule lists are assembled in ima_init_policy's order;
// architecture rules (arch_get_ima_policy, secure-boot state) and
// CONFIG_IMA_APPRAISE_REQUIRE_*_SIGS rules are not modelled.
//
// Note: tcb does not measure tmpfs at all before Linux 6.14; since then it
// skips tmpfs only for FILE_CHECK, so executables on tmpfs are measured.
//
// Linux v7.2: security/integrity/ima/ima_policy.c:policy_setup,
// ima_init_policy, dont_measure_rules ... critical_data_rules.
func BuiltinKernel(spec string, k Kernel) (*Policy, error) {
	var tcb, origTCB, appraise, secure, critical, failSecurely bool
	for _, part := range strings.FieldsFunc(spec, isBootSep) {
		switch part {
		case "tcb":
			tcb = !origTCB
		case "ima_tcb":
			origTCB = !tcb
		case "appraise_tcb":
			appraise = true
		case "secure_boot":
			secure = true
		case "critical_data":
			critical = true
		case "fail_securely":
			failSecurely = true
		default:
			return nil, fmt.Errorf("built-in policy %q not found (want %s, fail_securely)", part, strings.Join(BuiltinNames, ", "))
		}
	}
	if !(tcb || origTCB || appraise || secure || critical) {
		return nil, fmt.Errorf("built-in policy %q: no policy named", spec)
	}
	p := &Policy{Name: spec, FailSecurely: failSecurely}
	if tcb || origTCB {
		p.Rules = append(p.Rules, dontMeasureRules(k)...)
	}
	if tcb {
		p.Rules = append(p.Rules, defaultMeasurementRules()...)
	}
	if origTCB {
		p.Rules = append(p.Rules, originalMeasurementRules()...)
	}
	if secure {
		p.Rules = append(p.Rules, secureBootRules(k)...)
	}
	if appraise {
		p.Rules = append(p.Rules, defaultAppraiseRules(k)...)
	}
	if critical {
		p.Rules = append(p.Rules, Rule{Action: Measure, Func: CriticalData, Flags: FlagFunc})
	}
	for i := range p.Rules {
		p.Rules[i].era = k.version()
		p.Rules[i].Text = p.Rules[i].String()
	}
	return p, nil
}

// pseudoFS are the filesystems the built-in policies skip, in the kernel's
// order (dont_measure_rules; default_appraise_rules adds ramfs).
var pseudoFS = []string{"proc", "sysfs", "debugfs", "tmpfs", "devpts", "binfmt_misc",
	"securityfs", "selinuxfs", "smackfs", "cgroup", "cgroup2", "nsfs", "efivarfs"}

func dontMeasureRules(k Kernel) []Rule {
	var out []Rule
	for _, fs := range pseudoFS {
		r := Rule{Action: DontMeasure, FSMagic: mustMagic(fs), Flags: FlagFSMagic}
		if fs == "tmpfs" && k.has(sinceTCBTmpfsFile) {
			r.Func, r.Flags = FileCheck, r.Flags|FlagFunc
		}
		out = append(out, r)
	}
	return out
}

func originalMeasurementRules() []Rule {
	return []Rule{
		{Action: Measure, Func: MmapCheck, Mask: MayExec, Flags: FlagFunc | FlagMask},
		{Action: Measure, Func: BprmCheck, Mask: MayExec, Flags: FlagFunc | FlagMask},
		{Action: Measure, Func: FileCheck, Mask: MayRead, Flags: FlagFunc | FlagMask | FlagUID},
		{Action: Measure, Func: ModuleCheck, Flags: FlagFunc},
		{Action: Measure, Func: FirmwareCheck, Flags: FlagFunc},
	}
}

func defaultMeasurementRules() []Rule {
	return []Rule{
		{Action: Measure, Func: MmapCheck, Mask: MayExec, Flags: FlagFunc | FlagMask},
		{Action: Measure, Func: BprmCheck, Mask: MayExec, Flags: FlagFunc | FlagMask},
		{Action: Measure, Func: FileCheck, Mask: MayRead, Flags: FlagFunc | FlagInMask | FlagEUID},
		{Action: Measure, Func: FileCheck, Mask: MayRead, Flags: FlagFunc | FlagInMask | FlagUID},
		{Action: Measure, Func: ModuleCheck, Flags: FlagFunc},
		{Action: Measure, Func: FirmwareCheck, Flags: FlagFunc},
		{Action: Measure, Func: PolicyCheck, Flags: FlagFunc},
	}
}

// sinceSecureBootModsig: secure_boot's MODULE_CHECK rule also allows an
// appended signature and checks the blacklist. Absent in 6.12.107, present
// in 7.2.13; upstream release assumed 7.0.
var sinceSecureBootModsig = Version{7, 0}

func secureBootRules(k Kernel) []Rule {
	mod := DigsigRequired
	if k.has(sinceSecureBootModsig) {
		mod |= ModsigAllowed | CheckBlacklist
	}
	return []Rule{
		{Action: Appraise, Func: ModuleCheck, Flags: FlagFunc | mod},
		{Action: Appraise, Func: FirmwareCheck, Flags: FlagFunc | DigsigRequired},
		{Action: Appraise, Func: KexecKernelCheck, Flags: FlagFunc | DigsigRequired},
		{Action: Appraise, Func: PolicyCheck, Flags: FlagFunc | DigsigRequired},
	}
}

func defaultAppraiseRules(k Kernel) []Rule {
	var out []Rule
	for _, fs := range append(pseudoFS[:4:4], append([]string{"ramfs"}, pseudoFS[4:]...)...) {
		out = append(out, Rule{Action: DontAppraise, FSMagic: mustMagic(fs), Flags: FlagFSMagic})
	}
	// The kernel lists nsfs and efivarfs before the cgroups here.
	n := len(out)
	out[n-4], out[n-3], out[n-2], out[n-1] = out[n-2], out[n-1], out[n-4], out[n-3]
	if k.WritePolicy {
		out = append(out, Rule{Action: Appraise, Func: PolicyCheck, Flags: FlagFunc | DigsigRequired})
	}
	r := Rule{Action: Appraise, Flags: FlagFOwner}
	if k.AppraiseSignedInit {
		r.Flags |= DigsigRequired
	}
	return append(out, r)
}

// ParseSpec returns the built-in policy when spec names built-ins (see
// IsBuiltin) and otherwise parses spec as policy text; name is used in
// error locations. Scenario headers use it for "policy: tcb" as well as
// for rule lines.
func ParseSpec(spec, name string, k Kernel) (*Policy, error) {
	if IsBuiltin(strings.TrimSpace(spec)) {
		return BuiltinKernel(strings.TrimSpace(spec), k)
	}
	return ParseKernel(strings.NewReader(spec), name, k)
}

// Concat returns the rules of ps in order, as the kernel's rule list is
// after several policy writes: the first write replaces the boot policy,
// later ones (only with CONFIG_IMA_WRITE_POLICY) are appended
// (Linux v7.2: ima_policy.c:ima_update_policy). FailSecurely is kept if
// any part has it; Name joins the parts' names with "+".
func Concat(ps ...*Policy) *Policy {
	out := &Policy{}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
		out.Rules = append(out.Rules, p.Rules...)
		out.Warnings = append(out.Warnings, p.Warnings...)
		out.FailSecurely = out.FailSecurely || p.FailSecurely
	}
	out.Name = strings.Join(names, "+")
	return out
}
