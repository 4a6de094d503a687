package vm

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/vm/guest"
)

func TestResolveToolsCarriesLibrariesAndInterpreter(t *testing.T) {
	p, err := exec.LookPath("dash")
	if err != nil {
		t.Skip("no dash on this host")
	}
	files, missing, err := ResolveTools([]string{"dash", "no-such-tool-imasim"})
	require.NoError(t, err)
	assert.Equal(t, []string{"no-such-tool-imasim"}, missing)
	byDst := map[string]File{}
	for _, f := range files {
		byDst[f.Dst] = f
	}
	abs, _ := filepath.Abs(p)
	require.Contains(t, byDst, abs, "the program keeps its host path")
	assert.Equal(t, "dash", byDst[filepath.Join(filepath.Dir(abs), "sh")].Link, "dash is the guest's sh")
	assert.Contains(t, byDst, guest.LibDir+"/libc.so.6", "DT_NEEDED of dash")
	_, interp, err := elfNeeds(byDst[abs].Src)
	require.NoError(t, err)
	require.NotEmpty(t, interp, "dash is dynamically linked")
	assert.Contains(t, byDst, interp, "its ELF interpreter at the path it names")
	for _, f := range files {
		if f.Link == "" {
			_, err := os.Stat(f.Src)
			assert.NoError(t, err, f.Dst)
		}
	}
}

func TestResolveToolsScriptsAndBrokenELF(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "wrapper")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755))
	files, missing, err := ResolveTools([]string{script})
	require.NoError(t, err)
	assert.Empty(t, missing)
	require.Len(t, files, 1, "a #! script comes alone")
	assert.Equal(t, script, files[0].Dst)

	bad := filepath.Join(dir, "broken")
	require.NoError(t, os.WriteFile(bad, []byte("\x7fELF\x02\x01\x01"), 0o755))
	_, _, err = ResolveTools([]string{bad})
	require.Error(t, err, "a truncated ELF is an error")
	assert.Contains(t, err.Error(), bad, "says which tool")
}

func TestInitramfsFilesAndLinks(t *testing.T) {
	dir := t.TempDir()
	agent := filepath.Join(dir, "agent")
	// Any static ELF stands in for the agent and busybox here.
	bb := "/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		t.Skip("no /bin/busybox")
	}
	b, err := os.ReadFile(bb)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(agent, b, 0o755))
	in := &Initramfs{Agent: agent, Busybox: bb, Files: []File{
		{Dst: "/usr/bin/dash", Data: []byte("x"), Mode: 0o755},
		{Dst: "/usr/bin/sh", Link: "dash"},
		{Dst: "/opt/t/run.sh", Data: []byte("echo hi\n")},
	}}
	out := filepath.Join(dir, "i.cpio")
	require.NoError(t, in.Write(out))
	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	ents, order := readNewc(t, raw)
	assert.Equal(t, "dash", string(ents["usr/bin/sh"].data))
	assert.Equal(t, uint32(0o120777), ents["usr/bin/sh"].mode)
	assert.Equal(t, uint32(0o100644), ents["opt/t/run.sh"].mode, "default mode")
	assert.Less(t, slices.Index(order, "opt/t"), slices.Index(order, "opt/t/run.sh"), "parents first")

	in.Files = []File{{Dst: "..", Data: []byte("x")}}
	assert.Error(t, in.Write(out), "a path outside the root is refused")
}

// scriptOutput is what an exported script prints (scenarios/export.go's say
// and verdict helpers).
const scriptOutput = `xfs-write: line 9: fs xfs /mnt
xfs-write: counting INTEGRITY_RULE records from kmsg
xfs-write: FAIL: expect audit /mnt/test_prog 2 (got 1)
xfs-write: PASS: expect measure /mnt/test_prog 1 (got 1)
xfs-write: INFO: expect no missed: judged by imasim's classifier (imasim compare), not by this script
other: PASS: expect audit /x 1 (got 1)
xfs-write: FAIL
`

func TestParseShellOutput(t *testing.T) {
	checks, conf := ParseShellOutput("xfs-write", scriptOutput)
	assert.Empty(t, conf)
	require.Len(t, checks, 2, "other scripts' lines are not ours")
	assert.Equal(t, ShellCheck{Text: "expect audit /mnt/test_prog 2", Status: "FAIL", Real: "1"}, checks[0])
	assert.Equal(t, "PASS", checks[1].Status)

	_, conf = ParseShellOutput("s", "s: TCONF: needs python3\ns: TCONF: again\n")
	assert.Equal(t, "needs python3", conf, "the first reason")
}

func TestShellGroups(t *testing.T) {
	ss := loadAll(t, "xfs-overlay", "mmap-backing-file", "xfs-write", "overlay-lower-write", "btrfs-write")
	groups, err := ShellGroups(GroupByPolicy(ss))
	require.NoError(t, err)
	n := 0
	for _, g := range groups {
		require.NotEmpty(t, g.Scripts)
		for _, sc := range g.Scripts {
			n++
			s := ss[slices.IndexFunc(ss, func(s *scenarios.Scenario) bool { return s.Name == sc.Name })]
			assert.Equal(t, PolicyText(s), g.Policy, "the agent writes the scripts' own policy")
			assert.Empty(t, sc.Args, "no script writes the policy itself")
			i := slices.IndexFunc(g.Files, func(f File) bool { return f.Dst == sc.Path })
			require.GreaterOrEqual(t, i, 0, "the script is in the initramfs")
			for _, need := range ShellNeeds(g.Files[i].Data) {
				if fs, ok := strings.CutPrefix(need, "fs:"); ok && fs != "tmpfs" {
					assert.Contains(t, g.Load, fs, "%s's filesystem module is loaded", sc.Name)
				}
			}
		}
		assert.Contains(t, g.Load, "loop")
	}
	assert.Equal(t, len(ss), n)

	mixed := []Group{{Scenarios: loadAll(t, "xfs-overlay", "xfs-exec-loop")}}
	_, err = ShellGroups(mixed)
	assert.ErrorContains(t, err, "policy differs", "one policy per boot")
}

func TestCompareShell(t *testing.T) {
	ss := loadAll(t, "xfs-write")
	p, err := cache.LoadProfile("7.1")
	require.NoError(t, err)
	m, err := scenarios.Run(ss[0], p)
	require.NoError(t, err)
	got := m.AuditRecords["/mnt/test_prog"]
	out := func(n int, status string) string {
		return "xfs-write: " + status + ": expect audit /mnt/test_prog 2 (got " + strconv.Itoa(n) + ")\n"
	}
	boot := func(n, exit int, status string) []*ScriptBoot {
		return []*ScriptBoot{{Group: Group{Scripts: []guest.Script{{Name: "xfs-write"}}},
			Scripts: []guest.ScriptReport{{Name: "xfs-write", Exit: exit, Output: out(n, status)}}}}
	}
	// The kernel does what the model says (7.1 misses the append).
	r := CompareShell(p, ss, boot(got, 1, "FAIL"))[0]
	require.NoError(t, r.Err)
	assert.True(t, r.Agree())
	assert.True(t, r.Failed())
	// A count the model did not predict is a model defect.
	r = CompareShell(p, ss, boot(got+1, 1, "FAIL"))[0]
	assert.False(t, r.Agree())
	// An exit status the verdicts do not explain is an error.
	r = CompareShell(p, ss, boot(got, 0, "FAIL"))[0]
	require.Error(t, r.Err)
	assert.Contains(t, r.Err.Error(), "exited 0")
	// A verdict the script's own count contradicts is an error (the
	// counts are judged again here, by the judge every run uses).
	r = CompareShell(p, ss, boot(2, 1, "FAIL"))[0]
	require.Error(t, r.Err)
	assert.Contains(t, r.Err.Error(), "do not follow from its counts")
	ob := ShellObservation(ss[0], r.Checks)
	assert.Equal(t, 2, ob.Audit["/mnt/test_prog"])
	assert.Nil(t, ob.Verdicts, "a script judges no verdicts")
	// TCONF is "cannot run", not agreement.
	b := boot(got, 32, "FAIL")
	b[0].Scripts[0].Output = "xfs-write: TCONF: needs root\n"
	r = CompareShell(p, ss, b)[0]
	assert.Equal(t, "needs root", r.Conf)
	assert.False(t, r.Agree())
	// A script that printed no verdict did not run its checks.
	b = boot(got, 0, "")
	b[0].Scripts[0].Output = "nothing\n"
	r = CompareShell(p, ss, b)[0]
	require.Error(t, r.Err)
	assert.True(t, strings.Contains(r.Err.Error(), "without judging"))
}

func TestShellNeeds(t *testing.T) {
	s, err := scenarios.Load("xfs-overlay")
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, scenarios.ExportShell(&b, s, scenarios.ExportOptions{}))
	needs := ShellNeeds(b.Bytes())
	assert.Contains(t, needs, "fs:xfs")
	assert.Contains(t, needs, "mkfs.xfs")
	assert.Nil(t, ShellNeeds([]byte("#!/bin/sh\n")))
}

func TestResolveToolsPython(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3 (apt-get install python3)")
	}
	files, missing, err := ResolveTools([]string{"/usr/bin/python3"})
	require.NoError(t, err)
	require.Empty(t, missing)
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f.Dst))
	}
	assert.Contains(t, names, "python3")
	assert.Contains(t, names, "os.py", "the landmark python finds its prefix by")
	assert.True(t, slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "mmap.") }), "mmap's extension module")
	assert.True(t, slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "libffi.so") }), "_ctypes needs libffi")
}

func TestCompareShellFailedBoots(t *testing.T) {
	ss := loadAll(t, "xfs-write", "xfs-overlay")
	p, err := cache.LoadProfile("7.1")
	require.NoError(t, err)
	scripts := []guest.Script{{Name: "xfs-write"}, {Name: "xfs-overlay"}}
	// The boot failed before any script ran.
	failed := &ScriptBoot{Group: Group{Scripts: scripts}, Err: ErrBoot}
	runs := CompareShell(p, ss, []*ScriptBoot{failed})
	require.Len(t, runs, 2)
	for _, r := range runs {
		assert.ErrorIs(t, r.Err, ErrBoot, r.Name)
		assert.Nil(t, r.Script)
		assert.False(t, r.Agree())
	}
	// The guest reported only the first script.
	partial := &ScriptBoot{Group: Group{Scripts: scripts}, Err: ErrBoot,
		Scripts: []guest.ScriptReport{{Name: "xfs-write", Exit: 1, Output: "xfs-write: FAIL: expect audit /mnt/test_prog 2 (got 1)\n"}}}
	runs = CompareShell(p, ss, []*ScriptBoot{partial})
	require.NoError(t, runs[0].Err)
	assert.True(t, runs[0].Agree(), "the reported script is still judged")
	assert.ErrorIs(t, runs[1].Err, ErrBoot)
}
