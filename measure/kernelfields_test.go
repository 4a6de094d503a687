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

// FuzzFileEntryRoundTrip: an entry built from any file (owner, mode, EVM
// xattrs, signatures; any template and hash; measurement or violation)
// reads back from its binary and ASCII lists with the same template digest
// in every bank and the same fields, and verifies.
func FuzzFileEntryRoundTrip(f *testing.F) {
	f.Add(uint8(7), uint8(1), false, uint32(1000), uint32(1001), uint16(0o100755), uint8(0x41), []byte("system_u:object_r:bin_t:s0"), []byte{3, 2, 1})
	f.Add(uint8(0), uint8(0), true, uint32(0), uint32(0), uint16(0o100644), uint8(0), []byte{}, []byte{5})
	f.Add(uint8(2), uint8(4), false, uint32(1), uint32(2), uint16(0o100600), uint8(0xff), []byte{0, 1, 2}, []byte{6, 0})
	f.Fuzz(func(t *testing.T, ti, ai uint8, viol bool, uid, gid uint32, mode uint16, which uint8, val, sig []byte) {
		if len(val) > 4096 || len(sig) > 4096 {
			return
		}
		tmpl := builtins[int(ti)%len(builtins)]
		a := Algos[int(ai)%len(Algos)]
		if tmpl.IsIMA() {
			a = SHA1
		}
		fi := &FileInfo{File: true, UID: uid, GID: gid, Mode: mode, Xattrs: map[string][]byte{}}
		for i, n := range EVMXattrs {
			if which&(1<<i) != 0 {
				fi.Xattrs[n] = val
			}
		}
		if len(sig) > 0 {
			name := "security.evm"
			if sig[0] != xattrEVMPortable {
				name = "security.ima"
			}
			fi.Xattrs[name] = sig
		}
		h := a.New()
		h.Write(val)
		var e *Entry
		var err error
		if viol {
			e, err = NewViolationInfo(tmpl.Name, 10, a, "/f x", fi)
		} else {
			e, err = NewFileEntryInfo(tmpl.Name, 10, a, h.Sum(nil), "/f x", fi)
		}
		require.NoError(t, err)
		l := &List{}
		l.Append(e)
		want, err := l.Replay(ReplayConfig{Banks: []Algo{SHA1, SHA256}, Modes: []Mode{PerBank}})
		require.NoError(t, err)
		require.NoError(t, want.Verify())

		var bin bytes.Buffer
		require.NoError(t, l.WriteBinary(&bin, WriteOptions{}))
		bl, err := ReadList(bytes.NewReader(bin.Bytes()), ReadOptions{})
		require.NoError(t, err)
		require.Equal(t, 1, bl.Len())
		require.Equal(t, e.Fields, bl.Entries[0].Fields)
		require.Equal(t, e.Digest, bl.Entries[0].Digest)

		var asc bytes.Buffer
		require.NoError(t, l.WriteASCII(&asc, SHA1))
		al, err := ReadASCIIList(strings.NewReader(asc.String()), ReadOptions{Bank: SHA1})
		require.NoError(t, err, "%q", asc.String())
		require.Equal(t, 1, al.Len())
		got, err := al.Replay(ReplayConfig{Banks: []Algo{SHA1, SHA256}, Modes: []Mode{PerBank}})
		require.NoError(t, err)
		require.NoError(t, got.Verify(), "%q", asc.String())
		require.Equal(t, want.Tracks, got.Tracks, "%q", asc.String())
	})
}
