package audit

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// refSerials is serials as it was before lines were kept lazily (every
// seen serial storing its line, judge reading each): the reference the
// lazy bookkeeping must agree with.
type refSerials struct {
	started bool
	base    uint64 // every serial below base has been judged
	max     uint64
	seen    *[serialWindow / 64]uint64 // allocated on first use
	lines   *[serialWindow]uint32      // input line of a seen serial
	gapFrom uint64                     // start of an open gap run (0 = none)
	gapPrev int                        // line before the open gap
	prev    int                        // line of the last seen serial judged
	late    int                        // serials arriving after being judged missing
	any     bool                       // some serial was observed (kept across resets)
	judged  bool                       // base has advanced past a judged serial
}

func (s *refSerials) reset() {
	seen, lines, anySeen := s.seen, s.lines, s.any
	*s = refSerials{seen: seen, lines: lines, any: anySeen}
	if seen != nil {
		*seen = [serialWindow / 64]uint64{}
	}
}

// observe records serial seen at line; gaps found are reported to loss.
func (s *refSerials) observe(serial uint64, line int, loss *Loss) {
	if serial == 0 || serial > maxSerial {
		return
	}
	if s.seen == nil {
		s.seen = new([serialWindow / 64]uint64)
		s.lines = new([serialWindow]uint32)
	}
	s.any = true
	if !s.started {
		s.started = true
		s.base, s.max = serial, serial
	}
	if serial < s.base {
		if s.base-serial > serialWindow {
			// The counter went back: a reboot in the same log.
			s.finish(loss)
			s.reset()
			s.observe(serial, line, loss)
			return
		}
		if !s.judged && s.max-serial < serialWindow {
			// Nothing judged yet: widen the window downwards.
			s.base = serial
		} else {
			// Already judged: it matters only if it was judged missing.
			if s.gapFrom != 0 && serial >= s.gapFrom {
				s.late++
				return
			}
			for _, e := range loss.Evidence {
				if e.Kind == SerialGap && e.From <= serial && serial <= e.To {
					s.late++
					break
				}
			}
			return
		}
	}
	if serial >= s.base+serialWindow {
		s.judge(serial-serialWindow+1, loss)
	}
	i := serial % serialWindow
	if s.seen[i/64]&(1<<(i%64)) == 0 {
		s.seen[i/64] |= 1 << (i % 64)
		s.lines[i] = uint32(line)
	}
	if serial > s.max {
		s.max = serial
	}
}

// startAt makes the window start at first (1 after a boot banner), so that
// serials missing before the first record seen count too.
func (s *refSerials) startAt(first uint64) {
	s.reset()
	if s.seen == nil {
		s.seen = new([serialWindow / 64]uint64)
		s.lines = new([serialWindow]uint32)
	}
	s.started = true
	s.base, s.max = first, first-1
}

// judge decides every serial below upTo.
func (s *refSerials) judge(upTo uint64, loss *Loss) {
	if upTo <= s.base {
		return
	}
	if upTo-s.base > serialWindow {
		// Nothing beyond the window was seen: judge the window, then the
		// rest is one run of missing serials (no per-serial loop).
		s.judge(s.base+serialWindow, loss)
		if s.gapFrom == 0 {
			s.gapFrom, s.gapPrev = s.base, s.prev
		}
		s.base = upTo
		return
	}
	s.judged = true
	for s.base < upTo {
		i := s.base % serialWindow
		w := i / 64
		if i%64 == 0 && s.base+64 <= upTo {
			// Whole words at a time: all seen, or none seen.
			if s.seen[w] == ^uint64(0) && s.gapFrom == 0 {
				s.prev = int(s.lines[i+63])
				s.seen[w] = 0
				s.base += 64
				continue
			}
			if s.seen[w] == 0 {
				if s.gapFrom == 0 {
					s.gapFrom, s.gapPrev = s.base, s.prev
				}
				s.base += 64
				continue
			}
		}
		bit := uint64(1) << (i % 64)
		if s.seen[w]&bit != 0 {
			if s.gapFrom != 0 {
				s.closeGap(s.base-1, int(s.lines[i]), loss)
			}
			s.prev = int(s.lines[i])
			s.seen[w] &^= bit
		} else if s.gapFrom == 0 {
			s.gapFrom = s.base
			s.gapPrev = s.prev
		}
		s.base++
	}
}

func (s *refSerials) closeGap(to uint64, line int, loss *Loss) {
	n := to - s.gapFrom + 1
	loss.MissingSerials += n
	text := fmt.Sprintf("audit serial %d missing", s.gapFrom)
	if n > 1 {
		text = fmt.Sprintf("audit serials %d-%d missing (%d records)", s.gapFrom, to, n)
	}
	if s.gapPrev > 0 {
		text += fmt.Sprintf(" between lines %d and %d", s.gapPrev, line)
	} else {
		text += fmt.Sprintf(" before line %d", line)
	}
	loss.add(Evidence{Kind: SerialGap, Line: line, Count: n, From: s.gapFrom, To: to, Text: text})
	s.gapFrom = 0
}

// finish judges everything up to the highest serial seen.
func (s *refSerials) finish(loss *Loss) {
	if !s.started {
		return
	}
	s.judge(s.max+1, loss)
	if s.late > 0 {
		loss.note(fmt.Sprintf("%d records arrived after their serials had been reported missing (more than %d serials out of order); serial gaps are overstated", s.late, serialWindow))
	}
}

// serialOps turns bytes into serial-tracking steps: mostly the next
// serial, with repeats, steps back and forth around the window's size,
// jumps, a counter that goes back, boot banners, serials out of range.
func serialOps(data []byte, observe func(serial uint64, line int), boot func()) {
	serial, line := uint64(1000), 0
	for i := 0; i < len(data); i++ {
		op := data[i]
		arg := uint64(0)
		if i+1 < len(data) {
			arg = uint64(data[i+1])
		}
		line += 1 + int(op>>6)
		switch op % 16 {
		case 0, 1, 2, 3, 4, 5:
			serial++
		case 6:
			// the same serial again
		case 7:
			serial += 2 + arg%8
			i++
		case 8:
			if serial > 1+arg%16 {
				serial -= 1 + arg%16
			}
			i++
		case 9:
			serial += serialWindow - 2 + arg%4
			i++
		case 10:
			if serial > serialWindow+arg%4 {
				serial -= serialWindow - 2 + arg%4
			}
			i++
		case 11:
			serial += 3*serialWindow + arg
			i++
		case 12:
			serial = 1 + arg%4 // the counter went back (a reboot)
			i++
		case 13:
			boot()
			continue
		case 14:
			observe([]uint64{0, maxSerial + 1, 1 << 40}[arg%3], line)
			i++
			continue
		case 15:
			serial += 64 - serial%64 + arg%3 // word boundaries
			i++
		}
		observe(serial, line)
	}
}

// checkSerials runs the steps of data through serials (observe alone,
// and next first as fastRecord calls them) and refSerials, and requires
// the same loss, step by step and at the end.
func checkSerials(t *testing.T, data []byte) {
	var s, f serials
	var r refSerials
	var ls, lf, lr Loss
	step := 0
	serialOps(data, func(serial uint64, line int) {
		s.observe(serial, line, &ls)
		if !f.next(serial, line) {
			f.observe(serial, line, &lf)
		}
		r.observe(serial, line, &lr)
		step++
		for _, l := range []Loss{ls, lf} {
			if len(l.Evidence) != len(lr.Evidence) || l.More != lr.More {
				t.Fatalf("step %d (serial %d, line %d): %d evidence (+%d), reference %d (+%d)", step, serial, line, len(l.Evidence), l.More, len(lr.Evidence), lr.More)
			}
		}
	}, func() {
		s.finish(&ls)
		s.startAt(1)
		f.finish(&lf)
		f.startAt(1)
		r.finish(&lr)
		r.startAt(1)
	})
	s.finish(&ls)
	f.finish(&lf)
	r.finish(&lr)
	require.Equal(t, lr, ls)
	require.Equal(t, lr, lf)
}

// TestSerialsMatchReference compares the lazy line bookkeeping with the
// reference on crafted and random serial sequences.
func TestSerialsMatchReference(t *testing.T) {
	crafted := [][]byte{
		{0, 0, 0, 7, 3, 0, 0, 8, 2, 0, 0},    // gap, then a serial below the top fills it
		{0, 9, 1, 0, 8, 1, 0, 0},             // a window's jump, a step back
		{0, 0, 11, 5, 0, 12, 0, 0, 0},        // far jump, counter back
		{13, 0, 0, 7, 1, 13, 0, 7, 4, 0},     // boot banners
		{0, 15, 0, 0, 0, 15, 1, 0, 10, 2, 0}, // word boundaries, back by a window
		{0, 0, 6, 6, 0, 14, 0, 0, 14, 1, 0},  // repeats, out-of-range serials
	}
	for i, c := range crafted {
		t.Run(fmt.Sprint("crafted", i), func(t *testing.T) { checkSerials(t, c) })
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200; i++ {
		data := make([]byte, 50+rng.IntN(5000))
		for k := range data {
			// Mostly the next serial, as in real logs.
			if rng.IntN(4) == 0 {
				data[k] = byte(rng.IntN(256))
			} else {
				data[k] = byte(rng.IntN(6) | rng.IntN(4)<<6)
			}
		}
		t.Run(fmt.Sprint("random", i), func(t *testing.T) { checkSerials(t, data) })
	}
}

// FuzzSerials compares serials with the reference on arbitrary steps.
func FuzzSerials(f *testing.F) {
	f.Add([]byte{0, 0, 0, 7, 3, 0, 0, 8, 2, 0, 0})
	f.Add([]byte{0, 9, 1, 0, 8, 1, 0, 0, 13, 0, 15, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<14 {
			return
		}
		checkSerials(t, data)
	})
}

// FuzzMayNote: mayNote is false only for messages that hold none of
// noteWords, which the messages' checks look for.
func FuzzMayNote(f *testing.F) {
	f.Add([]byte("[    0.003000] virtio_net virtio0 enp0s3: renamed from eth0"))
	f.Add([]byte("kauditd_printk_skb: 12 callbacks suppressed"))
	f.Add([]byte("** 3 printk messages dropped **"))
	f.Add([]byte("Missed 4 kernel messages"))
	f.Add([]byte("Linux version 6.1.0-41-amd64"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		holds := false
		for _, w := range noteWords {
			holds = holds || strings.Contains(string(msg), w)
		}
		if holds && !mayNote(msg) {
			t.Fatalf("mayNote(%q) false", msg)
		}
	})
}

// TestMayNote: each word is found wherever it lies; text without them
// (or with only a part of one) is not.
func TestMayNote(t *testing.T) {
	for _, w := range noteWords {
		for _, pre := range []string{"", "x", "xy", "xyz", "[   1.000000] "} {
			require.True(t, mayNote([]byte(pre+w)), "%q", pre+w)
			require.True(t, mayNote([]byte(pre+w+" tail")), "%q", pre+w)
		}
		require.False(t, mayNote([]byte(w[:3])), "%q", w[:3])
	}
	for _, m := range []string{"", "aud", "[    0.003000] virtio_net virtio0 enp0s3: renamed from eth0", "AUDIT supPressed linux version"} {
		require.False(t, mayNote([]byte(m)), "%q", m)
	}
}
