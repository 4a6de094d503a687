package audit

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func scanErr(data []byte) (Stats, error) {
	s := NewScanner(bytes.NewReader(data))
	for s.Scan() {
	}
	return s.Stats(), s.Err()
}

// Random bytes are not a log, at any length: binary data, or text with no
// line in a known form. (Before the head check, one random 64 KiB file in
// five passed: any line starting with '[' counted as a printk timestamp.)
func TestRandomIsNotALog(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 8))
	for i := 0; i < 300; i++ {
		n := []int{7, 30, 100, 4096, 64 << 10, 200 << 10}[i%6]
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		_, err := scanErr(b)
		var nl *NotLogError
		require.ErrorAs(t, err, &nl, "random input %d of %d bytes", i, n)
	}
	// Printable random text with newlines: not binary, still not a log.
	const alphabet = "abcdefghijklmnopqrstuvwxyz ABC[]{}.:=0123456789\n"
	for i := 0; i < 100; i++ {
		b := make([]byte, 8<<10)
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		_, err := scanErr(b)
		var nl *NotLogError
		require.ErrorAs(t, err, &nl, "random text %d", i)
		assert.Equal(t, int64(-1), nl.Offset)
	}
}

// Every real log under testdata is a log; one with no IMA record is too.
func TestRealLogsAreLogs(t *testing.T) {
	var files []string
	for _, g := range []string{"../../testdata/audit/*.*", "../../testdata/vm/*/*/dmesg.txt", "../../testdata/vm/*/*/audit.log", "../../testdata/vm/*/*/console.log", "../../testdata/lists/kernel/*/console.txt"} {
		m, err := filepath.Glob(g)
		require.NoError(t, err)
		files = append(files, m...)
	}
	require.Greater(t, len(files), 10)
	for _, f := range files {
		if strings.HasSuffix(f, ".md") {
			continue
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		_, err = scanErr(b)
		if strings.HasSuffix(f, "console.log") && !strings.Contains(string(b), "\n[ ") {
			// A quiet boot's console holds only the guest agent's lines
			// (the kernel's own are in dmesg.txt): not a log.
			var nl *NotLogError
			assert.ErrorAs(t, err, &nl, f)
			continue
		}
		assert.NoError(t, err, f)
	}
	st, err := scanErr([]byte("[    0.000000] Linux version 6.12.107 (x@y) #1 SMP\n[    1.000000] EXT4-fs (vda): mounted\n"))
	require.NoError(t, err, "a kernel log without IMA records")
	assert.Zero(t, st.Records)
	_, err = scanErr(nil)
	assert.NoError(t, err, "an empty log has no records")
}

// The binary check looks at the head only and gives the offset.
func TestNotLogOffset(t *testing.T) {
	log := []byte("[    1.000000] audit: type=1805 audit(1.1:1): file=\"/a\"\n")
	_, err := scanErr(append(append([]byte{}, log...), 'x', 0, 'y', '\n'))
	var nl *NotLogError
	require.ErrorAs(t, err, &nl)
	assert.Equal(t, int64(len(log)+1), nl.Offset)
	assert.EqualError(t, err, "not an IMA log: binary data at byte offset 57")

	// Past HeadCheck, a NUL run (a syslog file after a crash) is skipped.
	big := bytes.Repeat(log, HeadCheck/len(log)+1)
	big = append(big, make([]byte, 100)...)
	big = append(big, '\n')
	big = append(big, log...)
	st, err := scanErr(big)
	require.NoError(t, err)
	assert.Equal(t, HeadCheck/len(log)+3, st.Lines)
}
