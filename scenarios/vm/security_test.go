package vm

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/internal/interrupt"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/vm/guest"
)

// noneOutside fails when anything but dir itself appears in parent.
func noneOutside(t *testing.T, parent, dir string) {
	t.Helper()
	ents, err := os.ReadDir(parent)
	require.NoError(t, err)
	for _, e := range ents {
		assert.Equal(t, filepath.Base(dir), e.Name(), "written outside the save dir")
	}
}

// Names in a boot's captures come from the guest (frame names, script
// names in report.json): --save must keep every write inside DIR
// (issue 16 item 1).
func TestScriptSaveStaysInside(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "save")
	sb := &ScriptBoot{
		Group:   Group{Scripts: []guest.Script{{Name: "evil.sh"}}},
		Boot:    &BootResult{Files: map[string][]byte{"../escape": []byte("x"), guest.FileReport: []byte("{}")}},
		Scripts: []guest.ScriptReport{{Name: "../../escape2", Output: "out"}},
	}
	err := sb.Save(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "../escape")
	noneOutside(t, parent, dir)
	// The host's name for the script, not the guest's, names its output.
	sb.Boot.Files = map[string][]byte{guest.FileReport: []byte("{}")}
	require.NoError(t, sb.Save(dir))
	b, err := os.ReadFile(filepath.Join(dir, "evil.sh.out"))
	require.NoError(t, err)
	assert.Equal(t, "out", string(b))
	noneOutside(t, parent, dir)
}

// A symlink in DIR pointing out is not followed by a save.
func TestSaveDoesNotFollowSymlinksOut(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "save")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.Symlink(filepath.Join(parent, "victim"), filepath.Join(dir, guest.FileReport)))
	sb := &ScriptBoot{Boot: &BootResult{Files: map[string][]byte{guest.FileReport: []byte("{}")}}}
	require.Error(t, sb.Save(dir))
	_, err := os.Lstat(filepath.Join(parent, "victim"))
	assert.True(t, os.IsNotExist(err), "the save followed a symlink out of DIR")
}

// A scenario's name comes from its file: it names a directory under DIR.
func TestRunSaveStaysInside(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "save")
	s := &scenarios.Scenario{Name: "../../outside", File: "builtin:none"}
	r := &Run{Scenario: s, Name: s.Name, Boot: &BootResult{Files: map[string][]byte{"../x": []byte("x")}}}
	err := r.Save(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "../x")
	noneOutside(t, parent, dir)
	_, err = os.Stat(filepath.Join(filepath.Dir(parent), "outside"))
	assert.True(t, os.IsNotExist(err))
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 1)
	assert.Equal(t, SaveName(s.Name), ents[0].Name())
	_, err = os.Stat(filepath.Join(dir, ents[0].Name(), "console.log"))
	assert.NoError(t, err, "the good captures are still saved")
}

func TestSaveName(t *testing.T) {
	for in, want := range map[string]string{"evil.sh": "evil.sh", "../../x": "_._.._x", ".hidden": "_hidden",
		"a b/c": "a_b_c", "": "_", "ok-name_1": "ok-name_1"} {
		assert.Equal(t, want, SaveName(in), in)
	}
}

// tarEnt is one entry of a hostile data.tar.
type tarEnt struct {
	name, link, body string
	typ              byte
}

func tarOf(t testing.TB, ents []tarEnt) []byte {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		require.NoError(t, tw.WriteHeader(h))
		io.WriteString(tw, e.body)
	}
	require.NoError(t, tw.Close())
	return tb.Bytes()
}

// arOf builds an ar archive; a member's announced size may lie.
func arOf(members ...arMember) []byte {
	var ar bytes.Buffer
	ar.WriteString("!<arch>\n")
	for _, m := range members {
		fmt.Fprintf(&ar, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.Name, 0, 0, 0, "100644", len(m.Data))
		ar.Write(m.Data)
		if len(m.Data)%2 == 1 {
			ar.WriteByte('\n')
		}
	}
	return ar.Bytes()
}

func debOf(t *testing.T, ents []tarEnt) string {
	p := filepath.Join(t.TempDir(), "evil.deb")
	require.NoError(t, os.WriteFile(p, arOf(arMember{"debian-binary", []byte("2.0\n")}, arMember{"data.tar", tarOf(t, ents)}), 0o644))
	return p
}

// A package is not trusted: no entry, through symlinks or hard links,
// may write outside the cache directory (issue 16 item 2).
func TestExtractDebStaysInside(t *testing.T) {
	for _, tc := range []struct {
		name string
		ents func(outside string) []tarEnt
	}{
		{"absolute symlink dir", func(o string) []tarEnt {
			return []tarEnt{{name: "./boot", typ: tar.TypeSymlink, link: o}, {name: "./boot/x", typ: tar.TypeReg, body: "pwned"}}
		}},
		{"relative symlink dir", func(o string) []tarEnt {
			return []tarEnt{{name: "./a", typ: tar.TypeSymlink, link: "../outside"}, {name: "./a/x", typ: tar.TypeReg, body: "pwned"}}
		}},
		{"symlink file", func(o string) []tarEnt {
			return []tarEnt{{name: "./f", typ: tar.TypeSymlink, link: o + "/x"}, {name: "./f", typ: tar.TypeReg, body: "pwned"}}
		}},
		{"symlink to a symlink to root, then up", func(o string) []tarEnt {
			return []tarEnt{{name: "./l", typ: tar.TypeSymlink, link: "."}, {name: "./s", typ: tar.TypeSymlink, link: "l/../outside"},
				{name: "./s/x", typ: tar.TypeReg, body: "pwned"}}
		}},
		{"link placed through a symlinked dir", func(o string) []tarEnt {
			return []tarEnt{{name: "./d", typ: tar.TypeSymlink, link: "."}, {name: "./d/u", typ: tar.TypeSymlink, link: "../outside"},
				{name: "./u/x", typ: tar.TypeReg, body: "pwned"}}
		}},
		{"hard link out", func(o string) []tarEnt {
			return []tarEnt{{name: "./h", typ: tar.TypeLink, link: "../outside/x"}}
		}},
		{"hard link to an absolute path", func(o string) []tarEnt {
			return []tarEnt{{name: "./h", typ: tar.TypeLink, link: o + "/x"}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			outside := filepath.Join(parent, "outside")
			require.NoError(t, os.Mkdir(outside, 0o755))
			dir := filepath.Join(parent, "cache")
			err := ExtractDeb(debOf(t, tc.ents(outside)), dir)
			require.Error(t, err)
			ents, err := os.ReadDir(outside)
			require.NoError(t, err)
			assert.Empty(t, ents, "an entry was written outside the cache dir")
		})
	}
}

// What a kernel package needs still unpacks: in-tree symlinks (Debian
// 7.2's usr/share/doc/linux-binary-* -> linux-base-*) and hard links.
func TestExtractDebLinksInside(t *testing.T) {
	dir := t.TempDir()
	ents := []tarEnt{
		{name: "./usr/share/doc/linux-base/", typ: tar.TypeDir},
		{name: "./usr/share/doc/linux-base/copyright", typ: tar.TypeReg, body: "c"},
		{name: "./usr/share/doc/linux-binary", typ: tar.TypeSymlink, link: "linux-base"},
		{name: "./boot/vmlinuz-1", typ: tar.TypeReg, body: "kernel"},
		{name: "./usr/lib/modules/1/vmlinuz", typ: tar.TypeLink, link: "./boot/vmlinuz-1"},
	}
	require.NoError(t, ExtractDeb(debOf(t, ents), dir))
	b, err := os.ReadFile(filepath.Join(dir, "usr/share/doc/linux-binary/copyright"))
	require.NoError(t, err)
	assert.Equal(t, "c", string(b))
	b, err = os.ReadFile(filepath.Join(dir, "usr/lib/modules/1/vmlinuz"))
	require.NoError(t, err)
	assert.Equal(t, "kernel", string(b))
}

// An ar member announces its size: a lie is found without allocating it.
func TestReadArSizeLie(t *testing.T) {
	b := []byte("!<arch>\n" + fmt.Sprintf("%-16s%-12d%-6d%-6d%-8s%-10d`\n", "data.tar", 0, 0, 0, "100644", 1<<31) + "short")
	p := filepath.Join(t.TempDir(), "lie.deb")
	require.NoError(t, os.WriteFile(p, b, 0o644))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := ExtractDeb(p, t.TempDir())
	runtime.ReadMemStats(&after)
	require.Error(t, err)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20), "allocated the announced size")
}

// A tar entry's size is checked against the per-entry limit before it is
// written, and the package's total against its limit.
func TestExtractDebSizeLimits(t *testing.T) {
	defer func(e, a int64) { maxDebEntry, maxDebTotal = e, a }(maxDebEntry, maxDebTotal)
	maxDebEntry, maxDebTotal = 1000, 2500
	dir := t.TempDir()
	err := ExtractDeb(debOf(t, []tarEnt{{name: "./big", typ: tar.TypeReg, body: strings.Repeat("x", 1001)}}), dir)
	require.ErrorContains(t, err, "limit")
	_, err = os.Stat(filepath.Join(dir, "big"))
	assert.True(t, os.IsNotExist(err), "wrote an entry over the limit")
	var many []tarEnt
	for i := 0; i < 3; i++ {
		many = append(many, tarEnt{name: fmt.Sprintf("./f%d", i), typ: tar.TypeReg, body: strings.Repeat("x", 900)})
	}
	require.ErrorContains(t, ExtractDeb(debOf(t, many), t.TempDir()), "limit")
}

// A boot asked for after Ctrl-C does not start (exit 3 upstream).
func TestBootAfterInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Boot(ctx, Options{Kernel: &Kernel{}}, Group{})
	require.ErrorIs(t, err, ErrInterrupted)
}

// swtpm registers its kill with package interrupt, so a second Ctrl-C
// ends it even while the boot is stuck elsewhere.
func TestSwtpmRegistered(t *testing.T) {
	if _, err := exec.LookPath("swtpm"); err != nil {
		t.Skip("swtpm not installed")
	}
	tpm, err := startSwtpm(t.Context(), t.TempDir(), "")
	require.NoError(t, err)
	pid := tpm.cmd.Process.Pid
	assert.Contains(t, interrupt.Pending(), fmt.Sprintf("swtpm (pid %d)", pid))
	assert.Empty(t, interrupt.Force(time.Second))
	assert.True(t, tpm.cmd.ProcessState != nil && tpm.cmd.ProcessState.Exited() == false, "swtpm not killed")
	assert.NotContains(t, interrupt.Pending(), fmt.Sprintf("swtpm (pid %d)", pid))
	tpm.stop() // the normal path after Force: nothing left to do
}

// A guest that floods the console or the results port is stopped at the
// limits instead of filling the host's memory or disk. A shell stands in
// for QEMU: runQEMU only runs argv and watches its output.
func TestGuestOutputBounded(t *testing.T) {
	defer func(c, r int64) { maxConsole, maxResults = c, r }(maxConsole, maxResults)
	maxConsole, maxResults = 1<<20, 1<<20
	o := Options{Boot: time.Minute, Idle: time.Minute, Total: 2 * time.Second, Log: io.Discard}
	results := filepath.Join(t.TempDir(), "results.txt")
	for _, tc := range []struct{ name, sh, want string }{
		{"console", "echo imasim-guest: up; exec yes", "console"},
		{"results", "echo imasim-guest: up; exec yes > " + results, "results"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Now()
			c, err := runQEMU(t.Context(), o, []string{"sh", "-c", tc.sh}, results)
			require.ErrorIs(t, err, ErrBoot)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "limit")
			assert.LessOrEqual(t, int64(len(c.text)), maxConsole+64<<10)
			assert.Less(t, time.Since(t0), 2*time.Second, "stopped by the timeout, not the limit")
		})
	}
}

func TestTail(t *testing.T) {
	assert.Equal(t, "c\nd", tail("a\nb\nc\nd\n", 2))
	assert.Equal(t, "a\nb", tail("a\nb", 5))
	assert.Equal(t, "", tail("", 3))
	assert.Equal(t, "b", tail("a\nb", 1))
	assert.Len(t, tail(strings.Repeat("x", 1<<20), 3), 64<<10)
}

// kernels.lock is found from the working directory upwards, so it is
// input: its names and versions become cache paths (removed with
// RemoveAll) and apt-get arguments (run as root). Anything that is not a
// plain Debian name or version is refused with file:line.
func TestParseLockRefusesHostile(t *testing.T) {
	good := "debian:6.12 trixie 6.12.107-1 linux-image-6.12.107+deb13-cloud-amd64-unsigned ^linux-image-6\\.12\\.[0-9]+$\n"
	_, err := ParseLock(strings.NewReader(good))
	require.NoError(t, err)
	for _, bad := range []string{
		"debian:../../../.. trixie 6.12.107-1 linux-image-x ^x$",
		"debian:6.12 trixie 1/../../../../../root linux-image-x ^x$",
		"debian:6.12 trixie 6.12.107-1 -oAPT::Get::Foo ^x$",
		"debian:6.12 trixie 6.12.107-1 linux-image-x,-oDir::Etc=/tmp ^x$",
		"debian:6.12 ../sid 6.12.107-1 linux-image-x ^x$",
		"debian:6.12 trixie -1 linux-image-x ^x$",
		"6.12 trixie 6.12.107-1 linux-image-x ^x$",
		"debian:6.12 trixie 6.12.107-1 linux-image-x,,y ^x$",
	} {
		_, err := ParseLock(strings.NewReader("# c\n" + bad + "\n"))
		if assert.Error(t, err, bad) {
			assert.Contains(t, err.Error(), "kernels.lock:2:", bad)
		}
	}
	// A line past the scanner's limit is named too.
	_, err = ParseLock(strings.NewReader("# c\n" + strings.Repeat("x", 1<<20) + "\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kernels.lock:2:")
}

func TestTailEmptyLines(t *testing.T) {
	assert.Equal(t, strings.Repeat("\n", 14)+"0", tail(strings.Repeat("\n", 15)+"0", 15))
	assert.Equal(t, "\nb", tail("\nb", 2))
	assert.Equal(t, "b", tail("\nb", 1))
}

// QEMU registers its kill too: Force (the second Ctrl-C) ends it while
// runQEMU waits, and runQEMU then returns. A shell stands in for QEMU.
func TestQEMURegistered(t *testing.T) {
	o := Options{Boot: time.Minute, Idle: time.Minute, Total: time.Minute, Log: io.Discard}
	type ret struct {
		err error
		d   time.Duration
	}
	done := make(chan ret, 1)
	t0 := time.Now()
	go func() {
		_, err := runQEMU(t.Context(), o, []string{"sh", "-c", "echo imasim-guest: up; exec sleep 600"}, filepath.Join(t.TempDir(), "r"))
		done <- ret{err, time.Since(t0)}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.ContainsFunc(interrupt.Pending(), func(s string) bool { return strings.HasPrefix(s, "QEMU (pid ") }) {
		require.True(t, time.Now().Before(deadline), "QEMU never registered: %v", interrupt.Pending())
		time.Sleep(20 * time.Millisecond)
	}
	assert.Empty(t, interrupt.Force(time.Second))
	select {
	case r := <-done:
		require.Error(t, r.err)
		assert.Less(t, r.d, 15*time.Second)
	case <-time.After(5 * time.Second):
		t.Fatal("runQEMU still waiting after Force killed QEMU")
	}
	assert.False(t, slices.ContainsFunc(interrupt.Pending(), func(s string) bool { return strings.HasPrefix(s, "QEMU (pid ") }))
}
