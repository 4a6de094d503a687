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
