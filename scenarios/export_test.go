package scenarios

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func export(t testing.TB, name string) string {
	t.Helper()
	s, err := Load(name)
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, ExportShell(&b, s, ExportOptions{Predictions: []string{"6.12 (6.7 .. 6.12): ok"}}))
	return b.String()
}

// Every built-in scenario exports to a script that sh -n accepts; the
// shared prelude and every scenario's steps pass shellcheck (when
// installed), checked as one combined script to keep the test fast.
func TestExportShellSyntax(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh in PATH")
	}
	dir := t.TempDir()
	var combined strings.Builder
	for i, name := range BuiltinNames() {
		script := export(t, name)
		f := filepath.Join(dir, name+".sh")
		require.NoError(t, os.WriteFile(f, []byte(script), 0o755))
		out, err := exec.Command(sh, "-n", f).CombinedOutput()
		require.NoError(t, err, "sh -n %s: %s", f, out)
		body := script[strings.Index(script, "# ---- steps ----"):]
		body = strings.TrimSuffix(body, "finish\n")
		if i == 0 {
			combined.WriteString(strings.TrimSuffix(script, "finish\n"))
			continue
		}
		combined.WriteString(body)
	}
	combined.WriteString("finish\n")
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Skip("shellcheck not installed (apt-get install shellcheck): only sh -n was run")
	}
	f := filepath.Join(dir, "all.sh")
	require.NoError(t, os.WriteFile(f, []byte(combined.String()), 0o755))
	out, err := exec.Command(sc, "-s", "sh", f).CombinedOutput()
	assert.NoError(t, err, "shellcheck %s:\n%s", f, out)
}

func TestExportContent(t *testing.T) {
	got := export(t, "xfs-overlay")
	for _, want := range []string{
		"#!/bin/sh\n",
		"# What imasim's model predicts per kernel era:\n#   6.12 (6.7 .. 6.12): ok\n",
		"POLICY='audit func=BPRM_CHECK uid=65534\n'\n",
		"NEEDS='fs:xfs mkfs.xfs losetup fs:tmpfs fs:overlay setpriv'\n",
		"LOAD_POLICY=0\n",
		"trap cleanup EXIT\n",
		`mount_image xfs 512M "$R/lower" ''`,
		`write_exec 0 0 0755 "$R/lower/test_prog" "$W/d1"`,
		`mount_overlay "$R/ovl" "$R/t/upper" "$R/t/work" "$R/lower"`,
		`as_user 65534 65534 "$R/ovl/test_prog" >/dev/null 2>&1 || true`,
		`expect_audit 'expect audit /ovl/test_prog 1' "$R/ovl/test_prog" 1`,
		"echo 0 >/proc/sys/kernel/printk_ratelimit",
	} {
		assert.Contains(t, got, want)
	}
	// The host policy is written only behind --load-policy.
	i := strings.Index(got, `>"$IMA/policy"`)
	require.Positive(t, i)
	assert.Contains(t, got[strings.LastIndex(got[:i], "\n")-60:i], `elif [ "$LOAD_POLICY" = 1 ]; then`)
}

func TestExportErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unclosed handle", "name: x\nfs xfs /m\nwrite /m/f a\nopen %h /m/f r\n", "x.scn:4: export: handle %h is never closed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(strings.NewReader(tc.src), "x.scn")
			require.NoError(t, err)
			err = ExportShell(&bytes.Buffer{}, s, ExportOptions{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// sq must survive the shell: printf '%s' <quoted> prints the input back.
func TestExportQuoting(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh in PATH")
	}
	for _, s := range []string{"plain", "", "two words", "it's", `a"b`, "$HOME", "`id`", "line\nbreak", "\\n", "'", "''", "-n"} {
		out, err := exec.Command(sh, "-c", "printf '%s' "+sq(s)).Output()
		require.NoError(t, err, s)
		assert.Equal(t, s, string(out))
	}
}

// The xfs-overlay reproducer runs for real as root: filesystem steps,
// mounts, exec as uid 65534, and a cleanup that leaves nothing behind.
// Without IMA in the host kernel it must say so and exit 32.
func TestExportRunsAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (loop devices, mkfs.xfs, mounts)")
	}
	for _, tool := range []string{"sh", "mkfs.xfs", "losetup", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	fs, _ := os.ReadFile("/proc/filesystems")
	if !bytes.Contains(fs, []byte("xfs")) || !bytes.Contains(fs, []byte("overlay")) {
		t.Skip("kernel lacks xfs or overlay (load the modules)")
	}
	tmp := t.TempDir()
	f := filepath.Join(tmp, "xfs-overlay.sh")
	require.NoError(t, os.WriteFile(f, []byte(export(t, "xfs-overlay")), 0o755))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", f)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	text := string(out)
	assert.Contains(t, text, "xfs-overlay: line 16: exec /ovl/test_prog uid=65534")
	_, imaErr := os.Stat("/sys/kernel/security/ima")
	if imaErr != nil {
		assert.Equal(t, 32, code, text)
		assert.Contains(t, text, "TCONF: IMA not enabled in kernel")
	} else {
		assert.Contains(t, []int{0, 1, 32}, code, text)
	}
	mounts, _ := os.ReadFile("/proc/mounts")
	assert.NotContains(t, string(mounts), tmp, "mounts left behind")
	ents, err := os.ReadDir(tmp)
	require.NoError(t, err)
	require.Len(t, ents, 1, "work directory left behind: %v", ents)
	assert.Equal(t, "xfs-overlay.sh", ents[0].Name())
}

// Every step operation of the format has a builder and a shell form.
func TestExportCoversEveryOp(t *testing.T) {
	assert.Len(t, builders, len(ops))
	for _, op := range OpNames() {
		e := &exporter{s: &Scenario{Name: "x"}, handles: map[string]int{"%h": 1}}
		args, opts := []string{"/a", "b", "c"}, map[string]string{}
		switch op {
		case "fs":
			args = []string{"xfs", "/m"}
		case "overlay":
			args, opts = []string{"/o"}, map[string]string{"lower": "/l"}
		case "open":
			args = []string{"%g", "/a", "r"}
		case "read", "close":
			args = []string{"%h"}
		case "mmap":
			args = []string{"%h", "exec"}
		case "sleep":
			args = []string{"10ms"}
		}
		require.Contains(t, builders, op)
		st := Step{Op: builders[op](args, opts)}
		assert.Equal(t, op, st.Op.Name())
		assert.NoError(t, st.Visit(e), op)
	}
}
