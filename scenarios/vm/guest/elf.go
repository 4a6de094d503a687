package guest

import "encoding/binary"

// ELFStub is a minimal static x86-64 executable that exits 0. The agent
// writes it in front of a scenario's file content so that `exec` works;
// the kernel's ELF loader ignores the bytes after the loaded segment, so
// appends keep the file executable.
func ELFStub() []byte {
	const (
		ehdr  = 64
		phdr  = 56
		base  = 0x400000
		entry = base + ehdr + phdr
	)
	code := []byte{
		0xb8, 0x3c, 0, 0, 0, // mov eax, 60 (exit)
		0x31, 0xff, // xor edi, edi
		0x0f, 0x05, // syscall
	}
	size := ehdr + phdr + len(code)
	b := make([]byte, size)
	le := binary.LittleEndian
	copy(b, []byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0})
	le.PutUint16(b[16:], 2)     // ET_EXEC
	le.PutUint16(b[18:], 62)    // EM_X86_64
	le.PutUint32(b[20:], 1)     // EV_CURRENT
	le.PutUint64(b[24:], entry) // e_entry
	le.PutUint64(b[32:], ehdr)  // e_phoff
	le.PutUint16(b[52:], ehdr)  // e_ehsize
	le.PutUint16(b[54:], phdr)  // e_phentsize
	le.PutUint16(b[56:], 1)     // e_phnum
	p := b[ehdr:]
	le.PutUint32(p[0:], 1)             // PT_LOAD
	le.PutUint32(p[4:], 5)             // PF_R|PF_X
	le.PutUint64(p[8:], 0)             // p_offset
	le.PutUint64(p[16:], base)         // p_vaddr
	le.PutUint64(p[24:], base)         // p_paddr
	le.PutUint64(p[32:], uint64(size)) // p_filesz
	le.PutUint64(p[40:], uint64(size)) // p_memsz
	le.PutUint64(p[48:], 0x1000)       // p_align
	copy(b[ehdr+phdr:], code)
	return b
}
