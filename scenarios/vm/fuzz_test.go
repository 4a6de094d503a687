package vm

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/measure"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/vm/guest"
)

// Fuzz targets for the parsers of what a guest or a package hands the
// host. Each checks properties (bounds, round trips), not only that
// nothing panics.

// FuzzArRoundTrip: members written as an ar archive read back equal; any
// bytes read back give members within the limit.
func FuzzArRoundTrip(f *testing.F) {
	f.Add("debian-binary", []byte("2.0\n"), []byte("!<arch>\n"))
	f.Add("data.tar.xz", []byte{1, 2, 3}, []byte("!<arch>\ndata.tar        0           0     0     100644  99999     `\nx"))
	f.Fuzz(func(t *testing.T, name string, data, raw []byte) {
		ms, err := readAr(bytes.NewReader(raw), 1<<16)
		for _, m := range ms {
			if len(m.Data) > 1<<16 {
				t.Fatalf("member %q: %d bytes past the limit", m.Name, len(m.Data))
			}
		}
		_ = err
		if name == "" || len(name) > 15 || strings.TrimSpace(name) != name || strings.ContainsAny(name, " /") ||
			strings.ContainsFunc(name, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			return // ar names: printable ASCII, no blanks or slashes
		}
		got, err := readAr(bytes.NewReader(arOf(arMember{name, data}, arMember{"x", []byte("odd")})), 1<<20)
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if len(got) != 2 || got[0].Name != name || !bytes.Equal(got[0].Data, data) || string(got[1].Data) != "odd" {
			t.Fatalf("round trip: got %+v", got)
		}
	})
}

// FuzzExtractDeb: whatever a data.tar holds, nothing appears outside the
// directory, every symlink in it resolves inside it, and no file is past
// the per-file limit.
func FuzzExtractDeb(f *testing.F) {
	f.Add(tarOf(f, []tarEnt{{name: "./boot", typ: tar.TypeSymlink, link: "/tmp"}, {name: "./boot/x", typ: tar.TypeReg, body: "x"}}))
	f.Add(tarOf(f, []tarEnt{{name: "./l", typ: tar.TypeSymlink, link: "."}, {name: "./s", typ: tar.TypeSymlink, link: "l/.."}}))
	f.Add(tarOf(f, []tarEnt{{name: "./a/", typ: tar.TypeDir}, {name: "./a/b", typ: tar.TypeSymlink, link: "../c"}, {name: "./h", typ: tar.TypeLink, link: "a/b"}}))
	f.Add(tarOf(f, []tarEnt{{name: "./d", typ: tar.TypeSymlink, link: "."}, {name: "./d", typ: tar.TypeDir}, {name: "./d/u", typ: tar.TypeSymlink, link: "../x"}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer func(e int64) { maxDebEntry = e }(maxDebEntry)
		maxDebEntry = 1 << 16
		parent := t.TempDir()
		dir := filepath.Join(parent, "root")
		p := filepath.Join(parent, "f.deb")
		if err := os.WriteFile(p, arOf(arMember{"data.tar", data}), 0o644); err != nil {
			t.Fatal(err)
		}
		ExtractDeb(p, dir)
		ents, _ := os.ReadDir(parent)
		for _, e := range ents {
			if e.Name() != "root" && e.Name() != "f.deb" {
				t.Fatalf("%s written outside the directory", e.Name())
			}
		}
		abs, _ := filepath.EvalSymlinks(dir)
		filepath.Walk(dir, func(q string, fi os.FileInfo, err error) error {
			if err != nil {
				return nil
			}
			if fi.Mode().IsRegular() && fi.Size() > maxDebEntry {
				t.Fatalf("%s: %d bytes", q, fi.Size())
			}
			if fi.Mode()&os.ModeSymlink != 0 {
				if r, err := filepath.EvalSymlinks(q); err == nil && r != abs && !strings.HasPrefix(r, abs+"/") {
					t.Fatalf("symlink %s resolves to %s, outside %s", q, r, abs)
				}
			}
			return nil
		})
	})
}

// FuzzParseLock: accepted entries are plain Debian names, and written
// back in the file's format they parse to the same entries.
func FuzzParseLock(f *testing.F) {
	f.Add(DefaultLock)
	f.Add("debian:6.12 trixie 1/../../x linux-image-x ^x$\n")
	f.Add("debian:6.12 trixie 6.12.107-1 -oAPT::X ^x$\n")
	safe := regexp.MustCompile(`^[A-Za-z0-9:.+~,-]+$`)
	f.Fuzz(func(t *testing.T, s string) {
		es, err := ParseLock(strings.NewReader(s))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "kernels.lock:") {
				t.Fatalf("error without file:line: %v", err)
			}
			return
		}
		var b strings.Builder
		for _, e := range es {
			for _, v := range append([]string{e.Name, e.Suite, e.Version}, e.Packages...) {
				if !safe.MatchString(v) || strings.HasPrefix(v, "-") {
					t.Fatalf("accepted %q", v)
				}
			}
			// The cache directory Fetch derives is one path component.
			if c := e.Name[strings.IndexByte(e.Name, ':')+1:] + "_" + e.Version; filepath.Base(c) != c || c == ".." {
				t.Fatalf("cache dir %q", c)
			}
			fmt.Fprintf(&b, "%s %s %s %s %s\n", e.Name, e.Suite, e.Version, strings.Join(e.Packages, ","), e.Pattern)
		}
		again, err := ParseLock(strings.NewReader(b.String()))
		if err != nil || len(again) != len(es) {
			t.Fatalf("written back: %v (%d of %d)", err, len(again), len(es))
		}
		for i := range es {
			if fmt.Sprint(again[i]) != fmt.Sprint(es[i]) {
				t.Fatalf("written back: %+v, want %+v", again[i], es[i])
			}
		}
	})
}

// FuzzModulesDep: names come out normalised (ModName), and a map written
// in depmod's format parses back to itself.
func FuzzModulesDep(f *testing.F) {
	f.Add("kernel/fs/xfs/xfs.ko.xz: kernel/lib/libcrc32c.ko.xz\nkernel/lib/libcrc32c.ko.xz:\n", "a-b", "c_d")
	f.Add("no colon\n", "x", "y")
	f.Fuzz(func(t *testing.T, s, m, d string) {
		deps, err := ParseModulesDep(strings.NewReader(s))
		if err == nil {
			for k, ds := range deps {
				for _, n := range append([]string{k}, ds...) {
					if strings.ContainsAny(n, "-/") {
						t.Fatalf("name %q not normalised", n)
					}
				}
			}
		}
		if ModName(m) != m || ModName(d) != d || strings.ContainsAny(m+d, ": \t\r\n\v\f\x85\xa0/") || m == "" || d == "" || m == "." || d == "." || m == d {
			return
		}
		in := fmt.Sprintf("kernel/%s.ko.xz: kernel/%s.ko\nkernel/%s.ko:\n", m, d, d)
		got, err := ParseModulesDep(strings.NewReader(in))
		if err != nil || len(got[m]) != 1 || got[m][0] != d {
			t.Fatalf("%q: got %v, %v", in, got, err)
		}
	})
}

// FuzzModulesBuiltin: every line's module is in the set, normalised.
func FuzzModulesBuiltin(f *testing.F) {
	f.Add("kernel/fs/ext4/ext4.ko\nkernel/drivers/virtio/virtio-pci.ko\n")
	f.Fuzz(func(t *testing.T, s string) {
		set := ParseModulesBuiltin([]byte(s))
		for n := range set {
			if n == "" || strings.ContainsAny(n, "-/") {
				t.Fatalf("%q not normalised", n)
			}
		}
		for _, l := range strings.Fields(s) {
			if ModName(l) != "" && !set[ModName(l)] {
				t.Fatalf("%q missing", l)
			}
		}
	})
}

// FuzzModinfoDepends and FuzzElfNeeds read ELF from packages and host
// tools: bounded results, no NUL in a path, names normalised.
func FuzzModinfoDepends(f *testing.F) {
	if ms, _ := filepath.Glob(filepath.Join(DefaultCache(), "6.12_*", "root", "lib", "modules", "*", "kernel", "fs", "xfs", "xfs.ko*")); len(ms) > 0 {
		if ko, err := ReadModule(ms[0]); err == nil {
			f.Add(ko)
		}
	}
	f.Add([]byte("\x7fELF"))
	f.Fuzz(func(t *testing.T, b []byte) {
		deps, err := ModinfoDepends(b)
		if err != nil {
			return
		}
		for _, d := range deps {
			if d == "" || strings.ContainsAny(d, "-/,") {
				t.Fatalf("dependency %q", d)
			}
		}
	})
}

func FuzzElfNeeds(f *testing.F) {
	for _, p := range []string{"/bin/sh"} {
		if b, err := os.ReadFile(p); err == nil && len(b) < 1<<20 {
			f.Add(b)
		}
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		libs, interp, err := elfNeedsFrom(bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(interp) > maxInterp || strings.ContainsRune(interp, 0) {
			t.Fatalf("interp %q", interp)
		}
		if len(libs) > len(b) {
			t.Fatalf("%d libraries from %d bytes", len(libs), len(b))
		}
	})
}

// FuzzBrokenKernel: the console scan finds a crash exactly when a marker
// is there, reports one line of the log, and the excerpt stays bounded.
func FuzzBrokenKernel(f *testing.F) {
	f.Add("[ 1.0] BUG: kernel NULL pointer dereference\n[ 1.1] RIP: x\n[ 1.2] ---[ end trace 0 ]---\n")
	f.Add("Kernel panic - not syncing: x")
	f.Add("ima: No TPM chip found, activating TPM-bypass!\n")
	markers := []string{"Kernel panic - not syncing", "Oops:", "BUG: ", "general protection fault", "activating TPM-bypass"}
	f.Fuzz(func(t *testing.T, log string) {
		b := brokenKernel(log)
		has := slices.ContainsFunc(markers, func(m string) bool { return strings.Contains(log, m) })
		if has != (b != "") {
			t.Fatalf("markers %v, found %q", has, b)
		}
		if b != "" && (strings.Contains(b, "\n") || !strings.Contains(log, b)) {
			t.Fatalf("%q is not one line of the log", b)
		}
		ex := oopsExcerpt(log)
		if n := strings.Count(ex, "\n"); n >= 40 {
			t.Fatalf("excerpt of %d lines", n+1)
		}
		if len(ex) > len(log)+2*40+2 {
			t.Fatalf("excerpt longer than the log")
		}
		if tl := tail(log, 15); strings.Count(tl, "\n") > 14 || !strings.Contains(log, tl) {
			t.Fatalf("tail %q", tl)
		}
	})
}

// FuzzGuestReport: the host compares any report.json a guest sends
// without panicking; a decoded report re-encodes to a fixed point.
func FuzzGuestReport(f *testing.F) {
	good, _ := json.Marshal(guest.Report{Release: "7.2", Scenarios: []guest.ScenarioReport{{Name: "xfs-write", Root: "/s0",
		Steps: []guest.StepReport{{Line: 3, Op: "write", Audit: []string{`type=1800 audit(1.1:2): pid=1 file="/s0/mnt/f" res=1`}}}}}})
	f.Add(good)
	f.Add([]byte(`{"scenarios":[{"steps":[{"line":-1}]}],"scripts":[{"exit":-1}]}`))
	s, err := scenarios.Load("xfs-write")
	if err != nil {
		f.Fatal(err)
	}
	p, err := cache.LoadProfile("7.1")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var rep guest.Report
		if json.Unmarshal(b, &rep) != nil {
			return
		}
		one, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		var again guest.Report
		if err := json.Unmarshal(one, &again); err != nil {
			t.Fatal(err)
		}
		two, _ := json.Marshal(again)
		if !bytes.Equal(one, two) {
			t.Fatalf("not a fixed point:\n%s\n%s", one, two)
		}
		br := &BootResult{Files: map[string][]byte{guest.FileReport: b}, Report: rep}
		r, err := Compare(s, p, "7.2", br, 0)
		if err != nil {
			return
		}
		if r.Real == nil {
			t.Fatal("compared without the guest's scenario")
		}
		WriteText(io.Discard, &Kernel{Release: "7.2"}, p, []*Run{r}, true)
	})
}

// FuzzBootAggregatePCRs: the guest's PCR file against a list whose
// boot_aggregate was made from known PCRs. OK only when the file gives
// that very value; an error names the file and line or the PCR missing.
func FuzzBootAggregatePCRs(f *testing.F) {
	var good strings.Builder
	var vals [][]byte
	for i := 0; i < 10; i++ {
		v := bytes.Repeat([]byte{byte(i + 1)}, 32)
		vals = append(vals, v)
		fmt.Fprintf(&good, "sha256 %d %x\n", i, v)
	}
	var l measure.List
	ba, err := measure.NewBootAggregate("ima-ng", measure.SHA256, vals)
	if err != nil {
		f.Fatal(err)
	}
	l.Append(ba)
	var list bytes.Buffer
	if err := l.WriteBinary(&list, measure.WriteOptions{}); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(good.String()))
	f.Add([]byte("sha256 0 00\nsha1 1 zz\n"))
	f.Add([]byte("sha256 -1 00\n\n\nsha256 9"))
	f.Fuzz(func(t *testing.T, pcrs []byte) {
		c := CheckBootAggregatePCRs(pcrs, list.Bytes())
		if c.OK != (c.Err == "") {
			t.Fatalf("OK %v with error %q", c.OK, c.Err)
		}
		if c.OK && (c.FromPCRs != c.Listed || c.Listed == "") {
			t.Fatalf("OK but %q vs %q", c.FromPCRs, c.Listed)
		}
		if !c.OK && !strings.Contains(c.Err, guest.FilePCRs) && !strings.Contains(c.Err, "boot_aggregate") {
			t.Fatalf("error %q names neither the file nor boot_aggregate", c.Err)
		}
	})
}
