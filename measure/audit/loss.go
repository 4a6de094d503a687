package audit

import (
	"bytes"
	"fmt"
)

// EvidenceKind names one way a log shows that records were lost.
type EvidenceKind string

// Kinds of loss evidence.
const (
	// SerialGap: audit serial numbers missing between records of a stream
	// that carries every record type (kernel log, raw audit.log). The
	// counter is global (Linux: kernel/audit.c:audit_serial), so a missing
	// number is a record of *some* type that did not reach this log.
	SerialGap EvidenceKind = "serial-gap"
	// Ratelimit: printk rate limiting of audit records — "kauditd_printk_skb:
	// N callbacks suppressed" (v4.x+ pr_notice_ratelimited), the shared
	// limiter's "printk_ratelimit: N callbacks suppressed" or old
	// "printk: N messages suppressed" (kauditd_printk_skb used
	// printk_ratelimit()).
	Ratelimit EvidenceKind = "ratelimit"
	// AuditLost: "audit: audit_lost=N …" (Linux: kernel/audit.c:audit_log_lost).
	AuditLost EvidenceKind = "audit-lost"
	// AuditLimit: "audit: backlog limit exceeded", "rate limit exceeded",
	// "printk limit exceeded", "kauditd hold queue overflow",
	// "audit_backlog=N > audit_backlog_limit=M" (audit_log_lost's reasons).
	AuditLimit EvidenceKind = "audit-limit"
	// KmsgGap: a jump in /dev/kmsg sequence numbers (ring buffer overrun).
	KmsgGap EvidenceKind = "kmsg-gap"
	// JournalMissed: journald's "Missed N kernel messages".
	JournalMissed EvidenceKind = "journal-missed"
	// ConsoleDrop: "** N printk messages dropped **" — the console (a serial
	// console capture) could not keep up with the ring buffer
	// (Linux: kernel/printk/printk.c:console_prepend_dropped).
	ConsoleDrop EvidenceKind = "console-drop"
	// LongLine: an input line longer than the scanner's limit was cut.
	LongLine EvidenceKind = "long-line"
)

// Evidence is one sign of lost records.
type Evidence struct {
	Kind EvidenceKind `json:"kind"`
	// Line is the input line that shows it (for a serial gap: the line of
	// the first record after the gap).
	Line int `json:"line"`
	// Count is how many records/messages the evidence says were lost, when
	// it says (0 = unknown).
	Count uint64 `json:"count,omitempty"`
	// From and To bound a serial (or kmsg sequence) gap, inclusive.
	From uint64 `json:"from,omitempty"`
	To   uint64 `json:"to,omitempty"`
	// Text is the log text or a description.
	Text string `json:"text"`
}

func (e Evidence) String() string {
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Kind, e.Text)
}

// Loss is the evidence that a log lost records. A caller that counts
// records must not give a count-based verdict when Lossy() is true.
type Loss struct {
	// Evidence lists the first MaxEvidence pieces of evidence in log order.
	Evidence []Evidence `json:"evidence"`
	// More counts evidence found beyond MaxEvidence.
	More int `json:"more,omitempty"`
	// MissingSerials is the total number of missing audit serials.
	MissingSerials uint64 `json:"missing_serials"`
	// SerialsChecked says whether serial gaps were looked for at all (not
	// for `ausearch` output, which is usually filtered, nor when disabled).
	SerialsChecked bool `json:"serials_checked"`
	// Notes are caveats that are not evidence of loss.
	Notes []string `json:"notes,omitempty"`
}

// Lossy reports whether any evidence of loss was found.
func (l Loss) Lossy() bool { return len(l.Evidence) > 0 || l.More > 0 }

// MaxEvidence bounds the evidence a Scanner keeps, so memory stays
// independent of the log size.
const MaxEvidence = 200

func (l *Loss) add(e Evidence) {
	if len(l.Evidence) >= MaxEvidence {
		l.More++
		return
	}
	l.Evidence = append(l.Evidence, e)
}

func (l *Loss) note(s string) {
	for _, n := range l.Notes {
		if n == s {
			return
		}
	}
	if len(l.Notes) < MaxEvidence {
		l.Notes = append(l.Notes, s)
	}
}

// serialWindow is how far records may arrive out of serial order before a
// missing serial is judged lost. Records of one syscall share the serial
// taken at its first record and are emitted at syscall exit, so other
// tasks' higher serials can come first.
const serialWindow = 1 << 16

// maxSerial is the largest audit serial: the kernel's counter is an
// unsigned int (Linux: kernel/audit.c:audit_serial).
const maxSerial = 1<<32 - 1

// serials tracks which audit serials were seen, in a sliding window.
//
// The line of a seen serial is needed only next to a gap: as the line
// before it (the serial below the gap) or after it (the serial above).
// So it is read lazily (prevSer), and a serial one above the highest
// (the usual next record) does not store its line while it is the
// highest (maxLine): its predecessor was seen, so no gap ends at it, and
// when a gap may start above it (a higher serial skips ahead, or the
// window reaches it) its line is stored.
type serials struct {
	started bool
	base    uint64 // every serial below base has been judged
	max     uint64
	seen    *[serialWindow / 64]uint64 // allocated on first use
	lines   *[serialWindow]uint32      // input line of a seen serial
	gapFrom uint64                     // start of an open gap run (0 = none)
	gapPrev int                        // line before the open gap
	prev    int                        // line of the last seen serial judged (see prevSer)
	prevSer uint64                     // with prevLazy: that serial, its line in lines
	maxLine uint32                     // with maxLazy: the line of max, not in lines
	late    int                        // serials arriving after being judged missing
	any     bool                       // some serial was observed (kept across resets)
	judged  bool                       // base has advanced past a judged serial

	prevLazy bool
	maxLazy  bool
}

func (s *serials) reset() {
	seen, lines, anySeen := s.seen, s.lines, s.any
	*s = serials{seen: seen, lines: lines, any: anySeen}
	if seen != nil {
		*seen = [serialWindow / 64]uint64{}
	}
}

// observe records serial seen at line; gaps found are reported to loss.
func (s *serials) observe(serial uint64, line int, loss *Loss) {
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
		if !s.judgeOne(serial - serialWindow + 1) {
			s.judge(serial-serialWindow+1, loss)
		}
	}
	i := serial % serialWindow
	if s.seen[i/64]&(1<<(i%64)) == 0 {
		s.seen[i/64] |= 1 << (i % 64)
		switch {
		case serial == s.max+1:
			s.maxLine, s.maxLazy = uint32(line), true
		case serial > s.max:
			s.storeMax()
			s.setLine(i, uint32(line))
		default:
			s.setLine(i, uint32(line))
		}
	}
	if serial > s.max {
		s.max = serial
	}
}

// next is observe for the usual next serial, one above the highest,
// the window filling up or moving up by one over a seen serial (as in
// judgeOne, whose bit the new serial takes at once). It reports false,
// changing nothing, in any other case.
func (s *serials) next(serial uint64, line int) bool {
	if serial != s.max+1 || !s.started || serial > maxSerial || s.gapFrom != 0 || serial < s.base {
		return false
	}
	i := serial % serialWindow
	w, bit := &s.seen[i/64], uint64(1)<<(i%64)
	switch {
	case serial == s.base+serialWindow && *w&bit != 0:
		s.judged = true
		s.prevSer, s.prevLazy = s.base, true
		s.base++
	case serial < s.base+serialWindow && *w&bit == 0:
		*w |= bit
	default:
		return false
	}
	s.maxLine, s.maxLazy, s.max, s.any = uint32(line), true, serial, true
	return true
}

// judgeOne is judge's usual step: the window moves up by one over a
// serial seen, no gap open. It reports false when that is not the case.
func (s *serials) judgeOne(upTo uint64) bool {
	if upTo != s.base+1 || s.gapFrom != 0 || s.maxLazy && upTo > s.max {
		return false
	}
	i := s.base % serialWindow
	bit := uint64(1) << (i % 64)
	if s.seen[i/64]&bit == 0 {
		return false
	}
	s.judged = true
	s.prevSer, s.prevLazy = s.base, true
	s.seen[i/64] &^= bit
	s.base++
	return true
}

// setLine stores the line of the serial in slot i, first reading the
// line of prevSer when it is about to be overwritten.
func (s *serials) setLine(i uint64, line uint32) {
	if s.prevLazy && s.prevSer%serialWindow == i {
		s.prevLine()
	}
	s.lines[i] = line
}

// storeMax stores max's line when only maxLine holds it.
func (s *serials) storeMax() {
	if s.maxLazy {
		s.maxLazy = false
		s.setLine(s.max%serialWindow, s.maxLine)
	}
}

// prevLine returns the line of the last seen serial judged.
func (s *serials) prevLine() int {
	if s.prevLazy {
		s.prev, s.prevLazy = int(s.lines[s.prevSer%serialWindow]), false
	}
	return s.prev
}

// startAt makes the window start at first (1 after a boot banner), so that
// serials missing before the first record seen count too.
func (s *serials) startAt(first uint64) {
	s.reset()
	if s.seen == nil {
		s.seen = new([serialWindow / 64]uint64)
		s.lines = new([serialWindow]uint32)
	}
	s.started = true
	s.base, s.max = first, first-1
}

// judge decides every serial below upTo.
func (s *serials) judge(upTo uint64, loss *Loss) {
	if upTo <= s.base {
		return
	}
	if upTo > s.max {
		s.storeMax()
	}
	if upTo-s.base > serialWindow {
		// Nothing beyond the window was seen: judge the window, then the
		// rest is one run of missing serials (no per-serial loop).
		s.judge(s.base+serialWindow, loss)
		if s.gapFrom == 0 {
			s.gapFrom, s.gapPrev = s.base, s.prevLine()
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
				s.prevSer, s.prevLazy = s.base+63, true
				s.seen[w] = 0
				s.base += 64
				continue
			}
			if s.seen[w] == 0 {
				if s.gapFrom == 0 {
					s.gapFrom, s.gapPrev = s.base, s.prevLine()
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
			s.prevSer, s.prevLazy = s.base, true
			s.seen[w] &^= bit
		} else if s.gapFrom == 0 {
			s.gapFrom = s.base
			s.gapPrev = s.prevLine()
		}
		s.base++
	}
}

func (s *serials) closeGap(to uint64, line int, loss *Loss) {
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
func (s *serials) finish(loss *Loss) {
	if !s.started {
		return
	}
	s.judge(s.max+1, loss)
	if s.late > 0 {
		loss.note(fmt.Sprintf("%d records arrived after their serials had been reported missing (more than %d serials out of order); serial gaps are overstated", s.late, serialWindow))
	}
}

var (
	mSuppressed   = []byte("suppressed")
	mCallbacks    = []byte(" callbacks suppressed")
	mMessages     = []byte(" messages suppressed")
	mAuditLost    = []byte("audit_lost=")
	mLinuxVersion = []byte("Linux version ")
	mMissed       = []byte("Missed ")
	mDropped      = []byte(" printk messages dropped")
	mKernelMsgs   = []byte(" kernel messages")
	auditLimits   = [][]byte{
		[]byte("backlog limit exceeded"),
		[]byte("rate limit exceeded"),
		[]byte("printk limit exceeded"),
		[]byte("kauditd hold queue overflow"),
		[]byte("audit_backlog="),
	}
)

// noteWords are the words that journalShort (" audit"), kernelVersion
// and lossMarker look for; a message holding none of them is none of
// theirs (see mayNote).
var noteWords = []string{"audit", "suppressed", "Linux version ", " printk messages dropped", "Missed "}

// mayNote reports whether msg holds one of noteWords. Each word has a
// byte that is rarer in kernel messages than its first one ('u' in the
// first three, 'k', 'M'): those bytes are looked for, and a word is
// compared only where its byte is.
func mayNote(msg []byte) bool {
	for _, c := range []byte{'u', 'k', 'M'} {
		for i := 0; ; i++ {
			j := bytes.IndexByte(msg[i:], c)
			if j < 0 {
				break
			}
			i += j
			if noteAt(msg, i) {
				return true
			}
		}
	}
	return false
}

// noteAt reports whether a note word has its rare byte at msg[i].
func noteAt(msg []byte, i int) bool {
	has := func(at int, w string) bool {
		return at >= 0 && len(msg)-at >= len(w) && string(msg[at:at+len(w)]) == w
	}
	switch msg[i] {
	case 'u':
		return has(i-1, "audit") || has(i-1, "suppressed") || has(i-3, "Linux version ")
	case 'k':
		return has(i-6, " printk messages dropped")
	case 'M':
		return has(i, "Missed ")
	}
	return false
}

// lossMarker checks a non-record kernel log message for loss evidence.
// msg is the message without printk/kmsg prefixes.
func lossMarker(msg []byte, line int, loss *Loss) bool {
	if i := bytes.Index(msg, mSuppressed); i >= 0 {
		// "<func>: N callbacks suppressed" / "printk: N messages suppressed"
		var fn []byte
		var num []byte
		if j := bytes.Index(msg, mCallbacks); j >= 0 {
			k := bytes.LastIndexByte(msg[:j], ' ')
			if k > 0 {
				num = msg[k+1 : j]
				fn = bytes.TrimSuffix(bytes.TrimSpace(msg[:k]), []byte(":"))
			}
		} else if j := bytes.Index(msg, mMessages); j >= 0 {
			k := bytes.LastIndexByte(msg[:j], ' ')
			if k > 0 {
				num = msg[k+1 : j]
				fn = bytes.TrimSuffix(bytes.TrimSpace(msg[:k]), []byte(":"))
			}
		}
		if fn != nil {
			if sp := bytes.LastIndexByte(fn, ' '); sp >= 0 {
				fn = fn[sp+1:]
			}
			if bytes.Contains(fn, []byte("audit")) || string(fn) == "printk" || string(fn) == "printk_ratelimit" {
				n, _ := atou(num)
				loss.add(Evidence{Kind: Ratelimit, Line: line, Count: n, Text: string(bytes.TrimSpace(msg))})
				return true
			}
		}
		return false
	}
	if bytes.Contains(msg, []byte("audit")) {
		if i := bytes.Index(msg, mAuditLost); i >= 0 {
			n, _ := atou(digitsAt(msg, i+len(mAuditLost)))
			loss.add(Evidence{Kind: AuditLost, Line: line, Count: n, Text: string(bytes.TrimSpace(msg))})
			return true
		}
		for _, m := range auditLimits {
			if bytes.Contains(msg, m) {
				loss.add(Evidence{Kind: AuditLimit, Line: line, Text: string(bytes.TrimSpace(msg))})
				return true
			}
		}
	}
	if i := bytes.Index(msg, mDropped); i >= 0 {
		k := i
		for k > 0 && msg[k-1] >= '0' && msg[k-1] <= '9' {
			k--
		}
		n, _ := atou(msg[k:i])
		loss.add(Evidence{Kind: ConsoleDrop, Line: line, Count: n, Text: string(bytes.TrimSpace(msg))})
		return true
	}
	if i := bytes.Index(msg, mMissed); i >= 0 && bytes.Contains(msg[i:], mKernelMsgs) {
		n, _ := atou(digitsAt(msg, i+len(mMissed)))
		loss.add(Evidence{Kind: JournalMissed, Line: line, Count: n, Text: string(bytes.TrimSpace(msg))})
		return true
	}
	return false
}

// kernelVersion extracts the release from a "Linux version 6.12.57+deb13-cloud-amd64 (…)"
// boot banner (Linux: init/version.c:linux_banner).
func kernelVersion(msg []byte) (string, bool) {
	i := bytes.Index(msg, mLinuxVersion)
	if i < 0 {
		return "", false
	}
	v := msg[i+len(mLinuxVersion):]
	if j := bytes.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	if len(v) == 0 || v[0] < '0' || v[0] > '9' {
		return "", false
	}
	return string(v), true
}

// atou parses a decimal uint64 without allocating.
func atou(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	if len(b) < 20 { // cannot overflow
		for _, c := range b {
			if c-'0' > 9 {
				return 0, false
			}
			n = n*10 + uint64(c-'0')
		}
		return n, true
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (^uint64(0)-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// digitsAt returns the run of decimal digits starting at msg[j:].
func digitsAt(msg []byte, j int) []byte {
	k := j
	for k < len(msg) && msg[k] >= '0' && msg[k] <= '9' {
		k++
	}
	return msg[j:k]
}
