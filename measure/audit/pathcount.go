package audit

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math/bits"
	"slices"
	"unsafe"
)

// PathCounts counts occurrences of byte strings (file paths) in little
// memory: each distinct path is stored once in 1 MiB chunks, behind an
// 8-byte header (its count and its length) and 8-byte aligned, and an
// open-addressing table kept at most 3/4 full holds 32 bits of its hash
// and its place (8 bytes a slot): about len(path)+24 bytes. Listing them
// in order takes, for a while, 16 bytes a path, 16 more a path of the
// largest bucket and 0.8 MB more, and gives the table's memory back. A
// Go map[string]int costs about 80 bytes per path plus the string's own
// allocation.
//
// Add is pipelined: it hashes the path and prefetches its slot, and
// counts the path added pipeDepth calls before it (kept in pend), whose
// slot is in cache by then: with distinct paths nearly every slot is a
// cache miss, and one call's work is too short to hide it. Every other
// method counts the pending paths first.
type PathCounts struct {
	seed   maphash.Seed
	chunks [][]byte
	n      int
	slots  []uint64 // hash<<32 | place + 1; 0 is empty
	total  int
	lcp    int // length of the prefix all paths share
	tmp    []sortKey
	limit  int   // maxChunks (lower in tests)
	err    error // why a path could not be stored; Add does nothing then

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

// A place locates a stored path's header: its chunk's index times
// chunkUnits plus its offset in the chunk in 8-byte units. The header is
// the path's count (4 bytes, little-endian) and its length, with
// quoteBit set when it must be quoted in text output; the path follows.
// A path longer than a quarter chunk gets a chunk of its own.
const (
	chunkSize  = 1 << 20
	unitShift  = 3
	chunkUnits = chunkSize >> unitShift
	maxChunks  = 1<<32/chunkUnits - 1 // place+1 fits 32 bits: 32 GiB
	hdrSize    = 8
	quoteBit   = 1 << 31
)

// NewPathCounts returns an empty PathCounts.
func NewPathCounts() *PathCounts {
	return &PathCounts{seed: maphash.MakeSeed(), slots: make([]uint64, 1024), limit: maxChunks}
}

// Err reports why counting stopped: a path of 2 GiB or more, or the
// store full (32 GiB; a path over a quarter MiB takes a 1 MiB chunk's
// place). From then on Add does nothing; the counts so far stay.
func (c *PathCounts) Err() error { return c.err }

// Len returns the number of distinct paths.
func (c *PathCounts) Len() int { c.flush(); return c.n }

// Total returns the number of Add calls.
func (c *PathCounts) Total() int { return c.total }

// hdr returns the header of the path at place followed by the path, and
// the path's length.
func (c *PathCounts) hdr(place uint32) ([]byte, int) {
	ch := c.chunks[place/chunkUnits]
	off := int(place%chunkUnits) << unitShift
	n := int(binary.LittleEndian.Uint32(ch[off+4:]) &^ quoteBit)
	return ch[off : off+hdrSize+n : off+hdrSize+n], n
}

// key returns the path at place.
func (c *PathCounts) key(place uint32) []byte {
	ch := c.chunks[place/chunkUnits]
	off := int(place%chunkUnits)<<unitShift + hdrSize
	n := int(binary.LittleEndian.Uint32(ch[off-4:]) &^ quoteBit)
	return ch[off : off+n : off+n]
}

// stored calls f for each path's place in the order they were stored.
func (c *PathCounts) stored(f func(place uint32)) {
	for ck, ch := range c.chunks {
		for off := 0; off < len(ch); {
			f(uint32(ck*chunkUnits + off>>unitShift))
			n := int(binary.LittleEndian.Uint32(ch[off+4:]) &^ quoteBit)
			off = align8(off + hdrSize + n)
		}
	}
}

func align8(n int) int { return (n + 7) &^ 7 }

func (c *PathCounts) hash(p []byte) uint32 { return uint32(maphash.Bytes(c.seed, p) >> 32) }

// home is the first slot for hash h.
func (c *PathCounts) home(h uint32) uint32 { return h & uint32(len(c.slots)-1) }

// Add counts one occurrence of p (copied when new).
func (c *PathCounts) Add(p []byte) {
	if c.err != nil {
		return
	}
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
		place := uint32(s) - 1
		if bytes.Equal(c.key(place), p) {
			hd, _ := c.hdr(place)
			if n := binary.LittleEndian.Uint32(hd); n < ^uint32(0) {
				binary.LittleEndian.PutUint32(hd, n+1)
			}
			return
		}
	}
}

func (c *PathCounts) insert(slot uint32, p []byte, h uint32) {
	if uint64(len(p)) >= quoteBit {
		c.err = fmt.Errorf("a file path of %d bytes: too long to count", len(p))
		return
	}
	need := hdrSize + len(p)
	var ck, off int
	last := len(c.chunks) - 1
	if len(c.chunks) >= c.limit && (len(p) > chunkSize/4 || cap(c.chunks[last])-len(c.chunks[last]) < need) {
		c.err = fmt.Errorf("too many distinct file paths to count: %d chunks of up to 1 MiB hold them (a path over 256 KiB takes a chunk of its own)", c.limit)
		return
	}
	if len(p) > chunkSize/4 {
		c.chunks = append(c.chunks, make([]byte, need)) // a long path gets its own chunk
		ck = len(c.chunks) - 1
	} else {
		ck = len(c.chunks) - 1
		if ck < 0 || cap(c.chunks[ck])-len(c.chunks[ck]) < need {
			c.chunks = append(c.chunks, make([]byte, 0, chunkSize))
			ck++
		}
		off = len(c.chunks[ck])
		c.chunks[ck] = c.chunks[ck][:align8(off+need)]
	}
	ch := c.chunks[ck]
	n := uint32(len(p))
	if needsQuote(p) {
		n |= quoteBit
	}
	binary.LittleEndian.PutUint32(ch[off:], 1)
	binary.LittleEndian.PutUint32(ch[off+4:], n)
	copy(ch[off+hdrSize:], p)
	if c.n == 0 {
		c.lcp = len(p)
	} else if first := c.key(0); c.lcp > 0 && !bytes.HasPrefix(p, first[:c.lcp]) {
		c.lcp = commonPrefix(first[:c.lcp], p)
	}
	c.n++
	c.slots[slot] = uint64(h)<<32 | uint64(ck*chunkUnits+off>>unitShift+1)
	if c.n*4 > len(c.slots)*3 {
		c.grow()
	}
}

// grow doubles the table; the slots hold what it needs.
func (c *PathCounts) grow() {
	slots := make([]uint64, 2*len(c.slots))
	populateTable(slots)
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
	c.stored(func(place uint32) {
		h := c.hash(c.key(place))
		j := h & mask
		for c.slots[j] != 0 {
			j = (j + 1) & mask
		}
		c.slots[j] = uint64(h)<<32 | uint64(place+1)
	})
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
		if place := uint32(s) - 1; uint32(s>>32) == h && bytes.Equal(c.key(place), p) {
			hd, _ := c.hdr(place)
			return int(binary.LittleEndian.Uint32(hd))
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
	first := make([]uint32, nb) // a bucket's first path's place + 1
	blcp := make([]uint32, nb)  // the length of the prefix its paths share
	c.stored(func(place uint32) {
		k := c.key(place)
		b := bucket(k)
		start[b+1]++
		if first[b] == 0 {
			first[b], blcp[b] = place+1, uint32(len(k))
		} else if m := int(blcp[b]); m > lcp+2 {
			fk := c.key(first[b] - 1)
			blcp[b] = uint32(lcp + 2 + commonPrefix(fk[lcp+2:m], k[min(lcp+2, len(k)):]))
		}
	})
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
	c.stored(func(place uint32) {
		k := c.key(place)
		b := bucket(k)
		keys[next[b]] = sortKey{k: key8(k, int(blcp[b])), i: place}
		next[b]++
	})
	// next[b] is now the end of bucket b, and the start of b+1.
	from := uint32(0)
	for b := 0; b < nb; b++ {
		if to := next[b]; to-from > 1 {
			c.sortKeys(keys[from:to], int(blcp[b]), true)
		}
		from = next[b]
	}
	// The paths lie all over memory: prefetch the one 16 ahead with its
	// header so that its cache misses overlap with this work.
	for j, x := range keys {
		if j+16 < len(keys) {
			c.prefetchPath(keys[j+16].i, -hdrSize, 72)
		}
		hd, n := c.hdr(x.i)
		p := hd[hdrSize : hdrSize+n : hdrSize+n]
		f(p, int(binary.LittleEndian.Uint32(hd)), binary.LittleEndian.Uint32(hd[4:])&quoteBit != 0)
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

// prefetchPath prefetches the cache lines of bytes at to at+n of the
// path at place (at -hdrSize is its header) without reading anything.
func (c *PathCounts) prefetchPath(place uint32, at, n int) {
	ch := c.chunks[place/chunkUnits]
	p := uintptr(unsafe.Pointer(unsafe.SliceData(ch))) + uintptr(place%chunkUnits)<<unitShift + uintptr(hdrSize+at)
	prefetch(p)
	if (p+uintptr(n)-1)>>6 != p>>6 {
		prefetch(p + uintptr(n) - 1)
	}
}

// sortKey is a path's place and 8 bytes of its path from the current depth,
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
		return bytes.Compare(c.key(x.i)[depth:], c.key(y.i)[depth:])
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
			if j+8 < len(a) { // its header and its 8 bytes from depth
				c.prefetchPath(a[j+8].i, -hdrSize, 1)
				c.prefetchPath(a[j+8].i, depth, 8)
			}
			p := c.key(a[j].i)
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
				short = short || len(c.key(k.i)) <= depth+8
			}
			if short {
				d := depth
				slices.SortFunc(g, func(x, y sortKey) int {
					return bytes.Compare(c.key(x.i)[d:], c.key(y.i)[d:])
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
	c.stored(func(place uint32) {
		hd, n := c.hdr(place)
		m[string(hd[hdrSize:hdrSize+n:hdrSize+n])] = int(binary.LittleEndian.Uint32(hd))
	})
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
