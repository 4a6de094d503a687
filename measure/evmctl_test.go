package measure

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// writeEvmctlPCRs writes a full PCR-00..PCR-23 file for bank (evmctl 1.4
// reads PCR-NN lines in sequence and misreads sparse files).
func writeEvmctlPCRs(tb testing.TB, path string, bank Algo, res *Result, mode Mode) {
	tb.Helper()
	var b strings.Builder
	vals := map[int][]byte{}
	for _, tr := range res.Tracks {
		if tr.Bank == bank && tr.Mode == mode {
			for _, p := range tr.PCRs {
				vals[p.PCR] = p.Value
			}
		}
	}
	for i := 0; i < NumPCRs; i++ {
		v, ok := vals[i]
		if !ok {
			v = make([]byte, bank.Size())
		}
		fmt.Fprintf(&b, "PCR-%02d: %s\n", i, hex.EncodeToString(v))
	}
	require.NoError(tb, os.WriteFile(path, []byte(b.String()), 0o644))
}

// evmctlList is a list evmctl 1.4 understands: ima-ng and ima-sig entries
// and a violation, all on PCR 10.
func evmctlList(tb testing.TB, n int) *List {
	tb.Helper()
	l := sampleList(tb)
	for i := 0; i < n; i++ {
		d := SHA256.New()
		fmt.Fprintf(d, "file %d", i)
		e, err := NewFileEntry("ima-ng", 10, SHA256, d.Sum(nil), fmt.Sprintf("/usr/bin/prog-%d", i))
		require.NoError(tb, err)
		l.Append(e)
	}
	e, err := NewFileEntry("ima-sig", 10, SHA256, make([]byte, 32), "/unsigned")
	require.NoError(tb, err)
	l.Append(e)
	v, err := NewViolation("ima-ng", 10, SHA256, "/tmp/tomtou")
	require.NoError(tb, err)
	l.Append(v)
	return l
}

// Lists written by this package verify with evmctl ima_measurement
// (ima-evm-utils), in per-bank and SHA-1 padded modes.
func TestEvmctlVerifiesWrittenList(t *testing.T) {
	evmctl, err := exec.LookPath("evmctl")
	if err != nil {
		t.Skip("evmctl not installed (Debian package ima-evm-utils)")
	}
	dir := t.TempDir()
	l := evmctlList(t, 50)
	var buf bytes.Buffer
	require.NoError(t, l.WriteBinary(&buf, WriteOptions{}))
	list := filepath.Join(dir, "binary_runtime_measurements")
	require.NoError(t, os.WriteFile(list, buf.Bytes(), 0o644))
	res, err := l.Replay(ReplayConfig{Banks: []Algo{SHA1, SHA256}})
	require.NoError(t, err)

	for _, tc := range []struct {
		mode Mode
		want string
	}{
		{PerBank, "Matched per TPM bank"},
		{SHA1Padded, "Matched SHA1 padded"},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			p1, p256 := filepath.Join(dir, "sha1-"+tc.mode.String()), filepath.Join(dir, "sha256-"+tc.mode.String())
			writeEvmctlPCRs(t, p1, SHA1, res, PerBank)
			writeEvmctlPCRs(t, p256, SHA256, res, tc.mode)
			// evmctl 1.4 extends violations as 0x00 unless told to
			// --ignore-violations, which makes it extend 0xFF as kernels do.
			out, err := exec.Command(evmctl, "ima_measurement", "--ignore-violations", "--pcrs", "sha1,"+p1, "--pcrs", "sha256,"+p256, list).CombinedOutput()
			require.NoError(t, err, "evmctl: %s", out)
			require.Contains(t, string(out), tc.want, "evmctl: %s", out)
		})
	}
	t.Run("mismatch", func(t *testing.T) {
		p := filepath.Join(dir, "zero")
		writeEvmctlPCRs(t, p, SHA1, &Result{}, PerBank)
		out, err := exec.Command(evmctl, "ima_measurement", "--pcrs", "sha1,"+p, list).CombinedOutput()
		require.Error(t, err, "evmctl: %s", out)
	})
}

// evmctl agrees with the TPM on a list a real kernel wrote (it warns about
// templates it does not parse fully, but replays them).
func TestEvmctlOnCapturedList(t *testing.T) {
	evmctl, err := exec.LookPath("evmctl")
	if err != nil {
		t.Skip("evmctl not installed (Debian package ima-evm-utils)")
	}
	dir := filepath.Join("..", "testdata", "lists", "kernel", "linux-7.2.13")
	pf, err := os.Open(filepath.Join(dir, "pcrs"))
	require.NoError(t, err)
	q, err := ParsePCRs(pf, 0)
	pf.Close()
	require.NoError(t, err)
	tmp := t.TempDir()
	args := []string{"ima_measurement", "--ignore-violations"}
	for _, a := range []Algo{SHA1, SHA256} {
		res := &Result{Tracks: []TrackResult{{Bank: a, Mode: PerBank}}}
		for i, v := range q[a] {
			res.Tracks[0].PCRs = append(res.Tracks[0].PCRs, PCRResult{PCR: i, Value: v})
		}
		p := filepath.Join(tmp, a.String())
		writeEvmctlPCRs(t, p, a, res, PerBank)
		args = append(args, "--pcrs", a.String()+","+p)
	}
	out, err := exec.Command(evmctl, append(args, filepath.Join(dir, "binary_runtime_measurements"))...).CombinedOutput()
	require.NoError(t, err, "evmctl: %s", out)
	require.Contains(t, string(out), "Matched per TPM bank")
}

// A sparse PCR file (only PCR 10) is what a verifier has; evmctl 1.4 reads
// PCR-NN lines in sequence and misses it, ParsePCRs does not.
func TestSparsePCRFileVersusEvmctl(t *testing.T) {
	l := evmctlList(t, 3)
	res, err := l.Replay(ReplayConfig{Banks: []Algo{SHA1}})
	require.NoError(t, err)
	sparse := fmt.Sprintf("PCR-10: %x\n", res.Tracks[0].PCRs[0].Value)
	q, err := ParsePCRs(strings.NewReader(sparse), 0)
	require.NoError(t, err)
	res, err = l.Replay(ReplayConfig{Quote: q})
	require.NoError(t, err)
	require.NoError(t, res.Verify())

	evmctl, err := exec.LookPath("evmctl")
	if err != nil {
		t.Skip("evmctl not installed (Debian package ima-evm-utils)")
	}
	dir := t.TempDir()
	var buf bytes.Buffer
	require.NoError(t, l.WriteBinary(&buf, WriteOptions{}))
	list, pcrs := filepath.Join(dir, "list"), filepath.Join(dir, "pcrs")
	require.NoError(t, os.WriteFile(list, buf.Bytes(), 0o644))
	require.NoError(t, os.WriteFile(pcrs, []byte(sparse), 0o644))
	out, err := exec.Command(evmctl, "ima_measurement", "--ignore-violations", "--pcrs", "sha1,"+pcrs, list).CombinedOutput()
	if err == nil && strings.Contains(string(out), "Matched") {
		t.Logf("this evmctl reads sparse PCR files: %s", out)
		return
	}
	t.Logf("evmctl misses the sparse PCR 10 as expected: %s", bytes.TrimSpace(out))
}
