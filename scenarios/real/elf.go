package real

import (
	"encoding/binary"
	"fmt"
	"runtime"
)

// Executables. A scenario's content string ("program-v1") is not a
// program, but exec must work on it. Run gives every file that a scenario
// executes (or writes with an exec mode) a prefix: a minimal static ELF
// that only calls exit(0), followed by the scenario's content bytes. The
// kernel loads just the PT_LOAD range, so appended bytes keep the file
// runnable, and two different contents still give two different files.
//
// The ELF is generated here rather than taken from busybox or a built Go
// binary: it needs no file on the machine (host or guest),
// and it is 136 bytes, and its bytes are the same on every run, so measured hashes are stable.

// elfBase is the load address of the executable's only segment.
const elfBase = 0x400000

// elfSize is the padded size of MinimalELF's output.
const elfSize = 136

// MinimalELF returns a static ELF64 executable for goarch that exits 0,
// padded to 136 bytes. Supported: amd64, arm64.
func MinimalELF(goarch string) ([]byte, error) {
	var machine uint16
	var code []byte
	switch goarch {
	case "amd64":
		machine = 62 // EM_X86_64 (Linux: include/uapi/linux/elf-em.h)
		// mov eax, 60 (__NR_exit); xor edi, edi; syscall
		code = []byte{0xb8, 60, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05}
	case "arm64":
		machine = 183 // EM_AARCH64
		// movz x8, #93 (__NR_exit); movz x0, #0; svc #0
		for _, ins := range []uint32{0xd2800ba8, 0xd2800000, 0xd4000001} {
			code = binary.LittleEndian.AppendUint32(code, ins)
		}
	default:
		return nil, fmt.Errorf("minimal ELF: architecture %s is not supported (amd64, arm64)", goarch)
	}
	const ehsize, phsize = 64, 56
	entry := uint64(elfBase + ehsize + phsize)
	b := make([]byte, 0, elfSize)
	le := binary.LittleEndian
	// ELF header (Linux: include/uapi/linux/elf.h, struct elf64_hdr).
	b = append(b, 0x7f, 'E', 'L', 'F', 2 /* ELFCLASS64 */, 1 /* ELFDATA2LSB */, 1 /* EV_CURRENT */, 0 /* SYSV ABI */)
	b = append(b, make([]byte, 8)...)
	b = le.AppendUint16(b, 2) // ET_EXEC
	b = le.AppendUint16(b, machine)
	b = le.AppendUint32(b, 1) // e_version
	b = le.AppendUint64(b, entry)
	b = le.AppendUint64(b, ehsize) // e_phoff
	b = le.AppendUint64(b, 0)      // e_shoff
	b = le.AppendUint32(b, 0)      // e_flags
	b = le.AppendUint16(b, ehsize)
	b = le.AppendUint16(b, phsize)
	b = le.AppendUint16(b, 1) // e_phnum
	b = le.AppendUint16(b, 0) // e_shentsize
	b = le.AppendUint16(b, 0) // e_shnum
	b = le.AppendUint16(b, 0) // e_shstrndx
	// Program header (struct elf64_phdr): one PT_LOAD, R+X, covering the
	// header and the code only.
	size := uint64(ehsize + phsize + len(code))
	b = le.AppendUint32(b, 1) // PT_LOAD
	b = le.AppendUint32(b, 5) // PF_R|PF_X
	b = le.AppendUint64(b, 0) // p_offset
	b = le.AppendUint64(b, elfBase)
	b = le.AppendUint64(b, elfBase)
	b = le.AppendUint64(b, size) // p_filesz
	b = le.AppendUint64(b, size) // p_memsz
	b = le.AppendUint64(b, 0x1000)
	b = append(b, code...)
	for len(b) < elfSize {
		b = append(b, 0)
	}
	return b, nil
}

// hostELF is MinimalELF for the running architecture.
func hostELF() ([]byte, error) { return MinimalELF(runtime.GOARCH) }
