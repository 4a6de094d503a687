package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imasim/imasim/measure/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var updatePolicyGolden = flag.Bool("update-policy", false, "rewrite testdata/policies/golden files")

const policyDir = "../../testdata/policies/"

func runPolicy(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"policy"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestPolicyCLI(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string // substrings
		stderr     []string
		noStdout   bool
		stdoutNone []string
	}{
		{"no verb", nil, exitUsage, nil, []string{"usage: imasim policy check"}, true, nil},
		{"unknown verb", []string{"lint"}, exitUsage, nil, []string{`unknown verb "lint"`}, true, nil},
		{"check valid", []string{"check", policyDir + "tcb-equivalent.policy"}, exitOK, []string{"tcb-equivalent.policy: ok, 20 rules (Linux 7.2)"}, nil, false, nil},
		{"check flags after file", []string{"check", policyDir + "violations.policy", "--kernel", "6.1"}, exitOK, []string{"ok, 2 rules (Linux 6.1)"}, nil, false, nil},
		{"check invalid", []string{"check", policyDir + "measure-invalid.policy"}, exitUsage, nil,
			[]string{"measure-invalid.policy:4:1: unknown word \"dont_measur\"", "measure-invalid.policy:16:9: pcr= is only valid with measure"}, true, nil},
		{"check era", []string{"check", "--kernel", "6.12", policyDir + "appraise.policy"}, exitUsage, nil,
			[]string{"appraise.policy:2:30: \"#\": a comment after a rule needs Linux 6.14", "appraise.policy:10:1: dont_audit needs Linux 6.19"}, true, nil},
		{"check warning", []string{"check", policyDir + "appraise.policy"}, exitOK, []string{"ok, 12 rules"}, nil, false, nil},
		{"check missing file", []string{"check", policyDir + "nope.policy"}, exitUsage, nil, []string{"nope.policy", "no such file"}, true, nil},
		{"check no file", []string{"check"}, exitUsage, nil, []string{"usage: imasim policy check"}, true, nil},
		{"check bad kernel", []string{"check", "--kernel", "six", policyDir + "kexec.policy"}, exitUsage, nil, []string{"kernel version"}, true, nil},
		{"check bad kconfig", []string{"check", "--kconfig", "x", policyDir + "kexec.policy"}, exitUsage, nil, []string{"unknown --kconfig item"}, true, nil},
		{"check modsig default", []string{"check", policyDir + "appraise-modsig.policy"}, exitOK, []string{"ok, 2 rules"}, []string{"appraise-modsig.policy:3:34: warning: appraise_type=imasig|modsig loads only on a kernel with CONFIG_IMA_APPRAISE_MODSIG"}, false, nil},
		{"check modsig no-modsig", []string{"check", "--kconfig", "no-modsig", policyDir + "appraise-modsig.policy"}, exitUsage, nil, []string{"appraise-modsig.policy:3:34: appraise_type=imasig|modsig needs CONFIG_IMA_APPRAISE_MODSIG"}, true, nil},
		{"check modsig kconfig", []string{"check", "--kconfig", "modsig", policyDir + "appraise-modsig.policy"}, exitOK, []string{"ok, 2 rules"}, nil, false, nil},
		{"check keys without config", []string{"check", "--kconfig", "no-keycheck", policyDir + "keys.policy"}, exitUsage, nil, []string{"keys.policy:2:9: func=KEY_CHECK needs CONFIG_IMA_MEASURE_ASYMMETRIC_KEYS"}, true, nil},
		{"explain seed", []string{"explain", policyDir + "conditionals.policy", "--func", "BPRM_CHECK", "--uid", "65534", "--fs", "xfs"}, exitOK,
			[]string{"line 7:   audit func=BPRM_CHECK uid=65534", "actions:  audit", "pcr:      10"}, nil, false, nil},
		{"explain tcb tmpfs 6.12", []string{"explain", "tcb", "--kernel", "6.12", "--func", "BPRM_CHECK", "--fs", "tmpfs"}, exitOK,
			[]string{"rule 4:   dont_measure fsmagic=0x1021994\n", "actions:  none"}, nil, false, nil},
		{"explain tcb tmpfs 7.2", []string{"explain", "tcb", "--func", "BPRM_CHECK", "--fs", "tmpfs"}, exitOK,
			[]string{"rule 15:  measure func=BPRM_CHECK mask=MAY_EXEC", "actions:  measure"}, nil, false, []string{"rule 4:"}},
		{"explain euid caps", []string{"explain", "tcb", "--func", "FILE_CHECK", "--uid", "1000", "--euid", "1000", "--suid", "0", "--caps", "setuid", "--fs", "ext4"}, exitOK,
			[]string{"measure func=FILE_CHECK mask=^MAY_READ euid=0", "caps=setuid"}, nil, false, nil},
		{"explain euid no caps", []string{"explain", "tcb", "--func", "FILE_CHECK", "--uid", "1000", "--euid", "1000", "--suid", "0", "--fs", "ext4"}, exitOK,
			[]string{"matching: none"}, nil, false, nil},
		{"explain key", []string{"explain", policyDir + "keys.policy", "--func", "KEY_CHECK", "--data", ".ima"}, exitOK,
			[]string{"template: ima-buf", "actions:  measure"}, nil, false, nil},
		{"explain appraise flags", []string{"explain", "secure_boot|fail_securely", "--func", "MODULE_CHECK"}, exitOK,
			[]string{"appraise: read", "flags:    digsig_required fail_unverifiable_sigs modsig_allowed check_blacklist"}, nil, false, nil},
		{"explain fsmagic override", []string{"explain", policyDir + "measure-only.policy", "--func", "FILE_CHECK", "--fsmagic", "0x9fa0"}, exitOK,
			[]string{"line 5:   dont_measure fsmagic=0x9fa0"}, nil, false, nil},
		{"explain needs func", []string{"explain", "tcb"}, exitUsage, nil, []string{"--func is required"}, true, nil},
		{"explain bad func", []string{"explain", "tcb", "--func", "EXEC"}, exitUsage, nil, []string{`unknown func "EXEC"`}, true, nil},
		{"explain bad fs", []string{"explain", "tcb", "--func", "BPRM_CHECK", "--fs", "zfs"}, exitUsage, nil, []string{`unknown filesystem "zfs"`}, true, nil},
		{"explain bad uid", []string{"explain", "tcb", "--func", "BPRM_CHECK", "--uid", "-1"}, exitUsage, nil, []string{"--uid"}, true, nil},
		{"explain bad mask", []string{"explain", "tcb", "--func", "FILE_CHECK", "--mask", "MAY_RUN"}, exitUsage, nil, []string{`unknown mask "MAY_RUN"`}, true, nil},
		{"explain invalid policy", []string{"explain", policyDir + "measure-invalid.policy", "--func", "BPRM_CHECK"}, exitUsage, nil,
			[]string{"measure-invalid.policy:4:1:", "the kernel would reject this policy"}, true, nil},
		{"explain two policies", []string{"explain", "tcb", "appraise_tcb", "--func", "BPRM_CHECK"}, exitUsage, nil, []string{"exactly one policy"}, true, nil},
		{"show builtin", []string{"show", "tcb|critical_data", "--kernel", "6.12"}, exitOK,
			[]string{"dont_measure fsmagic=0x1021994\n", "measure func=CRITICAL_DATA\n"}, nil, false, nil},
		{"show file", []string{"show", policyDir + "measure-only.policy"}, exitOK,
			[]string{"measure func=FILE_CHECK mask=MAY_READ uid=0\n"}, nil, false, nil},
		{"fs", []string{"fs"}, exitOK, []string{"xfs          0x58465342\n", "overlay      0x794c7630\n", "tmpfs        0x1021994\n"}, nil, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runPolicy(t, tc.args...)
			assert.Equal(t, tc.code, code, "exit code; stderr: %s", errOut)
			for _, s := range tc.stdout {
				assert.Contains(t, out, s)
			}
			for _, s := range tc.stdoutNone {
				assert.NotContains(t, out, s)
			}
			for _, s := range tc.stderr {
				assert.Contains(t, errOut, s)
			}
			if tc.noStdout {
				assert.Empty(t, out)
			}
			if tc.code == exitOK && tc.stderr == nil && !strings.Contains(strings.Join(tc.args, " "), "appraise.policy") {
				assert.Empty(t, errOut)
			}
		})
	}
}

func TestPolicyCheckJSON(t *testing.T) {
	code, out, _ := runPolicy(t, "check", "--json", policyDir+"measure-invalid.policy", policyDir+"appraise.policy")
	require.Equal(t, exitUsage, code)
	var res []checkResult
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Len(t, res, 2)
	assert.False(t, res[0].Valid)
	assert.Len(t, res[0].Errors, 6)
	assert.Equal(t, jsonPos{Line: 7, Col: 14, Msg: "fsmagic=tmpfs: not a hex number"}, res[0].Errors[1])
	assert.True(t, res[1].Valid)
	assert.Equal(t, 12, res[1].Rules)
	assert.Empty(t, res[1].Errors)
}

func TestPolicyExplainJSON(t *testing.T) {
	code, out, errOut := runPolicy(t, "explain", "--json", policyDir+"overlay-audit.policy", "--func", "BPRM_CHECK", "--fs", "overlay", "--uid", "1000")
	require.Equal(t, exitOK, code, errOut)
	var res policy.Explanation
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Equal(t, []string{"measure", "audit"}, res.Actions)
	assert.Equal(t, 10, res.PCR)
	assert.Equal(t, "BPRM_CHECK", res.Attrs.Func)
	assert.Equal(t, "0x794c7630", res.Attrs.FSMagic)
	assert.Equal(t, []string{}, res.Attrs.Caps)
	require.Len(t, res.Matching, 2)
	assert.Equal(t, policy.ExplainRule{Index: 0, Line: 3, Text: "measure func=BPRM_CHECK fowner=0"}, res.Matching[0])
}

// TestPolicyGolden compares whole outputs with testdata/policies/golden
// (go test ./cmd/imasim -run TestPolicyGolden -update-policy rewrites them).
func TestPolicyGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"explain-tcb-xfs-nobody", []string{"explain", "tcb", "--func", "BPRM_CHECK", "--uid", "65534", "--fs", "xfs"}},
		{"explain-tcb-tmpfs-6.12", []string{"explain", "tcb", "--kernel", "6.12.107", "--func", "BPRM_CHECK", "--fs", "tmpfs"}},
		{"check-measure-invalid", []string{"check", policyDir + "measure-invalid.policy"}},
		{"show-appraise_tcb", []string{"show", "appraise_tcb"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runPolicy(t, tc.args...)
			got := fmt.Sprintf("%s%sexit %d\n", out, errOut, code)
			path := filepath.Join(policyDir, "golden", tc.name+".txt")
			if *updatePolicyGolden {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "missing golden; run with -update-policy")
			assert.Equal(t, string(want), got)
		})
	}
}

// What `policy show` prints for a built-in passes `policy check` for the
// same kernel, with no --kconfig: the kernel's own secure_boot (7.0+)
// holds an imasig|modsig rule whatever the config, so an unstated config
// only warns. Stated without the option (Debian's config) it is an error,
// as the kernel's parser would refuse that text.
func TestPolicyShowPassesCheck(t *testing.T) {
	names := []string{"tcb", "appraise_tcb", "secure_boot", "critical_data", "ima_tcb",
		"tcb|appraise_tcb|secure_boot", "tcb|appraise_tcb|secure_boot|critical_data|fail_securely"}
	for _, v := range []string{"6.1", "6.12", "7.2"} {
		for _, n := range names {
			t.Run(v+"/"+n, func(t *testing.T) {
				code, out, errs := runPolicy(t, "show", n, "--kernel", v)
				require.Equal(t, exitOK, code, errs)
				f := filepath.Join(t.TempDir(), "policy")
				require.NoError(t, os.WriteFile(f, []byte(out), 0o644))
				code, _, errs = runPolicy(t, "check", "--kernel", v, f)
				assert.Equal(t, exitOK, code, "%s\n%s", out, errs)
				modsig := strings.Contains(out, "modsig")
				assert.Equal(t, modsig, strings.Contains(errs, "warning: appraise_type=imasig|modsig loads only"), errs)
				code, _, errs = runPolicy(t, "check", "--kernel", v, "--kconfig", "no-modsig", f)
				if modsig {
					assert.Equal(t, exitUsage, code)
					assert.Contains(t, errs, "needs CONFIG_IMA_APPRAISE_MODSIG")
				} else {
					assert.Equal(t, exitOK, code, errs)
				}
				code, _, errs = runPolicy(t, "check", "--kernel", v, "--kconfig", "modsig", f)
				assert.Equal(t, exitOK, code, errs)
				assert.NotContains(t, errs, "warning: appraise_type")
			})
		}
	}
}
