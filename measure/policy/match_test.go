package policy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustParse(t testing.TB, k Kernel, text string) *Policy {
	t.Helper()
	p, err := ParseKernel(strings.NewReader(text), "test", k)
	require.NoError(t, err)
	return p
}

func fsAttrs(t testing.TB, fs string, a Attrs) Attrs {
	t.Helper()
	f, err := LookupFS(fs)
	require.NoError(t, err)
	a.FSName, a.FSMagic = f.Name, f.Magic
	return a
}

func TestMatch(t *testing.T) {
	const seed = "audit func=BPRM_CHECK uid=65534\n"
	const pairs = `dont_measure fsname=tmpfs
measure func=BPRM_CHECK
audit func=BPRM_CHECK
appraise fowner=0
measure func=BPRM_CHECK pcr=11
`
	tests := []struct {
		name    string
		k       Kernel
		policy  string
		attrs   Attrs
		fs      string
		actions Action
		pcr     int
		tmpl    string
		rules   []int
	}{
		{"seed matches nobody", k72, seed, Attrs{Func: BprmCheck, Mask: MayExec, UID: 65534}, "xfs", Audit, 10, "", []int{0}},
		{"seed ignores root", k72, seed, Attrs{Func: BprmCheck, Mask: MayExec}, "xfs", 0, 10, "", nil},
		{"seed ignores mmap", k72, seed, Attrs{Func: MmapCheck, Mask: MayExec, UID: 65534}, "xfs", 0, 10, "", nil},
		{"pairs accumulate", k72, pairs, Attrs{Func: BprmCheck, Mask: MayExec}, "xfs", Measure | Audit | Appraise, 10, "", []int{1, 2, 3}},
		{"first match per pair", k72, pairs, Attrs{Func: BprmCheck, Mask: MayExec}, "tmpfs", Audit | Appraise, 10, "", []int{0, 2, 3}},
		{"not root-owned", k72, pairs, Attrs{Func: BprmCheck, Mask: MayExec, FOwner: 1000}, "xfs", Measure | Audit, 10, "", []int{1, 2}},
		{"last pcr wins", k72, "measure func=BPRM_CHECK pcr=11 template=ima-sig\naudit func=BPRM_CHECK\nmeasure pcr=12\n",
			Attrs{Func: BprmCheck}, "ext4", Measure | Audit, 11, "ima-sig", []int{0, 1}},
		{"dont_hash blocks hash", k72, "dont_hash fsname=tmpfs\nhash\n", Attrs{Func: FileCheck, Mask: MayRead}, "tmpfs", 0, 10, "", []int{0}},
		{"hash", k72, "dont_hash fsname=tmpfs\nhash\n", Attrs{Func: FileCheck, Mask: MayRead}, "ext4", Hash, 10, "", []int{1}},
		{"appraise clears earlier hash", k72, "hash\nappraise\n", Attrs{Func: FileCheck, Mask: MayRead}, "ext4", Appraise, 10, "", []int{0, 1}},
		{"hash after appraise stays", k72, "appraise\nhash\n", Attrs{Func: FileCheck, Mask: MayRead}, "ext4", Appraise | Hash, 10, "", []int{0, 1}},
		{"dont_audit", k72, "dont_audit fsname=fuse fs_subtype=sshfs\naudit func=BPRM_CHECK fsname=fuse\n",
			Attrs{Func: BprmCheck, FSSubtype: "sshfs"}, "fuse", 0, 10, "", []int{0}},
		{"fs_subtype other", k72, "dont_audit fsname=fuse fs_subtype=sshfs\naudit func=BPRM_CHECK fsname=fuse\n",
			Attrs{Func: BprmCheck, FSSubtype: "fuse-zip"}, "fuse", Audit, 10, "", []int{1}},
		{"fs_subtype none", k72, "audit fs_subtype=sshfs\n", Attrs{Func: BprmCheck}, "fuse", 0, 10, "", nil},
		{"exact mask", k72, "measure func=FILE_CHECK mask=MAY_READ\n", Attrs{Func: FileCheck, Mask: MayRead | MayWrite}, "ext4", 0, 10, "", nil},
		{"contains mask", k72, "measure func=FILE_CHECK mask=^MAY_READ\n", Attrs{Func: FileCheck, Mask: MayRead | MayWrite}, "ext4", Measure, 10, "", []int{0}},
		{"post_setattr ignores func and mask", k72, "appraise func=BPRM_CHECK mask=MAY_EXEC fowner=0\n", Attrs{Func: PostSetattr}, "ext4", Appraise, 10, "", []int{0}},
		{"uid greater", k72, "measure uid>999\n", Attrs{Func: FileCheck, UID: 1000}, "ext4", Measure, 10, "", []int{0}},
		{"uid not greater", k72, "measure uid>999\n", Attrs{Func: FileCheck, UID: 999}, "ext4", 0, 10, "", nil},
		{"fowner less", k72, "measure fowner<1000\n", Attrs{Func: FileCheck, FOwner: 0}, "ext4", Measure, 10, "", []int{0}},
		{"fgroup", k72, "measure fgroup=50\n", Attrs{Func: FileCheck, FGrp: 50}, "ext4", Measure, 10, "", []int{0}},
		{"euid plain", k72, "measure euid=0\n", Attrs{Func: FileCheck, UID: 0, EUID: 1000}, "ext4", 0, 10, "", nil},
		// With CAP_SETUID the kernel also tries suid and uid (ima_match_rules).
		{"euid with CAP_SETUID tries uid", k72, "measure euid=0\n", Attrs{Func: FileCheck, UID: 0, EUID: 1000, SUID: 1000, CapSetUID: true}, "ext4", Measure, 10, "", []int{0}},
		{"euid with CAP_SETUID tries suid", k72, "measure euid=0\n", Attrs{Func: FileCheck, UID: 1000, EUID: 1000, SUID: 0, CapSetUID: true}, "ext4", Measure, 10, "", []int{0}},
		{"egid with CAP_SETGID", k72, "measure egid=0\n", Attrs{Func: FileCheck, GID: 0, EGID: 5, SGID: 5, CapSetGID: true}, "ext4", Measure, 10, "", []int{0}},
		{"egid without cap", k72, "measure egid=0\n", Attrs{Func: FileCheck, GID: 0, EGID: 5}, "ext4", 0, 10, "", nil},
		{"fsuuid", k72, "measure fsuuid=8bcbe394-4f13-4144-be8e-5aa9ea2ce2f6\n",
			Attrs{Func: FileCheck, FSUUID: [16]byte{0x8b, 0xcb, 0xe3, 0x94, 0x4f, 0x13, 0x41, 0x44, 0xbe, 0x8e, 0x5a, 0xa9, 0xea, 0x2c, 0xe2, 0xf6}}, "ext4", Measure, 10, "", []int{0}},
		{"fsuuid other", k72, "measure fsuuid=8bcbe394-4f13-4144-be8e-5aa9ea2ce2f6\n", Attrs{Func: FileCheck}, "ext4", 0, 10, "", nil},
		{"lsm without labels never matches", k72, "dont_measure obj_type=var_log_t\nmeasure\n", Attrs{Func: FileCheck}, "ext4", Measure, 10, "", []int{1}},
		{"lsm label", k72, "dont_measure obj_type=var_log_t\nmeasure\n", Attrs{Func: FileCheck, ObjType: "var_log_t"}, "ext4", 0, 10, "", []int{0}},
		{"key all", k72, "measure func=KEY_CHECK\n", Attrs{Func: KeyCheck, FuncData: ".ima"}, "", Measure, 10, "", []int{0}},
		{"key listed", k72, "measure func=KEY_CHECK keyrings=.ima|.evm template=ima-buf\n", Attrs{Func: KeyCheck, FuncData: ".evm"}, "", Measure, 10, "ima-buf", []int{0}},
		{"key unlisted", k72, "measure func=KEY_CHECK keyrings=.ima|.evm\n", Attrs{Func: KeyCheck, FuncData: ".builtin_trusted_keys"}, "", 0, 10, "", nil},
		{"key ignores generic rule", k72, "measure\n", Attrs{Func: KeyCheck, FuncData: ".ima"}, "", 0, 10, "", nil},
		// ima_match_rule_data checks uid= but not gid= for keys.
		{"key gid not checked", k72, "measure func=KEY_CHECK gid=5\n", Attrs{Func: KeyCheck, FuncData: ".ima", GID: 7}, "", Measure, 10, "", []int{0}},
		{"critical data label", k72, "measure func=CRITICAL_DATA label=selinux\n", Attrs{Func: CriticalData, FuncData: "selinux"}, "", Measure, 10, "", []int{0}},
		{"critical data other label", k72, "measure func=CRITICAL_DATA label=selinux\n", Attrs{Func: CriticalData, FuncData: "kernel_info"}, "", 0, 10, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, tc.k, tc.policy)
			a := tc.attrs
			if tc.fs != "" {
				a = fsAttrs(t, tc.fs, a)
			}
			d := p.Match(a)
			assert.Equal(t, tc.actions, d.Actions, "actions (%s)", d.Actions)
			assert.Equal(t, tc.pcr, d.PCR, "pcr")
			assert.Equal(t, tc.tmpl, d.Template, "template")
			assert.Equal(t, tc.rules, d.Rules, "rules")
		})
	}
}

func TestMatchFlagsAndSubaction(t *testing.T) {
	p := mustParse(t, k72, `appraise func=BPRM_CHECK appraise_type=imasig
appraise func=SETXATTR_CHECK appraise_algos=sha512,sha256
appraise fowner=0 permit_directio
`)
	d := p.Match(Attrs{Func: BprmCheck, Mask: MayExec})
	assert.Equal(t, Appraise, d.Actions)
	assert.Equal(t, BprmAppraise, d.Subaction)
	assert.Equal(t, DigsigRequired|CheckBlacklist, d.Flags)
	assert.Equal(t, uint32(0x4|0x10000|0x01000000|0x40000000), d.Kernel())

	d = p.Match(Attrs{Func: FileCheck, Mask: MayRead})
	assert.Equal(t, FileAppraise, d.Subaction, "a rule without func= appraises as FILE")
	assert.Equal(t, PermitDirectio, d.Flags)

	d = p.Match(Attrs{Func: ModuleCheck, FOwner: 0})
	assert.Equal(t, FileAppraise, d.Subaction)

	d = p.Match(Attrs{Func: SetxattrCheck})
	assert.Equal(t, []string{"sha256", "sha512"}, d.AllowedAlgos)
	assert.Equal(t, ReadAppraise, d.Subaction)

	p.FailSecurely = true
	d = p.Match(Attrs{Func: BprmCheck})
	assert.NotZero(t, d.Flags&FailUnverifiableSigs)
}

func TestWithDefaultCaps(t *testing.T) {
	assert.True(t, Attrs{UID: 1000, EUID: 0}.WithDefaultCaps().CapSetUID)
	a := Attrs{UID: 0, EUID: 1000, CapSetUID: true, CapSetGID: true}.WithDefaultCaps()
	assert.False(t, a.CapSetUID || a.CapSetGID)
}

func TestMatchActions(t *testing.T) {
	p := mustParse(t, k72, "measure func=BPRM_CHECK\naudit func=BPRM_CHECK\n")
	d := p.MatchActions(Attrs{Func: BprmCheck}, Audit)
	assert.Equal(t, Audit, d.Actions)
	assert.Equal(t, []int{1}, d.Rules)
}

func BenchmarkMatchTCB(b *testing.B) {
	p, err := Builtin("tcb|appraise_tcb")
	require.NoError(b, err)
	a := fsAttrs(b, "xfs", Attrs{Func: FileCheck, Mask: MayRead, UID: 1000, EUID: 1000, FOwner: 0})
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Match(a)
	}
}

func BenchmarkParseTCB(b *testing.B) {
	text := func() string { p, _ := Builtin("tcb|appraise_tcb|secure_boot"); return p.String() }()
	// secure_boot's module rule allows modsig (7.0+), which the kernel
	// accepts as text only with CONFIG_IMA_APPRAISE_MODSIG.
	k := Kernel{Modsig: true}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseKernel(strings.NewReader(text), "bench", k); err != nil {
			b.Fatal(err)
		}
	}
}
