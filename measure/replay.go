package measure

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sort"
	"strconv"
)

// Mode is how a kernel extends a PCR bank with a list entry.
type Mode uint8

const (
	// PerBank: each bank gets the template hash in its own algorithm,
	// violations 0xFF of the bank's size (Linux ≥ 5.8:
	// ima_crypto.c:ima_calc_field_array_hash, ima_queue.c:ima_init_digests).
	PerBank Mode = iota + 1
	// SHA1Padded: every bank gets the SHA-1 template digest zero-padded to
	// the bank's size, violations 0xFF×20 zero-padded (TPM 2.0 on kernels
	// before 5.8, through tpm2_pcr_extend).
	SHA1Padded
	// Fallback: a bank the kernel cannot hash (no crypto transform, e.g. sm3
	// without CONFIG_CRYPTO_SM3) on kernels ≥ 5.8: padded SHA-1 digests,
	// but violations 0xFF of the full bank size. (A TPM algorithm the
	// kernel does not know at all gets 0xFF×20 zero-padded violations,
	// which is SHA1Padded.)
	Fallback
)

// Modes lists all modes in the order verification tries them.
var Modes = []Mode{PerBank, SHA1Padded, Fallback}

func (m Mode) String() string {
	switch m {
	case PerBank:
		return "per-bank"
	case SHA1Padded:
		return "sha1-padded"
	case Fallback:
		return "fallback"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseMode parses a Mode's String form.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown replay mode %q (want per-bank|sha1-padded|fallback)", s)
}

// Quote holds PCR values to check a replay against, per bank and PCR index.
type Quote map[Algo]map[int][]byte

// ReplayConfig says what to replay.
type ReplayConfig struct {
	// Banks to compute (default: the Quote's banks, else sha1 and sha256).
	Banks []Algo
	// Modes to compute for banks other than SHA-1 (default: all). For the
	// SHA-1 bank all modes coincide and only PerBank is computed. By
	// default the SHA1Padded and Fallback modes are replayed only for a
	// bank whose PerBank replay does not match its quote (or that has no
	// quote), from a record of each entry's PCR and SHA-1 template hash
	// (21 bytes an entry), when the result is asked for.
	Modes []Mode
	// Quote to match; may be nil to just compute PCR values.
	Quote Quote
	// OnlyExtended compares only the quoted PCRs the list extends (for a
	// quote of all PCRs read from a TPM, where firmware owns PCRs 0-9).
	OnlyExtended bool
}

// track is one (bank, mode) replay.
type track struct {
	bank    Algo
	mode    Mode
	size    int
	h       hash.Hash
	pcr     [NumPCRs][]byte
	used    [NumPCRs]bool
	want    [NumPCRs][]byte
	matches [NumPCRs][]int
	buf     [2 * MaxDigestSize]byte // PCR || digest, the extend input
	// idle: a default mode not replayed yet (see ReplayConfig.Modes).
	idle bool
	// A Fallback track equals its bank's SHA1Padded track (twin) until the
	// first violation; while shared it reuses the twin's values.
	twin   *track
	shared bool
}

// val returns the current value of PCR i.
func (t *track) val(i int) []byte {
	if t.shared {
		return t.twin.pcr[i]
	}
	return t.pcr[i]
}

// Replayer replays entries into software PCR banks, in every configured
// mode at once, recording for every quoted PCR each entry index after which
// the replayed value equals the quote. It never stops early: all entries
// are replayed and every template digest is checked.
type Replayer struct {
	tracks     []*track // in (bank, mode) order
	live       []*track // the tracks Add extends: all but idle ones
	hist       [][]byte // per entry while tracks are idle: PCR (bit 7: violation), SHA-1 template hash; in chunks of histChunk entries
	hashers    [SM3 + 1]hash.Hash
	th         [SM3 + 1][MaxDigestSize]byte // this entry's template hash per algorithm
	need       []Algo
	onlyExt    bool
	scratch    []byte
	n          int
	violations int
	digestErrs []int
	nDigestErr int
}

// maxDigestErrs bounds the template digest error indices kept.
const maxDigestErrs = 100

// NewReplayer returns a Replayer starting from zeroed PCRs.
func NewReplayer(cfg ReplayConfig) (*Replayer, error) {
	banks := cfg.Banks
	if len(banks) == 0 {
		for _, a := range Algos {
			if _, ok := cfg.Quote[a]; ok {
				banks = append(banks, a)
			}
		}
		if len(banks) == 0 {
			banks = []Algo{SHA1, SHA256}
		}
	}
	modes := cfg.Modes
	deferModes := len(modes) == 0
	if deferModes {
		modes = Modes
	}
	r := &Replayer{onlyExt: cfg.OnlyExtended}
	seen := map[[2]uint8]bool{}
	for _, b := range banks {
		if !b.valid() {
			return nil, fmt.Errorf("replay: invalid bank %v", b)
		}
		for _, m := range modes {
			if b == SHA1 {
				m = PerBank
			}
			if seen[[2]uint8{uint8(b), uint8(m)}] {
				continue
			}
			seen[[2]uint8{uint8(b), uint8(m)}] = true
			t := &track{bank: b, mode: m, size: b.Size(), h: b.New(), idle: deferModes && m != PerBank}
			buf := make([]byte, NumPCRs*t.size)
			for i := range t.pcr {
				t.pcr[i] = buf[i*t.size : (i+1)*t.size : (i+1)*t.size]
				t.want[i] = cfg.Quote[b][i]
			}
			r.tracks = append(r.tracks, t)
			r.addNeed(SHA1) // stored digests are checked, padded modes use it
			if m == PerBank {
				r.addNeed(b)
			}
		}
	}
	for i, t := range r.tracks {
		for _, p := range r.tracks[:i] {
			if t.mode == Fallback && p.mode == SHA1Padded && p.bank == t.bank {
				t.twin, t.shared = p, true
			}
		}
		if !t.idle {
			r.live = append(r.live, t)
		}
	}
	for a, v := range cfg.Quote {
		for i, d := range v {
			if i < 0 || i >= NumPCRs || len(d) != a.Size() {
				return nil, fmt.Errorf("replay: quoted %s PCR %d: bad index or %d-byte value", a, i, len(d))
			}
		}
	}
	return r, nil
}

func (r *Replayer) addNeed(a Algo) {
	if r.hashers[a] != nil {
		return
	}
	r.hashers[a] = a.New()
	r.need = append(r.need, a)
}

// templateHash computes e's template hash with a into r.th[a], with
// one-shot hashing for the common case of raw template data.
func (r *Replayer) templateHash(a Algo, e *Entry) {
	if e.raw != nil && !e.Template.IsIMA() {
		switch a {
		case SHA1:
			s := sha1.Sum(e.raw)
			copy(r.th[a][:], s[:])
			return
		case SHA256:
			s := sha256.Sum256(e.raw)
			copy(r.th[a][:], s[:])
			return
		}
	}
	h := r.hashers[a]
	h.Reset()
	r.scratch = e.writeHashInput(h, e.order(), r.scratch)
	h.Sum(r.th[a][:0])
}

// extend sets PCR p to H(PCR || d) where d already sits in t.buf after
// the PCR's size (Linux v6.12: drivers/char/tpm/tpm2-cmd.c:tpm2_pcr_extend
// as the TPM computes it).
func (t *track) extend(p int) {
	n := t.size
	copy(t.buf[:n], t.pcr[p])
	in := t.buf[:2*n]
	switch t.bank {
	case SHA1:
		s := sha1.Sum(in)
		copy(t.pcr[p], s[:])
	case SHA256:
		s := sha256.Sum256(in)
		copy(t.pcr[p], s[:])
	case SHA384:
		s := sha512.Sum384(in)
		copy(t.pcr[p], s[:])
	case SHA512:
		s := sha512.Sum512(in)
		copy(t.pcr[p], s[:])
	default:
		t.h.Reset()
		t.h.Write(in)
		t.h.Sum(t.pcr[p][:0])
	}
}

// Add replays one entry.
func (r *Replayer) Add(e *Entry) error {
	if e.PCR < 0 || e.PCR >= NumPCRs {
		return fmt.Errorf("replay entry %d: %w: %d", r.n, ErrBadPCR, e.PCR)
	}
	viol := e.IsViolation()
	if viol {
		r.violations++
	} else {
		da := e.digestAlgo()
		if r.hashers[da] == nil {
			r.addNeed(da)
		}
		for _, a := range r.need {
			r.templateHash(a, e)
		}
		if !bytes.Equal(e.Digest, r.th[da][:da.Size()]) {
			r.digestError(r.n)
		}
	}
	extendTracks(r.live, e.PCR, viol, &r.th, r.n)
	r.record(e.PCR, viol, &r.th[SHA1])
	r.n++
	return nil
}

// histEntry is the size of one entry's record for idle tracks.
const (
	histEntry = 1 + 20
	histChunk = 4096
)

// record notes an entry for the idle tracks.
func (r *Replayer) record(pcr int, viol bool, sha1 *[MaxDigestSize]byte) {
	if len(r.live) == len(r.tracks) {
		return
	}
	if len(r.hist) == 0 || len(r.hist[len(r.hist)-1]) == histChunk*histEntry {
		r.hist = append(r.hist, make([]byte, 0, histChunk*histEntry))
	}
	h := &r.hist[len(r.hist)-1]
	if viol {
		*h = append(*h, byte(pcr)|0x80)
		*h = append(*h, zeroName[:20]...)
		return
	}
	*h = append(*h, byte(pcr))
	*h = append(*h, sha1[:20]...)
}

// wake replays the recorded entries into the idle tracks of bank a and
// makes them live. The entries of a resumed State are not recorded: wake
// is only called when the Replayer started from zero.
func (r *Replayer) wake(a Algo) {
	var ts []*track
	for _, t := range r.tracks {
		if t.idle && t.bank == a {
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return
	}
	var th [SM3 + 1][MaxDigestSize]byte
	n := 0
	for _, c := range r.hist {
		for i := 0; i+histEntry <= len(c); i += histEntry {
			h := c[i : i+histEntry]
			copy(th[SHA1][:20], h[1:])
			extendTracks(ts, int(h[0]&0x7f), h[0]&0x80 != 0, &th, n)
			n++
		}
	}
	for _, t := range ts {
		t.idle = false
	}
	r.live = r.live[:0]
	for _, t := range r.tracks {
		if !t.idle {
			r.live = append(r.live, t)
		}
	}
	if len(r.live) == len(r.tracks) {
		r.hist = nil
	}
}

// wakeAll makes every idle track live.
func (r *Replayer) wakeAll() {
	for _, a := range Algos {
		r.wake(a)
	}
}

func (r *Replayer) digestError(n int) {
	r.nDigestErr++
	if len(r.digestErrs) < maxDigestErrs {
		r.digestErrs = append(r.digestErrs, n)
	}
}

// extendTracks extends PCR p of every track in ts with entry n, whose
// template hashes are th. A Fallback track and its SHA1Padded twin must be
// in the same ts.
func extendTracks(ts []*track, p int, viol bool, th *[SM3 + 1][MaxDigestSize]byte, n int) {
	if viol {
		for _, t := range ts {
			if t.shared { // diverge from the twin before it extends
				for i := range t.pcr {
					copy(t.pcr[i], t.twin.pcr[i])
				}
				t.shared = false
			}
		}
	}
	for _, t := range ts {
		if t.shared {
			t.used[p] = true
			if w := t.want[p]; w != nil && bytes.Equal(w, t.twin.pcr[p]) {
				t.matches[p] = append(t.matches[p], n)
			}
			continue
		}
		d := t.buf[t.size : 2*t.size]
		switch {
		case viol && t.mode == SHA1Padded:
			clear(d)
			for i := 0; i < 20 && i < t.size; i++ {
				d[i] = 0xff
			}
		case viol:
			for i := range d {
				d[i] = 0xff
			}
		case t.mode == PerBank:
			copy(d, th[t.bank][:t.size])
		default:
			copy(d, th[SHA1][:20])
			clear(d[20:])
		}
		t.extend(p)
		t.used[p] = true
		if w := t.want[p]; w != nil && bytes.Equal(w, t.pcr[p]) {
			t.matches[p] = append(t.matches[p], n)
		}
	}
}

// Count is the number of entries replayed, including those of a resumed
// State.
func (r *Replayer) Count() int { return r.n }

// PCR returns the replayed value of pcr in bank a and mode m.
func (r *Replayer) PCR(a Algo, m Mode, pcr int) ([]byte, bool) {
	if a == SHA1 {
		m = PerBank
	}
	r.wake(a)
	for _, t := range r.tracks {
		if t.bank == a && t.mode == m && pcr >= 0 && pcr < NumPCRs {
			return bytes.Clone(t.val(pcr)), true
		}
	}
	return nil, false
}

// PCRResult is one PCR of one (bank, mode) replay.
type PCRResult struct {
	PCR   int    `json:"pcr"`
	Value []byte `json:"value"`
	Want  []byte `json:"want,omitempty"`
	// Matches lists the 0-based entry indices after which the replayed
	// value equalled Want; -1 means the initial (never extended) value did.
	Matches []int `json:"matches,omitempty"`
}

// Matched reports whether the replay reached Want at some point.
func (p PCRResult) Matched() bool { return p.Want != nil && len(p.Matches) > 0 }

// TrackResult is one (bank, mode) replay.
type TrackResult struct {
	Bank Algo        `json:"-"`
	Mode Mode        `json:"-"`
	PCRs []PCRResult `json:"pcrs"`
}

// Result summarises a replay.
type Result struct {
	Entries    int `json:"entries"`
	Violations int `json:"violations"`
	// DigestErrors lists (up to 100) entries whose stored template digest
	// differs from the recomputed one; DigestErrorCount counts them all.
	DigestErrors     []int         `json:"digest_errors,omitempty"`
	DigestErrorCount int           `json:"digest_error_count"`
	Tracks           []TrackResult `json:"tracks"`
}

// Result returns the replay so far: for every track the PCRs that were
// extended or quoted, in index order.
func (r *Replayer) Result() *Result {
	for _, t := range r.tracks {
		if t.mode == PerBank && !r.perBankMatched(t) {
			r.wake(t.bank)
		}
	}
	res := &Result{Entries: r.n, Violations: r.violations,
		DigestErrors: append([]int(nil), r.digestErrs...), DigestErrorCount: r.nDigestErr}
	for _, t := range r.tracks {
		if t.idle {
			continue // its bank matched the quote per bank
		}
		res.Tracks = append(res.Tracks, r.trackResult(t))
	}
	return res
}

// perBankMatched reports whether t's bank is quoted and t reached every
// quoted PCR (what Verdicts judges from the Result).
func (r *Replayer) perBankMatched(t *track) bool {
	quoted := false
	for _, p := range r.trackResult(t).PCRs {
		if p.Want != nil {
			quoted = true
			if !p.Matched() {
				return false
			}
		}
	}
	return quoted
}

// trackResult returns t's PCRs that were extended or quoted.
func (r *Replayer) trackResult(t *track) TrackResult {
	{
		tr := TrackResult{Bank: t.bank, Mode: t.mode}
		for i := range t.pcr {
			if !t.used[i] && (t.want[i] == nil || r.onlyExt) {
				continue
			}
			pr := PCRResult{PCR: i, Value: bytes.Clone(t.val(i)), Want: t.want[i],
				Matches: append([]int(nil), t.matches[i]...)}
			if !t.used[i] && pr.Want != nil && bytes.Equal(pr.Want, pr.Value) {
				pr.Matches = []int{-1}
			}
			tr.PCRs = append(tr.PCRs, pr)
		}
		return tr
	}
}

// BankVerdict says whether one quoted bank matched and in which mode.
type BankVerdict struct {
	Bank    Algo
	Mode    Mode // the first mode in which every quoted PCR matched; 0 if none
	Matched bool
	// Index is, per quoted PCR, the last entry index at which it matched in
	// Mode (the replay point equal to the quote).
	Index map[int]int
}

// Verdicts returns one verdict per quoted bank, in Algos order.
func (res *Result) Verdicts() []BankVerdict {
	var out []BankVerdict
	for _, a := range Algos {
		var quoted bool
		for _, t := range res.Tracks {
			if t.Bank == a {
				for _, p := range t.PCRs {
					quoted = quoted || p.Want != nil
				}
			}
		}
		if !quoted {
			continue
		}
		v := BankVerdict{Bank: a}
		for _, m := range Modes {
			for _, t := range res.Tracks {
				if t.Bank != a || t.Mode != m || v.Matched {
					continue
				}
				ok, idx := true, map[int]int{}
				for _, p := range t.PCRs {
					if p.Want == nil {
						continue
					}
					if !p.Matched() {
						ok = false
						break
					}
					idx[p.PCR] = p.Matches[len(p.Matches)-1]
				}
				if ok {
					v.Mode, v.Matched, v.Index = m, true, idx
				}
			}
		}
		out = append(out, v)
	}
	return out
}

// Verify returns nil when every quoted bank matched in some mode and every
// template digest was right; otherwise a *ReplayError per failing bank (the
// per-bank replay, or the first computed mode) joined with a digest error.
func (res *Result) Verify() error {
	var errs []error
	for _, v := range res.Verdicts() {
		if v.Matched {
			continue
		}
		for _, t := range res.Tracks {
			if t.Bank != v.Bank {
				continue
			}
			for _, p := range t.PCRs {
				if p.Want != nil && !p.Matched() {
					errs = append(errs, &ReplayError{Bank: t.Bank, Mode: t.Mode, PCR: p.PCR, Want: p.Want, Got: p.Value, Index: res.Entries})
					break
				}
			}
			break
		}
	}
	if res.DigestErrorCount > 0 {
		errs = append(errs, fmt.Errorf("%d entries have a wrong template digest (first at entry %d)", res.DigestErrorCount, res.DigestErrors[0]))
	}
	return errors.Join(errs...)
}

// State is a replay checkpoint for incremental verification: the number of
// entries consumed, the byte offset after them and the byte order (binary
// lists), and the running PCR values of every track (hex).
type State struct {
	Entries    int          `json:"entries"`
	Offset     int64        `json:"offset,omitempty"`
	Order      string       `json:"order,omitempty"` // "le" or "be"; set by the caller
	Violations int          `json:"violations"`
	Tracks     []TrackState `json:"tracks"`
}

// TrackState is one track's running PCRs (only non-zero ones).
type TrackState struct {
	Bank string         `json:"bank"`
	Mode string         `json:"mode"`
	PCRs map[int]string `json:"pcrs"`
}

// State returns a checkpoint; offset is the reader's byte offset (0 if
// unknown).
func (r *Replayer) State(offset int64) State {
	r.wakeAll()
	s := State{Entries: r.n, Offset: offset, Violations: r.violations}
	for _, t := range r.tracks {
		ts := TrackState{Bank: t.bank.String(), Mode: t.mode.String(), PCRs: map[int]string{}}
		for i := range t.pcr {
			if t.used[i] {
				ts.PCRs[i] = hex.EncodeToString(t.val(i))
			}
		}
		s.Tracks = append(s.Tracks, ts)
	}
	return s
}

// Resume loads a checkpoint into a new Replayer (built with the same
// banks and modes); entries before s.Entries must not be added again.
func (r *Replayer) Resume(s State) error {
	if r.n != 0 {
		return errors.New("replay resume: replayer already used")
	}
	if s.Entries < 0 || s.Violations < 0 || s.Offset < 0 {
		return fmt.Errorf("replay resume: negative count in state (entries %d, violations %d, offset %d)", s.Entries, s.Violations, s.Offset)
	}
	r.wakeAll() // nothing recorded yet: the idle tracks just go live
	for _, t := range r.tracks {
		t.shared = false // the state holds each track's own values
	}
	for _, ts := range s.Tracks {
		a, err := ParseAlgo(ts.Bank)
		if err != nil {
			return fmt.Errorf("replay resume: %w", err)
		}
		m, err := ParseMode(ts.Mode)
		if err != nil {
			return fmt.Errorf("replay resume: %w", err)
		}
		var t *track
		for _, c := range r.tracks {
			if c.bank == a && c.mode == m {
				t = c
			}
		}
		if t == nil {
			continue
		}
		for i, v := range ts.PCRs {
			d, err := hex.DecodeString(v)
			if err != nil || len(d) != t.size || i < 0 || i >= NumPCRs {
				return fmt.Errorf("replay resume: %s %s PCR %d: bad value %q", a, m, i, v)
			}
			copy(t.pcr[i], d)
			t.used[i] = true
		}
	}
	for _, t := range r.tracks {
		found := false
		for _, ts := range s.Tracks {
			found = found || (ts.Bank == t.bank.String() && ts.Mode == t.mode.String())
		}
		if !found && s.Entries > 0 {
			return fmt.Errorf("replay resume: state has no %s %s track", t.bank, t.mode)
		}
	}
	r.n, r.violations = s.Entries, s.Violations
	return nil
}

// Replay feeds every entry of rd into a new Replayer and returns its
// result. Parse errors are returned as is (a *ParseError).
func Replay(rd EntryReader, cfg ReplayConfig) (*Result, error) {
	r, err := NewReplayer(cfg)
	if err != nil {
		return nil, err
	}
	if err := r.AddAll(rd); err != nil {
		return nil, err
	}
	return r.Result(), nil
}

// AddAll adds every entry of rd. With more than one CPU it reads and
// hashes batches of entries while other goroutines extend the banks (one
// per bank, see addAllParallel); the result is the same as Add's.
func (r *Replayer) AddAll(rd EntryReader) error {
	if runtime.GOMAXPROCS(0) > 1 {
		return r.addAllParallel(rd)
	}
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := r.Add(e); err != nil {
			return err
		}
	}
}

// SortedPCRs returns the PCR indices of q's bank a in order.
func (q Quote) SortedPCRs(a Algo) []int {
	var out []int
	for i := range q[a] {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

// ExtendDigest returns what the kernel extends into bank a for e in mode m
// (Linux v6.12: ima_crypto.c:ima_calc_field_array_hash,
// ima_queue.c:ima_add_template_entry, ima_init_digests): the template hash
// in a (PerBank) or the SHA-1 one zero-padded (SHA1Padded, Fallback); for a
// violation 0xFF over the bank's size, or over 20 bytes zero-padded in
// SHA1Padded mode. The SHA-1 bank always gets the SHA-1 digest.
func (e *Entry) ExtendDigest(a Algo, m Mode) []byte {
	if a == SHA1 {
		m = PerBank
	}
	switch {
	case e.IsViolation() && m == SHA1Padded:
		return e.PaddedDigest(a.Size())
	case e.IsViolation():
		return bytes.Repeat([]byte{0xff}, a.Size())
	case m == PerBank:
		return e.TemplateHash(a)
	}
	return e.PaddedDigest(a.Size())
}

// PaddedDigest returns e's SHA-1 template digest (0xFF×20 for a violation)
// zero-padded to size bytes: what kernels before 5.8 extend into every
// TPM 2.0 bank, and what newer ones extend into banks of algorithms they do
// not know (Linux v6.12: ima_queue.c:ima_init_digests, HASH_ALGO__LAST).
func (e *Entry) PaddedDigest(size int) []byte {
	d := make([]byte, max(size, 20))
	if e.IsViolation() {
		for i := 0; i < 20; i++ {
			d[i] = 0xff
		}
	} else {
		copy(d, e.TemplateHash(SHA1))
	}
	return d[:size]
}
