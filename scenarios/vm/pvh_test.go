package vm

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// tinyELF is an x86-64 ELF whose one PT_NOTE segment holds note
// (name, type); debug/elf parses it like a vmlinux.
func tinyELF(name string, typ uint32) []byte {
	var note bytes.Buffer
	le := binary.LittleEndian
	binary.Write(&note, le, []uint32{uint32(len(name) + 1), 4, typ})
	note.WriteString(name + "\x00")
	for note.Len()%4 != 0 {
		note.WriteByte(0)
	}
	binary.Write(&note, le, uint32(0x1000000)) // the entry address
	var b bytes.Buffer
	hdr := elf.Header64{Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: 1,
		Phoff: 64, Ehsize: 64, Phentsize: 56, Phnum: 1, Shentsize: 64}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS], hdr.Ident[elf.EI_DATA], hdr.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), 1
	binary.Write(&b, le, hdr)
	binary.Write(&b, le, elf.Prog64{Type: uint32(elf.PT_NOTE), Off: 120, Filesz: uint64(note.Len()), Memsz: uint64(note.Len()), Align: 4})
	b.Write(note.Bytes())
	return b.Bytes()
}

// tinyBzImage wraps a payload as a protocol 2.15 bzImage with one setup
// sector; appendSize adds the build's trailing decompressed size.
func tinyBzImage(payload []byte, size int, appendSize bool) []byte {
	b := make([]byte, 1024)
	b[0x1f1] = 1
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x206:], 0x20f)
	if appendSize {
		payload = binary.LittleEndian.AppendUint32(append([]byte{}, payload...), uint32(size))
	}
	binary.LittleEndian.PutUint32(b[0x248:], 0)
	binary.LittleEndian.PutUint32(b[0x24c:], uint32(len(payload)))
	return append(b, payload...)
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func TestExtractVmlinux(t *testing.T) {
	vml := tinyELF("Xen", 18)
	got, err := ExtractVmlinux(tinyBzImage(gz(vml), len(vml), false))
	require.NoError(t, err)
	require.Equal(t, vml, got)

	for name, c := range map[string]struct {
		bz   []byte
		want string
	}{
		"no note":         {tinyBzImage(gz(tinyELF("Xen", 5)), len(vml), false), "no Xen PVH entry note"},
		"other namespace": {tinyBzImage(gz(tinyELF("GNU", 18)), len(vml), false), "no Xen PVH entry note"},
		"not a bzImage":   {vml, "offset 0x202: not an x86 bzImage"},
		"bzip2":           {tinyBzImage([]byte("BZh91AY&SY........"), 100, true), "compression 425a6839 not known"},
		"short":           {tinyBzImage(gz(vml), len(vml)+1, true)[:1024+8], "outside the"},
		"bomb":            {tinyBzImage(gz(vml), 1<<28, true), "for a"},
		"truncated":       {tinyBzImage(gz(vml)[:40], len(vml), false), "decompressing"},
	} {
		t.Run(name, func(t *testing.T) {
			bz := c.bz
			if name == "short" { // a payload length past the end
				binary.LittleEndian.PutUint32(bz[0x24c:], 1<<20)
			}
			if name == "truncated" { // gzip's own trailer is gone: give the size
				bz = binary.LittleEndian.AppendUint32(bz, uint32(len(vml)))
				binary.LittleEndian.PutUint32(bz[0x24c:], 44)
			}
			_, err := ExtractVmlinux(bz)
			require.ErrorIs(t, err, ErrNoPVH)
			require.ErrorContains(t, err, c.want)
		})
	}
}

// Debian's kernels (lz4 in 6.1, zstd in 6.12 and 7.2) have the PVH note;
// each cached one extracts to an ELF of the size its trailer gives.
func TestExtractVmlinuxDebian(t *testing.T) {
	var imgs []string
	for _, pat := range []string{"*/root/boot/vmlinuz-*", "*/root/usr/lib/modules/*/vmlinuz"} {
		m, _ := filepath.Glob(filepath.Join(DefaultCache(), pat))
		imgs = append(imgs, m...)
	}
	if len(imgs) == 0 {
		t.Skip("no Debian kernel in " + DefaultCache() + " (make kernels)")
	}
	for _, p := range imgs {
		bz, err := os.ReadFile(p)
		require.NoError(t, err)
		out, err := ExtractVmlinux(bz)
		require.NoError(t, err, p)
		require.Equal(t, "\x7fELF", string(out[:4]), p)
		require.Greater(t, len(out), 20<<20, p)
	}
}

func TestPVHImageCache(t *testing.T) {
	dir := t.TempDir()
	vml := tinyELF("Xen", 18)
	img := filepath.Join(dir, "bzImage")
	require.NoError(t, os.WriteFile(img, tinyBzImage(gz(vml), len(vml), false), 0o644))
	cache := filepath.Join(dir, "pvh")
	p, err := PVHImage(img, cache)
	require.NoError(t, err)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, vml, b)
	// Reused, not extracted again: a changed cached file stays.
	require.NoError(t, os.WriteFile(p, []byte("kept"), 0o644))
	p2, err := PVHImage(img, cache)
	require.NoError(t, err)
	require.Equal(t, p, p2)
	b, _ = os.ReadFile(p2)
	require.Equal(t, "kept", string(b))

	// A kernel without the note is noted once and refused after that.
	bad := filepath.Join(dir, "bzImage.nopvh")
	require.NoError(t, os.WriteFile(bad, tinyBzImage(gz(tinyELF("Xen", 5)), len(vml), false), 0o644))
	_, err = PVHImage(bad, cache)
	require.ErrorIs(t, err, ErrNoPVH)
	_, err = PVHImage(bad, cache)
	require.ErrorIs(t, err, ErrNoPVH)
	require.ErrorContains(t, err, ".none")

	// auto falls back to the bzImage; pvh refuses; bios never extracts.
	o := Options{Kernel: &Kernel{Image: bad}, PVHDir: cache, Log: &bytes.Buffer{}}
	got, add, err := kernelImage(o)
	require.NoError(t, err)
	require.Equal(t, bad, got)
	require.Empty(t, add)
	require.Contains(t, o.Log.(*bytes.Buffer).String(), "through the BIOS")
	o.BootMode = "pvh"
	_, _, err = kernelImage(o)
	require.ErrorIs(t, err, ErrCannotRun)
	o = Options{Kernel: &Kernel{Image: img}, PVHDir: cache, Log: &bytes.Buffer{}}
	got, add, err = kernelImage(o)
	require.NoError(t, err)
	require.Equal(t, p, got)
	require.Equal(t, pvhAppend, add)
	o.BootMode = "bios"
	got, _, _ = kernelImage(o)
	require.Equal(t, img, got)
	o.BootMode = "uefi"
	_, _, err = kernelImage(o)
	require.ErrorContains(t, err, "want one of")
}

// FuzzExtractVmlinux: a bzImage either gives an x86-64 ELF with the PVH
// note, no bigger than the limits, or an ErrNoPVH error.
func FuzzExtractVmlinux(f *testing.F) {
	vml := tinyELF("Xen", 18)
	f.Add(tinyBzImage(gz(vml), len(vml), false))
	f.Add(tinyBzImage(gz(tinyELF("Xen", 5)), len(vml), false))
	f.Add(tinyBzImage([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0}, 100, true))
	f.Add(tinyBzImage([]byte{0x02, 0x21, 0x4c, 0x18, 9, 0, 0, 0}, 100, true))
	f.Add(tinyBzImage([]byte{0xfd, '7', 'z', 'X', 'Z', 0, 0, 0}, 100, true))
	f.Fuzz(func(t *testing.T, bz []byte) {
		out, err := ExtractVmlinux(bz)
		if err != nil {
			if !errors.Is(err, ErrNoPVH) {
				t.Fatalf("error %v does not wrap ErrNoPVH", err)
			}
			return
		}
		if len(out) == 0 || len(out) > maxVmlinux || len(out) > 64*len(bz) {
			t.Fatalf("%d bytes out of %d in", len(out), len(bz))
		}
		if err := checkPVH(out); err != nil {
			t.Fatal(err)
		}
	})
}
