package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// -update-audit rewrites testdata/audit/golden (named apart from other
// verbs' -update flags in this package).
var updateAudit = flag.Bool("update-audit", false, "rewrite the audit verb's golden files")

const auditTestdata = "../../testdata/audit"

func runAudit(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"audit"}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

func TestAuditGolden(t *testing.T) {
	tests := []struct {
		file string
		args []string
		code int
	}{
		{file: "dmesg-ratelimited.txt"},
		{file: "dmesg-nots.txt"},
		{file: "kmsg.txt"},
		{file: "audit.log"},
		{file: "ausearch-i.txt"},
		{file: "journal.json"},
		{file: "wrapped.txt"},
		{file: "journal-short.txt"},
		{file: "mixed.txt"},
		{file: "interleaved.txt"},
		{file: "dmesg-ratelimited.txt", args: []string{"--strict", "--summary"}, code: exitInconcl},
		{file: "dmesg-nots.txt", args: []string{"--strict"}},
		{file: "audit.log", args: []string{"--json", "--types", "INTEGRITY_PCR,1808"}},
	}
	for _, tt := range tests {
		name := tt.file + strings.Join(tt.args, "")
		t.Run(name, func(t *testing.T) {
			args := append(append([]string{}, tt.args...), filepath.Join(auditTestdata, tt.file))
			out, errOut, code := runAudit(t, args...)
			assert.Equal(t, tt.code, code, "stderr: %s", errOut)
			golden := filepath.Join(auditTestdata, "golden", strings.NewReplacer("-", "", ",", "_").Replace(name)+".out")
			if *updateAudit {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, []byte(out), 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./cmd/imasim -run TestAuditGolden -update-audit")
			assert.Equal(t, string(want), out)
		})
	}
}

func TestAuditJSON(t *testing.T) {
	out, _, code := runAudit(t, "--json", filepath.Join(auditTestdata, "dmesg-ratelimited.txt"))
	require.Equal(t, exitOK, code)
	var v struct {
		Records []struct {
			Type      int    `json:"type"`
			TypeName  string `json:"type_name"`
			Serial    uint64 `json:"serial"`
			Path      string `json:"path"`
			Violation bool   `json:"violation"`
			Fields    []struct {
				Key, Op, Value, Encoding string
			} `json:"fields"`
		} `json:"records"`
		Count   int                                `json:"record_count"`
		Kernel  struct{ Release, Upstream string } `json:"kernel"`
		Lossy   bool                               `json:"lossy"`
		Missing uint64                             `json:"missing_serials"`
		PerFile []struct {
			Path  string
			Count int
		} `json:"rule_records_per_file"`
		Evidence []struct {
			Kind string `json:"kind"`
			Line int    `json:"line"`
		} `json:"loss_evidence"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	assert.Len(t, v.Records, 11)
	assert.Equal(t, 11, v.Count)
	assert.Equal(t, "6.12.57+deb13-cloud-amd64", v.Kernel.Release)
	assert.Equal(t, "6.12.57", v.Kernel.Upstream)
	assert.True(t, v.Lossy)
	assert.Equal(t, uint64(3), v.Missing)
	assert.Len(t, v.Evidence, 5)
	assert.Equal(t, 1807, v.Records[0].Type)
	assert.True(t, v.Records[7].Violation)
	assert.Equal(t, "<", v.Records[2].Fields[3].Op)
	assert.Equal(t, "hex", v.Records[9].Fields[0].Encoding)
	require.Len(t, v.PerFile, 2)
	assert.Equal(t, 3, v.PerFile[0].Count)
}

func TestAuditInputs(t *testing.T) {
	dir := t.TempDir()
	plain, err := os.ReadFile(filepath.Join(auditTestdata, "dmesg-nots.txt"))
	require.NoError(t, err)
	gz := filepath.Join(dir, "dmesg.gz")
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(plain)
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(gz, b.Bytes(), 0o644))
	junk := filepath.Join(dir, "junk")
	require.NoError(t, os.WriteFile(junk, []byte("hello\nworld\n"), 0o644))
	marked := filepath.Join(dir, "marked")
	require.NoError(t, os.WriteFile(marked, []byte("imasim-step 1 exec /ovl/x\n"+strings.SplitN(string(plain), "\n", 3)[1]+"\n[ 9.0] imasim-step 2 done\n"), 0o644))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))

	tests := []struct {
		name string
		args []string
		code int
		out  string
		err  string
	}{
		{name: "gzip", args: []string{"--summary", gz}, out: "INTEGRITY_RULE 3"},
		{name: "missing file", args: []string{filepath.Join(dir, "nope")}, code: exitUsage, err: "no such file"},
		{name: "not a log", args: []string{junk}, code: exitUsage, err: "not an IMA log: none of its 2 lines is in a known log form"},
		{name: "empty log", args: []string{empty}, out: "records: 0 integrity"},
		{name: "no file", args: nil, code: exitUsage, err: "want exactly one FILE"},
		{name: "bad format", args: []string{"--format", "xml", gz}, code: exitUsage, err: "unknown --format"},
		{name: "bad type", args: []string{"--types", "SYSCALL", gz}, code: exitUsage, err: "unknown integrity record type"},
		{name: "flags after file", args: []string{gz, "--summary", "--strict"}, out: "no evidence of lost records"},
		{name: "help", args: []string{"-h"}, code: exitOK},
		{name: "markers", args: []string{"--marker", "imasim-step", "--types", "1804", marked}, out: "MARKER                 -        -                        imasim-step 2 done"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runAudit(t, tt.args...)
			assert.Equal(t, tt.code, code, "stderr: %s", errOut)
			assert.Contains(t, out, tt.out)
			assert.Contains(t, errOut, tt.err)
		})
	}
}

// TestAuditStdin reads "-" (swaps os.Stdin, so not parallel).
func TestAuditStdin(t *testing.T) {
	f, err := os.Open(filepath.Join(auditTestdata, "kmsg.txt"))
	require.NoError(t, err)
	defer f.Close()
	old := os.Stdin
	os.Stdin = f
	t.Cleanup(func() { os.Stdin = old })
	out, _, code := runAudit(t, "--summary", "-")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "# <stdin>")
	assert.Contains(t, out, "kmsg-gap")
}
