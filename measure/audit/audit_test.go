package audit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testdata = "../../testdata/audit"

// scanAll reads every record of a log.
func scanAll(tb testing.TB, s *Scanner) []Record {
	tb.Helper()
	var recs []Record
	for s.Scan() {
		recs = append(recs, s.Record())
	}
	require.NoError(tb, s.Err())
	return recs
}

func scanFile(tb testing.TB, name string) ([]Record, *Scanner) {
	tb.Helper()
	f, err := os.Open(filepath.Join(testdata, name))
	require.NoError(tb, err)
	tb.Cleanup(func() { f.Close() })
	s := NewScanner(f)
	return scanAll(tb, s), s
}

func kinds(l Loss) []EvidenceKind {
	var k []EvidenceKind
	for _, e := range l.Evidence {
		k = append(k, e.Kind)
	}
	return k
}

// summary is what a test checks about one record.
type summary struct {
	Type   Type
	Serial uint64
	Path   string
	Line   int
}

func summarize(recs []Record) []summary {
	var out []summary
	for _, r := range recs {
		out = append(out, summary{r.Type, r.Serial, r.Path(), r.Line})
	}
	return out
}

func TestTestdata(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		want    []summary
		form    Form
		kernel  string
		lossy   []EvidenceKind
		missing uint64
		checked bool
		dups    int
	}{
		{
			name: "dmesg with printk rate limiting",
			file: "dmesg-ratelimited.txt",
			want: []summary{
				{TypePolicyRule, 2, "", 6}, {TypePolicyRule, 3, "", 7}, {TypePolicyRule, 4, "", 8},
				{TypeStatus, 5, "", 9}, {TypeRule, 6, "/ovl/test_prog", 10}, {TypeRule, 8, "/ovl/test_prog", 12},
				{TypeRule, 12, "/ovl/test_prog", 14}, {TypePCR, 13, "/tmp/f", 15}, {TypePCR, 14, "/tmp/f", 16},
				{TypeRule, 15, "/tmp/a b/prog", 21}, {TypeData, 16, "/usr/bin/x", 22},
			},
			form:    FormKernel,
			kernel:  "6.12.57+deb13-cloud-amd64",
			lossy:   []EvidenceKind{Ratelimit, SerialGap, Ratelimit, AuditLost, AuditLimit},
			missing: 3,
			checked: true,
		},
		{
			name: "console without timestamps, other output interleaved",
			file: "dmesg-nots.txt",
			want: []summary{
				{TypeRule, 101, "/bin/true", 2}, {TypeRule, 103, "/bin/true", 5}, {TypeRule, 104, "/bin/false", 7},
			},
			form:    FormKernel,
			checked: true,
		},
		{
			name: "/dev/kmsg with dictionary lines and an overrun",
			file: "kmsg.txt",
			want: []summary{
				{TypeRule, 2, "/usr/bin/env", 3}, {TypeRule, 3, "/usr/bin/env", 6}, {TypePCR, 4, "/tmp/g", 7},
			},
			form:    FormKmsg,
			kernel:  "7.2.13",
			lossy:   []EvidenceKind{KmsgGap},
			checked: true,
		},
		{
			name: "auditd raw log",
			file: "audit.log",
			want: []summary{
				{TypeRule, 501, "/usr/bin/true", 3}, {TypeRule, 502, "/tmp/a b/prog", 5}, {TypePCR, 504, "/var/log/x", 7},
				{TypeUserspace, 505, "/tmp/s.py", 8}, {TypePolicyRule, 506, "", 9}, {TypeRule, 509, "/usr/bin/true", 10},
				{TypeEVMXattr, 510, "", 11},
			},
			form:    FormAuditLog,
			kernel:  "6.12.57+deb13-cloud-amd64",
			lossy:   []EvidenceKind{SerialGap},
			missing: 2,
			checked: true,
		},
		{
			name: "ausearch -i",
			file: "ausearch-i.txt",
			want: []summary{
				{TypeRule, 501, "/usr/bin/true", 2}, {TypeRule, 502, "/tmp/a b/prog", 4}, {TypePCR, 600, "/var/log/x", 6},
			},
			form: FormAusearch,
		},
		{
			name: "journalctl -o json",
			file: "journal.json",
			want: []summary{
				{TypeRule, 71, "/ovl/test_prog", 3}, {TypeRule, 73, "/ovl/t\xe9st", 6},
			},
			form:    FormJournal,
			kernel:  "6.1.0-41-amd64",
			lossy:   []EvidenceKind{SerialGap, JournalMissed},
			missing: 70,
			checked: true,
			dups:    1,
		},
		{
			name: "dmesg and audit.log concatenated, serials out of order",
			file: "mixed.txt",
			want: []summary{
				{TypeRule, 301, "/opt/app", 1}, {TypeRule, 303, "/opt/app", 5}, {TypeRule, 304, "/opt/app", 8},
			},
			form:    FormKernel,
			checked: true,
			dups:    2,
		},
		{
			name: "console capture with agent output interleaved",
			file: "interleaved.txt",
			want: []summary{
				{TypeRule, 40, "/ovl/test_prog", 2}, {TypeRule, 41, "/ovl/test_prog", 4}, {TypeRule, 42, "/ovl/test_prog", 6},
			},
			form:    FormKernel,
			checked: true,
		},
		{
			name: "journalctl short text",
			file: "journal-short.txt",
			want: []summary{
				{TypeRule, 0, "/ovl/test_prog", 3}, {TypeUserspace, 0, "/tmp/s.py", 5}, {TypePolicyRule, 0, "", 6},
			},
			form:   FormJournal,
			kernel: "6.12.57+deb13-cloud-amd64",
		},
		{
			name: "wrapped lines",
			file: "wrapped.txt",
			want: []summary{
				{TypeRule, 20, "/ovl/test_prog", 1}, {TypeRule, 21, "/ovl/test_prog", 3}, {TypeRule, 22, "/ovl/other", 5},
			},
			form:    FormKernel,
			checked: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, s := scanFile(t, tt.file)
			assert.Equal(t, tt.want, summarize(recs))
			for _, r := range recs {
				assert.Equal(t, tt.form, r.Form, "line %d", r.Line)
				assert.False(t, r.Truncated, "line %d", r.Line)
			}
			k, _ := s.KernelVersion()
			assert.Equal(t, tt.kernel, k)
			l := s.Loss()
			assert.Equal(t, tt.lossy, kinds(l), "evidence %v", l.Evidence)
			assert.Equal(t, len(tt.lossy) > 0, l.Lossy())
			assert.Equal(t, tt.missing, l.MissingSerials)
			assert.Equal(t, tt.checked, l.SerialsChecked)
			assert.Equal(t, tt.dups, s.Stats().Duplicates)
			assert.Equal(t, len(tt.want), s.Stats().Records)
		})
	}
}

func TestRecordFields(t *testing.T) {
	recs, _ := scanFile(t, "dmesg-ratelimited.txt")
	require.NotEmpty(t, recs)
	byLine := map[int]Record{}
	for _, r := range recs {
		byLine[r.Line] = r
	}

	r := byLine[10]
	assert.Equal(t, "sha256:"+strings.Repeat("a1", 32), r.Hash())
	assert.Equal(t, "200", r.Value("pid"))
	assert.Equal(t, "1", r.Value("ppid"))
	assert.Equal(t, "65534", r.Value("euid"))
	assert.Equal(t, "4294967295", r.Value("auid"))
	assert.Equal(t, "sh", r.Value("comm"))
	assert.Equal(t, "/usr/bin/dash", r.Value("exe"))
	assert.Equal(t, time.Unix(1763805600, 300e6).UTC(), r.Time)
	assert.Equal(t, "file", r.Fields[0].Key)
	assert.Equal(t, Quoted, r.Fields[0].Encoding)

	v := byLine[15]
	assert.True(t, v.Violation())
	assert.Equal(t, "ToMToU", v.Value("cause"))
	assert.Equal(t, "invalid_pcr", v.Value("op"))
	assert.Equal(t, "vda", v.Value("dev"))
	assert.Equal(t, "1234", v.Value("ino"))
	assert.Equal(t, "1", v.Value("res"))
	assert.Equal(t, "open_writers", byLine[16].Value("cause"))

	h := byLine[21]
	assert.Equal(t, Hex, h.Fields[0].Encoding)
	assert.Equal(t, "/tmp/a b/prog", h.Path())

	p := byLine[8]
	require.Len(t, p.Fields, 5)
	assert.Equal(t, Field{Key: "mask", Op: '=', Value: "^MAY_READ"}, p.Fields[2])
	assert.Equal(t, Field{Key: "uid", Op: '<', Value: "1000"}, p.Fields[3])
	assert.Equal(t, "uid<1000", p.Fields[3].String())

	s := byLine[9]
	assert.Equal(t, "policy_update", s.Value("op"))
	assert.Equal(t, "completed", s.Value("cause"))
}

func TestInterleaved(t *testing.T) {
	recs, s := scanFile(t, "interleaved.txt")
	require.Len(t, recs, 3)
	assert.Equal(t, 0, recs[1].Joined)
	// The cut record is put back together, but its hash holds the agent's
	// text: Joined tells the caller not to trust its late fields.
	assert.Equal(t, 1, recs[2].Joined)
	assert.Contains(t, recs[2].Hash(), "IMASIM1")
	assert.Equal(t, "302", recs[2].Value("pid"))
	assert.Equal(t, 1, s.Stats().Joined)
}

func TestAusearchInterpreted(t *testing.T) {
	recs, s := scanFile(t, "ausearch-i.txt")
	require.Len(t, recs, 3)
	assert.Equal(t, "nobody", recs[0].Value("uid"))
	assert.Equal(t, "unset", recs[0].Value("auid"))
	assert.Equal(t, Interpreted, recs[0].Fields[0].Encoding)
	assert.Equal(t, time.Date(2026, 11, 22, 10, 0, 0, 100e6, time.UTC), recs[0].Time)
	assert.Equal(t, "vda", recs[2].Value("dev"))
	assert.Equal(t, "open_writers", recs[2].Value("cause"))
	l := s.Loss()
	assert.False(t, l.SerialsChecked)
	assert.NotEmpty(t, l.Notes)
}

func TestAuditLogEnriched(t *testing.T) {
	recs, _ := scanFile(t, "audit.log")
	require.NotEmpty(t, recs)
	assert.Equal(t, "nobody", recs[0].Value("UID"))
	assert.Equal(t, "unconfined", recs[0].Value("subj"))
	assert.Equal(t, "INTEGRITY_USERSPACE", recs[3].Type.String())
	assert.Equal(t, "IMA-signature-required", recs[3].Value("cause"))
	assert.Equal(t, "security.my xattr ", recs[6].Value("xattr"))
}

func TestScannerEdges(t *testing.T) {
	const rec = `audit: type=1805 audit(1700000000.123:7): file="/x" hash="sha256:00" pid=1 comm="c"`
	tests := []struct {
		name  string
		in    string
		opts  Options
		recs  int
		trunc bool
		lossy []EvidenceKind
		// notLog: Err is a *NotLogError
		notLog bool
	}{
		{name: "empty", in: ""},
		{name: "no trailing newline", in: rec, recs: 1},
		{name: "CRLF", in: rec + "\r\n", recs: 1},
		{name: "printk-truncated record", in: `audit: type=1805 audit(1700000000.123:7): file="/very/long`, recs: 1, trunc: true},
		{name: "long line cut", in: rec + strings.Repeat("x", 300) + "\n", opts: Options{MaxLine: 100}, recs: 1, lossy: []EvidenceKind{LongLine}},
		{name: "serial gap off", in: rec + "\n" + strings.Replace(rec, ":7)", ":9)", 1) + "\n", opts: Options{NoSerialGaps: true}, recs: 2},
		{name: "serial gap", in: rec + "\n" + strings.Replace(rec, ":7)", ":9)", 1) + "\n", recs: 2, lossy: []EvidenceKind{SerialGap}},
		{name: "reordered serials", in: strings.Replace(rec, ":7)", ":9)", 1) + "\n" + rec + "\n" + strings.Replace(rec, ":7)", ":8)", 1) + "\n", recs: 3},
		{name: "reboot resets serials", in: rec + "\nLinux version 6.1.0 (x)\n" + strings.Replace(rec, ":7)", ":1)", 1) + "\n", recs: 2},
		{name: "unrelated callbacks suppressed", in: "[ 1.0] net_ratelimit: 3 callbacks suppressed\n"},
		{name: "no known line", in: "net_ratelimit: 3 callbacks suppressed\n", notLog: true},
		{name: "audit rate limit", in: "audit: rate limit exceeded\n", lossy: []EvidenceKind{AuditLimit}},
		{name: "hold queue", in: "[ 1.0] audit: kauditd hold queue overflow\n", lossy: []EvidenceKind{AuditLimit}},
		{name: "dmesg -T", in: "[Sun Nov 22 10:00:00 2026] " + rec + "\n", recs: 1},
		{name: "dmesg -x", in: "kern  :notice: [    5.000000] " + rec + "\n", recs: 1},
		{name: "dmesg -r", in: "<5>[    5.000000] " + rec + "\n", recs: 1},
		{name: "journalctl -k", in: "Nov 22 10:00:00 guest kernel: " + rec + "\n", recs: 1},
		{name: "kmsg with caller", in: "5,77,5000000,-,caller=T301;" + rec + "\n", recs: 1},
		{name: "console drops", in: "[ 5.1] ** 27 printk messages dropped **\n", lossy: []EvidenceKind{ConsoleDrop}},
		{name: "not a record", in: "type=1805 hello\nfoo type=INTEGRITY_RULE bar\n", notLog: true},
		{name: "bad json", in: "{\"MESSAGE\": audit\n", notLog: true},
		{name: "binary", in: "[ 1.0] x\n\x00\x01", notLog: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewScannerOptions(strings.NewReader(tt.in), tt.opts)
			if tt.notLog {
				for s.Scan() {
				}
				var nl *NotLogError
				require.ErrorAs(t, s.Err(), &nl)
				return
			}
			recs := scanAll(t, s)
			require.Len(t, recs, tt.recs)
			if tt.recs > 0 {
				assert.Equal(t, tt.trunc, recs[0].Truncated)
			}
			l := s.Loss()
			assert.Equal(t, tt.lossy, kinds(l), "evidence %v", l.Evidence)
		})
	}
}

func TestParseFields(t *testing.T) {
	tests := []struct {
		in    string
		want  []Field
		trunc bool
	}{
		{in: `a=1 b="x y" c=2F74`, want: []Field{{Key: "a", Op: '=', Value: "1"}, {Key: "b", Op: '=', Value: "x y", Encoding: Quoted}, {Key: "c", Op: '=', Value: "2F74"}}},
		{in: `name=2F74 comm=(null) exe=?`, want: []Field{{Key: "name", Op: '=', Value: "/t", Encoding: Hex}, {Key: "comm", Op: '=', Value: "(null)"}, {Key: "exe", Op: '=', Value: "?"}}},
		{in: `permit_directio res=1`, want: []Field{{Key: "permit_directio"}, {Key: "res", Op: '=', Value: "1"}}},
		{in: `euid>0 msg='op=x acct="a"'`, want: []Field{{Key: "euid", Op: '>', Value: "0"}, {Key: "msg", Op: '=', Value: `op=x acct="a"`, Encoding: Quoted}}},
		{in: `file="/open`, want: []Field{{Key: "file", Op: '=', Value: "/open", Encoding: Quoted}}, trunc: true},
		{in: "a=1\x1dUID=\"root\"", want: []Field{{Key: "a", Op: '=', Value: "1"}, {Key: "UID", Op: '=', Value: "root", Encoding: Quoted}}},
		{in: `k=`, want: []Field{{Key: "k", Op: '='}}},
	}
	for _, tt := range tests {
		got, trunc := parseFields(tt.in, nil)
		assert.Equal(t, tt.want, got, "parseFields(%q)", tt.in)
		assert.Equal(t, tt.trunc, trunc, "parseFields(%q) truncated", tt.in)
	}
}

func TestParseInterpreted(t *testing.T) {
	tests := []struct {
		in   string
		want []Field
	}{
		{in: `file=/tmp/a b hash=sha256:00 uid=root`, want: []Field{
			{Key: "file", Op: '=', Value: "/tmp/a b", Encoding: Interpreted},
			{Key: "hash", Op: '=', Value: "sha256:00", Encoding: Interpreted},
			{Key: "uid", Op: '=', Value: "root", Encoding: Interpreted}}},
		{in: `action=measure func=BPRM_CHECK uid<1000 res=yes`, want: []Field{
			{Key: "action", Op: '=', Value: "measure", Encoding: Interpreted},
			{Key: "func", Op: '=', Value: "BPRM_CHECK", Encoding: Interpreted},
			{Key: "uid", Op: '<', Value: "1000", Encoding: Interpreted},
			{Key: "res", Op: '=', Value: "yes", Encoding: Interpreted}}},
		{in: `dev="vda" permit_directio`, want: []Field{
			{Key: "dev", Op: '=', Value: "vda", Encoding: Interpreted},
			{Key: "permit_directio", Encoding: Interpreted}}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, parseInterpreted(tt.in, nil), "parseInterpreted(%q)", tt.in)
	}
}

func TestTypeNames(t *testing.T) {
	for ty, name := range typeNames {
		assert.Equal(t, name, ty.String())
		got, ok := typeByName([]byte(name))
		assert.True(t, ok)
		assert.Equal(t, ty, got)
	}
	got, ok := typeByName([]byte("UNKNOWN[1899]"))
	assert.True(t, ok)
	assert.Equal(t, Type(1899), got)
	_, ok = typeByName([]byte("UNKNOWN[1300]"))
	assert.False(t, ok)
	_, ok = typeByName([]byte("SYSCALL"))
	assert.False(t, ok)
}

func TestKernel(t *testing.T) {
	tests := []struct {
		file string
		want Kernel
	}{
		{"dmesg-ratelimited.txt", Kernel{Release: "6.12.57+deb13-cloud-amd64", Upstream: "6.12.57", Line: 1}},
		{"journal.json", Kernel{Release: "6.1.0-41-amd64", Upstream: "6.1.158", Line: 1}},
		{"kmsg.txt", Kernel{Release: "7.2.13", Upstream: "7.2.13", Line: 1}},
		{"audit.log", Kernel{Release: "6.12.57+deb13-cloud-amd64", Upstream: "6.12.57", Line: 1}},
	}
	for _, tt := range tests {
		_, s := scanFile(t, tt.file)
		got, ok := s.Kernel()
		require.True(t, ok, tt.file)
		got.Banner = ""
		assert.Equal(t, tt.want, got, tt.file)
	}
	_, s := scanFile(t, "wrapped.txt")
	_, ok := s.Kernel()
	assert.False(t, ok)

	ub := "Linux version 6.8.0-49-generic (buildd@lcy02) (gcc 13) #49-Ubuntu SMP PREEMPT_DYNAMIC Mon Nov  4 02:06:24 UTC 2024 (Ubuntu 6.8.0-49.49-generic 6.8.12)"
	assert.Equal(t, "6.8.12", upstreamVersion(ub, "6.8.0-49-generic"))
}

func TestParseRelease(t *testing.T) {
	tests := []struct {
		in   string
		want Release
		ok   bool
	}{
		{"6.12.57+deb13-cloud-amd64", Release{6, 12, 57, "+deb13-cloud-amd64"}, true},
		{"6.1.0-41-amd64", Release{6, 1, 0, "-41-amd64"}, true},
		{"7.2-rc1", Release{7, 2, -1, "-rc1"}, true},
		{"7.2.13", Release{7, 2, 13, ""}, true},
		{"6.", Release{}, false},
		{"linux", Release{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseRelease(tt.in)
		assert.Equal(t, tt.ok, ok, "ParseRelease(%q)", tt.in)
		assert.Equal(t, tt.want, got, "ParseRelease(%q)", tt.in)
	}
}

func TestCount(t *testing.T) {
	f, err := os.Open(filepath.Join(testdata, "dmesg-ratelimited.txt"))
	require.NoError(t, err)
	defer f.Close()
	tl, err := Count(f, Options{})
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"/ovl/test_prog": 3, "/tmp/a b/prog": 1}, tl.Rules)
	assert.Equal(t, map[string]map[string]int{"/tmp/f": {"ToMToU": 1, "open_writers": 1}}, tl.Violations)
	assert.True(t, tl.Loss.Lossy())
	require.NotNil(t, tl.Kernel)
	assert.Equal(t, "6.12.57", tl.Kernel.Upstream)
}

func TestSerialGaps(t *testing.T) {
	type gap struct{ From, To uint64 }
	tests := []struct {
		name    string
		serials []uint64
		boot    bool // startAt(1) first, as after a boot banner
		want    []gap
		notes   int
	}{
		{name: "contiguous", serials: []uint64{5, 6, 7, 8}},
		{name: "repeats share a serial", serials: []uint64{5, 5, 6, 6, 6, 7}},
		{name: "one gap", serials: []uint64{5, 6, 9, 10}, want: []gap{{7, 8}}},
		{name: "reordered", serials: []uint64{5, 8, 6, 7, 9}},
		{name: "earlier serial after the first", serials: []uint64{301, 302, 300, 300, 303}},
		{name: "earlier serial with a gap", serials: []uint64{301, 298, 302}, want: []gap{{299, 300}}},
		{name: "after boot", serials: []uint64{4, 5}, boot: true, want: []gap{{1, 3}}},
		{name: "huge jump", serials: []uint64{1, 2, 1 << 20, 1<<20 + 1}, want: []gap{{3, 1<<20 - 1}}},
		{name: "jump beyond window twice", serials: []uint64{10, 10 + serialWindow*3, 10 + serialWindow*3 + 2}, want: []gap{{11, 9 + serialWindow*3}, {11 + serialWindow*3, 11 + serialWindow*3}}},
		{name: "gap spanning a slide", serials: []uint64{1, 3, serialWindow + 10, serialWindow + 11}, want: []gap{{2, 2}, {4, serialWindow + 9}}},
		{name: "counter went back", serials: []uint64{1 << 20, 1<<20 + 1, 1, 2, 4}, want: []gap{{3, 3}}},
		{name: "late arrival", serials: []uint64{1, 2, 3, serialWindow + 5, 4}, want: []gap{{4, serialWindow + 4}}, notes: 1},
		{name: "late copy of a seen serial", serials: []uint64{1, 2, 3, serialWindow + 4, 2}, want: []gap{{4, serialWindow + 3}}},
		{name: "serial beyond u32 ignored", serials: []uint64{1, 1 << 40, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s serials
			var l Loss
			if tt.boot {
				s.startAt(1)
			}
			for i, n := range tt.serials {
				s.observe(n, i+1, &l)
			}
			s.finish(&l)
			var got []gap
			var missing uint64
			for _, e := range l.Evidence {
				require.Equal(t, SerialGap, e.Kind)
				got = append(got, gap{e.From, e.To})
				missing += e.To - e.From + 1
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, missing, l.MissingSerials)
			assert.Len(t, l.Notes, tt.notes)
		})
	}
}

func TestMarkers(t *testing.T) {
	in := "5,1,100,-;imasim-step 1 open /t/f\n" +
		"5,2,101,-;audit: type=1805 audit(1.5:9): file=\"/t/f\" hash=\"sha256:00\"\n" +
		"5,3,102,-;unrelated\n" +
		"5,4,103,-;imasim-step 2 close\n"
	s := NewScannerOptions(strings.NewReader(in), Options{Marker: "imasim-step"})
	recs := scanAll(t, s)
	require.Len(t, recs, 3)
	assert.Equal(t, "imasim-step 1 open /t/f", recs[0].Marker)
	assert.Equal(t, Type(0), recs[0].Type)
	assert.Equal(t, TypeRule, recs[1].Type)
	assert.Equal(t, "imasim-step 2 close", recs[2].Marker)
	assert.Equal(t, 4, recs[2].Line)
	assert.Equal(t, 1, s.Stats().Records)
	assert.Equal(t, 2, s.Stats().Markers)
}

func TestJournalRatelimitOnlyKernelCopies(t *testing.T) {
	rule := `file=\"/x\" hash=\"sha256:00\" pid=1`
	in := `{"_TRANSPORT":"audit","_AUDIT_TYPE":"1805","_AUDIT_ID":"5","MESSAGE":"INTEGRITY_RULE ` + rule + `"}` + "\n" +
		`{"_TRANSPORT":"kernel","MESSAGE":"kauditd_printk_skb: 9 callbacks suppressed"}` + "\n" +
		`{"_TRANSPORT":"audit","_AUDIT_TYPE":"1805","_AUDIT_ID":"6","MESSAGE":"INTEGRITY_RULE ` + rule + `"}` + "\n"
	s := NewScanner(strings.NewReader(in))
	require.Len(t, scanAll(t, s), 2)
	l := s.Loss()
	assert.False(t, l.Lossy(), "%v", l.Evidence)
	require.Len(t, l.Notes, 1)
	assert.Contains(t, l.Notes[0], "bypass printk")

	// Without audit-transport entries the same message is evidence.
	s = NewScanner(strings.NewReader(`{"_TRANSPORT":"kernel","MESSAGE":"kauditd_printk_skb: 9 callbacks suppressed"}` + "\n"))
	scanAll(t, s)
	assert.True(t, s.Loss().Lossy())
}

func TestAll(t *testing.T) {
	f, err := os.Open(filepath.Join(testdata, "kmsg.txt"))
	require.NoError(t, err)
	defer f.Close()
	s := NewScanner(f)
	var serials []uint64
	for r := range s.All() {
		serials = append(serials, r.Serial)
		if len(serials) == 2 {
			break
		}
	}
	require.NoError(t, s.Err())
	assert.Equal(t, []uint64{2, 3}, serials)
}

// errReader fails after its data.
type errReader struct{ data string }

func (e *errReader) Read(p []byte) (int, error) {
	if e.data == "" {
		return 0, errors.New("disk on fire")
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

func TestReadError(t *testing.T) {
	s := NewScanner(&errReader{data: "audit: type=1805 audit(1.1:1): file=\"/a\"\n"})
	n := 0
	for s.Scan() {
		n++
	}
	assert.Equal(t, 1, n)
	require.Error(t, s.Err())
	assert.Contains(t, s.Err().Error(), "reading log after line 1")
	_, err := Count(&errReader{}, Options{})
	assert.ErrorContains(t, err, "disk on fire")
}
