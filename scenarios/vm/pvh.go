package vm

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// Direct boot (PVH): QEMU loads an uncompressed vmlinux with a Xen PVH
// entry note straight into memory, skipping the bzImage's decompressor
// and real-mode setup; under TCG that saves about 1.4 s a boot (7.2.13,
// measured here). QEMU 7.2 places the initrd over the top 36 KiB of
// SeaBIOS's ACPI tables in that mode (the TPM log area pushes them below
// what QEMU reserves), so a PVH guest boots with acpi=off and finds the
// TPM at its fixed address (tpm_tis.force=1); it has no firmware event
// log, and boot_aggregate is checked against PCRs 0-9 instead.
const pvhAppend = "acpi=off tpm_tis.force=1 tpm_tis.interrupts=0"

// maxVmlinux bounds a decompressed kernel (Debian's are about 60 MB).
const maxVmlinux = 512 << 20

// ErrNoPVH says a kernel cannot be booted directly: no PVH entry note,
// or a bzImage compression this reader does not know.
var ErrNoPVH = errors.New("no PVH direct boot")

// ExtractVmlinux returns the vmlinux ELF inside a bzImage (the setup
// header's payload, Documentation/arch/x86/boot.rst, protocol 2.08+),
// decompressed: zstd, lz4 (legacy frames), xz or gzip. Errors name the
// byte offset of what is wrong.
func ExtractVmlinux(bz []byte) ([]byte, error) {
	if len(bz) < 0x250 || string(bz[0x202:0x206]) != "HdrS" {
		return nil, fmt.Errorf("%w: offset 0x202: not an x86 bzImage (no HdrS header)", ErrNoPVH)
	}
	if v := binary.LittleEndian.Uint16(bz[0x206:]); v < 0x208 {
		return nil, fmt.Errorf("%w: offset 0x206: boot protocol %#x has no payload fields (2.08+)", ErrNoPVH, v)
	}
	setup := int(bz[0x1f1])
	if setup == 0 {
		setup = 4
	}
	off := uint64(setup+1)*512 + uint64(binary.LittleEndian.Uint32(bz[0x248:]))
	n := uint64(binary.LittleEndian.Uint32(bz[0x24c:]))
	if n < 8 || off+n > uint64(len(bz)) {
		return nil, fmt.Errorf("%w: offset 0x248: payload %d+%d outside the %d-byte image", ErrNoPVH, off, n, len(bz))
	}
	p := bz[off : off+n]
	// The build appends the decompressed size, little-endian, to every
	// compressed payload (scripts/Makefile.lib size_append).
	size := uint64(binary.LittleEndian.Uint32(p[len(p)-4:]))
	// Kernels compress about 4:1; far more is not a kernel.
	if size == 0 || size > maxVmlinux || size > 64*n {
		return nil, fmt.Errorf("%w: offset %d: decompressed size %d for a %d-byte payload (limit %d)", ErrNoPVH, off+n-4, size, n, min(maxVmlinux, 64*n))
	}
	var r io.Reader
	var err error
	switch {
	case bytes.HasPrefix(p, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		var d *zstd.Decoder
		d, err = zstd.NewReader(bytes.NewReader(p[:len(p)-4]), zstd.WithDecoderMaxMemory(maxVmlinux), zstd.WithDecoderConcurrency(1))
		if d != nil {
			defer d.Close()
		}
		r = d
	case bytes.HasPrefix(p, []byte{0x02, 0x21, 0x4c, 0x18}):
		r = lz4.NewReader(bytes.NewReader(p))
	case bytes.HasPrefix(p, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		r, err = xz.ReaderConfig{DictCap: 64 << 20, SingleStream: true}.NewReader(bytes.NewReader(p))
	case bytes.HasPrefix(p, []byte{0x1f, 0x8b}):
		r, err = gzip.NewReader(bytes.NewReader(p))
	default:
		return nil, fmt.Errorf("%w: offset %d: payload compression %x not known (zstd, lz4, xz, gzip are)", ErrNoPVH, off, p[:min(4, len(p))])
	}
	if err != nil {
		return nil, fmt.Errorf("%w: offset %d: %v", ErrNoPVH, off, err)
	}
	out := make([]byte, size)
	if _, err := io.ReadFull(r, out); err != nil {
		return nil, fmt.Errorf("%w: offset %d: decompressing %d bytes: %v", ErrNoPVH, off, size, err)
	}
	if err := checkPVH(out); err != nil {
		return nil, err
	}
	return out, nil
}

// checkPVH accepts an x86-64 ELF with a XEN_ELFNOTE_PHYS32_ENTRY note
// (type 18 in the "Xen" namespace), what QEMU's PVH loader looks for.
func checkPVH(b []byte) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%w: vmlinux: %v", ErrNoPVH, err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("%w: vmlinux is %v %v, not x86-64", ErrNoPVH, f.Class, f.Machine)
	}
	for _, ph := range f.Progs {
		if ph.Type != elf.PT_NOTE || ph.Filesz > 1<<20 {
			continue
		}
		notes := make([]byte, ph.Filesz)
		if _, err := ph.ReadAt(notes, 0); err != nil {
			return fmt.Errorf("%w: vmlinux notes at offset %d: %v", ErrNoPVH, ph.Off, err)
		}
		if hasNote(notes, "Xen", 18) {
			return nil
		}
	}
	return fmt.Errorf("%w: vmlinux has no Xen PVH entry note (CONFIG_PVH)", ErrNoPVH)
}

// hasNote walks ELF notes (namesz, descsz, type, name and desc each
// padded to 4 bytes).
func hasNote(b []byte, name string, typ uint32) bool {
	for len(b) >= 12 {
		nsz, dsz, t := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:])
		b = b[12:]
		na, da := (uint64(nsz)+3)&^3, (uint64(dsz)+3)&^3
		if na+da > uint64(len(b)) {
			return false
		}
		if t == typ && nsz == uint32(len(name))+1 && string(b[:len(name)]) == name {
			return true
		}
		b = b[na+da:]
	}
	return false
}

var (
	pvhMu   sync.Mutex
	pvhSeen = map[[2]string]string{} // (image, dir) -> vmlinux, this process
)

// PVHImage returns the path of image's vmlinux for a direct boot,
// extracted once into dir (named by the bzImage's SHA-256, so a changed
// image gets its own) and reused after that; within one process an
// image is read and hashed once, not at every boot.
func PVHImage(image, dir string) (string, error) {
	pvhMu.Lock()
	defer pvhMu.Unlock()
	if p, ok := pvhSeen[[2]string{image, dir}]; ok {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	bz, err := readBounded(image, maxDebEntry)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(bz)
	p := filepath.Join(dir, "vmlinux-"+hex.EncodeToString(sum[:12]))
	if _, err := os.Stat(p); err == nil {
		pvhSeen[[2]string{image, dir}] = p
		return p, nil
	}
	if _, err := os.Stat(p + ".none"); err == nil {
		return "", fmt.Errorf("%w: %s (noted in %s.none)", ErrNoPVH, image, p)
	}
	out, err := ExtractVmlinux(bz)
	if err != nil {
		if errors.Is(err, ErrNoPVH) && os.MkdirAll(dir, 0o755) == nil {
			os.WriteFile(p+".none", []byte(err.Error()+"\n"), 0o644)
		}
		return "", fmt.Errorf("%s: %w", image, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".vmlinux-*")
	if err != nil {
		return "", err
	}
	_, err = tmp.Write(out)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("vmlinux cache: %w", err)
	}
	pvhSeen[[2]string{image, dir}] = p
	return p, nil
}
