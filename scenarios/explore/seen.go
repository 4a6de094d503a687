package explore

// seenSet maps state hashes to the least depth they were reached at, in
// about 10 bytes a slot (a map[uint64]int takes 16 and more): open
// addressing with linear probing over a power-of-two table kept at most
// 3/4 full. Hash 0 marks an empty slot, so a state hashing to 0 is kept
// aside.
type seenSet struct {
	keys   []uint64
	depths []uint16
	n      int
	zero   bool
	zeroAt uint16
}

func newSeenSet() *seenSet {
	return &seenSet{keys: make([]uint64, 16), depths: make([]uint16, 16)}
}

// slot returns where h is or would go.
func (t *seenSet) slot(h uint64) int {
	mask := len(t.keys) - 1
	// Fibonacci hashing spreads hashes whose low bits repeat.
	i := int((h*0x9e3779b97f4a7c15)>>32) & mask
	for t.keys[i] != 0 && t.keys[i] != h {
		i = (i + 1) & mask
	}
	return i
}

// get returns the depth recorded for h.
func (t *seenSet) get(h uint64) (int, bool) {
	_, d, ok := t.lookup(h)
	return d, ok
}

// put records depth d for h (replacing what was there).
func (t *seenSet) put(h uint64, d int) {
	if h == 0 {
		t.putAt(0, h, d)
		return
	}
	t.putAt(t.slot(h), h, d)
}

// lookup is get that also returns the slot for putAt.
func (t *seenSet) lookup(h uint64) (slot, depth int, ok bool) {
	if h == 0 {
		return 0, int(t.zeroAt), t.zero
	}
	i := t.slot(h)
	if t.keys[i] == 0 {
		return i, 0, false
	}
	return i, int(t.depths[i]), true
}

// putAt is put for h at the slot lookup returned, with no change to the
// table since.
func (t *seenSet) putAt(i int, h uint64, d int) {
	if d > maxDepth {
		d = maxDepth
	}
	if h == 0 {
		t.zero, t.zeroAt = true, uint16(d)
		return
	}
	if t.keys[i] == 0 {
		if 4*(t.n+1) > 3*len(t.keys) {
			t.grow()
			i = t.slot(h)
		}
		t.keys[i] = h
		t.n++
	}
	t.depths[i] = uint16(d)
}

func (t *seenSet) grow() {
	keys, depths := t.keys, t.depths
	t.keys, t.depths = make([]uint64, 2*len(keys)), make([]uint16, 2*len(keys))
	for i, h := range keys {
		if h != 0 {
			j := t.slot(h)
			t.keys[j], t.depths[j] = h, depths[i]
		}
	}
}

// merge adds the states of o, keeping least depths.
func (t *seenSet) merge(o *seenSet) {
	if o.zero && (!t.zero || o.zeroAt < t.zeroAt) {
		t.zero, t.zeroAt = true, o.zeroAt
	}
	for i, h := range o.keys {
		if h == 0 {
			continue
		}
		if d, ok := t.get(h); !ok || int(o.depths[i]) < d {
			t.put(h, int(o.depths[i]))
		}
	}
}

func (t *seenSet) clone() *seenSet {
	c := *t
	c.keys, c.depths = append([]uint64(nil), t.keys...), append([]uint16(nil), t.depths...)
	return &c
}

// maxDepth is the deepest exhaustive search (Search refuses more; 12
// operations to that depth would never finish anyway).
const maxDepth = 1<<16 - 1
