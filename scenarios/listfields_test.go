package scenarios

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/measure"
)

// fieldsScenario measures a file with a known owner, mode, EVM-protected
// xattr and content, then records a ToMToU violation on it.
const fieldsScenario = `name: fields
policy: measure func=FILE_CHECK uid=1000
fs ext4 /data
write /data/a "alpha" mode=0750
chown /data/a 1000:1001
setxattr /data/a security.selinux "system_u:object_r:bin_t:s0"
setxattr /data/a user.note "not EVM-protected"
open %r /data/a r uid=1000
open %w /data/a w uid=1000
close %w
close %r
`

func profileWith(t *testing.T, template, hash string) *cache.Profile {
	t.Helper()
	body := fmt.Sprintf("inherit: 7.1\nname: t\nabout: t\nkernels: 7.1 ..\ntemplate: %s\nhash: %s\n", template, hash)
	p, err := cache.ParseProfile(strings.NewReader(body), "t.profile", cache.LoadProfile)
	require.NoError(t, err)
	return p
}

// The file digest is the content's digest in the profile's hash (SHA-1
// in a "d" field), and the fields read from the file (iuid, igid, imode,
// the EVM xattrs) hold what the file has, for its measurement and for
// its violation (Linux v7.2.13: ima_template_lib.c).
func TestListEntriesCarryTheFile(t *testing.T) {
	s, err := Parse(strings.NewReader(fieldsScenario), "fields.scn")
	require.NoError(t, err)
	for _, tmpl := range []string{"ima", "ima-ng", "ima-ngv2", "evm-sig", "d|n-ng|iuid|igid|imode|xattrnames|xattrlengths|xattrvalues"} {
		for _, h := range []string{"sha1", "sha256", "sha384", "sha512", "sm3"} {
			if tmpl == "ima" && h != "sha1" {
				continue
			}
			t.Run(tmpl+"/"+h, func(t *testing.T) {
				a, err := measure.ParseAlgo(h)
				require.NoError(t, err)
				res, err := Run(s, profileWith(t, tmpl, h))
				require.NoError(t, err)
				require.Equal(t, 3, res.ML.Len(), "boot_aggregate, the file, the violation")
				want := a.New()
				want.Write([]byte("alpha"))
				wantDigest := want.Sum(nil)
				tp, err := measure.LookupTemplate(tmpl)
				require.NoError(t, err)
				for i, e := range res.ML.Entries[1:] {
					viol := i == 1
					require.Equal(t, viol, e.IsViolation())
					_, d, ok := e.FileDigest()
					require.True(t, ok)
					switch {
					case viol && tp.Fields[0].ID == "d":
						require.Equal(t, make([]byte, 20), d)
					case viol:
						require.Equal(t, make([]byte, a.Size()), d)
					case tp.Fields[0].ID == "d":
						s := sha1.Sum([]byte("alpha"))
						require.Equal(t, s[:], d, "a d field holds the SHA-1")
					default:
						require.Equal(t, wantDigest, d)
					}
					for j, f := range tp.Fields {
						got := e.Fields[j]
						switch f.ID {
						case "iuid":
							require.Equal(t, uint32(1000), binary.LittleEndian.Uint32(got))
						case "igid":
							require.Equal(t, uint32(1001), binary.LittleEndian.Uint32(got))
						case "imode":
							require.Equal(t, uint16(0o100750), binary.LittleEndian.Uint16(got))
						case "xattrnames":
							require.Equal(t, []byte("security.selinux\x00"), got)
						case "xattrlengths":
							require.Equal(t, binary.LittleEndian.AppendUint32(nil, 26), got)
						case "xattrvalues":
							require.Equal(t, []byte("system_u:object_r:bin_t:s0"), got)
						case "evmsig", "sig":
							require.Empty(t, got, "no security.evm portable signature")
						}
					}
				}
				// boot_aggregate has no file: those fields stay empty
				for j, f := range tp.Fields {
					if f.ID != "d" && f.ID != "d-ng" && f.ID != "d-ngv2" && f.ID != "n" && f.ID != "n-ng" {
						require.Empty(t, res.ML.Entries[0].Fields[j], f.ID)
					}
				}
			})
		}
	}
}

// Signatures come from the file's xattrs: a security.ima signature (type
// 3) fills ima-sig's "sig", a portable security.evm signature (type 5)
// fills "evmsig" and stands in for "sig" when security.ima is none.
func TestFileInfoSignatures(t *testing.T) {
	imaSig := []byte{3, 2, 1, 0, 0, 0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef}
	evmSig := []byte{5, 2, 1, 2, 3}
	fi := &measure.FileInfo{File: true, Mode: 0o100644, Xattrs: map[string][]byte{"security.ima": imaSig}}
	e, err := measure.NewFileEntryInfo("ima-sig", 10, measure.SHA256, make([]byte, 32), "/f", fi)
	require.NoError(t, err)
	require.Equal(t, imaSig, e.Fields[2])
	v, err := measure.NewViolationInfo("ima-sig", 10, measure.SHA256, "/f", fi)
	require.NoError(t, err)
	require.Empty(t, v.Fields[2], "a violation has no security.ima value")

	fi.Xattrs = map[string][]byte{"security.ima": {4, 1, 2}, "security.evm": evmSig, "security.capability": {1}}
	e, err = measure.NewFileEntryInfo("ima-sig", 10, measure.SHA256, make([]byte, 32), "/f", fi)
	require.NoError(t, err)
	require.Equal(t, evmSig, e.Fields[2], "a digest in security.ima: the EVM signature instead")
	e, err = measure.NewFileEntryInfo("evm-sig", 10, measure.SHA256, make([]byte, 32), "/f", fi)
	require.NoError(t, err)
	require.Equal(t, evmSig, e.Fields[2])
	require.Equal(t, []byte("security.ima|security.capability\x00"), e.Fields[3], "kernel order, not map order")
	require.Equal(t, []byte{3, 0, 0, 0, 1, 0, 0, 0}, e.Fields[4])
	require.True(t, bytes.Equal([]byte{4, 1, 2, 1}, e.Fields[5]))
}
