package real

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sampleMountinfo = `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
35 22 0:31 / /tmp/a\040b rw,relatime shared:20 - tmpfs tmpfs rw,inode64
40 22 0:45 / /ovl rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
`

func TestParseMountinfo(t *testing.T) {
	ms, err := ParseMountinfo(strings.NewReader(sampleMountinfo))
	require.NoError(t, err)
	require.Len(t, ms, 3)
	assert.Equal(t, Mount{ID: 35, Parent: 22, Major: 0, Minor: 31, Root: "/", Mountpoint: "/tmp/a b",
		Options: "rw,relatime", FSType: "tmpfs", Source: "tmpfs", SuperOptions: "rw,inode64"}, ms[1])
	assert.Equal(t, uint32(254), ms[0].Major)
	assert.Equal(t, "overlay", ms[2].FSType)

	for _, bad := range []string{"x", "1 2 3:4 / /", "a 1 0:1 / / rw - tmpfs t", "1 1 x / / rw - tmpfs t"} {
		_, err := ParseMountinfo(strings.NewReader(bad))
		assert.Error(t, err, "%q", bad)
	}
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add(sampleMountinfo)
	f.Add(`1 2 3:4 /\134 /x\011y rw - t s o`)
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseMountinfo(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.FSType == "" {
				t.Fatalf("parsed a mount without a type from %q", s)
			}
		}
	})
}

func BenchmarkParseMountinfo(b *testing.B) {
	text := strings.Repeat(sampleMountinfo, 30)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := ParseMountinfo(strings.NewReader(text)); err != nil {
			b.Fatal(err)
		}
	}
}
