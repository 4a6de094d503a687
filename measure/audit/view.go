package audit

import (
	"bytes"
	"unsafe"
)

// FieldView is one field of the current record, its key and value aliasing
// the Scanner's buffers: valid until the next Scan, not to be modified.
type FieldView struct {
	Key, Value []byte
	// Op is as in Field.
	Op       byte
	Encoding Encoding
}

// Type returns the current record's type (0 for a marker line).
func (s *Scanner) Type() Type { return s.rec.Type }

// Line returns the current record's first input line.
func (s *Scanner) Line() int { return s.rec.Line }

// Serial returns the current record's audit serial.
func (s *Scanner) Serial() uint64 { return s.rec.Serial }

// Joined returns how many wrapped lines were joined to the current record.
func (s *Scanner) Joined() int { return s.rec.Joined }

// Marker returns the current marker line's text, or "".
func (s *Scanner) Marker() string { return s.rec.Marker }

// Fields returns the current record's fields without building the Record:
// the same keys, values, ops and encodings as Record().Fields, in a slice
// reused by the next Scan.
func (s *Scanner) Fields() []FieldView {
	if s.viewsOK {
		return s.views
	}
	s.viewsOK = true
	s.views = s.views[:0]
	if s.interp || s.rec.Marker != "" {
		// Interpreted bodies are rare (ausearch output): build the record.
		r := s.Record()
		s.trunc = r.Truncated
		for _, f := range r.Fields {
			s.views = append(s.views, FieldView{Key: unsafeBytes(f.Key), Value: unsafeBytes(f.Value), Op: f.Op, Encoding: f.Encoding})
		}
		return s.views
	}
	body := s.cur[:s.bodyLen] // decoded hex values go after the body
	s.trunc = false
	for i := 0; ; {
		t, next, ok := nextField(unsafeString(body), i)
		if !ok {
			break
		}
		i = next
		s.trunc = s.trunc || t.open
		f := FieldView{Key: body[t.ks:t.ke], Op: t.op, Encoding: t.enc}
		if t.op != 0 {
			f.Value = body[t.vs:t.ve]
			if t.enc == Bare && untrustedKey(f.Key) {
				if d, ok := s.unhexAppend(f.Value); ok {
					f.Value, f.Encoding = d, Hex
				}
			}
		}
		s.views = append(s.views, f)
	}
	return s.views
}

// Truncated reports whether the current record ended inside a quoted
// value (as Record().Truncated).
func (s *Scanner) Truncated() bool {
	if s.built {
		return s.rec.Truncated
	}
	s.Fields()
	return s.trunc
}

// Path returns the current record's file= value, else its name= value
// (as Record().Path), aliasing the Scanner's buffers until the next Scan.
// It stops at the first file= field, which the kernel writes first.
func (s *Scanner) Path() []byte {
	if s.interp || s.rec.Marker != "" || s.viewsOK {
		var name []byte
		found := false
		for _, f := range s.Fields() {
			if string(f.Key) == "file" {
				return f.Value
			}
			if !found && string(f.Key) == "name" {
				name, found = f.Value, true
			}
		}
		return name
	}
	body := s.cur[:s.bodyLen]
	if len(body) >= 6 && string(body[:6]) == `file="` {
		// The usual first field, read as nextField reads it.
		if e := bytes.IndexByte(body[6:], '"'); e >= 0 {
			return body[6 : 6+e]
		}
		return body[6:]
	}
	var name fieldTok
	found := false
	for i := 0; ; {
		t, next, ok := nextField(unsafeString(body), i)
		if !ok {
			break
		}
		i = next
		k := body[t.ks:t.ke]
		if string(k) == "file" {
			return s.tokValue(body, t, k)
		}
		if !found && string(k) == "name" {
			name, found = t, true
		}
	}
	if !found {
		return nil
	}
	return s.tokValue(body, name, body[name.ks:name.ke])
}

func (s *Scanner) tokValue(body []byte, t fieldTok, key []byte) []byte {
	if t.op == 0 {
		return nil
	}
	v := body[t.vs:t.ve]
	if t.enc == Bare && untrustedKey(key) {
		if d, ok := s.unhexAppend(v); ok {
			return d
		}
	}
	return v
}

// unhexAppend decodes v (see unhex) after the body and earlier decoded
// values in s.cur and returns the decoded bytes, valid until the next Scan.
func (s *Scanner) unhexAppend(v []byte) ([]byte, bool) {
	if !isHex(unsafeString(v)) {
		return nil, false
	}
	if s.aliased {
		// The body lies in the input: decode into dec. Growing dec leaves
		// earlier values in the old array.
		at := len(s.dec)
		for i := 0; i+1 < len(v); i += 2 {
			s.dec = append(s.dec, fromHex(v[i])<<4|fromHex(v[i+1]))
		}
		return s.dec[at:len(s.dec):len(s.dec)], true
	}
	if cap(s.cur)-len(s.cur) < len(v)/2 {
		// Growing would move the body the views alias: keep the old
		// array alive for them and decode into a fresh one.
		return unhexBytes(v), true
	}
	at := len(s.cur)
	for i := 0; i+1 < len(v); i += 2 {
		s.cur = append(s.cur, fromHex(v[i])<<4|fromHex(v[i+1]))
	}
	s.own = s.cur
	return s.cur[at:len(s.cur):len(s.cur)], true
}

func unhexBytes(v []byte) []byte {
	b := make([]byte, len(v)/2)
	for i := range b {
		b[i] = fromHex(v[2*i])<<4 | fromHex(v[2*i+1])
	}
	return b
}

// fieldTok is one field of a raw record body: byte offsets of its key and
// value, its op (0 for a bare token) and whether the value was quoted (enc
// Quoted) or left open at the body's end (open).
type fieldTok struct {
	ks, ke, vs, ve int
	op             byte
	enc            Encoding
	open           bool
}

func fieldSep(c byte) bool { return byteClass[c]&classSep != 0 }

// byteClass marks the bytes that end a field (space, tab and 0x1d,
// auditd's enriched-section separator) and those that end a key (those
// and '=', '<', '>'): one load a byte in the tokenizer's loops.
var byteClass = func() (t [256]uint8) {
	for _, c := range []byte{' ', '\t', 0x1d} {
		t[c] = classSep | classKeyEnd
	}
	for _, c := range []byte{'=', '<', '>'} {
		t[c] = classKeyEnd
	}
	return t
}()

const (
	classSep    = 1
	classKeyEnd = 2
)

// nextField reads the field of body starting at or after i; ok is false
// when none is left. Encoding is Bare or Quoted: hex decoding is the
// caller's (untrustedKey).
func nextField(body string, i int) (t fieldTok, next int, ok bool) {
	n := len(body)
	for i < n && fieldSep(body[i]) {
		i++
	}
	if i >= n {
		return t, n, false
	}
	// Key: up to '=', '<', '>' or a separator.
	t.ks = i
	for i < n && byteClass[body[i]]&classKeyEnd == 0 {
		i++
	}
	t.ke = i
	if i >= n || fieldSep(body[i]) {
		return t, i, true
	}
	t.op = body[i]
	i++
	if i < n && (body[i] == '"' || body[i] == '\'') {
		q := body[i]
		i++
		t.enc = Quoted
		t.vs = i
		end := indexByteString(body[i:], q)
		if end < 0 {
			t.ve, t.open = n, true
			return t, n, true
		}
		t.ve = i + end
		return t, i + end + 1, true
	}
	t.vs = i
	for i < n && !fieldSep(body[i]) {
		i++
	}
	t.ve = i
	return t, i, true
}

func indexByteString(s string, c byte) int {
	return bytes.IndexByte(unsafeBytes(s), c)
}

// untrustedKey reports whether the kernel writes key's value with
// audit_log_untrustedstring (or audit_log_n_untrustedstring): quoted when
// clean, hex-encoded otherwise. Linux v6.12: ima_api.c:ima_audit_measurement
// (file), integrity_audit.c (comm, name, dev), audit.c:audit_log_task_info
// (comm, exe via d_path), evm_secfs.c:evm_write_xattrs (xattr).
func untrustedKey[T string | []byte](key T) bool {
	switch string(key) {
	case "file", "name", "comm", "exe", "dev", "cwd", "path", "key", "xattr":
		return true
	}
	return false
}

// unsafeString views b as a string for reading within a call; the string
// must not outlive b's contents.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// unsafeBytes views s as bytes that must not be modified.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// mix64 finishes a 64-bit hash (the murmur3 finalizer).
func mix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

// dupTable is a fixed-size open-addressing set of non-zero uint64 keys
// (linear probing, deletion by backward shift), for the duplicate window.
type dupTable struct {
	slots [4 * dupWindow]uint64
}

const dupMask = 4*dupWindow - 1

func dupKey(k uint64) uint64 {
	if k == 0 {
		return 1
	}
	return k
}

func (d *dupTable) has(k uint64) bool {
	k = dupKey(k)
	for i := k & dupMask; ; i = (i + 1) & dupMask {
		switch d.slots[i] {
		case k:
			return true
		case 0:
			return false
		}
	}
}

func (d *dupTable) add(k uint64) {
	k = dupKey(k)
	i := k & dupMask
	for d.slots[i] != 0 {
		if d.slots[i] == k {
			return
		}
		i = (i + 1) & dupMask
	}
	d.slots[i] = k
}

func (d *dupTable) remove(k uint64) {
	k = dupKey(k)
	i := k & dupMask
	for d.slots[i] != k {
		if d.slots[i] == 0 {
			return
		}
		i = (i + 1) & dupMask
	}
	// Backward shift: move later members of the cluster into the hole
	// when their home slot is at or before it.
	for {
		d.slots[i] = 0
		j := i
		for {
			j = (j + 1) & dupMask
			if d.slots[j] == 0 {
				return
			}
			home := d.slots[j] & dupMask
			if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
				break
			}
		}
		d.slots[i] = d.slots[j]
		i = j
	}
}
