package ltpcompat

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzParseSummary (LTP summary of a test's output): counts are never
// negative, and a Summary block written from them, after any prefix,
// parses to the same counts.
func FuzzParseSummary(f *testing.F) {
	f.Add("Summary:\npassed   1\nfailed   0\nbroken   0\nskipped  2\nwarnings 0\n")
	f.Add("\x1b[1;32mSummary:\x1b[0m\npassed 1\nfailed 99999999999999999999\nbroken 0\nskipped 0\nwarnings 0\n")
	f.Add("x Summary:\npassed -1\n")
	f.Fuzz(func(t *testing.T, out string) {
		c, ok := ParseSummary(out)
		if !ok {
			return
		}
		if c.Passed < 0 || c.Failed < 0 || c.Broken < 0 || c.Skipped < 0 || c.Warnings < 0 {
			t.Fatalf("%q: negative count %+v", out, c)
		}
		again := fmt.Sprintf("noise\nSummary:\npassed   %d\nfailed   %d\nbroken   %d\nskipped  %d\nwarnings %d\n", c.Passed, c.Failed, c.Broken, c.Skipped, c.Warnings)
		d, ok := ParseSummary(again)
		if !ok || d != c {
			t.Fatalf("%+v -> %q -> %+v %v", c, again, d, ok)
		}
	})
}

// FuzzHostEnvironment (kirk's environment from a system's /proc and
// /etc/os-release): no field has surrounding blanks, none read from a
// key/value line has a line break, each
// value comes from its file, and the first key wins.
func FuzzHostEnvironment(f *testing.F) {
	f.Add("ID=debian\nVERSION_ID=\"12\"\n", "6.1.0-41-amd64", "model name\t: QEMU Virtual CPU\nmodel name : other\n", "MemTotal:  2048 kB\nSwapTotal: 0 kB\n")
	f.Add("ID='a b'\nID=c\n", "", "model name", ":\n:")
	f.Fuzz(func(t *testing.T, osRelease, osrelease, cpuinfo, meminfo string) {
		fsys := fstest.MapFS{
			"etc/os-release":            {Data: []byte(osRelease)},
			"proc/sys/kernel/osrelease": {Data: []byte(osrelease)},
			"proc/cpuinfo":              {Data: []byte(cpuinfo)},
			"proc/meminfo":              {Data: []byte(meminfo)},
		}
		e := HostEnvironmentFS(fsys)
		for name, v := range map[string]string{"cpu": e.CPU, "ram": e.RAM, "swap": e.Swap} {
			if v != strings.TrimSpace(v) || strings.ContainsAny(v, "\n") {
				t.Fatalf("%s %q: blanks or a line break", name, v)
			}
		}
		if e.Kernel != strings.TrimSpace(e.Kernel) {
			t.Fatalf("kernel %q: surrounding blanks", e.Kernel)
		}
		if e.CPU != "" && !strings.Contains(cpuinfo, e.CPU) {
			t.Fatalf("CPU %q is not in cpuinfo", e.CPU)
		}
		if e.RAM != "" && !strings.Contains(meminfo, e.RAM) {
			t.Fatalf("RAM %q is not in meminfo", e.RAM)
		}
		if strings.TrimSpace(osrelease) != "" && !strings.HasPrefix(e.Kernel, "Linux "+strings.TrimSpace(osrelease)) {
			t.Fatalf("kernel %q from osrelease %q", e.Kernel, osrelease)
		}
		// The first "model name" line wins.
		for _, l := range strings.Split(cpuinfo, "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				if e.CPU != strings.TrimSpace(v) {
					t.Fatalf("CPU %q, first model name %q", e.CPU, strings.TrimSpace(v))
				}
				break
			}
		}
	})
}
