package vm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios"
)

// readNewc is a test-only newc reader: name -> (mode, data, rdev).
type cpioEnt struct {
	mode         uint32
	data         []byte
	rmaj, rminor uint32
}

func readNewc(t *testing.T, b []byte) (map[string]cpioEnt, []string) {
	out := map[string]cpioEnt{}
	var order []string
	off := 0
	hexf := func(i int) uint32 {
		v, err := strconv.ParseUint(string(b[off+6+8*i:off+6+8*i+8]), 16, 32)
		require.NoError(t, err)
		return uint32(v)
	}
	for {
		require.LessOrEqual(t, off+110, len(b), "header past the end")
		require.Equal(t, "070701", string(b[off:off+6]))
		mode, size, rmaj, rmin, nsz := hexf(1), hexf(6), hexf(9), hexf(10), hexf(11)
		name := string(b[off+110 : off+110+int(nsz)-1])
		off += 110 + int(nsz)
		off = (off + 3) &^ 3
		data := b[off : off+int(size)]
		off += int(size)
		off = (off + 3) &^ 3
		if name == "TRAILER!!!" {
			require.Equal(t, len(b), off, "bytes after the trailer")
			return out, order
		}
		out[name] = cpioEnt{mode, data, rmaj, rmin}
		order = append(order, name)
	}
}

func TestCPIO(t *testing.T) {
	var b bytes.Buffer
	c := NewCPIOWriter(&b)
	require.NoError(t, c.File("/bin/busybox", 0o755, []byte("abcde")))
	require.NoError(t, c.Symlink("bin/sh", "busybox"))
	require.NoError(t, c.CharDev("dev/console", 0o600, 5, 1))
	require.NoError(t, c.File("lib/modules/x.ko", 0o644, nil))
	require.NoError(t, c.Mkdir("bin", 0o755)) // again: no duplicate
	require.NoError(t, c.Close())
	assert.Zero(t, b.Len()%4)
	ents, order := readNewc(t, b.Bytes())
	assert.Equal(t, []string{"bin", "bin/busybox", "bin/sh", "dev", "dev/console", "lib", "lib/modules", "lib/modules/x.ko"}, order)
	assert.Equal(t, uint32(ModeFile|0o755), ents["bin/busybox"].mode)
	assert.Equal(t, "abcde", string(ents["bin/busybox"].data))
	assert.Equal(t, uint32(ModeSymlink|0o777), ents["bin/sh"].mode)
	assert.Equal(t, "busybox", string(ents["bin/sh"].data))
	assert.Equal(t, uint32(ModeChar|0o600), ents["dev/console"].mode)
	assert.Equal(t, [2]uint32{5, 1}, [2]uint32{ents["dev/console"].rmaj, ents["dev/console"].rminor})
	assert.Equal(t, uint32(ModeDir|0o755), ents["lib/modules"].mode)
}

func TestModuleOrder(t *testing.T) {
	dir := t.TempDir()
	mods := map[string]string{
		"kernel/fs/xfs/xfs.ko.xz":                        "",
		"kernel/lib/libcrc32c.ko.xz":                     "",
		"kernel/drivers/virtio/virtio_pci.ko":            "",
		"kernel/drivers/virtio/virtio-ring.ko":           "",
		"kernel/drivers/virtio/virtio.ko":                "",
		"kernel/drivers/block/virtio_blk.ko":             "",
		"kernel/drivers/virtio/virtio_pci_modern_dev.ko": "",
	}
	for p := range mods {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, p), nil, 0o644))
	}
	dep := `kernel/fs/xfs/xfs.ko.xz: kernel/lib/libcrc32c.ko.xz
kernel/lib/libcrc32c.ko.xz:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio-ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko: kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio-ring.ko
kernel/drivers/virtio/virtio-ring.ko:
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio-ring.ko
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte("kernel/fs/ext4/ext4.ko\n"), 0o644))
	tree, err := ScanModules(dir)
	require.NoError(t, err)
	names := func(ms []*Module) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Name)
		}
		return out
	}
	for _, tc := range []struct {
		want     []string
		optional map[string]bool
		order    []string
		err      string
	}{
		{want: []string{"virtio_pci", "virtio_blk", "xfs", "ext4"},
			order: []string{"virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci", "virtio_blk", "libcrc32c", "xfs"}},
		{want: []string{"xfs"}, order: []string{"libcrc32c", "xfs"}},
		{want: []string{"overlay"}, err: "module overlay not found"},
		{want: []string{"overlay", "xfs"}, optional: map[string]bool{"overlay": true}, order: []string{"libcrc32c", "xfs"}},
	} {
		t.Run(strings.Join(tc.want, ","), func(t *testing.T) {
			got, err := tree.Resolve(tc.want, tc.optional)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.order, names(got))
		})
	}
	// Every module comes after all of its dependencies.
	got, err := tree.Resolve([]string{"virtio_blk", "virtio_pci", "xfs"}, nil)
	require.NoError(t, err)
	pos := map[string]int{}
	for i, m := range got {
		pos[m.Name] = i
	}
	for _, m := range got {
		for _, d := range m.Depends {
			assert.Less(t, pos[d], pos[m.Name], "%s before %s", d, m.Name)
		}
	}
}

func TestModuleCycle(t *testing.T) {
	tree := &ModuleTree{Dir: "x", Mods: map[string]*Module{
		"a": {Name: "a", Depends: []string{"b"}}, "b": {Name: "b", Depends: []string{"a"}}}}
	_, err := tree.Resolve([]string{"a"}, nil)
	require.ErrorContains(t, err, "cycle")
}

func TestModName(t *testing.T) {
	for in, want := range map[string]string{"virtio_pci.ko.xz": "virtio_pci", "a/b/virtio-ring.ko": "virtio_ring", "crc32c-intel": "crc32c_intel", "x.ko.zst": "x"} {
		assert.Equal(t, want, ModName(in), in)
	}
}

// Real Debian modules when the kernel cache has them: modinfo depends.
func TestModinfoDependsDebian(t *testing.T) {
	ms, _ := filepath.Glob(filepath.Join(DefaultCache(), "6.12_*", "root", "usr", "lib", "modules", "*", "kernel", "fs", "xfs", "xfs.ko.xz"))
	if len(ms) == 0 {
		t.Skip("no Debian 6.12 kernel in the cache (imasim vm fetch debian:6.12)")
	}
	ko, err := ReadModule(ms[0])
	require.NoError(t, err)
	deps, err := ModinfoDepends(ko)
	require.NoError(t, err)
	assert.Contains(t, deps, "libcrc32c")
}

// makeDeb builds a .deb: ar with debian-binary, control.tar.gz and
// data.tar.<comp>.
func makeDeb(t *testing.T, comp string, files map[string]string) string {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "./boot/", Typeflag: tar.TypeDir, Mode: 0o755}))
	for n, body := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}))
		tw.Write([]byte(body))
	}
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "./evil", Typeflag: tar.TypeReg, Mode: 0o644}))
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "./usr/link", Typeflag: tar.TypeSymlink, Linkname: "../boot"}))
	require.NoError(t, tw.Close())
	var data bytes.Buffer
	switch comp {
	case "xz":
		w, err := xz.NewWriter(&data)
		require.NoError(t, err)
		w.Write(tb.Bytes())
		require.NoError(t, w.Close())
	case "gz":
		w := gzip.NewWriter(&data)
		w.Write(tb.Bytes())
		require.NoError(t, w.Close())
	case "zst":
		data.Write([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0})
	default:
		data.Write(tb.Bytes())
	}
	var ar bytes.Buffer
	ar.WriteString("!<arch>\n")
	member := func(name string, b []byte) {
		fmt.Fprintf(&ar, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, 0, 0, 0, "100644", len(b))
		ar.Write(b)
		if len(b)%2 == 1 {
			ar.WriteByte('\n')
		}
	}
	member("debian-binary", []byte("2.0\n"))
	member("control.tar.gz", []byte("x")) // odd size: padding
	name := "data.tar"
	if comp != "" {
		name += "." + comp
	}
	member(name, data.Bytes())
	p := filepath.Join(t.TempDir(), "k.deb")
	require.NoError(t, os.WriteFile(p, ar.Bytes(), 0o644))
	return p
}

func TestExtractDeb(t *testing.T) {
	files := map[string]string{"./boot/vmlinuz-6.12.1-test": "kernel", "../../escape": "nope"}
	for _, comp := range []string{"xz", "gz", ""} {
		t.Run("data.tar."+comp, func(t *testing.T) {
			deb := makeDeb(t, comp, files)
			dir := t.TempDir()
			require.NoError(t, ExtractDeb(deb, dir))
			b, err := os.ReadFile(filepath.Join(dir, "boot/vmlinuz-6.12.1-test"))
			require.NoError(t, err)
			assert.Equal(t, "kernel", string(b))
			_, err = os.Stat(filepath.Join(dir, "escape")) // cleaned into dir
			assert.NoError(t, err)
			l, err := os.Readlink(filepath.Join(dir, "usr/link"))
			require.NoError(t, err)
			assert.Equal(t, "../boot", l)
		})
	}
	t.Run("zstd refused", func(t *testing.T) {
		err := ExtractDeb(makeDeb(t, "zst", files), t.TempDir())
		require.ErrorContains(t, err, "zstd")
	})
	t.Run("not a deb", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "x.deb")
		os.WriteFile(p, []byte("hello"), 0o644)
		require.ErrorContains(t, ExtractDeb(p, t.TempDir()), "not an ar archive")
	})
}

func FuzzReadAr(f *testing.F) {
	f.Add([]byte("!<arch>\ndebian-binary   0           0     0     100644  4         `\n2.0\n"))
	f.Add([]byte("!<arch>\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		readAr(bytes.NewReader(b), 1<<20)
	})
}

func TestLockFileMatchesBuiltin(t *testing.T) {
	b, err := os.ReadFile("../../kernels.lock")
	require.NoError(t, err)
	assert.Equal(t, DefaultLock, string(b), "kernels.lock and vm.DefaultLock must stay equal")
	es, err := ParseLock(bytes.NewReader(b))
	require.NoError(t, err)
	require.Len(t, es, 3)
	assert.Equal(t, "debian:7.2", es[2].Name)
	assert.Len(t, es[2].Packages, 3)
	_, err = ParseLock(strings.NewReader("debian:x bookworm 1\n"))
	assert.ErrorContains(t, err, "want 5 fields")
}

func TestDebVersionLess(t *testing.T) {
	assert.True(t, debVersionLess("6.1.176-1", "6.1.192-2"))
	assert.True(t, debVersionLess("6.12.107-1", "6.12.107-2"))
	assert.False(t, debVersionLess("7.2.13-1", "7.2.9-1"))
	assert.Equal(t, "6.1.0-50", releaseOf("linux-image-6.1.0-50-cloud-amd64-unsigned"))
	assert.Equal(t, "7.2.13+deb14", releaseOf("linux-modules-7.2.13+deb14-cloud-amd64"))
}

func TestEnsureAptIdempotent(t *testing.T) {
	root := t.TempDir()
	var log bytes.Buffer
	f := &Fetcher{Log: &log, AptRoot: root}
	require.NoError(t, f.EnsureApt(t.Context()))
	assert.Contains(t, log.String(), "created "+root+AptSourcesFile)
	b, err := os.ReadFile(root + AptPrefsFile)
	require.NoError(t, err)
	assert.Contains(t, string(b), "Pin-Priority: 100")
	log.Reset()
	require.NoError(t, f.EnsureApt(t.Context()))
	assert.Empty(t, log.String(), "second run must not touch anything")
}

func TestParseAuditRecord(t *testing.T) {
	for _, tc := range []struct {
		in         string
		typ        int
		path, hash string
	}{
		{`type=1805 audit(1795393398.643:4): file="/s0/ovl/test_prog" hash="sha256:80eb" ppid=132 uid=65534 res=1`, 1805, "/s0/ovl/test_prog", "sha256:80eb"},
		{`type=1804 audit(1.2:3): pid=1 op=invalid_pcr cause=ToMToU comm="x" name=2F612062 dev="vda" res=1`, 1804, "/a b", ""},
		{`type=1807 audit(1.2:2): action=audit func=BPRM_CHECK uid=65534 res=1`, 1807, "", ""},
	} {
		r, err := ParseAuditRecord(tc.in)
		require.NoError(t, err)
		assert.Equal(t, tc.typ, r.Type)
		assert.Equal(t, tc.path, r.Path)
		assert.Equal(t, tc.hash, r.Hash)
	}
	_, err := ParseAuditRecord("hello")
	assert.Error(t, err)
}

func FuzzParseAuditRecord(f *testing.F) {
	f.Add(`type=1805 audit(1.2:4): file="/x" hash="sha256:00" res=1`)
	f.Add(`type=1804 audit(1.2:3): name=2F61 cause="x`)
	f.Fuzz(func(t *testing.T, s string) { ParseAuditRecord(s) })
}

// listEntry encodes one ima-sig entry as the kernel shows it.
func listEntry(name string, digest []byte, violation bool) []byte {
	var data []byte
	field := func(b []byte) {
		data = binary.LittleEndian.AppendUint32(data, uint32(len(b)))
		data = append(data, b...)
	}
	field(append([]byte("sha256:\x00"), digest...))
	field(append([]byte(name), 0))
	field(nil)
	th := sha1sum(data)
	if violation {
		th = make([]byte, 20)
	}
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, 10)
	b = append(b, th...)
	b = binary.LittleEndian.AppendUint32(b, 7)
	b = append(b, "ima-sig"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

func sha1sum(b []byte) []byte { s := sha1.Sum(b); return s[:] }

func ext(bank string, pcr, d []byte) []byte {
	in := append(append([]byte{}, pcr...), d...)
	if bank == "sha1" {
		return sha1sum(in)
	}
	s := sha256.Sum256(in)
	return s[:]
}

func TestListAndReplay(t *testing.T) {
	d := bytes.Repeat([]byte{0xab}, 32)
	e0, e1, e2 := listEntry("boot_aggregate", make([]byte, 32), false), listEntry("/s0/x", d, false), listEntry("/s0/x", make([]byte, 32), true)
	list := append(append(append([]byte{}, e0...), e1...), e2...)
	es, err := ParseBinaryList(list)
	require.NoError(t, err)
	require.Len(t, es, 3)
	assert.Equal(t, "/s0/x", es[1].Path)
	assert.Equal(t, "ima-sig", es[1].Template)
	assert.Equal(t, "sha256:"+hex.EncodeToString(d), es[1].FileHash)
	assert.False(t, es[1].Violation)
	assert.True(t, es[2].Violation)
	// Expected PCR values computed here, independently of measure.
	p1, p256 := make([]byte, 20), make([]byte, 32)
	for _, raw := range [][]byte{e0, e1} {
		data := raw[4+20+4+7+4:]
		p1 = ext("sha1", p1, sha1sum(data))
		s := sha256.Sum256(data)
		p256 = ext("sha256", p256, s[:])
	}
	p1 = ext("sha1", p1, bytes.Repeat([]byte{0xff}, 20))
	p256 = ext("sha256", p256, bytes.Repeat([]byte{0xff}, 32))
	rep := Replay(es, map[string]string{"sha1": strings.ToUpper(hex.EncodeToString(p1)) + "\n", "sha256": hex.EncodeToString(p256)})
	require.Len(t, rep, 2)
	assert.True(t, rep[0].OK, "%+v", rep[0])
	assert.True(t, rep[1].OK, "%+v", rep[1])
	rep = Replay(es, map[string]string{"sha1": "00", "sha256": "00"})
	require.Len(t, rep, 2)
	assert.False(t, rep[0].OK)
	assert.False(t, rep[1].OK)
	_, err = ParseBinaryList(list[:len(list)-3])
	assert.Error(t, err)
}

func FuzzParseBinaryList(f *testing.F) {
	f.Add(listEntry("/x", make([]byte, 32), false))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) { ParseBinaryList(b) })
}

var _ = io.EOF

// fakeApt puts apt-cache/apt-get scripts on PATH that answer from canned
// text: the archive has moved on from the locked 6.1.176-1.
func fakeApt(t *testing.T) string {
	dir := t.TempDir()
	script := `#!/bin/sh
case "$1 $2" in
"search --names-only")
  echo "linux-image-6.1.0-50-cloud-amd64-unsigned - Linux 6.1 for x86-64 cloud"
  echo "linux-image-6.1.0-56-cloud-amd64-unsigned - Linux 6.1 for x86-64 cloud"
  echo "linux-image-6.1.0-56-cloud-amd64-unsigned-dbg - debug" ;;
"madison linux-image-6.1.0-56-cloud-amd64-unsigned")
  echo " linux-image-6.1.0-56-cloud-amd64-unsigned | 6.1.192-2 | http://deb.debian.org/debian bookworm/main amd64 Packages"
  echo " linux-image-6.1.0-56-cloud-amd64-unsigned | 6.1.199-1 | http://deb.debian.org/debian-security bookworm-security/main amd64 Packages" ;;
"madison linux-image-6.1.0-50-cloud-amd64-unsigned")
  echo " linux-image-6.1.0-50-cloud-amd64-unsigned | 6.1.170-3 | http://deb.debian.org/debian bookworm/main amd64 Packages" ;;
esac
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "apt-cache"), []byte(script), 0o755))
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	return dir
}

func TestNewestInSuite(t *testing.T) {
	fakeApt(t)
	es, err := ParseLock(strings.NewReader(DefaultLock))
	require.NoError(t, err)
	f := &Fetcher{Lock: es, Log: io.Discard}
	assert.False(t, f.available(t.Context(), es[0].Packages[0], es[0].Version), "6.1.176-1 is gone in the fake archive")
	assert.True(t, f.available(t.Context(), es[0].Packages[0], "6.1.170-3"))
	pkgs, v, err := f.newest(t.Context(), &es[0])
	require.NoError(t, err)
	assert.Equal(t, []string{"linux-image-6.1.0-56-cloud-amd64-unsigned"}, pkgs)
	assert.Equal(t, "6.1.192-2", v, "bookworm only, not bookworm-security")
	// Split 7.x packages follow the binary package's release.
	le := es[2]
	le.Packages = []string{"linux-binary-7.2.13+deb14-cloud-amd64", "linux-modules-7.2.13+deb14-cloud-amd64"}
	assert.Equal(t, "linux-modules-7.2.20+deb14-cloud-amd64",
		strings.Replace(le.Packages[1], releaseOf(le.Packages[0]), releaseOf("linux-binary-7.2.20+deb14-cloud-amd64"), 1))
}

// Fetch when the archive moved on: warn loudly, take the newest in the
// suite, unpack it into the cache, map the version.
func TestFetchMovedOn(t *testing.T) {
	bin := fakeApt(t)
	deb := makeDeb(t, "xz", map[string]string{"./boot/vmlinuz-6.1.0-56-cloud-amd64": "kernel"})
	dir := filepath.Dir(deb)
	getter := "#!/bin/sh\n[ \"$1\" = download ] || exit 1\ncp " + deb + " ./linux-image-6.1.0-56-cloud-amd64-unsigned_6.1.192-2_amd64.deb\necho \"$@\" > " + dir + "/args\n"
	require.NoError(t, os.WriteFile(filepath.Join(bin, "apt-get"), []byte(getter), 0o755))
	es, err := ParseLock(strings.NewReader(DefaultLock))
	require.NoError(t, err)
	var log bytes.Buffer
	f := &Fetcher{Cache: t.TempDir(), Lock: es, Log: &log, AptRoot: t.TempDir()}
	k, err := f.Fetch(t.Context(), "debian:6.1")
	require.NoError(t, err, log.String())
	assert.Contains(t, log.String(), "WARNING: linux-image-6.1.0-50-cloud-amd64-unsigned 6.1.176-1 (kernels.lock) is no longer in bookworm")
	assert.Contains(t, log.String(), "6.1.192-2")
	assert.Equal(t, "6.1.0-56-cloud-amd64", k.Release)
	assert.Equal(t, "6.1.192", k.Version.String())
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	assert.Equal(t, "download -q linux-image-6.1.0-56-cloud-amd64-unsigned=6.1.192-2\n", string(args))
	// Second time: from the cache, no warning needed for the download.
	log.Reset()
	require.NoError(t, os.Remove(filepath.Join(dir, "args")))
	_, err = f.Fetch(t.Context(), "debian:6.1")
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, "args"))
	assert.True(t, os.IsNotExist(err), "apt-get download ran again")
	_, err = f.Fetch(t.Context(), "debian:9")
	assert.ErrorIs(t, err, ErrUsage)
}

// A scenario needing a feature the kernel's profile lacks is not booted:
// ErrCannotRun (exit 32).
func TestRunAllFeatureMissing(t *testing.T) {
	s, err := scenarios.Parse(strings.NewReader(`name: check
requires: feature=execve-check
policy: audit func=BPRM_CHECK
fs tmpfs /t
write /t/p "x" mode=0755
execveat /t/p AT_EXECVE_CHECK
`), "check.scn")
	require.NoError(t, err)
	p, err := cache.LoadProfile("6.12")
	require.NoError(t, err)
	runs, err := RunAll(t.Context(), Options{Kernel: &Kernel{Release: "6.12.107+deb13-cloud-amd64"}}, p, []*scenarios.Scenario{s})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.ErrorIs(t, runs[0].Err, ErrCannotRun)
	assert.Contains(t, runs[0].Err.Error(), "execve-check")
	var b bytes.Buffer
	require.NoError(t, WriteText(&b, &Kernel{Release: "6.12.107"}, p, runs, false))
	assert.Contains(t, b.String(), "not run:")
}

func TestGroups(t *testing.T) {
	mk := func(name, policy string, disks int) *scenarios.Scenario {
		src := "name: " + name + "\npolicy: " + policy + "\n"
		for i := 0; i < disks; i++ {
			src += fmt.Sprintf("fs xfs /d%d\n", i)
		}
		src += "fs tmpfs /t\n"
		s, err := scenarios.Parse(strings.NewReader(src), name)
		require.NoError(t, err)
		return s
	}
	ss := []*scenarios.Scenario{mk("a", "audit func=BPRM_CHECK", 10), mk("b", "measure func=BPRM_CHECK", 1),
		mk("c", "audit func=BPRM_CHECK", 10), mk("d", "audit func=BPRM_CHECK", 10), mk("e", "audit func=BPRM_CHECK", 30)}
	gs := SplitByDisks(GroupByPolicy(ss), 24)
	var got [][]string
	for _, g := range gs {
		var names []string
		for _, s := range g.Scenarios {
			names = append(names, s.Name)
		}
		got = append(got, names)
	}
	assert.Equal(t, [][]string{{"a", "c"}, {"d"}, {"e"}, {"b"}}, got)
	assert.Equal(t, "audit func=BPRM_CHECK\n", gs[0].Policy)
}

// The agent reads the PCRs before the list; with a policy measuring
// root's opens, its own reads follow the value it read.
func TestReplayToPrefixBeforeCollection(t *testing.T) {
	d := bytes.Repeat([]byte{0xcd}, 32)
	e0, e1 := listEntry("boot_aggregate", make([]byte, 32), false), listEntry("/s0/mnt/data", d, false)
	pcr := listEntry("/sys/devices/platform/tpm/tpm/tpm0/pcr-sha256/10", d, false)
	sfs := listEntry("/sys/kernel/security/integrity/ima/binary_runtime_measurements_sha256", d, false)
	later := listEntry("/s0/mnt/other", d, false)
	p256 := make([]byte, 32)
	for _, raw := range [][]byte{e0, e1, pcr} {
		s := sha256.Sum256(raw[4+20+4+7+4:])
		p256 = ext("sha256", p256, s[:])
	}
	real := map[string]string{"sha256": hex.EncodeToString(p256)}
	parse := func(es ...[]byte) []scenarios.ListEntry {
		l, err := ParseBinaryList(bytes.Join(es, nil))
		require.NoError(t, err)
		return l
	}
	rep := Replay(parse(e0, e1, pcr, sfs), real)
	require.Len(t, rep, 1)
	assert.True(t, rep[0].OK, "%+v", rep[0])
	assert.Equal(t, 1, rep[0].Collection, "the list file's own entry follows the match")

	rep = Replay(parse(e0, e1, pcr, later, sfs), real)
	assert.False(t, rep[0].OK, "a scenario file after the match is not the agent's read")
}
