package policy

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	k61  = Kernel{Version: Version{6, 1}}
	k612 = Kernel{Version: Version{6, 12}}
	k72  = Kernel{}
	// kmod has CONFIG_IMA_APPRAISE_MODSIG, which Debian's kernels lack.
	kmod = Kernel{Modsig: true}
)

// The examples of Documentation/ABI/testing/ima_policy, written out by
// hand (the documented rule forms, not the file's text).
func TestDocumentedExamples(t *testing.T) {
	tests := []struct {
		name, rule string
		wantErr    string // "" = accepted by the newest kernel
	}{
		{"default proc", "dont_measure fsmagic=0x9fa0", ""},
		{"default appraise proc", "dont_appraise fsmagic=0x9fa0", ""},
		{"default tmpfs", "dont_measure fsmagic=0x01021994", ""},
		{"default bprm", "measure func=BPRM_CHECK", ""},
		{"default file_mmap alias", "measure func=FILE_MMAP mask=MAY_EXEC", ""},
		{"default root reads", "measure func=FILE_CHECK mask=MAY_READ uid=0", ""},
		{"default modules", "measure func=MODULE_CHECK", ""},
		{"default firmware", "measure func=FIRMWARE_CHECK", ""},
		{"default appraise root files", "appraise fowner=0", ""},
		{"selinux obj_type", "dont_measure obj_type=var_log_t", ""},
		{"selinux dont_appraise", "dont_appraise obj_type=auditd_log_t", ""},
		{"selinux subj_user", "measure subj_user=system_u func=FILE_CHECK mask=MAY_READ", ""},
		{"selinux subj_role", "measure subj_role=system_r func=FILE_CHECK mask=MAY_READ", ""},
		{"smack", "measure subj_user=_ func=FILE_CHECK mask=MAY_READ", ""},
		{"kexec pcr 4", "measure func=KEXEC_KERNEL_CHECK pcr=4", ""},
		{"initramfs pcr 5", "measure func=KEXEC_INITRAMFS_CHECK pcr=5", ""},
		{"modsig", "appraise func=KEXEC_KERNEL_CHECK appraise_type=imasig|modsig", ""},
		{"all keys", "measure func=KEY_CHECK", ""},
		{"some keyrings", "measure func=KEY_CHECK keyrings=.builtin_trusted_keys|.ima", ""},
		{"setxattr algos", "appraise func=SETXATTR_CHECK appraise_algos=sha256,sha384,sha512", ""},
		{"verity measure", "measure func=FILE_CHECK digest_type=verity template=ima-ngv2", ""},
		// The documentation's template=ima-sigv3 names no template that
		// ima_template.c defines, so the kernel rejects that example.
		{"verity sigv3 template (doc bug)", "measure func=BPRM_CHECK digest_type=verity template=ima-sigv3", `unknown template "ima-sigv3"`},
		{"verity appraise", "appraise func=BPRM_CHECK digest_type=verity appraise_type=sigv3", ""},
		{"fuse subtype (6.19)", "dont_audit fsname=fuse fs_subtype=sshfs", ""},
		{"fuse audit", "audit func=BPRM_CHECK fsname=fuse", ""},
		{"critical data", "measure func=CRITICAL_DATA label=selinux", ""},
		{"appraise_flag deprecated", "appraise func=MODULE_CHECK appraise_type=imasig appraise_flag=check_blacklist", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRule(tc.rule, kmod)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err, "ParseRule(%q)", tc.rule)
			assertRoundTrip(t, r, kmod)
		})
	}
}

// assertRoundTrip checks that String gives text the parser reads back to
// the same rule.
func assertRoundTrip(t testing.TB, r Rule, k Kernel) {
	t.Helper()
	s := r.String()
	back, err := ParseRule(s, k)
	require.NoError(t, err, "re-parsing %q (from %q)", s, r.Text)
	r.Line, r.Text, back.Line, back.Text = 0, "", 0, ""
	assert.Equal(t, r, back, "round trip of %q", s)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		k    Kernel
		rule string
		col  int
		msg  string
	}{
		{"no action", k72, "func=BPRM_CHECK", 1, "rule has no action"},
		{"two actions", k72, "measure audit", 9, `second action "audit"`},
		{"unknown word", k72, "measure foo", 9, `unknown word "foo"`},
		{"unknown key", k72, "measure path=/bin", 9, `unknown condition or option "path="`},
		{"empty value", k72, "measure func=", 9, "func= has no value"},
		{"bad op", k72, "measure func>BPRM_CHECK", 9, `func takes no ">" operator`},
		{"unknown func", k72, "measure func=EXEC", 9, `unknown func "EXEC"`},
		{"post_setattr no keyword", k72, "measure func=POST_SETATTR", 9, "unknown func"},
		{"repeated func", k72, "measure func=BPRM_CHECK func=FILE_CHECK", 25, "func= given twice"},
		{"repeated mask", k72, "measure mask=MAY_READ mask=^MAY_EXEC", 23, "mask= given twice"},
		{"bad mask", k72, "measure mask=MAY_READ|MAY_EXEC", 9, "mask=MAY_READ|MAY_EXEC"},
		{"bare caret", k72, "measure mask=^", 9, "mask=^"},
		{"repeated fsmagic", k72, "dont_measure fsmagic=0x9fa0 fsmagic=0xef53", 29, "fsmagic= given twice"},
		{"fsmagic not hex", k72, "dont_measure fsmagic=xfs", 14, "not a hex number"},
		{"fsmagic overflow", k72, "dont_measure fsmagic=0x10000000000000000", 14, "not a hex number"},
		{"uid and euid share", k72, "measure euid=0 uid=0", 16, "already has a uid or euid"},
		{"gid and egid share", k72, "measure gid=0 egid<5", 15, "already has a gid or egid"},
		{"uid not decimal", k72, "measure uid=0x10", 9, "want a decimal id"},
		{"uid invalid -1", k72, "measure uid=4294967295", 9, "want a decimal id"},
		{"uid too big", k72, "measure uid=4294967296", 9, "want a decimal id"},
		{"repeated fowner", k72, "appraise fowner=0 fowner>1", 19, "fowner given twice"},
		{"bad uuid", k72, "measure fsuuid=1234", 9, "not a UUID"},
		{"repeated uuid", k72, "measure fsuuid=8bcbe394-4f13-4144-be8e-5aa9ea2ce2f6 fsuuid=8bcbe394-4f13-4144-be8e-5aa9ea2ce2f6", 53, "fsuuid= given twice"},
		{"repeated lsm", k72, "measure obj_type=a obj_type=b", 20, "obj_type= given twice"},
		{"pcr range", k72, "measure pcr=64", 9, "0..63"},
		{"pcr negative", k72, "measure pcr=-1", 9, "0..63"},
		{"pcr with audit", k72, "audit pcr=11", 7, "pcr= is only valid with measure"},
		{"template before action", k72, "template=ima-ng measure", 1, "only valid after the measure action"},
		{"template with audit", k72, "audit template=ima-ng", 7, "only valid after the measure action"},
		{"unknown template", k72, "measure template=ima-foo", 9, `unknown template "ima-foo"`},
		{"repeated template", k72, "measure template=ima-ng template=d|n", 25, "template= given twice"},
		{"appraise_type with measure", k72, "measure appraise_type=imasig", 9, "appraise_type= is only valid with appraise"},
		{"bad appraise_type", k72, "appraise appraise_type=sig", 10, "want imasig"},
		{"algos with measure", k72, "measure appraise_algos=sha256", 9, "appraise_algos= is only valid with appraise"},
		{"unknown algo", k72, "appraise func=SETXATTR_CHECK appraise_algos=sha256,sha999", 30, `unknown hash algorithm "sha999"`},
		{"repeated algos", k72, "appraise func=SETXATTR_CHECK appraise_algos=sha256 appraise_algos=sha1", 52, "appraise_algos= given twice"},
		{"setxattr needs algos", k72, "appraise func=SETXATTR_CHECK", 10, "needs appraise_algos="},
		{"setxattr only appraise", k72, "measure func=SETXATTR_CHECK", 1, "allows only appraise"},
		{"setxattr no conditions", k72, "appraise func=SETXATTR_CHECK appraise_algos=sha256 uid=0", 52, "uid= is not allowed with func=SETXATTR_CHECK"},
		{"key_check action", k72, "appraise func=KEY_CHECK", 1, "allows only measure and dont_measure"},
		{"key_check fsmagic", k72, "measure func=KEY_CHECK fsmagic=0xef53", 24, "fsmagic= is not allowed with func=KEY_CHECK"},
		{"key_check lsm", k72, "measure func=KEY_CHECK subj_type=a", 24, "subj_type= is not allowed"},
		{"keyrings outside key_check", k72, "measure func=FILE_CHECK keyrings=.ima", 25, "keyrings= is not allowed with func=FILE_CHECK"},
		{"keyrings empty item", k72, "measure func=KEY_CHECK keyrings=.ima||.evm", 24, "empty item"},
		{"label outside critical", k72, "measure label=selinux", 9, "label= is not allowed with a rule without func="},
		{"cmdline mask", k72, "measure func=KEXEC_CMDLINE mask=MAY_READ", 28, "mask= is not allowed with func=KEXEC_CMDLINE"},
		{"cmdline appraise", k72, "appraise func=KEXEC_CMDLINE", 1, "allows only measure"},
		{"modsig on bprm", kmod, "appraise func=BPRM_CHECK appraise_type=imasig|modsig", 26, "appraise_type= is not allowed with func=BPRM_CHECK"},
		{"verity on module", k72, "measure func=MODULE_CHECK digest_type=verity", 27, "digest_type= is not allowed with func=MODULE_CHECK"},
		{"verity appraise without sig", k72, "appraise func=BPRM_CHECK digest_type=verity", 26, "needs appraise_type=sigv3"},
		{"verity then imasig", k72, "appraise digest_type=verity appraise_type=imasig", 29, "conflicts with digest_type=verity"},
		{"bad digest type", k72, "measure digest_type=sha256", 9, "the only digest type is verity"},
		{"permit_directio with value", k72, "measure permit_directio=1", 9, `unknown condition or option "permit_directio="`},
		{"path line", k72, "/etc/ima/ima-policy", 1, "policy file path is only loaded when written alone"},
		{"crlf", k72, "measure func=BPRM_CHECK\r", 9, `unknown func "BPRM_CHECK\r" (the line ends in \r`},
		{"no action indented", k72, "  func=BPRM_CHECK", 3, "rule has no action"},
		{"dont_audit before 6.19", k612, "dont_audit func=BPRM_CHECK", 1, "dont_audit needs Linux 6.19"},
		{"fs_subtype before 6.19", k612, "audit fs_subtype=sshfs", 7, "fs_subtype= needs Linux 6.19"},
		{"suffix comment before 6.14", k612, "measure func=BPRM_CHECK # exec", 25, "comment after a rule needs Linux 6.14"},
		{"reqprot before 6.3", k61, "measure func=MMAP_CHECK_REQPROT", 9, "needs Linux 6.3"},
		{"sigv3 without verity before 7.0", k612, "appraise func=BPRM_CHECK appraise_type=sigv3", 26, "needs digest_type=verity"},
		{"digest_type after appraise_type before 7.0", k612, "appraise appraise_type=imasig digest_type=verity", 31, "must come before appraise_type="},
		{"appraise_flag alone 6.1", Kernel{Version: Version{6, 1}, Modsig: true}, "appraise func=MODULE_CHECK appraise_flag=check_blacklist", 28, "needs appraise_type=imasig|modsig"},
		{"appraise_flag other 6.1", k61, "appraise func=MODULE_CHECK appraise_flag=yes", 28, "only check_blacklist"},
		{"key_check without config", Kernel{NoKeyCheck: true}, "measure func=KEY_CHECK", 9, "CONFIG_IMA_MEASURE_ASYMMETRIC_KEYS"},
		{"modsig without config", Kernel{}, "appraise func=MODULE_CHECK appraise_type=imasig|modsig", 28, "CONFIG_IMA_APPRAISE_MODSIG"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRule(tc.rule, tc.k)
			require.Error(t, err, "ParseRule(%q)", tc.rule)
			var pe *Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.col, pe.Col, "column of %q in %q", pe.Msg, tc.rule)
			assert.Contains(t, pe.Msg, tc.msg)
		})
	}
}

func TestEraDifferences(t *testing.T) {
	tests := []struct {
		name     string
		rule     string
		accepted map[Version]bool
	}{
		{"suffix comment", "measure func=BPRM_CHECK # x", map[Version]bool{{6, 1}: false, {6, 12}: false, {6, 14}: true, {7, 2}: true}},
		{"dont_audit", "dont_audit fsname=fuse", map[Version]bool{{6, 12}: false, {6, 19}: true, {7, 2}: true}},
		{"reqprot", "measure func=MMAP_CHECK_REQPROT mask=MAY_EXEC", map[Version]bool{{6, 1}: false, {6, 12}: true}},
		{"appraise_flag", "appraise func=MODULE_CHECK appraise_type=imasig|modsig appraise_flag=check_blacklist", map[Version]bool{{6, 1}: true, {6, 12}: true, {7, 2}: true}},
		{"sigv3 plain", "appraise func=BPRM_CHECK appraise_type=sigv3", map[Version]bool{{6, 12}: false, {7, 2}: true}},
		{"comment line", "   # just a comment", map[Version]bool{{6, 1}: true, {7, 2}: true}},
	}
	for _, tc := range tests {
		for v, want := range tc.accepted {
			t.Run(tc.name+"/"+v.String(), func(t *testing.T) {
				_, errs, err := ParseAll(strings.NewReader(tc.rule), "x", Kernel{Version: v, Modsig: true})
				require.NoError(t, err)
				assert.Equal(t, want, len(errs) == 0, "Linux %s accepts %q: %v", v, tc.rule, errs)
			})
		}
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name  string
		k     Kernel
		rule  string
		flags Flag
	}{
		{"imasig 7.2", k72, "appraise appraise_type=imasig", DigsigRequired | CheckBlacklist},
		{"imasig 6.1", k61, "appraise appraise_type=imasig", DigsigRequired},
		{"modsig 6.1 flag", Kernel{Version: Version{6, 1}, Modsig: true}, "appraise func=MODULE_CHECK appraise_type=imasig|modsig appraise_flag=check_blacklist", FlagFunc | DigsigRequired | ModsigAllowed | CheckBlacklist},
		{"sigv3 7.2", k72, "appraise appraise_type=sigv3", Sigv3Required | DigsigRequired | CheckBlacklist},
		{"sigv3 verity 6.12", k612, "appraise digest_type=verity appraise_type=sigv3", VerityRequired | DigsigRequired | CheckBlacklist},
		{"inmask euid", k72, "measure func=FILE_CHECK mask=^MAY_READ euid=0", FlagFunc | FlagInMask | FlagEUID},
		{"directio", k72, "measure permit_directio", PermitDirectio},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRule(tc.rule, tc.k)
			require.NoError(t, err)
			assert.Equal(t, tc.flags, r.Flags, "flags of %q: %s", tc.rule, r.Flags)
		})
	}
}

func TestWarnings(t *testing.T) {
	p, errs, err := ParseAll(strings.NewReader("measure pcr=11 pcr=12\nappraise appraise_type=imasig appraise_flag=check_blacklist\n"), "w", k72)
	require.NoError(t, err)
	require.Empty(t, errs)
	require.Len(t, p.Warnings, 2)
	assert.Equal(t, "w:1:16: pcr= given twice; the kernel keeps the last one", p.Warnings[0].Error())
	assert.Equal(t, 12, p.Rules[0].PCR)
	assert.Contains(t, p.Warnings[1].Msg, "ignored since Linux 6.3")
}

func TestKstrto(t *testing.T) {
	tests := []struct {
		in   string
		base uint64
		want uint64
		ok   bool
	}{
		{"0x9fa0", 16, 0x9fa0, true}, {"9FA0", 16, 0x9fa0, true}, {"+0X1", 16, 1, true},
		{"0x", 16, 0, false}, {"", 10, 0, false}, {"12a", 10, 0, false}, {"-1", 10, 0, false},
		{"18446744073709551615", 10, 1<<64 - 1, true}, {"18446744073709551616", 10, 0, false},
	}
	for _, tc := range tests {
		got, ok := kstrtoul(tc.in, tc.base)
		assert.Equal(t, tc.ok, ok, "kstrtoul(%q, %d)", tc.in, tc.base)
		assert.Equal(t, tc.want, got, "kstrtoul(%q, %d)", tc.in, tc.base)
	}
}

// TestPolicyFiles parses testdata/policies: *.policy must be valid and
// round-trip; *-invalid.policy must fail exactly where its expect-error
// comments say.
func TestPolicyFiles(t *testing.T) {
	files, err := filepath.Glob("../../testdata/policies/*.policy")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			k := k72
			if strings.Contains(f, "modsig") {
				k = kmod
			}
			p, errs, err := ParseAll(strings.NewReader(string(data)), f, k)
			require.NoError(t, err)
			if !strings.HasSuffix(f, "-invalid.policy") {
				require.Empty(t, errs)
				require.NotEmpty(t, p.Rules)
				for _, r := range p.Rules {
					assertRoundTrip(t, r, k)
				}
				return
			}
			want := expectedErrors(t, string(data))
			require.Len(t, errs, len(want), "errors: %v", errs)
			for i, e := range errs {
				assert.Equal(t, want[i].line, e.Line, "error %d: %v", i, e)
				assert.Equal(t, want[i].col, e.Col, "error %d: %v", i, e)
				assert.Contains(t, e.Msg, want[i].msg)
			}
		})
	}
}

type wantErr struct {
	line, col int
	msg       string
}

func expectedErrors(t testing.TB, data string) []wantErr {
	t.Helper()
	var out []wantErr
	for i, l := range strings.Split(data, "\n") {
		rest, ok := strings.CutPrefix(l, "# expect-error: ")
		if !ok {
			continue
		}
		colStr, msg, _ := strings.Cut(rest, " ")
		col, err := strconv.Atoi(colStr)
		require.NoError(t, err)
		out = append(out, wantErr{i + 2, col, msg})
	}
	return out
}

// With the config unstated, the modsig options parse as with the option
// on, each with a warning naming it.
func TestModsigUnknown(t *testing.T) {
	text := "appraise func=MODULE_CHECK appraise_type=imasig|modsig\n"
	p, errs, err := ParseAll(strings.NewReader(text), "p", Kernel{ModsigUnknown: true})
	require.NoError(t, err)
	require.Empty(t, errs)
	require.Len(t, p.Rules, 1)
	assert.NotZero(t, p.Rules[0].Flags&ModsigAllowed)
	require.Len(t, p.Warnings, 1)
	assert.Equal(t, 28, p.Warnings[0].Col)
	assert.Contains(t, p.Warnings[0].Msg, "CONFIG_IMA_APPRAISE_MODSIG")
	_, errs, err = ParseAll(strings.NewReader(text), "p", Kernel{})
	require.NoError(t, err)
	require.Len(t, errs, 1, "Debian's config refuses it")
	p, errs, _ = ParseAll(strings.NewReader(text), "p", Kernel{Modsig: true})
	assert.Empty(t, errs)
	assert.Empty(t, p.Warnings)
}
