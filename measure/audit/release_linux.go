package audit

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// releaseTable gives the whole pages of a big slot table that is about to
// become garbage back to the kernel at once. Left to the collector, the
// old copies of a growing table (half, a quarter… of the last) stay in
// the process's peak memory. s must be unreferenced after the call; the
// allocator zeroes memory it reuses, so pages that read back as zero are
// fine.
func releaseTable(s []uint64) { advise(words(s), unix.MADV_DONTNEED) }

// populateTable faults in a new table's pages for writing in one call
// (MADV_POPULATE_WRITE, Linux 5.14) instead of a fault or two a page:
// slots are read before they are written, so each page would first map
// the zero page and then fault again to copy it. Errors (older kernels)
// leave the pages to fault as before.
func populateTable(s []uint64) { advise(words(s), unix.MADV_POPULATE_WRITE) }

// words is s's memory as bytes.
func words(s []uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), 8*len(s))
}

// advise applies advice to the whole pages of b, when there are at least
// 64 of them (smaller ones are not worth a system call).
func advise(b []byte, advice int) {
	page := uintptr(unix.Getpagesize())
	if uintptr(len(b)) < 64*page {
		return
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := (p + page - 1) &^ (page - 1)
	hi := (p + uintptr(len(b))) &^ (page - 1)
	if hi > lo {
		_ = unix.Madvise(b[lo-p:hi-p], advice)
	}
}
