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
