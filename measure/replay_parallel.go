package measure

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"sync"
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
	wg   sync.WaitGroup // bank goroutines still extending this batch
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

// addAllParallel is AddAll on several CPUs. The caller's goroutine reads a
// batch and hashes half of it while a helper hashes the other half; then
// it checks the stored digests and hands the batch to one goroutine per
// bank, which extends that bank's tracks in entry order while the next
// batches are read and hashed. Three batches rotate.
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
	banks := make([]chan *rbatch, len(groups))
	var running sync.WaitGroup
	for i, g := range groups {
		banks[i] = make(chan *rbatch, 3)
		running.Add(1)
		go func(g []*track, in chan *rbatch) {
			defer running.Done()
			for b := range in {
				for j := 0; j < b.n; j++ {
					e := &b.ents[j]
					extendTracks(g, int(e.pcr), e.viol, &e.th, b.base+j)
				}
				b.wg.Done()
			}
		}(g, banks[i])
	}
	type job struct {
		b      *rbatch
		lo, hi int
	}
	jobs := make(chan job)
	hashed := make(chan struct{})
	go func() {
		var hs [SM3 + 1]hash.Hash
		for j := range jobs {
			hashRange(j.b, j.lo, j.hi, &hs)
			hashed <- struct{}{}
		}
	}()
	defer func() {
		close(jobs)
		for _, c := range banks {
			close(c)
		}
		running.Wait()
	}()

	var ring [3]rbatch
	var hs [SM3 + 1]hash.Hash
	for k := 0; ; k++ {
		b := &ring[k%len(ring)]
		b.wg.Wait()
		b.base, b.n, b.data = r.n, 0, b.data[:0]
		var stop error
		for b.n < replayBatch {
			e, err := rd.Next()
			if err != nil {
				stop = err
				break
			}
			if e.PCR < 0 || e.PCR >= NumPCRs {
				stop = fmt.Errorf("replay entry %d: %w: %d", r.n+b.n, ErrBadPCR, e.PCR)
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
		half := b.n / 2
		if half > 0 {
			jobs <- job{b, half, b.n}
			hashRange(b, 0, half, &hs)
			<-hashed
		} else {
			hashRange(b, 0, b.n, &hs)
		}
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
		if b.n > 0 {
			b.wg.Add(len(banks))
			for _, c := range banks {
				c <- b
			}
		}
		r.n += b.n
		if stop != nil {
			for i := range ring {
				ring[i].wg.Wait()
			}
			if stop == io.EOF {
				return nil
			}
			return stop
		}
	}
}
