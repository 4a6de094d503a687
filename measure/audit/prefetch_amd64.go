package audit

// prefetch asks the CPU to bring the cache line at addr in, without
// waiting for it (PREFETCHT0): hash table slots and paths lie all over
// memory, and a plain load that misses stalls the work behind it.
//
//go:noescape
func prefetch(addr uintptr)
