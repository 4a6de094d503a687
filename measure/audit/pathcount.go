package audit

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"slices"
	"unsafe"
)

// PathCounts counts occurrences of byte strings (file paths) in little
// memory: the strings are packed into 1 MiB chunks and each distinct one
// costs a 12-byte entry and an 8-byte slot (32 bits of its hash, its entry
// index) of an open-addressing table kept at most 3/4 full, about
// len(path)+30 bytes; listing them in order takes, for a while, 16 bytes
// a path, 16 more a path of the largest bucket and 0.8 MB more, and gives
// the table's memory back. A Go map[string]int costs about 80 bytes per
// path plus the string's own allocation.
//
// Add is pipelined: it hashes the path and prefetches its slot, and
// counts the path added pipeDepth calls before it (kept in pend), whose
// slot is in cache by then: with distinct paths nearly every slot is a
// cache miss, and one call's work is too short to hide it. Every other
// method counts the pending paths first.
type PathCounts struct {
	seed   maphash.Seed
	chunks [][]byte
	ents   [][]pathEnt // in blocks of entBlock, never moved
	n      int
	slots  []uint64 // hash<<32 | entry index + 1; 0 is empty
	total  int
	lcp    int // length of the prefix all paths share
	tmp    []sortKey

	pend     [pipeDepth]pending // a ring: pendN paths from pendHead
	pendHead int
	pendN    int
}

// pending is a path Add has hashed but not yet counted.
type pending struct {
	p []byte // a copy: the caller's bytes may change after Add
	h uint32
}

// pipeDepth is how many paths Add keeps pending.
const pipeDepth = 8

// pathEnt locates a path: lo is its offset in its chunk (20 bits) and the
// chunk's index's low 12 bits; hi its length (21 bits, or lenInChunk for a
// path longer, alone in its chunk), whether it must be quoted (bit 21) and
// the chunk index's high 10 bits.
type pathEnt struct {
	lo, hi uint32
	count  uint32
}

const (
	offBits    = 20
	lenBits    = 21
	lenInChunk = 1<<lenBits - 1
	quoteBit   = 1 << lenBits
	maxChunks  = 1 << 22
)

const (
	chunkSize = 1 << 20
	entBlock  = 1 << 12
)

// NewPathCounts returns an empty PathCounts.
func NewPathCounts() *PathCounts {
	return &PathCounts{seed: maphash.MakeSeed(), slots: make([]uint64, 1024)}
}

// Len returns the number of distinct paths.
func (c *PathCounts) Len() int { c.flush(); return c.n }

// Total returns the number of Add calls.
func (c *PathCounts) Total() int { return c.total }

func (c *PathCounts) ent(i int) *pathEnt { return &c.ents[i/entBlock][i%entBlock] }

func (c *PathCounts) key(e *pathEnt) []byte {
	ck := e.lo>>offBits | e.hi>>(lenBits+1)<<(32-offBits)
	n := e.hi & lenInChunk
	if n == lenInChunk {
		return c.chunks[ck]
	}
	off := e.lo & (1<<offBits - 1)
	return c.chunks[ck][off : off+n : off+n]
}

// quoted reports whether e's path needs quotes in text output.
func (e *pathEnt) quoted() bool { return e.hi&quoteBit != 0 }

func (c *PathCounts) hash(p []byte) uint32 { return uint32(maphash.Bytes(c.seed, p) >> 32) }

// home is the first slot for hash h.
func (c *PathCounts) home(h uint32) uint32 { return h & uint32(len(c.slots)-1) }

// Add counts one occurrence of p (copied when new).
func (c *PathCounts) Add(p []byte) {
	if c.slots == nil {
		c.rebuild()
	}
	c.total++
	h := c.hash(p)
	prefetch(uintptr(unsafe.Pointer(&c.slots[c.home(h)])))
	if c.pendN == pipeDepth {
		x := &c.pend[c.pendHead]
		c.add(x.p, x.h)
		c.pendHead = (c.pendHead + 1) % pipeDepth
		c.pendN--
	}
	x := &c.pend[(c.pendHead+c.pendN)%pipeDepth]
	x.p, x.h = append(x.p[:0], p...), h
	c.pendN++
}

// flush counts the pending paths, oldest first.
func (c *PathCounts) flush() {
	for ; c.pendN > 0; c.pendN-- {
		x := &c.pend[c.pendHead]
		c.add(x.p, x.h)
		c.pendHead = (c.pendHead + 1) % pipeDepth
	}
}

func (c *PathCounts) add(p []byte, h uint32) {
	mask := uint32(len(c.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := c.slots[i]
		if s == 0 {
			c.insert(i, p, h)
			return
		}
		if uint32(s>>32) != h {
			continue
		}
		e := c.ent(int(uint32(s) - 1))
		if bytes.Equal(c.key(e), p) {
			if e.count < ^uint32(0) {
				e.count++
			}
			return
		}
	}
}

func (c *PathCounts) insert(slot uint32, p []byte, h uint32) {
	var ck, off int
	if len(p) > chunkSize/4 {
		c.chunks = append(c.chunks, bytes.Clone(p)) // a long path gets its own chunk
		ck = len(c.chunks) - 1
	} else {
		last := len(c.chunks) - 1
		if last < 0 || cap(c.chunks[last])-len(c.chunks[last]) < len(p) {
			c.chunks = append(c.chunks, make([]byte, 0, chunkSize))
			last++
		}
		ck, off = last, len(c.chunks[last])
		c.chunks[last] = append(c.chunks[last], p...)
	}
	if c.n%entBlock == 0 {
		c.ents = append(c.ents, make([]pathEnt, entBlock))
	}
	if len(c.chunks) > maxChunks || c.n == 1<<32-1 {
		panic("audit: PathCounts: more than 4 TiB or 2^32 paths")
	}
	if c.n == 0 {
		c.lcp = len(p)
	} else if c.lcp > 0 && !bytes.HasPrefix(p, c.key(c.ent(0))[:c.lcp]) {
		first, j := c.key(c.ent(0)), 0
		for j < c.lcp && j < len(p) && p[j] == first[j] {
			j++
		}
		c.lcp = j
	}
	n := uint32(len(p))
	if len(p) >= lenInChunk {
		n = lenInChunk
	}
	hi := n | uint32(ck)>>(32-offBits)<<(lenBits+1)
	if needsQuote(p) {
		hi |= quoteBit
	}
	*c.ent(c.n) = pathEnt{lo: uint32(off) | uint32(ck)<<offBits, hi: hi, count: 1}
	c.n++
	c.slots[slot] = uint64(h)<<32 | uint64(c.n)
	if c.n*4 > len(c.slots)*3 {
		c.grow()
	}
}

// grow doubles the table; the slots hold what it needs.
func (c *PathCounts) grow() {
	slots := make([]uint64, 2*len(c.slots))
	mask := uint32(len(slots) - 1)
	for _, s := range c.slots {
		if s == 0 {
			continue
		}
		j := uint32(s>>32) & mask
		for slots[j] != 0 {
			j = (j + 1) & mask
		}
		slots[j] = s
	}
	releaseTable(c.slots)
	c.slots = slots
}

// rebuild makes the table again after sorted took its memory.
func (c *PathCounts) rebuild() {
	size := 1024
	for c.n*4 > size*3 {
		size *= 2
	}
	c.slots = make([]uint64, size)
	mask := uint32(size - 1)
	for i := 0; i < c.n; i++ {
		h := c.hash(c.key(c.ent(i)))
		j := h & mask
		for c.slots[j] != 0 {
			j = (j + 1) & mask
		}
		c.slots[j] = uint64(h)<<32 | uint64(i+1)
	}
}

// Count returns how often p was added.
func (c *PathCounts) Count(p []byte) int {
	c.flush()
	if c.slots == nil {
		c.rebuild()
	}
	h := c.hash(p)
	mask := uint32(len(c.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := c.slots[i]
		if s == 0 {
			return 0
		}
		if uint32(s>>32) == h && bytes.Equal(c.key(c.ent(int(uint32(s)-1))), p) {
			return int(c.ent(int(uint32(s) - 1)).count)
		}
	}
}

// Sorted calls f for every distinct path in byte order with its count;
// path aliases c's storage.
func (c *PathCounts) Sorted(f func(path []byte, count int)) {
	c.sorted(func(path []byte, count int, _ bool) { f(path, count) })
}

// sorted is Sorted that also says whether the path needs quotes. The
// paths are first put in buckets by their two bytes after the prefix all
// share (a counting sort) while reading them in the order they were
// stored, which also finds the longer prefix each bucket's paths share
// and the 8 bytes after it, the key the bucket is sorted on. So only
// ties and the listing itself reach the paths in random order. The extra
// memory (see PathCounts) lasts until the listing ends; the table's memory
// goes back first.
func (c *PathCounts) sorted(f func(path []byte, count int, quoted bool)) {
	c.flush()
	if c.n == 0 {
		return
	}
	lcp := c.lcp
	const nb = 257 * 257
	bucket := func(k []byte) int {
		v1, v2 := 0, 0
		if len(k) > lcp {
			v1 = int(k[lcp]) + 1
		}
		if len(k) > lcp+1 {
			v2 = int(k[lcp+1]) + 1
		}
		return v1*257 + v2
	}
	start := make([]uint32, nb+1)
	first := make([]uint32, nb) // a bucket's first path's entry + 1
	blcp := make([]uint32, nb)  // the length of the prefix its paths share
	for i := 0; i < c.n; i++ {
		k := c.key(c.ent(i))
		b := bucket(k)
		start[b+1]++
		if first[b] == 0 {
			first[b], blcp[b] = uint32(i+1), uint32(len(k))
		} else if m := int(blcp[b]); m > lcp+2 {
			fk := c.key(c.ent(int(first[b] - 1)))
			blcp[b] = uint32(lcp + 2 + commonPrefix(fk[lcp+2:m], k[min(lcp+2, len(k)):]))
		}
	}
	for b := 1; b <= nb; b++ {
		start[b] += start[b-1]
	}
	// Add and Count make the table again.
	if c.slots != nil {
		releaseTable(c.slots)
		c.slots = nil
	}
	keys := make([]sortKey, c.n)
	next := start[:nb:nb]
	for i := 0; i < c.n; i++ {
		k := c.key(c.ent(i))
		b := bucket(k)
		keys[next[b]] = sortKey{k: key8(k, int(blcp[b])), i: uint32(i)}
		next[b]++
	}
	// next[b] is now the end of bucket b, and the start of b+1.
	from := uint32(0)
	for b := 0; b < nb; b++ {
		if to := next[b]; to-from > 1 {
			c.sortKeys(keys[from:to], int(blcp[b]), true)
		}
		from = next[b]
	}
	// The paths lie all over memory: prefetch the entry 32 ahead and the
	// path 16 ahead so that their cache misses overlap with this work.
	for j, x := range keys {
		if j+32 < len(keys) {
			prefetch(uintptr(unsafe.Pointer(c.ent(int(keys[j+32].i)))))
		}
		if j+16 < len(keys) {
			c.prefetchKey(c.ent(int(keys[j+16].i)), 0)
		}
		e := c.ent(int(x.i))
		f(c.key(e), int(e.count), e.quoted())
	}
	c.tmp = nil
}

// commonPrefix returns the length of the prefix a and b share.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for ; i+8 <= n; i += 8 {
		if x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// key8 returns the 8 bytes of p from at, big-endian, zero-padded.
func key8(p []byte, at int) uint64 {
	if at >= len(p) {
		return 0
	}
	p = p[at:]
	if len(p) >= 8 {
		return binary.BigEndian.Uint64(p)
	}
	var b [8]byte
	copy(b[:], p)
	return binary.BigEndian.Uint64(b[:])
}

// prefetchKey prefetches e's path from byte at (and its last byte: a
// path may cross a cache line).
func (c *PathCounts) prefetchKey(e *pathEnt, at int) {
	if k := c.key(e); len(k) > at {
		prefetch(uintptr(unsafe.Pointer(&k[at])))
		prefetch(uintptr(unsafe.Pointer(&k[min(len(k)-1, at+15)])))
	}
}

// sortKey is an entry and 8 bytes of its path from the current depth,
// big-endian, so that most comparisons read no path bytes: the paths lie
// all over memory and share long prefixes (/usr/lib/x86_64-linux-gnu/…).
type sortKey struct {
	k uint64
	i uint32
}

// sortKeys sorts a, whose paths are equal before depth; have says a's
// keys already hold the 8 bytes from depth.
func (c *PathCounts) sortKeys(a []sortKey, depth int, have bool) {
	full := func(x, y sortKey) int {
		return bytes.Compare(c.key(c.ent(int(x.i)))[depth:], c.key(c.ent(int(y.i)))[depth:])
	}
	for {
		if len(a) < 2 {
			return
		}
		if len(a) <= 16 {
			slices.SortFunc(a, full)
			return
		}
		if have {
			have = false
			if slices.ContainsFunc(a[1:], func(x sortKey) bool { return x.k != a[0].k }) {
				break
			}
		}
		equal, ends := true, false
		for j := range a {
			if j+16 < len(a) {
				prefetch(uintptr(unsafe.Pointer(c.ent(int(a[j+16].i)))))
			}
			if j+8 < len(a) {
				c.prefetchKey(c.ent(int(a[j+8].i)), depth)
			}
			p := c.key(c.ent(int(a[j].i)))
			a[j].k = key8(p, depth)
			ends = ends || len(p) <= depth+8
			equal = equal && a[j].k == a[0].k
		}
		if ends && equal {
			slices.SortFunc(a, full)
			return
		}
		if !equal {
			break
		}
		depth += 8 // one long shared prefix: no sorting, no recursion
	}
	if len(a) > 256 {
		if cap(c.tmp) < len(a) {
			c.tmp = make([]sortKey, len(a))
		}
		radixSort(a, c.tmp[:len(a)])
	} else {
		slices.SortFunc(a, func(x, y sortKey) int { return cmp.Compare(x.k, y.k) })
	}
	for i := 0; i < len(a); {
		j := i + 1
		for j < len(a) && a[j].k == a[i].k {
			j++
		}
		if j-i > 1 {
			g := a[i:j]
			short := false
			for _, k := range g {
				short = short || len(c.key(c.ent(int(k.i)))) <= depth+8
			}
			if short {
				d := depth
				slices.SortFunc(g, func(x, y sortKey) int {
					return bytes.Compare(c.key(c.ent(int(x.i)))[d:], c.key(c.ent(int(y.i)))[d:])
				})
			} else {
				c.sortKeys(g, depth+8, false)
			}
		}
		i = j
	}
}

// Map returns the counts as a map (for tests and small logs).
func (c *PathCounts) Map() map[string]int {
	c.flush()
	m := make(map[string]int, c.n)
	for i := 0; i < c.n; i++ {
		e := c.ent(i)
		m[string(c.key(e))] = int(e.count)
	}
	return m
}

// radixSort sorts a by k: a stable LSD radix sort, a byte a pass, with
// the passes for bytes that are the same in every key skipped. tmp is
// scratch of a's length.
func radixSort(a, tmp []sortKey) {
	var counts [8][256]int
	for _, x := range a {
		for d := range 8 {
			counts[d][byte(x.k>>(8*d))]++
		}
	}
	src, dst := a, tmp
	for d := range 8 {
		n := &counts[d]
		if n[byte(a[0].k>>(8*d))] == len(a) {
			continue
		}
		sum := 0
		for b := range n {
			sum, n[b] = sum+n[b], sum
		}
		for _, x := range src {
			b := byte(x.k >> (8 * d))
			dst[n[b]] = x
			n[b]++
		}
		src, dst = dst, src
	}
	if &src[0] != &a[0] {
		copy(a, src)
	}
}
