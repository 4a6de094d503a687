package measure

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"slices"
	"sync"
	"sync/atomic"
)

// replayBatch is how many entries travel between the goroutines at once
// (200k-entry replay on 2 cores: 1.3-1.55x the one-core speed with 256,
// 1.8x with 1024, 1.6x with 4096: fewer hand-offs, batches still in cache).
const replayBatch = 1024

// rbatch is a batch of entries reduced to what replay needs: PCR,
// violation flag, stored digest and template hash input.
type rbatch struct {
	base int // index of the first entry
	n    int
	ents [replayBatch]rentry
	data []byte // template hash inputs, back to back
	// pending counts the bank goroutines still working on this batch.
	pending atomic.Int32
}

type rentry struct {
	pcr      uint8
	viol     bool
	da       Algo
	dlen     uint8
	digest   [MaxDigestSize]byte
	from, to int // hash input in data
}

// appendHashInput appends the bytes writeHashInput hashes for e.
func appendHashInput(dst []byte, e *Entry) []byte {
	if e.Template.IsIMA() {
		dst = append(dst, e.Fields[0]...)
		n := e.Fields[1]
		if len(n) > MaxEventName {
			n = n[:MaxEventName]
		}
		dst = append(dst, n...)
		return append(dst, zeroName[:len(zeroName)-len(n)]...)
	}
	return e.AppendTemplateData(dst, e.order())
}

// sumInto hashes in with a into out, one-shot for SHA-1 and SHA-256.
func sumInto(a Algo, in []byte, out *[MaxDigestSize]byte, hs *[SM3 + 1]hash.Hash) {
	switch a {
	case SHA1:
		s := sha1.Sum(in)
		copy(out[:], s[:])
	case SHA256:
		s := sha256.Sum256(in)
		copy(out[:], s[:])
	default:
		if hs[a] == nil {
			hs[a] = a.New()
		}
		h := hs[a]
		h.Reset()
		h.Write(in)
		h.Sum(out[:0])
	}
}

// bankWork is what one goroutine of addAllParallel does: the template
// hashes its tracks extend with (need) and, for the one that checks, the
// stored digests, the violation count and the record for idle tracks.
type bankWork struct {
	tracks []*track
	need   []Algo
	check  bool
}

// work splits the live tracks by bank (a Fallback track stays with its
// SHA1Padded twin); the SHA-1 bank's goroutine, else the first, checks.
func (r *Replayer) work() []*bankWork {
	var ws []*bankWork
	for _, t := range r.live {
		var w *bankWork
		for _, x := range ws {
			if x.tracks[0].bank == t.bank {
				w = x
			}
		}
		if w == nil {
			w = &bankWork{}
			ws = append(ws, w)
		}
		w.tracks = append(w.tracks, t)
		a := SHA1 // padded modes extend the SHA-1 template hash
		if t.mode == PerBank {
			a = t.bank
		}
		if !slices.Contains(w.need, a) {
			w.need = append(w.need, a)
		}
	}
	if len(ws) == 0 {
		ws = append(ws, &bankWork{})
	}
	c := ws[0]
	for _, w := range ws {
		if w.tracks != nil && w.tracks[0].bank == SHA1 {
			c = w
		}
	}
	c.check = true
	if !slices.Contains(c.need, SHA1) { // record keeps SHA-1 hashes
		c.need = append(c.need, SHA1)
	}
	return ws
}

// run is one bank goroutine: for each batch, in entry order, the
// template hashes, the checks if it checks, and the extends.
func (r *Replayer) run(w *bankWork, in <-chan *rbatch, free chan<- *rbatch) {
	var th [SM3 + 1][MaxDigestSize]byte
	var hs [SM3 + 1]hash.Hash
	for b := range in {
		for j := 0; j < b.n; j++ {
			e := &b.ents[j]
			if !e.viol {
				inp := b.data[e.from:e.to]
				for _, a := range w.need {
					sumInto(a, inp, &th[a], &hs)
				}
				if w.check {
					if !slices.Contains(w.need, e.da) {
						sumInto(e.da, inp, &th[e.da], &hs)
					}
					if int(e.dlen) != e.da.Size() || !bytes.Equal(e.digest[:e.dlen], th[e.da][:e.da.Size()]) {
						r.digestError(b.base + j)
					}
				}
			}
			extendTracks(w.tracks, int(e.pcr), e.viol, &th, b.base+j)
			if w.check {
				if e.viol {
					r.violations++
				}
				r.record(int(e.pcr), e.viol, &th[SHA1])
			}
		}
		if b.pending.Add(-1) == 0 {
			free <- b
		}
	}
}

// addAllParallel is AddAll on several CPUs, as a pipeline in which no
// goroutine waits on another for each batch: the caller's goroutine reads
// entries into batches; one goroutine per bank computes the template
// hashes its tracks use and extends them, in entry order, and one of them
// also checks the stored digests (bankWork). Batches come back for reuse
// when every bank is done with them. On two cores the SHA-256 bank's
// hashing runs beside the reading and the SHA-1 bank's.
func (r *Replayer) addAllParallel(rd EntryReader) error {
	const inFlight = 4
	free := make(chan *rbatch, inFlight)
	for range inFlight {
		free <- new(rbatch)
	}
	ws := r.work()
	banks := make([]chan *rbatch, len(ws))
	var running sync.WaitGroup
	for i, w := range ws {
		banks[i] = make(chan *rbatch, inFlight)
		running.Add(1)
		go func() {
			defer running.Done()
			r.run(w, banks[i], free)
		}()
	}

	n := r.n
	var stop error
	for stop == nil {
		b := <-free
		b.base, b.n, b.data = n, 0, b.data[:0]
		for b.n < replayBatch {
			e, err := rd.Next()
			if err != nil {
				stop = err
				break
			}
			if e.PCR < 0 || e.PCR >= NumPCRs {
				stop = fmt.Errorf("replay entry %d: %w: %d", n+b.n, ErrBadPCR, e.PCR)
				break
			}
			re := &b.ents[b.n]
			re.pcr, re.viol = uint8(e.PCR), e.IsViolation()
			if !re.viol {
				re.da = e.digestAlgo()
				if r.hashers[re.da] == nil {
					r.addNeed(re.da)
				}
				re.dlen = uint8(copy(re.digest[:], e.Digest))
				if len(e.Digest) > MaxDigestSize {
					re.dlen = MaxDigestSize + 1 // never equal: a digest error
				}
				re.from = len(b.data)
				b.data = appendHashInput(b.data, e)
				re.to = len(b.data)
			}
			b.n++
		}
		n += b.n
		b.pending.Store(int32(len(banks)))
		for _, c := range banks {
			c <- b
		}
	}
	for _, c := range banks {
		close(c)
	}
	running.Wait()
	r.n = n
	if stop == io.EOF {
		return nil
	}
	return stop
}
