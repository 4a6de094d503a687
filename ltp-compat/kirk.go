package ltpcompat

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Environment is the "environment" block of kirk's JSON report: what the
// system under test was.
type Environment struct {
	Distribution        string `json:"distribution"`
	DistributionVersion string `json:"distribution_version"`
	Kernel              string `json:"kernel"`
	Cmdline             string `json:"cmdline"`
	Arch                string `json:"arch"`
	CPU                 string `json:"cpu"`
	Swap                string `json:"swap"`
	RAM                 string `json:"RAM"`
}

// HostEnvironment describes the running host (see HostEnvironmentFS).
func HostEnvironment() Environment { return HostEnvironmentFS(os.DirFS("/")) }

// HostEnvironmentFS describes the system whose root is fsys: distribution
// and version from etc/os-release (ID, VERSION_ID), kernel as `uname -s -r
// -v` prints it from proc/sys/kernel/{osrelease,version}, proc/cmdline, arch
// from proc/sys/kernel/arch (else Go's GOARCH), the first "model name" of
// proc/cpuinfo, and MemTotal/SwapTotal of proc/meminfo. Missing files leave
// fields empty.
func HostEnvironmentFS(fsys fs.FS) Environment {
	read := func(name string) string {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	var e Environment
	osr := keyValues(read("etc/os-release"), "=")
	e.Distribution = unquote(osr["ID"])
	e.DistributionVersion = unquote(osr["VERSION_ID"])
	if rel := read("proc/sys/kernel/osrelease"); rel != "" {
		e.Kernel = strings.TrimSpace("Linux " + rel + " " + read("proc/sys/kernel/version"))
	}
	e.Cmdline = read("proc/cmdline")
	e.Arch = read("proc/sys/kernel/arch")
	if e.Arch == "" {
		e.Arch = goarchToUname(runtime.GOARCH)
	}
	e.CPU = keyValues(read("proc/cpuinfo"), ":")["model name"]
	mem := keyValues(read("proc/meminfo"), ":")
	e.RAM = mem["MemTotal"]
	e.Swap = mem["SwapTotal"]
	return e
}

// keyValues parses "key<sep>value" lines; the first occurrence of a key wins.
func keyValues(text, sep string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), sep)
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, dup := m[k]; !dup {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return strings.Trim(s, `'"`)
}

func goarchToUname(a string) string {
	switch a {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "386":
		return "i686"
	}
	return a
}

// kirkStats is the "stats" block of kirk's JSON report (kirk:
// libkirk/export.py:JSONExporter).
type kirkStats struct {
	Runtime  float64 `json:"runtime"`
	Passed   int     `json:"passed"`
	Failed   int     `json:"failed"`
	Broken   int     `json:"broken"`
	Skipped  int     `json:"skipped"`
	Warnings int     `json:"warnings"`
}

// WriteKirkJSON writes r as kirk's JSON report (`kirk -o report.json`), so
// tools that read kirk reports (LKFT, KernelCI's test-definitions: jq
// '.results[] | "\(.test_fqn) \(.test.result)"') read imasim's too. Each
// case is one kirk test: test_fqn is the case name, the log is the case's
// Log followed by its LTP result lines and Summary, retval is its LTP exit
// code and status/result follow from that code as kirk maps it (0 pass,
// 2 brok, 4 warn, 32 conf, other fail). Output is indented with four spaces
// as kirk's is. The results are encoded one at a time into a reused
// buffer, so memory does not grow with the report.
func WriteKirkJSON(w io.Writer, r Report, env Environment, o Options) error {
	bw := bufio.NewWriterSize(w, 32<<10)
	var stats kirkStats
	id := r.ID()
	b := make([]byte, 0, 4096)
	b = append(b, "{\n    \"results\": ["...)
	for i, c := range r.Cases {
		n := c.Counts()
		code := n.ExitCode()
		st := StatusOfExit(code).Kirk()
		cmd := c.Command
		if cmd == "" {
			cmd = "imasim"
		}
		secs := o.duration(c.Duration).Seconds()
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n        {\n            \"test_fqn\": "...)
		b = appendJSONString(b, c.Name)
		b = append(b, ",\n            \"status\": "...)
		b = appendJSONString(b, st)
		b = append(b, ",\n            \"test\": {\n                \"command\": "...)
		b = appendJSONString(b, cmd)
		b = append(b, ",\n                \"arguments\": "...)
		if len(c.Args) == 0 {
			b = append(b, "[]"...)
		} else {
			b = append(b, '[')
			for j, a := range c.Args {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, "\n                    "...)
				b = appendJSONString(b, a)
			}
			b = append(b, "\n                ]"...)
		}
		b = append(b, ",\n                \"log\": "...)
		b = appendJSONString(b, caseLTP(id, i+1, c, true))
		b = append(b, ",\n                \"retval\": [\n                    \""...)
		b = strconv.AppendInt(b, int64(code), 10)
		b = append(b, "\"\n                ],\n                \"duration\": "...)
		b = appendJSONFloat(b, secs)
		for _, f := range []struct {
			k string
			v int
		}{{"failed", n.Failed}, {"passed", n.Passed}, {"broken", n.Broken}, {"skipped", n.Skipped}, {"warnings", n.Warnings}} {
			b = append(b, ",\n                \""...)
			b = append(b, f.k...)
			b = append(b, "\": "...)
			b = strconv.AppendInt(b, int64(f.v), 10)
		}
		b = append(b, ",\n                \"result\": "...)
		b = appendJSONString(b, st)
		b = append(b, "\n            }\n        }"...)
		bw.Write(b)
		b = b[:0]
		stats.Runtime += secs
		stats.Passed += n.Passed
		stats.Failed += n.Failed
		stats.Broken += n.Broken
		stats.Skipped += n.Skipped
		stats.Warnings += n.Warnings
	}
	if len(r.Cases) > 0 {
		b = append(b, "\n    "...)
	}
	b = append(b, "],\n    \"stats\": {\n        \"runtime\": "...)
	b = appendJSONFloat(b, stats.Runtime)
	for _, f := range []struct {
		k string
		v int
	}{{"passed", stats.Passed}, {"failed", stats.Failed}, {"broken", stats.Broken}, {"skipped", stats.Skipped}, {"warnings", stats.Warnings}} {
		b = append(b, ",\n        \""...)
		b = append(b, f.k...)
		b = append(b, "\": "...)
		b = strconv.AppendInt(b, int64(f.v), 10)
	}
	b = append(b, "\n    },\n    \"environment\": {"...)
	for i, f := range []struct{ k, v string }{
		{"distribution", env.Distribution}, {"distribution_version", env.DistributionVersion},
		{"kernel", env.Kernel}, {"cmdline", env.Cmdline}, {"arch", env.Arch}, {"cpu", env.CPU},
		{"swap", env.Swap}, {"RAM", env.RAM},
	} {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n        \""...)
		b = append(b, f.k...)
		b = append(b, "\": "...)
		b = appendJSONString(b, f.v)
	}
	b = append(b, "\n    }\n}\n"...)
	bw.Write(b)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing kirk report: %w", err)
	}
	return nil
}

// appendJSONString appends s as encoding/json writes a string (HTML
// characters, U+2028 and U+2029 escaped; invalid UTF-8 as U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONFloat appends f as encoding/json writes a float64.
func appendJSONFloat(b []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(b, '0') // durations are finite
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 -> e-9, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
