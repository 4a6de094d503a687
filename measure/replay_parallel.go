package measure

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"sync"
	"sync/atomic"
)

// replayBatch is how many entries travel between the goroutines at once.
const replayBatch = 256

// rbatch is a batch of entries reduced to what replay needs: PCR,
// violation flag, stored digest, template hash input and template hashes.
type rbatch struct {
	base int // index of the first entry
	n    int
	ents [replayBatch]rentry
	data []byte // template hash inputs, back to back
	need []Algo
	// pending counts the bank goroutines still extending this batch.
	pending atomic.Int32
}

type rentry struct {
	pcr      uint8
	viol     bool
	da       Algo
	dlen     uint8
	digest   [MaxDigestSize]byte
	from, to int // hash input in data
	th       [SM3 + 1][MaxDigestSize]byte
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

// hashRange computes the template hashes of entries [lo, hi) of b.
func hashRange(b *rbatch, lo, hi int, hs *[SM3 + 1]hash.Hash) {
	for i := lo; i < hi; i++ {
		e := &b.ents[i]
		if e.viol {
			continue
		}
		in := b.data[e.from:e.to]
		for _, a := range b.need {
			switch a {
			case SHA1:
				s := sha1.Sum(in)
				copy(e.th[a][:], s[:])
			case SHA256:
				s := sha256.Sum256(in)
				copy(e.th[a][:], s[:])
			default:
				if hs[a] == nil {
					hs[a] = a.New()
				}
				h := hs[a]
				h.Reset()
				h.Write(in)
				h.Sum(e.th[a][:0])
			}
		}
	}
}

// addAllParallel is AddAll on several CPUs, as a pipeline with no
// goroutine waiting on another for each batch: the caller's goroutine
// reads entries into batches; a hashing goroutine computes their template
// hashes, checks the stored digests and notes them for idle tracks, in
// entry order; one goroutine per bank extends that bank's tracks (a
// Fallback track stays with its SHA1Padded twin) in entry order. Batches
// come back for reuse when every bank is done with them.
func (r *Replayer) addAllParallel(rd EntryReader) error {
	var groups [][]*track
	for _, t := range r.live {
		found := false
		for i, g := range groups {
			if g[0].bank == t.bank {
				groups[i] = append(g, t)
				found = true
			}
		}
		if !found {
			groups = append(groups, []*track{t})
		}
	}
	const inFlight = 4
	free := make(chan *rbatch, inFlight)
	for range inFlight {
		free <- new(rbatch)
	}
	banks := make([]chan *rbatch, len(groups))
	var running sync.WaitGroup
	for i, g := range groups {
		banks[i] = make(chan *rbatch, inFlight)
		running.Add(1)
		go func(g []*track, in chan *rbatch) {
			defer running.Done()
			for b := range in {
				for j := 0; j < b.n; j++ {
					e := &b.ents[j]
					extendTracks(g, int(e.pcr), e.viol, &e.th, b.base+j)
				}
				if b.pending.Add(-1) == 0 {
					free <- b
				}
			}
		}(g, banks[i])
	}
	hashq := make(chan *rbatch, inFlight)
	running.Add(1)
	go func() {
		defer running.Done()
		defer func() {
			for _, c := range banks {
				close(c)
			}
		}()
		var hs [SM3 + 1]hash.Hash
		for b := range hashq {
			hashRange(b, 0, b.n, &hs)
			for j := 0; j < b.n; j++ {
				e := &b.ents[j]
				r.record(int(e.pcr), e.viol, &e.th[SHA1])
				if e.viol {
					r.violations++
					continue
				}
				if int(e.dlen) != e.da.Size() || !bytes.Equal(e.digest[:e.dlen], e.th[e.da][:e.da.Size()]) {
					r.digestError(b.base + j)
				}
			}
			if len(banks) == 0 {
				free <- b
				continue
			}
			b.pending.Store(int32(len(banks)))
			for _, c := range banks {
				c <- b
			}
		}
	}()

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
		b.need = append(b.need[:0], r.need...)
		n += b.n
		hashq <- b
	}
	close(hashq)
	running.Wait()
	r.n = n
	if stop == io.EOF {
		return nil
	}
	return stop
}
