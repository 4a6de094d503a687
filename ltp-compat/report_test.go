package ltpcompat

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ltp")

// goldenDir holds the goldens of this package (repository testdata/ltp).
const goldenDir = "../testdata/ltp"

// sample reports, one per shape the writers must get right.
func sampleReports() map[string]struct {
	r    Report
	exit int // LTP exit code
	sum  Counts
} {
	return map[string]struct {
		r    Report
		exit int
		sum  Counts
	}{
		"pass": {
			r: Report{Verb: "scenario", Cases: []Case{
				{Name: "xfs-overlay/7.1", Status: Pass, Duration: 1500 * time.Millisecond,
					Args: []string{"scenario", "xfs-overlay", "--profile", "7.1"},
					Subtests: []Subtest{
						{Name: "expect audit /ovl/test_prog 1", Status: Pass, Message: "1 record"},
						{Name: "trace", Status: Info, Message: "exec 1 evaluated, 2-3 cached"},
					}},
				{Name: "xfs-overlay/6.12", Status: Pass, Log: "step 1 exec: evaluated\nstep 2 exec: cached\n"},
			}},
			exit: 0, sum: Counts{Passed: 2},
		},
		"mixed": {
			r: Report{Verb: "matrix", Cases: []Case{
				{Name: "xfs-overlay/6.13", Status: Fail, Duration: 2 * time.Second,
					Message: "3 audit records, want 1",
					Subtests: []Subtest{
						{Name: "expect audit /ovl/test_prog 1", Status: Fail, Message: "got 3"},
						{Name: "expect verdict ok", Status: Fail, Message: "excessive at steps 2,3"},
					}},
				{Name: "ext4-overlay/6.13", Status: Pass, Subtests: []Subtest{
					{Name: "expect audit /ovl/test_prog 1", Status: Pass},
				}},
				{Name: "btrfs/7.1", Status: Conf, Message: "btrfs model missing"},
				{Name: "tmpfs/6.1", Status: Brok, Message: "engine error: step 4: no such file",
					Subtests: []Subtest{{Name: "expect audit /t/x 1", Status: Pass}}},
				{Name: "cleanup/6.1", Status: Warn, Message: "umount failed\nEBUSY"},
			}},
			exit: 1 | 2 | 4, sum: Counts{Passed: 2, Failed: 2, Broken: 1, Skipped: 1, Warnings: 1},
		},
		"conf": {
			r: Report{Verb: "vm", Cases: []Case{
				{Name: "xfs-overlay/host", Status: Conf, Message: "IMA not enabled in kernel"},
				{Name: "ext4/host", Status: Conf, Message: "no QEMU # here"},
			}},
			exit: 32, sum: Counts{Skipped: 2},
		},
		"pass-conf": {
			r: Report{Verb: "compare", Cases: []Case{
				{Name: "a/6.12", Status: Pass},
				{Name: "b/6.12", Status: Conf, Message: "requires: xfs"},
			}},
			exit: 0, sum: Counts{Passed: 1, Skipped: 1},
		},
		"info-only": {
			r: Report{Verb: "scenario", Cases: []Case{
				{Name: "quiet", Status: Info, Message: "nothing checked"},
			}},
			exit: 2, sum: Counts{Broken: 1},
		},
		"empty": {r: Report{Verb: "matrix"}, exit: 0},
		// A case that fails beyond its subtests (a real kernel broke an
		// expect line while the model agreed per file).
		"fail-beyond-subtests": {
			r: Report{Verb: "compare", Cases: []Case{
				{Name: "xfs-write/audit.log", Status: Fail, Message: "the kernel breaks the scenario's expect lines",
					Subtests: []Subtest{{Name: "model audit /mnt/test_prog", Status: Pass, Message: "model 1, observed 1"}}},
			}},
			exit: 1, sum: Counts{Passed: 1, Failed: 1},
		},
		// An inconclusive comparison: every check skipped.
		"inconclusive": {
			r: Report{Verb: "compare", Cases: []Case{
				{Name: "xfs-overlay/lossy.txt", Status: Conf, Message: "inconclusive: lost audit records",
					Subtests: []Subtest{{Name: "model audit /ovl/test_prog", Status: Conf, Message: "model 1, observed 2"}}},
			}},
			exit: 32, sum: Counts{Skipped: 1},
		},
	}
}

// kirk's way of reading an LTP test's output (kirk: libkirk/ltp.py:
// read_result), re-implemented: strip colours, find the Summary with this
// regex, map the exit code to the status.
var (
	kirkColorRE   = regexp.MustCompile(`\x1b\[[0-9;]+[a-zA-Z]`)
	kirkSummaryRE = regexp.MustCompile(`Summary:\npassed\s*(?P<passed>\d+)\nfailed\s*(?P<failed>\d+)\nbroken\s*(?P<broken>\d+)\nskipped\s*(?P<skipped>\d+)\nwarnings\s*(?P<warnings>\d+)\n`)
	ltpLineRE     = regexp.MustCompile(`^(imasim_\w+) (\d+) (TPASS|TFAIL|TBROK|TWARN|TINFO|TCONF): (.*)$`)
)

func kirkCounts(t testing.TB, out string) Counts {
	t.Helper()
	m := kirkSummaryRE.FindStringSubmatch(kirkColorRE.ReplaceAllString(out, ""))
	require.NotNil(t, m, "kirk finds no Summary in:\n%s", out)
	get := func(name string) int {
		v, err := strconv.Atoi(m[kirkSummaryRE.SubexpIndex(name)])
		require.NoError(t, err)
		return v
	}
	return Counts{get("passed"), get("failed"), get("broken"), get("skipped"), get("warnings")}
}

func kirkStatus(code int) string {
	switch code {
	case 0:
		return "pass"
	case 2:
		return "brok"
	case 4:
		return "warn"
	case 32:
		return "conf"
	}
	return "fail"
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	if *update {
		require.NoError(t, os.MkdirAll(goldenDir, 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "golden %s missing: run go test ./ltp-compat -update", path)
	assert.Equal(t, string(want), string(got), "golden %s differs", path)
}

// fixedEnv is the environment written into kirk goldens.
var fixedEnv = Environment{Distribution: "debian", DistributionVersion: "13",
	Kernel: "Linux 7.1.0 #1 SMP", Cmdline: "console=ttyS0 ima_policy=tcb", Arch: "x86_64",
	CPU: "QEMU Virtual CPU", Swap: "0 kB", RAM: "2048000 kB"}

func TestWriteLTPKirkRegex(t *testing.T) {
	for name, tc := range sampleReports() {
		t.Run(name, func(t *testing.T) {
			for _, color := range []bool{false, true} {
				var b bytes.Buffer
				require.NoError(t, WriteLTP(&b, tc.r, Options{Color: color}))
				out := b.String()
				assert.Equal(t, tc.sum, kirkCounts(t, out), "kirk's counts of WriteLTP(%s)", name)
				assert.Equal(t, tc.exit, ExitCode(tc.r), "ExitCode(%s)", name)
				assert.Equal(t, kirkStatus(tc.exit), StatusOfExit(ExitCode(tc.r)).Kirk())
				assert.True(t, strings.HasSuffix(out, "\n\nSummary:\n") ||
					strings.Contains(out, "\n\nSummary:\npassed   ") || strings.HasPrefix(out, "\nSummary:\n"),
					"Summary preceded by an empty line:\n%s", out)
				if color && len(tc.r.Cases) > 0 {
					assert.Contains(t, out, "\x1b[")
				}
				// Every other line is a result line with the report's TST_ID
				// and a case number in 1..len(cases).
				body := kirkColorRE.ReplaceAllString(out[:strings.LastIndex(out, "\nSummary:\n")], "")
				for _, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
					if l == "" {
						continue
					}
					m := ltpLineRE.FindStringSubmatch(l)
					require.NotNil(t, m, "not an LTP result line: %q", l)
					assert.Equal(t, tc.r.ID(), m[1])
					n, _ := strconv.Atoi(m[2])
					assert.True(t, n >= 1 && n <= len(tc.r.Cases), "test number %d out of range", n)
				}
				if !color {
					golden(t, name+".ltp", b.Bytes())
				}
			}
		})
	}
}

func TestWriteLTPLines(t *testing.T) {
	r := sampleReports()["mixed"].r
	var b bytes.Buffer
	require.NoError(t, WriteLTP(&b, r, Options{}))
	lines := strings.Split(b.String(), "\n")
	assert.Equal(t, "imasim_matrix 1 TFAIL: xfs-overlay/6.13: expect audit /ovl/test_prog 1: got 3", lines[0])
	assert.Equal(t, "imasim_matrix 1 TFAIL: xfs-overlay/6.13: expect verdict ok: excessive at steps 2,3", lines[1])
	assert.Equal(t, "imasim_matrix 3 TCONF: btrfs/7.1: btrfs model missing", lines[3])
	// A broken case reports its own TBROK after the subtest that passed.
	assert.Equal(t, "imasim_matrix 4 TPASS: tmpfs/6.1: expect audit /t/x 1", lines[4])
	assert.Equal(t, "imasim_matrix 4 TBROK: tmpfs/6.1: engine error: step 4: no such file", lines[5])
	assert.Equal(t, "imasim_matrix 5 TWARN: cleanup/6.1: umount failed EBUSY", lines[6])
	assert.Equal(t, []string{"", "Summary:", "passed   2", "failed   2", "broken   1", "skipped  1",
		"warnings 1", ""}, lines[7:])

	var c bytes.Buffer
	require.NoError(t, WriteLTP(&c, r, Options{Color: true}))
	assert.Contains(t, c.String(), "imasim_matrix 1 \x1b[1;31mTFAIL\x1b[0m: ")
}

func TestCountsExitCode(t *testing.T) {
	tests := []struct {
		name string
		c    Counts
		want int
	}{
		{"nothing", Counts{}, 0},
		{"pass", Counts{Passed: 3}, 0},
		{"fail", Counts{Passed: 1, Failed: 1}, 1},
		{"brok", Counts{Broken: 1}, 2},
		{"warn", Counts{Passed: 1, Warnings: 2}, 4},
		{"conf only", Counts{Skipped: 1}, 32},
		{"conf and pass", Counts{Passed: 1, Skipped: 1}, 0},
		{"conf and fail", Counts{Failed: 1, Skipped: 1}, 33},
		{"all", Counts{1, 1, 1, 1, 1}, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.c.ExitCode(), "%+v.ExitCode()", tc.c)
		})
	}
}

func TestStatusText(t *testing.T) {
	for _, s := range []Status{Pass, Fail, Brok, Warn, Info, Conf} {
		b, err := s.MarshalText()
		require.NoError(t, err)
		var back Status
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, s, back)
		p, err := ParseStatus(s.String())
		require.NoError(t, err)
		assert.Equal(t, s, p)
	}
	_, err := ParseStatus("TSKIP")
	assert.Error(t, err)
	_, err = Status(3).MarshalText()
	assert.Error(t, err)
	assert.Equal(t, "Status(3)", Status(3).String())

	j, err := json.Marshal(Case{Name: "x", Status: Conf})
	require.NoError(t, err)
	assert.JSONEq(t, `{"name":"x","status":"conf"}`, string(j))
}

func TestWorst(t *testing.T) {
	assert.Equal(t, Pass, Worst())
	assert.Equal(t, Fail, Worst(Pass, Fail, Conf))
	assert.Equal(t, Brok, Worst(Fail, Brok, Warn))
	assert.Equal(t, Conf, Worst(Pass, Conf, Info))
	assert.Equal(t, Info, Worst(Info))
}

func TestReportID(t *testing.T) {
	assert.Equal(t, "imasim_scenario", Report{Verb: "scenario"}.ID())
	assert.Equal(t, "imasim_kirk_json", Report{Verb: "kirk-json"}.ID())
	assert.Equal(t, "imasim_overlay_xfs", Report{Verb: "imasim_overlay_xfs"}.ID())
	assert.Equal(t, "imasim_report", Report{}.ID())
}

func TestWriteKirkJSON(t *testing.T) {
	for name, tc := range sampleReports() {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, WriteKirkJSON(&b, tc.r, fixedEnv, Options{NoDurations: true}))
			golden(t, name+".kirk.json", b.Bytes())

			// The schema kirk writes and LKFT reads.
			var doc struct {
				Results []struct {
					TestFQN string `json:"test_fqn"`
					Status  string `json:"status"`
					Test    struct {
						Command   *string  `json:"command"`
						Arguments []string `json:"arguments"`
						Log       string   `json:"log"`
						Retval    []string `json:"retval"`
						Duration  *float64 `json:"duration"`
						Failed    int      `json:"failed"`
						Passed    int      `json:"passed"`
						Broken    int      `json:"broken"`
						Skipped   int      `json:"skipped"`
						Warnings  int      `json:"warnings"`
						Result    string   `json:"result"`
					} `json:"test"`
				} `json:"results"`
				Stats map[string]float64 `json:"stats"`
				Env   map[string]string  `json:"environment"`
			}
			dec := json.NewDecoder(bytes.NewReader(b.Bytes()))
			dec.DisallowUnknownFields()
			require.NoError(t, dec.Decode(&doc))
			require.Len(t, doc.Results, len(tc.r.Cases))
			var sum Counts
			for i, res := range doc.Results {
				c := tc.r.Cases[i]
				assert.Equal(t, c.Name, res.TestFQN)
				assert.Equal(t, res.Status, res.Test.Result)
				require.Len(t, res.Test.Retval, 1)
				code, err := strconv.Atoi(res.Test.Retval[0])
				require.NoError(t, err)
				assert.Equal(t, kirkStatus(code), res.Status, "status of retval %d", code)
				// kirk would read the log back to the same counters.
				n := kirkCounts(t, res.Test.Log)
				assert.Equal(t, Counts{res.Test.Passed, res.Test.Failed, res.Test.Broken,
					res.Test.Skipped, res.Test.Warnings}, n)
				assert.Equal(t, code, n.ExitCode())
				assert.NotNil(t, res.Test.Command)
				assert.NotNil(t, res.Test.Arguments)
				assert.NotNil(t, res.Test.Duration)
				sum = sum.Plus(n)
			}
			assert.Equal(t, tc.sum, sum)
			for k, v := range map[string]int{"passed": sum.Passed, "failed": sum.Failed,
				"broken": sum.Broken, "skipped": sum.Skipped, "warnings": sum.Warnings} {
				assert.Equal(t, float64(v), doc.Stats[k], "stats.%s", k)
			}
			assert.Contains(t, doc.Stats, "runtime")
			for _, k := range []string{"distribution", "distribution_version", "kernel", "cmdline",
				"arch", "cpu", "swap", "RAM"} {
				assert.Contains(t, doc.Env, k)
			}
		})
	}
}

func TestKirkDurations(t *testing.T) {
	r := sampleReports()["pass"].r
	var b bytes.Buffer
	require.NoError(t, WriteKirkJSON(&b, r, fixedEnv, Options{}))
	assert.Contains(t, b.String(), `"duration": 1.5`)
	assert.Contains(t, b.String(), `"runtime": 1.5`)
}

func TestHostEnvironmentFS(t *testing.T) {
	fsys := fstest.MapFS{
		"etc/os-release":            {Data: []byte("PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nID=debian\nVERSION_ID=\"13\"\n")},
		"proc/sys/kernel/osrelease": {Data: []byte("6.12.48-amd64\n")},
		"proc/sys/kernel/version":   {Data: []byte("#1 SMP PREEMPT_DYNAMIC Debian 6.12.48-1\n")},
		"proc/cmdline":              {Data: []byte("BOOT_IMAGE=/vmlinuz ima_policy=tcb\n")},
		"proc/sys/kernel/arch":      {Data: []byte("x86_64\n")},
		"proc/cpuinfo":              {Data: []byte("processor\t: 0\nmodel name\t: AMD EPYC\n\nprocessor\t: 1\nmodel name\t: AMD EPYC\n")},
		"proc/meminfo":              {Data: []byte("MemTotal:        4000000 kB\nMemFree: 1 kB\nSwapTotal:             0 kB\n")},
	}
	assert.Equal(t, Environment{Distribution: "debian", DistributionVersion: "13",
		Kernel:  "Linux 6.12.48-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.12.48-1",
		Cmdline: "BOOT_IMAGE=/vmlinuz ima_policy=tcb", Arch: "x86_64", CPU: "AMD EPYC",
		Swap: "0 kB", RAM: "4000000 kB"}, HostEnvironmentFS(fsys))

	e := HostEnvironmentFS(fstest.MapFS{})
	assert.Empty(t, e.Kernel)
	assert.NotEmpty(t, e.Arch, "arch falls back to GOARCH")
	assert.NotEmpty(t, HostEnvironment().Kernel, "running host has a kernel")
}

// JUnit: parse back with encoding/xml and check the usual shape.
type jSuites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Time     string   `xml:"time,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Time     string `xml:"time,attr"`
		Cases    []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Time      string `xml:"time,attr"`
			Failure   []jMsg `xml:"failure"`
			Error     []jMsg `xml:"error"`
			Skipped   []jMsg `xml:"skipped"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

type jMsg struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func TestWriteJUnit(t *testing.T) {
	timeRE := regexp.MustCompile(`^\d+\.\d{3}$`)
	for name, tc := range sampleReports() {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, WriteJUnit(&b, tc.r, Options{NoDurations: true}))
			golden(t, name+".junit.xml", b.Bytes())
			require.True(t, strings.HasPrefix(b.String(), `<?xml version="1.0" encoding="UTF-8"?>`))

			var doc jSuites
			require.NoError(t, xml.Unmarshal(b.Bytes(), &doc))
			require.Len(t, doc.Suites, 1)
			s := doc.Suites[0]
			assert.Equal(t, tc.r.ID(), s.Name)
			assert.Equal(t, len(tc.r.Cases), s.Tests)
			assert.Equal(t, len(s.Cases), s.Tests)
			assert.Equal(t, doc.Tests, s.Tests)
			assert.True(t, timeRE.MatchString(s.Time), "suite time %q", s.Time)
			var f, e, sk int
			for i, c := range s.Cases {
				assert.Equal(t, tc.r.Cases[i].Name, c.Name)
				assert.Equal(t, tc.r.ID(), c.Classname)
				assert.True(t, timeRE.MatchString(c.Time), "case time %q", c.Time)
				assert.LessOrEqual(t, len(c.Failure)+len(c.Error)+len(c.Skipped), 1,
					"case %s has at most one of failure/error/skipped", c.Name)
				f += len(c.Failure)
				e += len(c.Error)
				sk += len(c.Skipped)
				switch tc.r.Cases[i].Outcome() {
				case Fail, Warn:
					require.Len(t, c.Failure, 1)
					assert.NotEmpty(t, c.Failure[0].Message)
				case Brok:
					require.Len(t, c.Error, 1)
				case Conf:
					require.Len(t, c.Skipped, 1)
				}
			}
			assert.Equal(t, f, s.Failures)
			assert.Equal(t, e, s.Errors)
			assert.Equal(t, sk, s.Skipped)
			assert.Equal(t, []int{f, e}, []int{doc.Failures, doc.Errors})
			assert.Zero(t, doc.Skipped, "junit-10.xsd has no skipped on <testsuites>")
		})
	}
}

// ktapTest is one test line read back by parseKTAP.
type ktapTest struct {
	ok        bool
	num       int
	desc      string
	directive string
	subtests  []ktapTest
}

var ktapLineRE = regexp.MustCompile(`^(ok|not ok) (\d+) ([^#]*?)(?: # (SKIP|TODO|XFAIL|TIMEOUT|ERROR)\b.*)?$`)

// parseKTAP is a small strict KTAP v1 reader: version line, plan, test lines
// numbered 1..plan, nested documents indented by two spaces before their
// parent's line, "# " diagnostics anywhere.
func parseKTAP(t *testing.T, lines []string, indent string) ([]ktapTest, []string) {
	t.Helper()
	require.NotEmpty(t, lines)
	require.Equal(t, indent+"KTAP version 1", lines[0])
	require.Greater(t, len(lines), 1)
	plan := strings.TrimPrefix(lines[1], indent+"1..")
	require.NotEqual(t, lines[1], plan, "plan line %q", lines[1])
	n, err := strconv.Atoi(plan)
	require.NoError(t, err)
	rest := lines[2:]
	var out []ktapTest
	var pending []ktapTest
	for len(out) < n {
		require.NotEmpty(t, rest, "document ends before test %d of %d", len(out)+1, n)
		l := rest[0]
		switch {
		case strings.HasPrefix(l, indent+"# "):
			rest = rest[1:]
		case strings.HasPrefix(l, indent+"  KTAP version 1"):
			require.Nil(t, pending, "two nested documents for one test")
			pending, rest = parseKTAP(t, rest, indent+"  ")
		default:
			require.True(t, strings.HasPrefix(l, indent), "line %q not at indent %q", l, indent)
			m := ktapLineRE.FindStringSubmatch(strings.TrimPrefix(l, indent))
			require.NotNil(t, m, "not a KTAP test line: %q", l)
			num, _ := strconv.Atoi(m[2])
			require.Equal(t, len(out)+1, num, "test numbers run 1..N")
			out = append(out, ktapTest{ok: m[1] == "ok", num: num, desc: m[3], directive: m[4], subtests: pending})
			pending = nil
			rest = rest[1:]
		}
	}
	require.Nil(t, pending, "nested document without a parent line")
	for len(rest) > 0 && strings.HasPrefix(rest[0], indent+"# ") {
		rest = rest[1:] // trailing diagnostics
	}
	return out, rest
}

func TestWriteKTAP(t *testing.T) {
	for name, tc := range sampleReports() {
		t.Run(name, func(t *testing.T) {
			for _, logs := range []bool{false, true} {
				var b bytes.Buffer
				require.NoError(t, WriteKTAP(&b, tc.r, Options{Logs: logs}))
				if !logs {
					golden(t, name+".ktap", b.Bytes())
				}
				tests, rest := parseKTAP(t, strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n"), "")
				assert.Empty(t, rest, "trailing lines")
				require.Len(t, tests, len(tc.r.Cases))
				for i, kt := range tests {
					c := tc.r.Cases[i]
					out := c.Outcome()
					assert.Equal(t, out == Pass || out == Conf, kt.ok, "ok of %s (%v)", c.Name, out)
					want := map[Status]string{Conf: "SKIP", Brok: "ERROR"}[out]
					assert.Equal(t, want, kt.directive, "directive of %s", c.Name)
					assert.Equal(t, strings.ReplaceAll(c.Name, "#", "_"), kt.desc)
					// One leaf per counted result of the case: its
					// subtests and what the case adds beyond them.
					var counted int
					for _, s := range c.Subtests {
						if s.Status != Info {
							counted++
						}
					}
					if len(c.Subtests) > 0 {
						for _, res := range c.Results()[len(c.Subtests):] {
							if res.Status != Info {
								counted++
							}
						}
					}
					assert.Len(t, kt.subtests, counted)
					// A failing case has a failing leaf (kunit.py counts leaves).
					if len(kt.subtests) > 0 && !kt.ok {
						failed := false
						for _, st := range kt.subtests {
							failed = failed || !st.ok
						}
						assert.True(t, failed, "%s fails with no failing subtest", c.Name)
					}
				}
			}
		})
	}
}

func TestWriteDispatch(t *testing.T) {
	r := sampleReports()["mixed"].r
	for _, f := range Formats {
		var b bytes.Buffer
		require.NoError(t, Write(&b, f, r, Options{Env: &fixedEnv, NoDurations: true}), f)
		assert.NotEmpty(t, b.String(), f)
	}
	var b bytes.Buffer
	require.NoError(t, Write(&b, "kirk-json", r, Options{}), "host environment")
	assert.Error(t, Write(&b, "tap13", r, Options{}))
}

func TestOptionsFromEnv(t *testing.T) {
	tests := []struct {
		val  string
		want bool
	}{{"", false}, {"0", false}, {"n", false}, {"1", true}, {"y", true}, {"yes", false}}
	for _, tc := range tests {
		env := map[string]string{"LTP_COLORIZE_OUTPUT": tc.val}
		assert.Equal(t, tc.want, OptionsFromEnv(func(k string) string { return env[k] }).Color,
			"LTP_COLORIZE_OUTPUT=%q", tc.val)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestWriteErrors(t *testing.T) {
	r := sampleReports()["mixed"].r
	for _, f := range Formats {
		err := Write(failWriter{}, f, r, Options{Env: &fixedEnv})
		assert.ErrorIs(t, err, os.ErrClosed, f)
	}
}
