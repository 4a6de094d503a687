package policy

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuiltinTCBTmpfsByEra(t *testing.T) {
	tests := []struct {
		name    string
		k       Kernel
		fs      string
		attrs   Attrs
		measure bool
	}{
		{"6.12 exec on xfs", k612, "xfs", Attrs{Func: BprmCheck, Mask: MayExec}, true},
		{"6.12 exec on tmpfs", k612, "tmpfs", Attrs{Func: BprmCheck, Mask: MayExec}, false},
		{"6.12 mmap on tmpfs", k612, "tmpfs", Attrs{Func: MmapCheck, Mask: MayExec}, false},
		{"7.2 exec on tmpfs", k72, "tmpfs", Attrs{Func: BprmCheck, Mask: MayExec}, true},
		{"7.2 root read on tmpfs", k72, "tmpfs", Attrs{Func: FileCheck, Mask: MayRead}, false},
		{"7.2 root read on ext4", k72, "ext4", Attrs{Func: FileCheck, Mask: MayRead}, true},
		{"7.2 root read-write on ext4", k72, "ext4", Attrs{Func: FileCheck, Mask: MayRead | MayWrite}, true},
		{"7.2 user read on ext4", k72, "ext4", Attrs{Func: FileCheck, Mask: MayRead, UID: 1000, EUID: 1000}, false},
		{"7.2 setuid-root read", k72, "ext4", Attrs{Func: FileCheck, Mask: MayRead, UID: 1000, EUID: 0}, true},
		{"7.2 exec on proc", k72, "proc", Attrs{Func: BprmCheck, Mask: MayExec}, false},
		{"7.2 exec on overlay", k72, "overlay", Attrs{Func: BprmCheck, Mask: MayExec, UID: 65534, EUID: 65534}, true},
		{"7.2 module", k72, "xfs", Attrs{Func: ModuleCheck}, true},
		{"7.2 kexec cmdline not in tcb", k72, "tmpfs", Attrs{Func: KexecCmdline}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := BuiltinKernel("tcb", tc.k)
			require.NoError(t, err)
			d := p.Match(fsAttrs(t, tc.fs, tc.attrs))
			assert.Equal(t, tc.measure, d.Actions&Measure != 0, "measure? decision %+v", d)
		})
	}
}

// The tcb built-in written out as text (testdata) must decide like the
// built-in itself.
func TestBuiltinTCBEqualsText(t *testing.T) {
	data, err := os.ReadFile("../../testdata/policies/tcb-equivalent.policy")
	require.NoError(t, err)
	text := mustParse(t, k72, string(data))
	bi, err := Builtin("tcb")
	require.NoError(t, err)
	require.Equal(t, len(text.Rules), len(bi.Rules))
	for i := range bi.Rules {
		a, b := bi.Rules[i], text.Rules[i]
		a.Text, b.Text, b.Line = "", "", 0
		assert.Equal(t, a, b, "rule %d", i)
	}
}

func TestBuiltinShapes(t *testing.T) {
	tests := []struct {
		spec  string
		k     Kernel
		rules int
		first string
		last  string
	}{
		{"tcb", k72, 20, "dont_measure fsmagic=0x9fa0", "measure func=POLICY_CHECK"},
		{"ima_tcb", k72, 18, "dont_measure fsmagic=0x9fa0", "measure func=FIRMWARE_CHECK"},
		{"appraise_tcb", k72, 15, "dont_appraise fsmagic=0x9fa0", "appraise fowner=0"},
		{"appraise_tcb", Kernel{WritePolicy: true, AppraiseSignedInit: true}, 16, "dont_appraise fsmagic=0x9fa0", "appraise fowner=0 appraise_type=imasig"},
		{"secure_boot", k72, 4, "appraise func=MODULE_CHECK appraise_type=imasig|modsig", "appraise func=POLICY_CHECK appraise_type=imasig"},
		{"secure_boot", k612, 4, "appraise func=MODULE_CHECK appraise_type=imasig", "appraise func=POLICY_CHECK appraise_type=imasig"},
		{"critical_data", k72, 1, "measure func=CRITICAL_DATA", "measure func=CRITICAL_DATA"},
		{"tcb|appraise_tcb|secure_boot", k72, 39, "dont_measure fsmagic=0x9fa0", "appraise fowner=0"},
	}
	for _, tc := range tests {
		t.Run(tc.spec+"/"+tc.k.version().String(), func(t *testing.T) {
			p, err := BuiltinKernel(tc.spec, tc.k)
			require.NoError(t, err)
			require.Len(t, p.Rules, tc.rules)
			assert.Equal(t, tc.first, p.Rules[0].Text)
			assert.Equal(t, tc.last, p.Rules[len(p.Rules)-1].Text)
		})
	}
	_, err := Builtin("tcb|nope")
	assert.ErrorContains(t, err, `"nope" not found`)
	assert.True(t, IsBuiltin("tcb|fail_securely"))
	assert.False(t, IsBuiltin("./tcb"))
}

// The built-in secure_boot order puts signature rules before appraise_tcb,
// and secure_boot appraisal of modules requires a signature.
func TestBuiltinSecureBootFirst(t *testing.T) {
	p, err := Builtin("appraise_tcb|secure_boot|fail_securely")
	require.NoError(t, err)
	d := p.Match(Attrs{Func: ModuleCheck})
	assert.Equal(t, Appraise, d.Actions)
	assert.Equal(t, []int{0}, d.Rules)
	assert.Equal(t, DigsigRequired|ModsigAllowed|CheckBlacklist|FailUnverifiableSigs, d.Flags)
	assert.Equal(t, ReadAppraise, d.Subaction)
}

func TestFS(t *testing.T) {
	f, err := LookupFS("xfs")
	require.NoError(t, err)
	assert.Equal(t, uint64(0x58465342), f.Magic)
	assert.Equal(t, "ext2/ext3/ext4", FSByMagic(0xef53))
	_, err = LookupFS("zfs")
	assert.ErrorContains(t, err, "unknown filesystem")
	assert.True(t, strings.Contains(strings.Join(FSNames(), " "), "overlay"))
}

func TestParseSpecAndConcat(t *testing.T) {
	p, err := ParseSpec("tcb", "hdr", k612)
	require.NoError(t, err)
	assert.Len(t, p.Rules, 20)
	q, err := ParseSpec("audit func=BPRM_CHECK uid=65534\n", "hdr", k612)
	require.NoError(t, err)
	require.Len(t, q.Rules, 1)
	_, err = ParseSpec("audit func=BPRM", "hdr", k612)
	assert.EqualError(t, err, `hdr:1:7: unknown func "BPRM"`)

	both := Concat(q, p)
	assert.Equal(t, "hdr+tcb", both.Name)
	d := both.Match(fsAttrs(t, "xfs", Attrs{Func: BprmCheck, Mask: MayExec, UID: 65534, EUID: 65534}))
	assert.Equal(t, Audit|Measure, d.Actions)
	assert.Equal(t, []int{0, 15}, d.Rules)
}
