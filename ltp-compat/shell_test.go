package ltpcompat

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shellRun is the outcome of one shell test run.
type shellRun struct {
	out  string
	code int
}

// runShell runs script (a path) under /bin/sh with the bundled shim on PATH
// and only the given environment (plus PATH and TMPDIR), and checks what any
// LTP test's output must satisfy: kirk finds the Summary, the exit code is
// the one the Summary implies, every result line has the script's TST_ID.
func runShell(t *testing.T, script string, env ...string) shellRun {
	t.Helper()
	return runShellWith(t, []string{"/bin/sh"}, script, env...)
}

// testShells lists the shells the tests run under: /bin/sh, and bash and
// busybox sh when installed (kirk runs tests by their #!/bin/sh line, which
// is dash, bash or busybox depending on the system).
func testShells() map[string][]string {
	m := map[string][]string{"sh": {"/bin/sh"}}
	if p, err := exec.LookPath("bash"); err == nil {
		m["bash"] = []string{p}
	}
	if p, err := exec.LookPath("busybox"); err == nil {
		m["busybox"] = []string{p, "sh"}
	}
	return m
}

// runShellWith is runShell with the shell command given.
func runShellWith(t *testing.T, shell []string, script string, env ...string) shellRun {
	t.Helper()
	shim, err := filepath.Abs(".")
	require.NoError(t, err)
	tmp := openTempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	script, err = filepath.Abs(script)
	require.NoError(t, err)
	cmd := exec.CommandContext(ctx, shell[0], append(shell[1:], script)...)
	// Later entries win (os/exec keeps the last of duplicate keys).
	cmd.Env = append([]string{
		"PATH=" + shim + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"TMPDIR=" + tmp,
	}, env...)
	cmd.Dir = tmp
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err, "running %s", script)
	}
	out := string(b)
	t.Logf("%s (exit %d):\n%s", filepath.Base(script), code, out)

	sum := kirkCounts(t, out)
	assert.Equal(t, sum.ExitCode(), code, "exit code of %s follows its Summary", script)
	rep, psum, err := ParseLTP(strings.NewReader(out))
	require.NoError(t, err)
	require.NotNil(t, psum)
	id := strings.TrimSuffix(filepath.Base(script), ".sh")
	for _, c := range rep.Cases {
		assert.True(t, strings.HasPrefix(c.Name, id+":"), "case %q has TST_ID %s", c.Name, id)
	}
	assert.Equal(t, sum, rep.Counts(), "Summary counts the result lines")
	return shellRun{out: out, code: code}
}

// openTempDir returns a temporary directory that uid 65534 can enter too.
func openTempDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for p := d; p != os.TempDir() && p != "/" && strings.HasPrefix(p, os.TempDir()); p = filepath.Dir(p) {
		require.NoError(t, os.Chmod(p, 0o755))
	}
	return d
}

func TestShimResults(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		env   []string
		code  int
		lines []string
	}{
		{
			name:  "pass and conf",
			body:  "TST_CNT=2\nt1() { tst_res TPASS \"fine\"; }\nt2() { tst_res TCONF \"skip me\"; }\nTST_TESTFUNC=t\n",
			code:  0,
			lines: []string{"shimt 1 TPASS: fine", "shimt 2 TCONF: skip me"},
		},
		{
			name:  "conf only",
			body:  "TST_TESTFUNC=f\nf() { tst_brk TCONF \"IMA not enabled in kernel\"; tst_res TPASS never; }\n",
			code:  32,
			lines: []string{"shimt 1 TCONF: IMA not enabled in kernel"},
		},
		{
			name: "fail warn",
			body: "TST_TESTFUNC=f\nTST_CLEANUP=c\nc() { tst_brk TBROK \"in cleanup\"; }\nTST_SETUP=s\ns() { :; }\nf() { tst_res TFAIL \"got $1\"; }\n",
			code: 1 | 4,
			// As in LTP, cleanup reports under the number after the last test.
			lines: []string{"shimt 1 TFAIL: got 1", "shimt 2 TWARN: in cleanup"},
		},
		{
			name:  "no results",
			body:  "TST_TESTFUNC=f\nf() { tst_res TINFO \"just info\"; }\n",
			code:  2,
			lines: []string{"shimt 1 TINFO: just info", "shimt 1 TBROK: Test didn't report any results"},
		},
		{
			name:  "ROD",
			body:  "TST_TESTFUNC=f\nf() { ROD false; tst_res TPASS never; }\n",
			code:  2,
			lines: []string{"shimt 1 TBROK: false failed"},
		},
		{
			name:  "needs cmds",
			body:  "TST_TESTFUNC=f\nTST_NEEDS_CMDS=\"sh no_such_cmd_imasim\"\nf() { tst_res TPASS x; }\n",
			code:  32,
			lines: []string{"shimt 1 TCONF: 'no_such_cmd_imasim' not found"},
		},
		{
			name: "kconfig",
			body: "TST_TESTFUNC=f\nTST_NEEDS_KCONFIGS=\"CONFIG_IMA=y, CONFIG_OVERLAY_FS\"\nf() { tst_res TPASS x; }\n",
			env:  []string{"KCONFIG_PATH=" + absPath(t, filepath.Join("testdata", "kconfig-no-overlay"))},
			code: 32,
			lines: []string{"shimt 1 TINFO: Missing CONFIG_OVERLAY_FS",
				"shimt 1 TCONF: Aborting due to unsuitable kernel config, see above!"},
		},
		{
			name:  "min kver",
			body:  "TST_TESTFUNC=f\nTST_MIN_KVER=99.1\nf() { tst_res TPASS x; }\n",
			code:  32,
			lines: []string{"shimt 1 TCONF: test requires kernel 99.1+"},
		},
		{
			name: "timeout",
			body: "TST_TESTFUNC=f\nTST_TIMEOUT=1\nf() { sleep 4; tst_res TPASS late; }\n",
			env:  []string{"LTP_TIMEOUT_MUL=1"},
			code: 2,
			lines: []string{"shimt 1 TINFO: timeout per run is 0h 0m 1s",
				"shimt 1 TBROK: test killed, timeout! If you are running on slow machine, try exporting LTP_TIMEOUT_MUL > 1"},
		},
		{
			name:  "tmpdir",
			body:  "TST_TESTFUNC=f\nTST_NEEDS_TMPDIR=1\nf() { case \"$PWD\" in \"$TMPDIR\"/LTP_shimt.*) tst_res TPASS \"in tmpdir\";; *) tst_res TFAIL \"$PWD\";; esac; }\n",
			code:  0,
			lines: []string{"shimt 1 TPASS: in tmpdir"},
		},
	}
	for shName, sh := range testShells() {
		for _, tc := range tests {
			t.Run(shName+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				script := filepath.Join(dir, "shimt.sh")
				require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\n"+tc.body+". tst_test.sh\ntst_run\n"), 0o755))
				r := runShellWith(t, sh, script, tc.env...)
				assert.Equal(t, tc.code, r.code)
				var got []string
				for _, l := range strings.Split(r.out, "\n") {
					if strings.HasPrefix(l, "shimt ") && !strings.Contains(l, "timeout per run is 0h 5m") {
						got = append(got, l)
					}
				}
				assert.Equal(t, tc.lines, got)
			})
		}
	}
}

func TestShimColor(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "shimc.sh")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\nTST_TESTFUNC=f\nf() { tst_res TPASS ok; }\n. tst_test.sh\ntst_run\n"), 0o755))
	r := runShell(t, script, "LTP_COLORIZE_OUTPUT=1")
	assert.Contains(t, r.out, "shimc 1 \x1b[1;32mTPASS\x1b[0m: ok\n")
	r = runShell(t, script, "LTP_COLORIZE_OUTPUT=0")
	assert.Contains(t, r.out, "shimc 1 TPASS: ok\n")
}

// fakeIMA prepares a fake securityfs IMA directory, an audit log and a
// program that logs an INTEGRITY_RULE record for itself on every run (or
// only on the first, when once is set): what a kernel with the regression
// (or without it) writes.
func fakeIMA(t *testing.T, policy string, policyMode os.FileMode, once bool) (imaDir, log, prog string) {
	t.Helper()
	d := openTempDir(t)
	imaDir = filepath.Join(d, "ima")
	require.NoError(t, os.Mkdir(imaDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(imaDir, "policy"), []byte(policy), policyMode))
	require.NoError(t, os.Chmod(filepath.Join(imaDir, "policy"), policyMode))
	require.NoError(t, os.WriteFile(filepath.Join(imaDir, "ascii_runtime_measurements"), nil, 0o644))
	log = filepath.Join(d, "audit.log")
	require.NoError(t, os.WriteFile(log, nil, 0o666))
	require.NoError(t, os.Chmod(log, 0o666))
	require.NoError(t, os.Chmod(d, 0o777))
	guard := ""
	if once {
		guard = "[ -e " + d + "/seen ] && exit 0\n: > " + d + "/seen\n"
	}
	prog = filepath.Join(d, "prog")
	require.NoError(t, os.WriteFile(prog, []byte("#!/bin/sh\n"+guard+
		"echo \"type=INTEGRITY_RULE msg=audit(1700000000.001:7): file=\\\"$0\\\" hash=\\\"sha256:00\\\" uid=$(id -u)\" >> "+log+"\n"), 0o755))
	return imaDir, log, prog
}

func absPath(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	require.NoError(t, err)
	return a
}

func isRoot() bool { return os.Geteuid() == 0 }

// canMountXFSOverlay says why the real-filesystem part cannot run here.
func canMountXFSOverlay() string {
	if !isRoot() {
		return "needs root"
	}
	fss, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return err.Error()
	}
	for _, fs := range []string{"xfs", "overlay"} {
		if !strings.Contains(string(fss), "\t"+fs+"\n") {
			return "kernel has no " + fs + " (load the module)"
		}
	}
	for _, c := range []string{"losetup", "mkfs.xfs", "setpriv"} {
		if _, err := exec.LookPath(c); err != nil {
			return "needs " + c
		}
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		return "no loop devices"
	}
	return ""
}

func TestOverlayXFSNoIMA(t *testing.T) {
	if !isRoot() {
		t.Skip("imasim_overlay_xfs.sh needs root (it would only report TCONF 'Must be super/root')")
	}
	t.Run("host", func(t *testing.T) {
		if _, err := os.Stat("/sys/kernel/security/ima"); err == nil {
			t.Skip("this host has IMA: the real-kernel run belongs to imasim vm")
		}
		r := runShell(t, "imasim_overlay_xfs.sh")
		assert.Equal(t, 32, r.code)
		assert.Contains(t, r.out, "imasim_overlay_xfs 1 TCONF: IMA not enabled in kernel\n")
		_, err := os.Stat("/sys/kernel/security/ima")
		assert.Error(t, err, "securityfs left mounted")
	})
	t.Run("override", func(t *testing.T) {
		r := runShell(t, "imasim_overlay_xfs.sh", "IMA_SECURITYFS=/nonexistent/ima")
		assert.Equal(t, 32, r.code)
		assert.Contains(t, r.out, "imasim_overlay_xfs 1 TCONF: IMA not enabled in kernel\n")
	})
}

func TestOverlayXFSPolicy(t *testing.T) {
	if !isRoot() {
		t.Skip("imasim_overlay_xfs.sh needs root")
	}
	tests := []struct {
		name   string
		policy string
		mode   os.FileMode
		load   bool
		want   string
	}{
		{"missing rule", "measure func=FILE_CHECK\n", 0o600, false,
			"TCONF: missing required policy, example policy can be loaded with LTP_IMA_LOAD_POLICY=1"},
		{"read-only policy", "measure func=FILE_CHECK\n", 0o400, true,
			"TCONF: IMA policy already loaded and kernel not configured to enable multiple writes to it (need CONFIG_IMA_WRITE_POLICY=y)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ima, log, prog := fakeIMA(t, tc.policy, tc.mode, false)
			env := []string{"IMA_SECURITYFS=" + ima, "IMASIM_AUDIT_LOG=" + log, "IMASIM_PROG=" + prog}
			if tc.load {
				env = append(env, "LTP_IMA_LOAD_POLICY=1")
			}
			r := runShell(t, "imasim_overlay_xfs.sh", env...)
			assert.Equal(t, 32, r.code)
			assert.Contains(t, r.out, "imasim_overlay_xfs 1 "+tc.want+"\n")
		})
	}
}

func TestOverlayXFSFake(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the XFS loop device + overlay run")
	}
	if why := canMountXFSOverlay(); why != "" {
		t.Skip("XFS loop device + overlay: " + why)
	}
	tests := []struct {
		name   string
		policy string
		once   bool
		load   bool
		code   int
		want   string
	}{
		{"regression: 3 records", "", false, true, 1,
			"TFAIL: 3 INTEGRITY_RULE records for 3 executions of an unchanged program on overlay over xfs, expected 1"},
		{"fixed: 1 record", "audit func=BPRM_CHECK uid=65534 \n", true, false, 0,
			"TPASS: 1 INTEGRITY_RULE record for 3 executions of an unchanged program on overlay over xfs"},
	}
	for shName, sh := range testShells() {
		for i, tc := range tests {
			if shName != "sh" && i > 0 {
				continue // other shells: the first case is enough
			}
			t.Run(shName+"/"+tc.name, func(t *testing.T) {
				ima, log, prog := fakeIMA(t, tc.policy, 0o600, tc.once)
				env := []string{"IMA_SECURITYFS=" + ima, "IMASIM_AUDIT_LOG=" + log, "IMASIM_PROG=" + prog}
				if tc.load {
					env = append(env, "LTP_IMA_LOAD_POLICY=1")
				}
				r := runShellWith(t, sh, "imasim_overlay_xfs.sh", env...)
				assert.Equal(t, tc.code, r.code)
				assert.Contains(t, r.out, "imasim_overlay_xfs 1 "+tc.want+"\n")

				pol, err := os.ReadFile(filepath.Join(ima, "policy"))
				require.NoError(t, err)
				if tc.load {
					assert.Equal(t, "measure func=BPRM_CHECK uid=65534\naudit func=BPRM_CHECK uid=65534\n", string(pol))
				}
				logText, err := os.ReadFile(log)
				require.NoError(t, err)
				assert.Contains(t, string(logText), "uid=65534", "program ran as nobody")
				assert.NotContains(t, string(logText), "uid=0")

				// Cleanup left nothing mounted or attached.
				mounts, err := os.ReadFile("/proc/mounts")
				require.NoError(t, err)
				assert.NotContains(t, string(mounts), "LTP_imasim_overlay_xfs")
				loops, _ := exec.Command("losetup", "-a").CombinedOutput()
				assert.NotContains(t, string(loops), "LTP_imasim_overlay_xfs")
			})
		}
	}
}

// fakeImasim writes a stand-in for `imasim scenario NAME --profile P --json`
// that prints the given per-profile result objects (or exits with code).
func fakeImasim(t *testing.T, results map[string]string, code int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("#!/bin/sh\n[ \"$1\" = scenario ] && [ \"$3\" = --profile ] && [ \"$5\" = --json ] || exit 2\n")
	if code != 0 {
		b.WriteString("echo 'cannot run here' >&2\nexit " + strconv.Itoa(code) + "\n")
	}
	b.WriteString("case \"$4\" in\n")
	for p, obj := range results {
		b.WriteString(p + ") echo '{\"schema\":1,\"scenario\":\"'\"$2\"'\",\"results\":[" + obj + "]}';;\n")
	}
	b.WriteString("*) echo \"unknown profile $4\" >&2; exit 2;;\nesac\n")
	path := filepath.Join(t.TempDir(), "imasim")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o755))
	return path
}

const (
	res612 = `{"profile":"6.12","audit_records":{"/ovl/test_prog":1},"measurements":1,"steps":[{"index":1,"op":"exec","hook":"BPRM_CHECK","evaluated":true,"verdict":"ok","cause":"first exec"}]}`
	res613 = `{"profile":"6.13","audit_records":{"/ovl/test_prog":3},"measurements":1,"steps":[{"index":1,"op":"exec","hook":"BPRM_CHECK","evaluated":true,"verdict":"excessive","cause":"no change cookie"}]}`
)

// goldenDirWith writes golden scenario files (indented, as a golden would
// be) for the model test.
func goldenDirWith(t *testing.T, files map[string][]string) string {
	t.Helper()
	d := t.TempDir()
	for name, objs := range files {
		text := "{\n  \"schema\": 1,\n  \"scenario\": \"" + name + "\",\n  \"results\": [\n    " +
			strings.Join(objs, ",\n    ") + "\n  ]\n}\n"
		text = strings.ReplaceAll(text, `":`, `": `)
		require.NoError(t, os.WriteFile(filepath.Join(d, name+".json"), []byte(text), 0o644))
	}
	return d
}

func TestModelShell(t *testing.T) {
	changed613 := strings.Replace(res613, `"/ovl/test_prog":3`, `"/ovl/test_prog":2`, 1)
	tests := []struct {
		name    string
		goldens map[string][]string
		imasim  map[string]string
		code    int // fake imasim's exit code
		want    int
		lines   []string
	}{
		{
			name:    "unchanged",
			goldens: map[string][]string{"xfs-overlay": {res612, res613}, "ext4": {res612}},
			imasim:  map[string]string{"6.12": res612, "6.13": res613},
			want:    0,
			lines: []string{"imasim_model 1 TPASS: ext4/6.12: model matches golden",
				"imasim_model 2 TPASS: xfs-overlay/6.12: model matches golden",
				"imasim_model 2 TPASS: xfs-overlay/6.13: model matches golden"},
		},
		{
			name:    "changed",
			goldens: map[string][]string{"xfs-overlay": {res612, res613}},
			imasim:  map[string]string{"6.12": res612, "6.13": changed613},
			want:    1,
			lines: []string{"imasim_model 1 TPASS: xfs-overlay/6.12: model matches golden",
				"imasim_model 1 TFAIL: xfs-overlay/6.13: model differs from "},
		},
		{
			name:    "profile gone",
			goldens: map[string][]string{"xfs-overlay": {res612, res613}},
			imasim:  map[string]string{"6.12": res612},
			want:    1,
			lines: []string{"imasim_model 1 TPASS: xfs-overlay/6.12: model matches golden",
				"imasim_model 1 TFAIL: xfs-overlay/6.13: imasim scenario exited 2: unknown profile 6.13 "},
		},
		{
			name:    "cannot run",
			goldens: map[string][]string{"xfs-overlay": {res612}},
			code:    32,
			want:    32,
			lines:   []string{"imasim_model 1 TCONF: xfs-overlay/6.12: imasim cannot run it here"},
		},
		{
			name:  "no goldens",
			want:  32,
			lines: []string{"imasim_model 1 TCONF: no golden files in "},
		},
	}
	for shName, sh := range testShells() {
		for _, tc := range tests {
			t.Run(shName+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				dir := goldenDirWith(t, tc.goldens)
				bin := fakeImasim(t, tc.imasim, tc.code)
				r := runShellWith(t, sh, "imasim_model.sh", "IMASIM="+bin, "IMASIM_GOLDEN_DIR="+dir)
				assert.Equal(t, tc.want, r.code)
				var got []string
				for _, l := range strings.Split(r.out, "\n") {
					if strings.HasPrefix(l, "imasim_model ") && !strings.Contains(l, " TINFO: ") {
						got = append(got, l)
					}
				}
				require.Len(t, got, len(tc.lines))
				for i := range got {
					assert.True(t, strings.HasPrefix(got[i], tc.lines[i]), "line %d = %q, want prefix %q", i, got[i], tc.lines[i])
				}
			})
		}
	}

	t.Run("no imasim", func(t *testing.T) {
		dir := goldenDirWith(t, map[string][]string{"x": {res612}})
		r := runShell(t, "imasim_model.sh", "IMASIM=/nonexistent/imasim", "IMASIM_GOLDEN_DIR="+dir)
		assert.Equal(t, 32, r.code)
		assert.Contains(t, r.out, "imasim_model 1 TCONF: '/nonexistent/imasim' not found")
	})
}

func TestInstall(t *testing.T) {
	root := t.TempDir()
	bin := fakeImasim(t, nil, 0)
	require.NoError(t, os.MkdirAll(filepath.Join(root, "testcases", "bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "testcases", "bin", "tst_test.sh"), []byte("# LTP's\n"), 0o644))
	cmd := exec.Command("/bin/sh", "install.sh", root)
	cmd.Env = append(os.Environ(), "IMASIM="+bin)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, f := range []string{"testcases/bin/imasim_overlay_xfs.sh", "testcases/bin/imasim_model.sh",
		"testcases/bin/imasim", "runtest/imasim"} {
		st, err := os.Stat(filepath.Join(root, f))
		require.NoError(t, err, f)
		assert.NotZero(t, st.Mode()&0o444, f)
	}
	b, err := os.ReadFile(filepath.Join(root, "testcases", "bin", "tst_test.sh"))
	require.NoError(t, err)
	assert.Equal(t, "# LTP's\n", string(b), "LTP's library is kept, the shim not installed")

	out, err = exec.Command("/bin/sh", "install.sh").CombinedOutput()
	assert.Error(t, err)
	assert.Contains(t, string(out), "usage:")
}

// TestRuntest checks the runtest file the way kirk reads it: "<tag>
// <command> [args]" lines, # comments and blank lines ignored; tags start
// with imasim_ and name a test that exists here.
func TestRuntest(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("runtest", "imasim"))
	require.NoError(t, err)
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		require.GreaterOrEqual(t, len(f), 2, "line %q", l)
		assert.True(t, strings.HasPrefix(f[0], "imasim_"), "tag %q", f[0])
		assert.False(t, strings.HasPrefix(f[0], "ima_"))
		st, err := os.Stat(f[1])
		require.NoError(t, err, "command %s", f[1])
		assert.NotZero(t, st.Mode()&0o111, "%s is executable", f[1])
		n++
	}
	assert.Equal(t, 2, n)
}

// TestUnderLTP runs the tests with LTP's own shell library when an LTP
// install is named by LTPROOT (as kirk runs them); it checks only what holds
// for any LTP version: kirk reads the Summary, no TWARN about reserved or
// private names, and the verdicts match the shim's.
func TestUnderLTP(t *testing.T) {
	root := os.Getenv("LTPROOT")
	if root == "" {
		t.Skip("no LTP install: set LTPROOT to run the tests under LTP's tst_test.sh")
	}
	if _, err := os.Stat(filepath.Join(root, "testcases", "bin", "tst_test.sh")); err != nil {
		t.Skipf("LTPROOT=%s has no testcases/bin/tst_test.sh", root)
	}
	path := "PATH=" + filepath.Join(root, "testcases", "bin") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	dir := goldenDirWith(t, map[string][]string{"xfs-overlay": {res612, res613}})
	bin := fakeImasim(t, map[string]string{"6.12": res612, "6.13": res613}, 0)
	r := runShell(t, "imasim_model.sh", "LTPROOT="+root, path, "IMASIM="+bin, "IMASIM_GOLDEN_DIR="+dir)
	assert.Equal(t, 0, r.code)
	assert.NotContains(t, r.out, "TWARN")
	assert.Contains(t, r.out, "imasim_model 1 TPASS: xfs-overlay/6.13: model matches golden")
	if isRoot() {
		r = runShell(t, "imasim_overlay_xfs.sh", "LTPROOT="+root, path, "IMA_SECURITYFS=/nonexistent/ima")
		assert.Equal(t, 32, r.code)
		assert.Contains(t, r.out, "imasim_overlay_xfs 1 TCONF: IMA not enabled in kernel")
		assert.NotContains(t, r.out, "TWARN")
	}
}

// TestModelScriptOnRealGoldens runs imasim_model.sh with the real binary
// against the project's goldens under /bin/sh (dash on Debian, whose echo
// once broke the JSON's \n; the shim tests cover bash and busybox): each
// profile of each golden must match.
func TestModelScriptOnRealGoldens(t *testing.T) {
	if testing.Short() {
		t.Skip("builds imasim and runs it a few hundred times (-short)")
	}
	bin := filepath.Join(t.TempDir(), "imasim")
	build := exec.Command("go", "build", "-o", bin, "github.com/imasim/imasim/cmd/imasim")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	goldens, err := filepath.Abs("../testdata/golden/scenarios")
	require.NoError(t, err)
	files, _ := filepath.Glob(filepath.Join(goldens, "*.json"))
	require.NotEmpty(t, files)
	r := runShell(t, "imasim_model.sh", "IMASIM="+bin, "IMASIM_GOLDEN_DIR="+goldens)
	assert.Equal(t, 0, r.code)
	sum := kirkCounts(t, r.out)
	assert.Zero(t, sum.Failed)
	assert.Zero(t, sum.Broken)
	assert.GreaterOrEqual(t, sum.Passed, len(files), "at least one profile per golden")
}
