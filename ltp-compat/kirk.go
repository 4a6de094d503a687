package ltpcompat

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
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

// kirk's JSON report (kirk: libkirk/export.py:JSONExporter).
type kirkReport struct {
	Results     []kirkResult `json:"results"`
	Stats       kirkStats    `json:"stats"`
	Environment Environment  `json:"environment"`
}

type kirkResult struct {
	TestFQN string   `json:"test_fqn"`
	Status  string   `json:"status"`
	Test    kirkTest `json:"test"`
}

type kirkTest struct {
	Command   string   `json:"command"`
	Arguments []string `json:"arguments"`
	Log       string   `json:"log"`
	Retval    []string `json:"retval"`
	Duration  float64  `json:"duration"`
	Failed    int      `json:"failed"`
	Passed    int      `json:"passed"`
	Broken    int      `json:"broken"`
	Skipped   int      `json:"skipped"`
	Warnings  int      `json:"warnings"`
	Result    string   `json:"result"`
}

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
// as kirk's is.
func WriteKirkJSON(w io.Writer, r Report, env Environment, o Options) error {
	rep := kirkReport{Results: []kirkResult{}, Environment: env}
	id := r.ID()
	for i, c := range r.Cases {
		n := c.Counts()
		code := n.ExitCode()
		st := StatusOfExit(code).Kirk()
		cmd := c.Command
		if cmd == "" {
			cmd = "imasim"
		}
		args := c.Args
		if args == nil {
			args = []string{}
		}
		secs := o.duration(c.Duration).Seconds()
		rep.Results = append(rep.Results, kirkResult{
			TestFQN: c.Name,
			Status:  st,
			Test: kirkTest{
				Command: cmd, Arguments: args,
				Log:      caseLTP(id, i+1, c, true),
				Retval:   []string{strconv.Itoa(code)},
				Duration: secs,
				Failed:   n.Failed, Passed: n.Passed, Broken: n.Broken,
				Skipped: n.Skipped, Warnings: n.Warnings,
				Result: st,
			},
		})
		rep.Stats.Runtime += secs
		rep.Stats.Passed += n.Passed
		rep.Stats.Failed += n.Failed
		rep.Stats.Broken += n.Broken
		rep.Stats.Skipped += n.Skipped
		rep.Stats.Warnings += n.Warnings
	}
	b, err := json.MarshalIndent(rep, "", "    ")
	if err != nil {
		return fmt.Errorf("encoding kirk report: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("writing kirk report: %w", err)
	}
	return nil
}
