package measure

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fileInfoOf reads back from a kernel-written entry what the kernel read
// from the file: owner, mode, the EVM xattrs, the signatures.
func fileInfoOf(t *testing.T, e *Entry) *FileInfo {
	fi := &FileInfo{File: true, Xattrs: map[string][]byte{}}
	var names []string
	var lengths, values []byte
	for i, f := range e.Template.Fields {
		v := e.Fields[i]
		switch f.ID {
		case "iuid":
			fi.UID = binary.LittleEndian.Uint32(v)
		case "igid":
			fi.GID = binary.LittleEndian.Uint32(v)
		case "imode":
			fi.Mode = binary.LittleEndian.Uint16(v)
		case "sig":
			if len(v) > 0 && v[0] == xattrEVMPortable {
				fi.Xattrs["security.evm"] = v
			} else if len(v) > 0 {
				fi.Xattrs["security.ima"] = v
			}
		case "evmsig":
			if len(v) > 0 {
				fi.Xattrs["security.evm"] = v
			}
		case "xattrnames":
			if len(v) > 0 {
				names = strings.Split(string(cstring(v)), "|")
			}
		case "xattrlengths":
			lengths = v
		case "xattrvalues":
			values = v
		}
	}
	for i, n := range names {
		l := binary.LittleEndian.Uint32(lengths[4*i:])
		fi.Xattrs[n], values = values[:l], values[l:]
	}
	return fi
}

// Entries built as the kernel builds them have the template digest a real
// kernel gave the same measurement (captured 6.1.176, 6.12.107, 7.2.13
// lists: ima, ima-ng, ima-sig, ima-ngv2, evm-sig, a custom
// format with iuid/igid/imode; file measurements and violations).
func TestEntriesAsTheKernelBuildsThem(t *testing.T) {
	dirs, err := filepath.Glob("../testdata/lists/kernel/linux-*")
	require.NoError(t, err)
	checked := map[string]int{}
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, "binary_runtime_measurements"))
		require.NoError(t, err)
		l, err := ReadList(bytes.NewReader(data), ReadOptions{})
		require.NoError(t, err)
		for i, e := range l.Entries {
			name, ok := e.FileName()
			if !ok || name == "boot_aggregate" || e.Template.Name == "ima-buf" || e.Template.Name == "ima-modsig" {
				continue
			}
			pre, d, ok := e.FileDigest()
			require.True(t, ok)
			pre = strings.TrimPrefix(strings.TrimSuffix(pre, ":"), "ima:")
			algo := SHA1
			if pre != "" {
				if algo, err = ParseAlgo(pre); err != nil {
					continue // md5, verity: digests imasim does not produce
				}
			}
			fi := fileInfoOf(t, e)
			var got *Entry
			if e.IsViolation() {
				got, err = NewViolationInfo(e.Template.ListName(), e.PCR, algo, name, fi)
			} else {
				got, err = NewFileEntryInfo(e.Template.ListName(), e.PCR, algo, d, name, fi)
			}
			require.NoError(t, err, "%s entry %d", dir, i)
			require.Equal(t, e.TemplateHash(SHA1), got.TemplateHash(SHA1), "%s entry %d (%s %s)", dir, i, e.Template.ListName(), name)
			checked[e.Template.ListName()]++
			if e.IsViolation() {
				checked["violation"]++
			}
		}
	}
	for _, tmpl := range []string{"ima", "ima-ng", "ima-sig", "ima-ngv2", "evm-sig", "d-ng|n-ng|iuid|igid|imode"} {
		require.NotZero(t, checked[tmpl], "no %s entry in the captured lists", tmpl)
	}
	require.NotZero(t, checked["violation"], "no violation in the captured lists")
	t.Logf("rebuilt: %v", checked)
}
