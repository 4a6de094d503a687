package explore

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Packed keys round-trip, compare as their sequences do, and sprintLess
// orders them exactly as fmt.Sprint's text of the sequences (what the
// search sorted by before keys were packed).
func TestSequenceKeys(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, nOps := range []int{2, 12, 256, 257, 70000} {
		s := &search{w: World{Ops: make([]Op, nOps)}, width: keyWidth(nOps)}
		for range 2000 {
			a, b := make([]int, 1+rng.Intn(5)), make([]int, 1+rng.Intn(5))
			if rng.Intn(2) == 0 {
				b = make([]int, len(a))
			}
			for _, q := range [][]int{a, b} {
				for i := range q {
					q[i] = rng.Intn(nOps)
				}
			}
			if rng.Intn(3) == 0 && len(a) == len(b) {
				copy(b, a[:len(a)-1]) // a shared prefix
			}
			ka, kb := encodeSeq(a, s.width), encodeSeq(b, s.width)
			require.Equal(t, a, decodeSeq(ka, s.width))
			if len(a) == len(b) {
				assert.Equal(t, slicesCompare(a, b) < 0, ka < kb, "%v %v", a, b)
			}
			want := len(a) < len(b) || len(a) == len(b) && fmt.Sprint(a) < fmt.Sprint(b)
			assert.Equal(t, want, s.sprintLess(ka, kb), "%v %v (%d ops)", a, b, nOps)
		}
	}
}

func slicesCompare(a, b []int) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// The seen table keeps what a map of least depths would, through
// growth, merges, clones and the hash 0.
func TestSeenSetMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	a, b := newSeenSet(), newSeenSet()
	ma, mb := map[uint64]int{}, map[uint64]int{}
	key := func() uint64 {
		if rng.Intn(50) == 0 {
			return 0
		}
		return uint64(rng.Intn(5000)) << uint(rng.Intn(40))
	}
	for range 20000 {
		h, d := key(), rng.Intn(9)
		if old, ok := ma[h]; !ok || d < old {
			ma[h] = d
			a.put(h, d)
		}
		h, d = key(), rng.Intn(9)
		mb[h] = d
		b.put(h, d)
	}
	c := a.clone()
	c.merge(b)
	for h, d := range mb {
		if old, ok := ma[h]; !ok || d < old {
			ma[h] = d
		}
	}
	n := 0
	for h, d := range ma {
		got, ok := c.get(h)
		require.True(t, ok, "%x", h)
		require.Equal(t, d, got, "%x", h)
		if h != 0 {
			n++
		}
	}
	assert.Equal(t, n, c.n)
	for range 1000 {
		h := rng.Uint64()
		_, want := ma[h]
		_, got := c.get(h)
		assert.Equal(t, want, got, "%x", h)
	}
}

// The found set gives back every sequence added, short (packed) or long,
// with the verdict it was first added with.
func TestFoundSet(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, nOps := range []int{12, 300} {
		w := keyWidth(nOps)
		var f foundSet
		want := map[string]uint8{}
		for range 3000 {
			seq := make([]int, 1+rng.Intn(9))
			for i := range seq {
				seq[i] = rng.Intn(nOps)
			}
			v := uint8(1 + rng.Intn(3))
			k := encodeSeq(seq, w)
			if _, ok := want[k]; !ok {
				want[k] = v
			}
			f.add(seq, w, v)
		}
		keys := f.keys()
		assert.Len(t, keys, len(want))
		for _, k := range keys {
			require.Contains(t, want, k)
			assert.Equal(t, want[k], f.get(k))
		}
	}
}
