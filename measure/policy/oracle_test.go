package policy

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// oracleKernels are the real kernels whose answers testdata/policies/oracle
// holds (Debian cloud kernels; see the README there).
var oracleKernels = []struct {
	file string
	k    Kernel
}{
	{"linux-6.1.176.txt", Kernel{Version: Version{6, 1}}},
	{"linux-6.12.107.txt", Kernel{Version: Version{6, 12}}},
	{"linux-7.2.13.txt", Kernel{Version: Version{7, 2}}},
}

// envDependent says why a real kernel's answer for a rule depends on more
// than the policy language, or "" when it does not.
func envDependent(rule string) string {
	for _, k := range lsmKeys {
		if strings.Contains(rule, k+"=") {
			// ima_lsm_rule_init: on the first policy write a label the
			// active LSM does not know is rejected; on later writes the
			// rule is kept but never matches. The VMs run AppArmor only.
			return "LSM label"
		}
	}
	if strings.Contains(rule, "appraise_algos=") {
		// ima_parse_appraise_algos asks crypto_has_alg, which depends on
		// the config and loaded modules (the VMs load none).
		return "crypto availability"
	}
	return ""
}

// TestKernelOracle compares the parser's accept/reject decision for every
// rule in rules.txt with what real kernels answered.
func TestKernelOracle(t *testing.T) {
	data, err := os.ReadFile("../../testdata/policies/oracle/rules.txt")
	require.NoError(t, err)
	rules := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for _, ok := range oracleKernels {
		t.Run(ok.file, func(t *testing.T) {
			ans, err := os.ReadFile("../../testdata/policies/oracle/" + ok.file)
			require.NoError(t, err)
			got := map[int]bool{}
			for _, l := range strings.Split(string(ans), "\n") {
				var n int
				var res string
				if l == "" || l[0] == '#' {
					continue
				}
				_, err := fmtSscan(l, &n, &res)
				require.NoError(t, err, "line %q", l)
				got[n] = res == "ok"
			}
			require.Len(t, got, len(rules))
			checked := 0
			for i, r := range rules {
				if envDependent(r) != "" {
					continue
				}
				_, errs, err := ParseAll(strings.NewReader(r+"\n"), "oracle", ok.k)
				require.NoError(t, err)
				var why string
				if len(errs) > 0 {
					why = errs[0].Msg
				}
				assert.Equal(t, got[i+1], len(errs) == 0, "rules.txt:%d %q: kernel accepts=%v, model says %q", i+1, r, got[i+1], why)
				checked++
			}
			assert.Greater(t, checked, 150)
		})
	}
}

func fmtSscan(s string, n *int, res *string) (int, error) { return fmt.Sscan(s, n, res) }

// TestKernelMatchOracle compares the tcb built-in's decisions with what real
// kernels booted with ima_policy=tcb measured on tmpfs (match-linux-*.txt):
// the init program and a program run from a fresh tmpfs (BPRM_CHECK as
// root), and a file read there (FILE_CHECK MAY_READ as root).
func TestKernelMatchOracle(t *testing.T) {
	for _, ok := range oracleKernels {
		t.Run(ok.file, func(t *testing.T) {
			data, err := os.ReadFile("../../testdata/policies/oracle/match-" + ok.file)
			require.NoError(t, err)
			p, err := BuiltinKernel("tcb", ok.k)
			require.NoError(t, err)
			magic := map[string]uint64{}
			seen := 0
			for _, l := range strings.Split(string(data), "\n") {
				f := strings.Fields(l)
				switch {
				case len(f) == 3 && f[0] == "FS":
					m, ok := kstrtoul(f[2], 16)
					require.True(t, ok, "line %q", l)
					magic[f[1]] = m
				case len(f) == 3 && f[0] == "MEASURED":
					a := Attrs{Func: BprmCheck, Mask: MayExec, CapSetUID: true, CapSetGID: true}
					dir := "/t"
					switch f[1] {
					case "/agent":
						dir = "/"
					case "/t/data":
						a.Func, a.Mask = FileCheck, MayRead
					}
					a.FSMagic = magic[dir]
					d := p.Match(a)
					assert.Equal(t, f[2] == "yes", d.Actions&Measure != 0, "%s on %#x: kernel measured=%s, model %+v", f[1], a.FSMagic, f[2], d)
					seen++
				}
			}
			assert.Equal(t, 3, seen)
		})
	}
}

// TestKernelCustomOracle loads custom-policy.txt into the model and compares
// its decisions with what real kernels measured and audited
// (custom-linux-*.txt) for the agent's accesses on tmpfs.
func TestKernelCustomOracle(t *testing.T) {
	pol, err := os.ReadFile("../../testdata/policies/oracle/custom-policy.txt")
	require.NoError(t, err)
	tmpfs := mustMagic("tmpfs")
	// The agent's accesses (agent/main.go custom): credentials after
	// setresuid, as the kernel's cred and capabilities then are. A nonzero
	// euid clears the effective capabilities (capabilities(7)).
	accesses := map[string]Attrs{
		"/t/prog":     {Func: BprmCheck, Mask: MayExec, CapSetUID: true, CapSetGID: true},
		"/t/prog1000": {Func: BprmCheck, Mask: MayExec, FOwner: 1000, FGrp: 1000, CapSetUID: true, CapSetGID: true},
		"/t/f1":       {Func: FileCheck, Mask: MayRead, UID: 1000, EUID: 0, SUID: 0, CapSetUID: true, CapSetGID: true},
		"/t/f2":       {Func: FileCheck, Mask: MayRead, UID: 0, EUID: 1000, SUID: 0},
		"/t/f3":       {Func: FileCheck, Mask: MayRead, UID: 1000, EUID: 1000, SUID: 1000},
	}
	for _, ok := range oracleKernels {
		t.Run(ok.file, func(t *testing.T) {
			p := mustParse(t, ok.k, string(pol))
			data, err := os.ReadFile("../../testdata/policies/oracle/custom-" + ok.file)
			require.NoError(t, err)
			seen := 0
			for _, l := range strings.Split(string(data), "\n") {
				f := strings.Fields(l)
				if len(f) < 3 || f[0] == "#" {
					continue
				}
				a, known := accesses[f[0]]
				require.True(t, known, "line %q", l)
				a.FSMagic, a.FSName = tmpfs, "tmpfs"
				d := p.Match(a)
				want := "measured=no"
				if d.Actions&Measure != 0 {
					tmpl := d.Template
					if tmpl == "" {
						tmpl = "ima-sig" // CONFIG_IMA_DEFAULT_TEMPLATE of these kernels
					}
					want = fmt.Sprintf("measured=yes pcr=%d template=%s", d.PCR, tmpl)
				}
				audited := map[bool]string{true: "audited=yes", false: "audited=no"}[d.Actions&Audit != 0]
				assert.Equal(t, strings.Join(f[1:], " "), want+" "+audited, "%s: kernel vs model (decision %+v)", f[0], d)
				seen++
			}
			assert.Equal(t, len(accesses), seen)
		})
	}
}
