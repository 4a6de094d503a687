package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imasim/imasim/measure"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var updateLists = flag.Bool("update-lists", false, "regenerate testdata/lists")

const listsDir = "../../testdata/lists"

// sampleListForTest is the list behind testdata/lists/sample.*: the
// three ima-ng entries of ima-evm-utils' test_ascii_runtime_measurements,
// an ima-sig entry, a violation and an entry on PCR 11.
func sampleListForTest(tb testing.TB) *measure.List {
	tb.Helper()
	var l measure.List
	add := func(e *measure.Entry, err error) {
		tb.Helper()
		require.NoError(tb, err)
		require.True(tb, l.Append(e))
	}
	d := func(s string) []byte {
		b, err := hex.DecodeString(s)
		require.NoError(tb, err)
		return b
	}
	add(measure.NewFileEntry("ima-ng", 10, measure.SHA256, d("f1b4c7c9b27e94569f4c2b64051c452bc609c3cb891dd7fae06b758f8bc83d14"), "boot_aggregate"))
	add(measure.NewFileEntry("ima-ng", 10, measure.SHA256, d("ae06e032a65fed8102aff5f8f31c678dcf2eb25b826f77ecb699faa0411f89e0"), "/init"))
	add(measure.NewFileEntry("ima-ng", 10, measure.SHA256, d("4b1764ee112aa8b2a6ae9a3a2f1e272b6601681f610708497673cd49e5bd2f5c"), "/bin/sh"))
	add(measure.NewEntry("ima-sig", 10, measure.DigestNG("sha256", bytes.Repeat([]byte{0x11}, 32)), measure.Name("/usr/bin/signed"), []byte{0x03, 0x02, 0x04, 0xaa, 0xbb}))
	add(measure.NewViolation("ima-ng", 10, measure.SHA256, "/var/log/syslog"))
	add(measure.NewFileEntry("ima-ng", 11, measure.SHA256, bytes.Repeat([]byte{0x22}, 32), "/etc/pcr11.conf"))
	return &l
}

func replayFor(tb testing.TB, l *measure.List, a measure.Algo, m measure.Mode, pcr int) []byte {
	tb.Helper()
	res, err := l.Replay(measure.ReplayConfig{Banks: []measure.Algo{a}, Modes: []measure.Mode{m}})
	require.NoError(tb, err)
	for _, p := range res.Tracks[0].PCRs {
		if p.PCR == pcr {
			return p.Value
		}
	}
	tb.Fatalf("PCR %d not extended", pcr)
	return nil
}

// TestListGoldens checks (and with -update-lists regenerates) the lists in
// testdata/lists, all written by package measure.
func TestListGoldens(t *testing.T) {
	l := sampleListForTest(t)
	var bin, ascii, be bytes.Buffer
	require.NoError(t, l.WriteBinary(&bin, measure.WriteOptions{}))
	require.NoError(t, l.WriteASCII(&ascii, 0))
	require.NoError(t, l.WriteBinary(&be, measure.WriteOptions{Order: binary.BigEndian}))
	files := map[string][]byte{
		"sample.bin":            bin.Bytes(),
		"sample.ascii":          ascii.Bytes(),
		"sample-be.bin":         be.Bytes(),
		"sample-pcrs-sha1.txt":  []byte(fmt.Sprintf("PCR-10: %x\n", replayFor(t, l, measure.SHA1, measure.PerBank, 10))),
		"sample-pcr10-sha256":   []byte(fmt.Sprintf("%x\n", replayFor(t, l, measure.SHA256, measure.PerBank, 10))),
		"sample-pcr10-sha256-p": []byte(fmt.Sprintf("%x\n", replayFor(t, l, measure.SHA256, measure.SHA1Padded, 10))),
		"sample-pcrs-wrong.txt": []byte("PCR-10: " + strings.Repeat("00", 19) + "01\n"),
		"sample-pcrs-tpm2.yaml": []byte(fmt.Sprintf("  sha1:\n    10: 0x%X\n    11: 0x%X\n  sha256:\n    10: 0x%X\n", replayFor(t, l, measure.SHA1, measure.PerBank, 10), replayFor(t, l, measure.SHA1, measure.PerBank, 11), replayFor(t, l, measure.SHA256, measure.PerBank, 10))),
		"truncated.bin":         bin.Bytes()[:len(bin.Bytes())-7],
		"garbage.bin":           bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 16),
		"sha256-ambiguous.hex":  []byte(strings.Repeat("ab", 32) + "\n"),
		"ascii_runtime_measurements_sha256": func() []byte {
			var b bytes.Buffer
			require.NoError(t, l.WriteASCII(&b, measure.SHA256))
			return b.Bytes()
		}(),
	}
	for name, want := range files {
		path := filepath.Join(listsDir, name)
		if *updateLists {
			require.NoError(t, os.WriteFile(path, want, 0o644))
			continue
		}
		got, err := os.ReadFile(path)
		require.NoError(t, err, "run go test ./cmd/imasim -run TestListGoldens -update-lists")
		assert.Equal(t, want, got, "%s is stale: run with -update-lists", name)
	}
}

func runList(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"list"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func lists(name string) string { return filepath.Join(listsDir, name) }

func TestListShow(t *testing.T) {
	want, err := os.ReadFile(lists("sample.ascii"))
	require.NoError(t, err)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"binary", []string{"show", lists("sample.bin")}, 0, string(want)},
		{"big-endian detected", []string{"show", lists("sample-be.bin"), "--order", "auto"}, 0, ""},
		{"ascii input", []string{"show", lists("sample.ascii")}, 0, string(want)},
		{"flags after", []string{"show", lists("sample.bin"), "--order", "le"}, 0, string(want)},
		{"truncated", []string{"show", lists("truncated.bin")}, 2, ""},
		{"garbage", []string{"show", lists("garbage.bin")}, 2, ""},
		{"missing", []string{"show", lists("nope.bin")}, 2, ""},
		{"no file", []string{"show"}, 2, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runList(t, tc.args...)
			require.Equal(t, tc.code, code, "stderr: %s", errs)
			if tc.want != "" {
				assert.Equal(t, tc.want, out)
			}
		})
	}
	t.Run("real kernel per-bank file", func(t *testing.T) {
		want, err := os.ReadFile(lists("kernel/linux-7.2.13/ascii_runtime_measurements_sha256"))
		require.NoError(t, err)
		code, out, errs := runList(t, "show", lists("kernel/linux-7.2.13/binary_runtime_measurements_sha256"))
		require.Equal(t, 0, code, errs)
		assert.Equal(t, string(want), out)
	})
	t.Run("truncated names the entry", func(t *testing.T) {
		_, out, errs := runList(t, "show", lists("truncated.bin"))
		assert.Contains(t, errs, "entry 5 at offset")
		assert.Equal(t, 5, strings.Count(out, "\n"), "entries before the bad one are shown")
	})
	t.Run("json", func(t *testing.T) {
		code, out, _ := runList(t, "show", "--json", lists("sample.bin"))
		require.Equal(t, 0, code)
		var doc struct {
			Schema  int
			Entries []struct {
				PCR       int
				Name      string
				Violation bool
				Fields    []string
			}
		}
		require.NoError(t, json.Unmarshal([]byte(out), &doc))
		assert.Equal(t, 1, doc.Schema)
		require.Len(t, doc.Entries, 6)
		assert.Equal(t, "/init", doc.Entries[1].Name)
		assert.True(t, doc.Entries[4].Violation)
		assert.Equal(t, 11, doc.Entries[5].PCR)
		assert.Equal(t, []string{"sha256:" + strings.Repeat("11", 32), "/usr/bin/signed", "030204aabb"}, doc.Entries[3].Fields)
	})
}

func TestListVerify(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"sparse sha1 PCR file", []string{lists("sample.bin"), "--pcrs", lists("sample-pcrs-sha1.txt")}, 0, "sha1: match (per-bank): PCR 10 at entry 4"},
		{"bare sysfs hex with ALG", []string{lists("sample.bin"), "--pcrs", "sha256," + lists("sample-pcr10-sha256")}, 0, "sha256: match (per-bank)"},
		{"sha1 padded kernel", []string{lists("sample.bin"), "--pcrs", "sha256," + lists("sample-pcr10-sha256-p")}, 0, "sha256: match (sha1-padded)"},
		{"tpm2_pcrread banks", []string{lists("sample.bin"), "--pcrs", lists("sample-pcrs-tpm2.yaml")}, 0, "sha1: match (per-bank): PCR 10 at entry 4, PCR 11 at entry 5"},
		{"repeated --pcrs", []string{lists("sample.bin"), "--pcrs", lists("sample-pcrs-sha1.txt"), "--pcrs", "sha256," + lists("sample-pcr10-sha256")}, 0, "sha256: match"},
		{"ascii list", []string{lists("sample.ascii"), "--pcrs", lists("sample-pcrs-sha1.txt")}, 0, "match"},
		{"per-bank ascii file", []string{lists("ascii_runtime_measurements_sha256"), "--pcrs", "sha256," + lists("sample-pcr10-sha256")}, 0, "template digests: ok"},
		{"mismatch", []string{lists("sample.bin"), "--pcrs", lists("sample-pcrs-wrong.txt")}, 1, "MISMATCH"},
		{"no quote just replays", []string{lists("sample.bin")}, 0, "template digests: ok"},
		{"ambiguous 32-byte value", []string{lists("sample.bin"), "--pcrs", lists("sha256-ambiguous.hex")}, 2, ""},
		{"bad list", []string{lists("garbage.bin"), "--pcrs", lists("sample-pcrs-sha1.txt")}, 2, ""},
		{"bad mode", []string{lists("sample.bin"), "--modes", "sideways"}, 2, ""},
		{"real 6.1 kernel, all four banks", []string{lists("kernel/linux-6.1.176/binary_runtime_measurements"), "--pcrs", lists("kernel/linux-6.1.176/pcrs")}, 0,
			"sha384: match (fallback): PCR 10 at entry 15, PCR 11 at entry 9"},
		{"real 7.2 kernel, per-bank file", []string{lists("kernel/linux-7.2.13/binary_runtime_measurements_sha512"), "--pcrs", lists("kernel/linux-7.2.13/pcrs")}, 0,
			"sha512: match (per-bank): PCR 10 at entry 15"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runList(t, append([]string{"verify"}, tc.args...)...)
			require.Equal(t, tc.code, code, "stdout: %s\nstderr: %s", out, errs)
			assert.Contains(t, out, tc.out)
		})
	}
	t.Run("an empty list is not a list", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "binary_runtime_measurements")
		require.NoError(t, os.WriteFile(empty, nil, 0o644))
		for _, verb := range []string{"verify", "show", "convert"} {
			args := []string{verb, empty, "--pcrs", lists("sample-pcrs-sha1.txt")}
			switch verb {
			case "show":
				args = args[:2]
			case "convert":
				args = []string{verb, empty, filepath.Join(t.TempDir(), "out")}
			}
			code, _, errs := runList(t, args...)
			assert.Equal(t, exitUsage, code, verb)
			assert.Contains(t, errs, "not an IMA list: empty input", verb)
		}
	})
	t.Run("json", func(t *testing.T) {
		code, out, _ := runList(t, "verify", "--format", "json", lists("sample.bin"), "--pcrs", lists("sample-pcrs-wrong.txt"))
		require.Equal(t, 1, code)
		var doc struct {
			Schema int
			Result string
			Banks  []struct {
				Bank    string
				Matched bool
			}
		}
		require.NoError(t, json.Unmarshal([]byte(out), &doc))
		assert.Equal(t, "mismatch", doc.Result)
		require.Len(t, doc.Banks, 1)
		assert.False(t, doc.Banks[0].Matched)
	})
}

func TestListVerifyIncremental(t *testing.T) {
	dir := t.TempDir()
	l := sampleListForTest(t)
	first := &measure.List{Entries: l.Entries[:3]}
	var b1, b2 bytes.Buffer
	require.NoError(t, first.WriteBinary(&b1, measure.WriteOptions{}))
	require.NoError(t, l.WriteBinary(&b2, measure.WriteOptions{}))
	list := filepath.Join(dir, "binary_runtime_measurements")
	state := filepath.Join(dir, "state.json")

	require.NoError(t, os.WriteFile(list, b1.Bytes(), 0o644))
	code, _, errs := runList(t, "verify", list, "--save-state", state, "--banks", "sha1,sha256")
	require.Equal(t, 0, code, errs)

	// The list grows; resume replays only the new entries.
	require.NoError(t, os.WriteFile(list, b2.Bytes(), 0o644))
	code, out, errs := runList(t, "verify", list, "--state", state, "--pcrs", lists("sample-pcrs-sha1.txt"), "--save-state", state)
	require.Equal(t, 0, code, "%s %s", out, errs)
	assert.Contains(t, out, "entries: 6")
	assert.Contains(t, out, "PCR 10 at entry 4")

	// A list shorter than the state (another boot) is bad input.
	require.NoError(t, os.WriteFile(list, b1.Bytes(), 0o644))
	code, _, errs = runList(t, "verify", list, "--state", state)
	require.Equal(t, 2, code)
	assert.Contains(t, errs, "fewer than the saved state")

	var st measure.State
	b, err := os.ReadFile(state)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &st))
	assert.Equal(t, 6, st.Entries)
	assert.Equal(t, int64(b2.Len()), st.Offset)
	assert.Equal(t, "le", st.Order)
}

func TestListConvert(t *testing.T) {
	dir := t.TempDir()
	bin, err := os.ReadFile(lists("sample.bin"))
	require.NoError(t, err)
	ascii, err := os.ReadFile(lists("sample.ascii"))
	require.NoError(t, err)

	out := filepath.Join(dir, "out")
	code, _, errs := runList(t, "convert", lists("sample.bin"), out)
	require.Equal(t, 0, code, errs)
	got, _ := os.ReadFile(out)
	assert.Equal(t, string(ascii), string(got), "binary -> ascii")

	code, _, errs = runList(t, "convert", lists("sample.ascii"), out)
	require.Equal(t, 0, code, errs)
	got, _ = os.ReadFile(out)
	assert.Equal(t, bin, got, "ascii -> binary")

	code, stdout, errs := runList(t, "convert", "--order", "be", "--to", "binary", lists("sample.bin"), "-")
	require.Equal(t, 0, code, errs)
	be, _ := os.ReadFile(lists("sample-be.bin"))
	assert.Equal(t, be, []byte(stdout), "le -> be recomputes digests")

	code, stdout, errs = runList(t, "convert", "--in-order", "be", "--to", "binary", lists("sample-be.bin"), "-")
	require.Equal(t, 0, code, errs)
	assert.Equal(t, bin, []byte(stdout), "be -> le")

	code, stdout, errs = runList(t, "convert", "--to", "ascii", "--bank", "sha256", lists("sample.bin"), "-")
	require.Equal(t, 0, code, errs)
	want256, _ := os.ReadFile(lists("ascii_runtime_measurements_sha256"))
	assert.Equal(t, string(want256), stdout)

	code, _, _ = runList(t, "convert", "--to", "xml", lists("sample.bin"), "-")
	assert.Equal(t, 2, code)
}

func TestListExtend(t *testing.T) {
	code, out, errs := runList(t, "extend", lists("sample.bin"), "--tpm", "software")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "extended 6 entries")
	sha1, err := os.ReadFile(lists("sample-pcrs-sha1.txt"))
	require.NoError(t, err)
	assert.Contains(t, out, "sha1   PCR 10: "+strings.TrimSpace(strings.TrimPrefix(string(sha1), "PCR-10: ")))
	sha256, err := os.ReadFile(lists("sample-pcr10-sha256"))
	require.NoError(t, err)
	assert.Contains(t, out, "sha256 PCR 10: "+strings.TrimSpace(string(sha256)))

	code, out, _ = runList(t, "extend", lists("sample.bin"), "--tpm", "software", "--mode", "sha1-padded")
	require.Equal(t, 0, code)
	padded, err := os.ReadFile(lists("sample-pcr10-sha256-p"))
	require.NoError(t, err)
	assert.Contains(t, out, "sha256 PCR 10: "+strings.TrimSpace(string(padded)))

	code, _, _ = runList(t, "extend", lists("sample.bin"))
	assert.Equal(t, 2, code, "--tpm is required")
}

func TestListVerifyTPM(t *testing.T) {
	// A software TPM starts at zero: nothing the list extends matches.
	code, out, _ := runList(t, "verify", lists("sample.bin"), "--tpm", "software")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "MISMATCH")
	assert.NotContains(t, out, "PCR  0", "only PCRs the list extends are compared")
}

func TestListUsage(t *testing.T) {
	code, out, _ := runList(t)
	assert.Equal(t, 2, code)
	assert.Contains(t, out, "usage: imasim list")
	code, _, _ = runList(t, "frobnicate")
	assert.Equal(t, 2, code)
	code, _, _ = runList(t, "verify", "-h")
	assert.Equal(t, 0, code)
}
