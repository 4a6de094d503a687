package audit

import (
	"bytes"
	"hash/maphash"
	"math"
	"unsafe"
)

// dupWin is the duplicate window: the last dupWindow records kept, each
// known by a 64-bit hash of its type, serial and text (its full key). A
// record's text is hashed only when needed: when it does not stay valid
// (read through a buffer), or when another kept record has the same type
// and serial. pairs counts the kept records per (type, serial) and points
// at the one of them not yet hashed, if any (at most one is: every later
// one was hashed to be checked).
//
// A record whose serial is above every kept one (the usual case) cannot
// have a pair kept: it goes into the ring only. pairs learns the records
// of such a run (from record number mono on) when a record with a lower
// or equal serial comes and has to be looked up.
type dupWin struct {
	seed  maphash.Seed
	ring  [dupWindow]dupEnt
	n     int
	mono  int       // records mono.. are not in pairs (their serials rise)
	quiet int       // mono+dupWindow: from then on the window holds only the run
	full  dupTable  // full keys of the hashed records kept
	pairs pairTable // (type, serial) of the records kept before mono
	top   uint64    // no record kept had a higher serial
	base  []byte    // the in-memory input, if any
	// hashed counts the kept records hashed: while it is 0 (in-memory
	// input, no pair) evicting a record of a rising run reads nothing.
	hashed int
}

// dupEnt is a kept record. Its text, until hashed, is base[off:off+n]:
// no pointer, so keeping a record stores no pointer (and needs no write
// barrier).
type dupEnt struct {
	full   uint64 // 0 until hashed
	serial uint64
	off    int
	n      uint32
	t      Type
}

// set fills e field by field: a composite literal is built on the stack
// and copied in wider words, which the CPU cannot forward from the
// narrower stores (a stall per record).
func (e *dupEnt) set(full, serial uint64, off, n int, t Type) {
	e.full, e.serial, e.off, e.n, e.t = full, serial, off, uint32(n), t
}

// newDupWin returns an empty window; texts that lie in base stay valid
// and are hashed only when needed.
func newDupWin(base []byte) *dupWin {
	return &dupWin{seed: maphash.MakeSeed(), base: base, quiet: dupWindow}
}

// at returns where text lies in base, or ok false (then it is hashed at
// once).
func (d *dupWin) at(text []byte) (off int, ok bool) {
	if len(text) == 0 || len(d.base) == 0 || uint64(len(text)) > math.MaxUint32 {
		return 0, false
	}
	o := uintptr(unsafe.Pointer(unsafe.SliceData(text))) - uintptr(unsafe.Pointer(unsafe.SliceData(d.base)))
	if o >= uintptr(len(d.base)) || uintptr(len(d.base))-o < uintptr(len(text)) {
		return 0, false
	}
	return int(o), true
}

// text returns a kept record's text, not yet hashed.
func (d *dupWin) text(e *dupEnt) []byte { return d.base[e.off : e.off+int(e.n)] }

// fullKey hashes type, serial and text; auditd's enriched section and
// trailing blanks are not part of the text (kernel copies lack them).
func (d *dupWin) fullKey(t Type, serial uint64, text []byte) uint64 {
	if i := bytes.IndexByte(text, 0x1d); i >= 0 {
		text = text[:i]
	}
	for len(text) > 0 && (text[len(text)-1] == ' ' || text[len(text)-1] == '\t') {
		text = text[:len(text)-1]
	}
	k := maphash.Bytes(d.seed, text)
	k ^= (uint64(t)<<48 | uint64(t)>>16) ^ serial*0x9e3779b97f4a7c15
	return dupKey(mix64(k))
}

func pairKey(t Type, serial uint64) uint64 {
	return dupKey(mix64(serial ^ uint64(t)*0x9e3779b97f4a7c15))
}

// seen reports whether (t, serial, text) is in the window, and keeps it
// when not. stable says text stays valid while it is in the window.
func (d *dupWin) seen(t Type, serial uint64, text []byte, stable bool) bool {
	var full uint64
	off, in := 0, false
	if stable {
		off, in = d.at(text)
	}
	if serial > d.top || d.n == 0 {
		// No record kept has this serial.
		d.top = serial
		if !in {
			full = d.fullKey(t, serial, text)
		}
		e := d.keep()
		if full != 0 {
			d.full.add(full)
			d.hashed++
		}
		e.set(full, serial, off, len(text), t)
		return false
	}
	d.pairRun()
	pk := pairKey(t, serial)
	if i := d.pairs.find(pk); i >= 0 {
		if p := &d.pairs.slots[i]; p.pending >= 0 {
			e := &d.ring[p.pending]
			e.full = d.fullKey(e.t, e.serial, d.text(e))
			d.full.add(e.full)
			d.hashed++
			p.pending = -1
		}
		full = d.fullKey(t, serial, text)
		if d.full.has(full) {
			return true
		}
	} else if !in {
		full = d.fullKey(t, serial, text)
	}
	slot := d.n % dupWindow
	e := d.keep()
	d.mono, d.quiet = d.n, d.n+dupWindow
	e.set(full, serial, off, len(text), t)
	p := d.pairs.insert(pk)
	p.count++
	if full != 0 {
		d.full.add(full)
		d.hashed++
	} else {
		p.pending = int32(slot)
	}
	return false
}

// rise is seen's usual case in few steps: a text in base whose serial
// is above every kept one, in a full window of a rising run with no
// record hashed. It reports false, changing nothing, in any other case.
func (d *dupWin) rise(t Type, serial uint64, text []byte) bool {
	if serial <= d.top || d.hashed != 0 || d.n < d.quiet {
		return false
	}
	off, in := d.at(text)
	if !in {
		return false
	}
	d.top = serial
	d.ring[uint(d.n)%dupWindow].set(0, serial, off, len(text), t)
	d.n++
	return true
}

// keep makes room for a record (evicting the oldest when the window is
// full) and returns its ring entry.
func (d *dupWin) keep() *dupEnt {
	slot := d.n % dupWindow
	if d.n >= dupWindow {
		d.evict(slot, d.n-dupWindow >= d.mono)
	}
	d.n++
	return &d.ring[slot]
}

// pairRun puts the records from mono on into pairs. Their serials rise,
// above those of the records before: none shares a pair with another.
func (d *dupWin) pairRun() {
	for k := max(d.mono, d.n-dupWindow); k < d.n; k++ {
		e := &d.ring[k%dupWindow]
		p := d.pairs.insert(pairKey(e.t, e.serial))
		p.count++
		if e.full == 0 {
			p.pending = int32(k % dupWindow)
		}
	}
	d.mono, d.quiet = d.n, d.n+dupWindow
}

// evict drops the record in slot (keep's caller overwrites its entry);
// run says it is not in pairs.
func (d *dupWin) evict(slot int, run bool) {
	e := &d.ring[slot]
	if run {
		if d.hashed > 0 && e.full != 0 {
			d.full.remove(e.full)
			d.hashed--
		}
		return
	}
	i := d.pairs.find(pairKey(e.t, e.serial))
	p := &d.pairs.slots[i]
	p.count--
	if e.full != 0 {
		d.full.remove(e.full)
		d.hashed--
	} else {
		p.pending = -1
	}
	if p.count == 0 {
		d.pairs.del(i)
	}
}

// pairTable is a fixed-size open-addressing map from non-zero keys to a
// count and a ring slot (linear probing, deletion by backward shift).
type pairTable struct {
	slots [4 * dupWindow]pairEnt
}

type pairEnt struct {
	key     uint64
	count   int32
	pending int32 // ring slot of the record not hashed, or -1
}

func (m *pairTable) find(k uint64) int {
	for i := k & dupMask; ; i = (i + 1) & dupMask {
		switch m.slots[i].key {
		case k:
			return int(i)
		case 0:
			return -1
		}
	}
}

func (m *pairTable) insert(k uint64) *pairEnt {
	i := k & dupMask
	for m.slots[i].key != 0 {
		if m.slots[i].key == k {
			return &m.slots[i]
		}
		i = (i + 1) & dupMask
	}
	m.slots[i] = pairEnt{key: k, pending: -1}
	return &m.slots[i]
}

func (m *pairTable) del(at int) {
	i := uint64(at)
	for {
		m.slots[i] = pairEnt{}
		j := i
		for {
			j = (j + 1) & dupMask
			if m.slots[j].key == 0 {
				return
			}
			home := m.slots[j].key & dupMask
			if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
				break
			}
		}
		m.slots[i] = m.slots[j]
		i = j
	}
}
