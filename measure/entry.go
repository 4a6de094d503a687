package measure

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash"
	"strings"
)

// NumPCRs is the number of PCRs a list entry may name (a PC-client TPM's).
const NumPCRs = 24

// Entry is one measurement list record, analogous to the kernel's struct
// ima_template_entry as serialized by
// Linux v6.12: security/integrity/ima/ima_fs.c:ima_measurements_show.
//
// Entries returned by a Reader alias its buffers and are valid until the next
// call to Next; Clone keeps one.
type Entry struct {
	PCR int
	// Digest is the template digest as stored: SHA-1 in the legacy files,
	// the bank's algorithm (DigestAlgo) in per-bank "_<algo>" files. All
	// zero for a violation.
	Digest     []byte
	DigestAlgo Algo
	Template   *Template
	// Fields holds each field's data as the kernel keeps it: d-ng is
	// "<algo>:" NUL digest, n-ng is the name plus NUL. For the "ima"
	// template, Fields[1] is the name without NUL, as the binary list has it.
	Fields [][]byte
	// Order is the byte order of the field lengths and integer fields
	// (host order, or little-endian with ima_canonical_fmt). nil means
	// little-endian.
	Order binary.ByteOrder

	raw []byte // template data exactly as read (binary reader only)
}

func (e *Entry) order() binary.ByteOrder {
	if e.Order == nil {
		return binary.LittleEndian
	}
	return e.Order
}

func (e *Entry) digestAlgo() Algo {
	if e.DigestAlgo == 0 {
		return SHA1
	}
	return e.DigestAlgo
}

// IsViolation reports whether e records a violation: an all-zero template
// digest (Linux v6.12: ima_api.c:ima_add_violation).
func (e *Entry) IsViolation() bool {
	if len(e.Digest) == 0 {
		return false
	}
	for _, b := range e.Digest {
		if b != 0 {
			return false
		}
	}
	return true
}

// Clone returns a deep copy of e that does not alias any reader buffer.
func (e *Entry) Clone() *Entry {
	c := *e
	c.Digest = bytes.Clone(e.Digest)
	c.raw = nil
	c.Fields = make([][]byte, len(e.Fields))
	for i, f := range e.Fields {
		c.Fields[i] = bytes.Clone(f)
	}
	return &c
}

// AppendTemplateData appends e's template data as the binary list stores it
// after the template data length, in byte order o (nil: e's own order):
// every field as u32 length and bytes; for the "ima" template the raw 20-byte
// digest, then u32 name length and the name.
func (e *Entry) AppendTemplateData(dst []byte, o binary.ByteOrder) []byte {
	if o == nil {
		o = e.order()
	}
	if e.raw != nil && sameOrder(o, e.order()) {
		return append(dst, e.raw...)
	}
	if e.Template.IsIMA() {
		dst = append(dst, e.Fields[0]...)
		dst = appendU32(o, dst, uint32(len(e.Fields[1])))
		return append(dst, e.Fields[1]...)
	}
	for i, f := range e.Fields {
		dst = appendU32(o, dst, uint32(len(f)))
		if !sameOrder(o, e.order()) && e.Template.Fields[i].Show == ShowUint {
			dst = appendSwapped(dst, f)
			continue
		}
		dst = append(dst, f...)
	}
	return dst
}

func sameOrder(a, b binary.ByteOrder) bool {
	return (a == binary.BigEndian) == (b == binary.BigEndian)
}

func appendSwapped(dst, f []byte) []byte {
	switch len(f) {
	case 2, 4, 8:
		for i := len(f) - 1; i >= 0; i-- {
			dst = append(dst, f[i])
		}
		return dst
	}
	return append(dst, f...)
}

var zeroName [MaxEventName + 1]byte

// writeHashInput writes the template hash input of e in byte order o into h
// (Linux v6.12: ima_crypto.c:ima_calc_field_array_hash_tfm): the template
// data with field lengths, or for "ima" the digest and the name padded to
// 256 bytes without lengths. scratch is reused to serialise when needed.
func (e *Entry) writeHashInput(h hash.Hash, o binary.ByteOrder, scratch []byte) []byte {
	if e.Template.IsIMA() {
		h.Write(e.Fields[0])
		n := e.Fields[1]
		if len(n) > MaxEventName {
			n = n[:MaxEventName]
		}
		h.Write(n)
		h.Write(zeroName[:len(zeroName)-len(n)])
		return scratch
	}
	if e.raw != nil && sameOrder(o, e.order()) {
		h.Write(e.raw)
		return scratch
	}
	scratch = e.AppendTemplateData(scratch[:0], o)
	h.Write(scratch)
	return scratch
}

// TemplateHash returns the template hash of e computed with algorithm a in
// e's byte order: what the kernel extends into a's PCR bank (kernels ≥ 5.8)
// and, for SHA-1, the digest the legacy list shows. It ignores whether e is
// a violation.
func (e *Entry) TemplateHash(a Algo) []byte {
	h := a.New()
	e.writeHashInput(h, e.order(), nil)
	return h.Sum(nil)
}

// digestFor returns the template digest e would carry in a list of bank a
// with byte order o: the stored one when it matches, zero for violations,
// else computed.
func (e *Entry) digestFor(a Algo, o binary.ByteOrder) []byte {
	if e.digestAlgo() == a && len(e.Digest) == a.Size() && sameOrder(o, e.order()) {
		return e.Digest
	}
	if e.IsViolation() {
		return make([]byte, a.Size())
	}
	h := a.New()
	e.writeHashInput(h, o, nil)
	return h.Sum(nil)
}

// FileDigest returns the algorithm prefix ("sha256", "ima:sha256", "" for
// d) and the digest of e's first digest field, if any.
func (e *Entry) FileDigest() (prefix string, digest []byte, ok bool) {
	for i, f := range e.Template.Fields {
		switch f.ID {
		case "d":
			return "", e.Fields[i], true
		case "d-ng", "d-ngv2":
			p, d := splitDigestNG(e.Fields[i])
			return p, d, true
		}
	}
	return "", nil, false
}

// FileName returns the event name (n or n-ng field) up to its NUL.
func (e *Entry) FileName() (string, bool) {
	for i, f := range e.Template.Fields {
		if f.ID == "n" || f.ID == "n-ng" {
			return string(cstring(e.Fields[i])), true
		}
	}
	return "", false
}

// splitDigestNG splits "<prefix>:" NUL digest. It follows the kernel's
// rendering (strrchr of ':' then skip ':' and NUL).
func splitDigestNG(f []byte) (prefix string, digest []byte) {
	s := cstring(f)
	i := bytes.LastIndexByte(s, ':')
	if i < 0 {
		return "", f
	}
	if i+2 > len(f) {
		return string(s[:i]), nil
	}
	return string(s[:i]), f[i+2:]
}

func cstring(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// Field constructors for NewEntry.

// DigestNG returns a d-ng or d-modsig field: algo ":" NUL digest
// (Linux v6.12: ima_template_lib.c:ima_eventdigest_init_common).
func DigestNG(algo string, digest []byte) []byte {
	b := make([]byte, 0, len(algo)+2+len(digest))
	b = append(b, algo...)
	b = append(b, ':', 0)
	return append(b, digest...)
}

// DigestNGv2 returns a d-ngv2 field: typ ":" algo ":" NUL digest, typ being
// "ima" or "verity".
func DigestNGv2(typ, algo string, digest []byte) []byte {
	return DigestNG(typ+":"+algo, digest)
}

// Name returns an n-ng field: the name with spaces replaced by '_' and a
// trailing NUL (Linux v6.12: ima_template_lib.c:ima_write_template_field_data).
func Name(name string) []byte {
	b := make([]byte, 0, len(name)+1)
	b = append(b, strings.ReplaceAll(name, " ", "_")...)
	return append(b, 0)
}

// Uint32 returns a little-endian iuid/igid field; Uint16 an imode field.
func Uint32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// Uint16 returns a little-endian imode field.
func Uint16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }

// NewEntry builds an entry of template (a builtin name or a custom format)
// for pcr from raw field data (see DigestNG, Name, Uint32) in little-endian
// order, and computes its SHA-1 template digest. For the "ima" template pass
// the 20-byte digest and the name; a trailing NUL on the name is dropped.
func NewEntry(template string, pcr int, fields ...[]byte) (*Entry, error) {
	t, err := LookupTemplate(template)
	if err != nil {
		return nil, err
	}
	if pcr < 0 || pcr >= NumPCRs {
		return nil, fmt.Errorf("new %s entry: %w: %d", template, ErrBadPCR, pcr)
	}
	if len(fields) != len(t.Fields) {
		return nil, fmt.Errorf("new %s entry: %d fields given, template has %d", template, len(fields), len(t.Fields))
	}
	e := &Entry{PCR: pcr, Template: t, Order: binary.LittleEndian, DigestAlgo: SHA1}
	e.Fields = make([][]byte, len(fields))
	for i, f := range fields {
		e.Fields[i] = bytes.Clone(f)
		if e.Fields[i] == nil {
			e.Fields[i] = []byte{}
		}
	}
	if t.IsIMA() {
		if len(e.Fields[0]) != 20 {
			return nil, fmt.Errorf("new ima entry: d field has %d bytes, want 20", len(e.Fields[0]))
		}
		e.Fields[1] = bytes.TrimSuffix(e.Fields[1], []byte{0})
		if len(e.Fields[1]) > MaxEventName {
			return nil, fmt.Errorf("new ima entry: name of %d bytes exceeds %d", len(e.Fields[1]), MaxEventName)
		}
	}
	e.Digest = e.TemplateHash(SHA1)
	return e, nil
}

// NewFileEntry builds a file measurement for the templates whose fields are
// a file digest, a name and optional extras (ima, ima-ng, ima-sig, ima-ngv2,
// ima-sigv2, ima-buf, ima-modsig, evm-sig, custom formats): the digest and
// name fields are filled as the kernel does, every other field is empty (no
// signature, no buffer).
func NewFileEntry(template string, pcr int, algo Algo, digest []byte, name string) (*Entry, error) {
	return newFileLike(template, pcr, algo, digest, name, nil)
}

// FileInfo is what the kernel reads from the measured file itself for the
// template fields that record it (Linux v7.2.13: ima_template_lib.c).
type FileInfo struct {
	// SHA1 is the file's SHA-1 digest, for a "d" field when the list's
	// algorithm is not SHA-1: that field holds 20 bytes, so the kernel
	// hashes the file again with SHA-1 (ima_eventdigest_init).
	SHA1 []byte
	// File says the event has a file the kernel reads (not so for
	// boot_aggregate); the fields below are recorded only then.
	File bool
	// UID, GID and Mode (with the file type bits) of the file's inode
	// (ima_eventinodeuid_init, ima_eventinodegid_init,
	// ima_eventinodemode_init).
	UID, GID uint32
	Mode     uint16
	// Xattrs holds the file's extended attributes by name; the
	// EVM-protected ones fill xattrnames/xattrlengths/xattrvalues,
	// security.ima a signature "sig", security.evm a portable "evmsig".
	Xattrs map[string][]byte
}

// EVMXattrs are the xattrs EVM protects, in the order the kernel lists
// them in the xattrnames field: every name is on the list whether or not
// its LSM is built in (Linux v7.2.13: evm_main.c:
// evm_config_default_xattrnames, evm_init_config, evm_read_protected_xattrs).
var EVMXattrs = []string{"security.selinux", "security.SMACK64", "security.SMACK64EXEC",
	"security.SMACK64TRANSMUTE", "security.SMACK64MMAP", "security.apparmor", "security.ima",
	"security.capability"}

// Types of security.ima and security.evm values (Linux v7.2.13:
// security/integrity/integrity.h: enum evm_ima_xattr_type).
const (
	xattrIMADigsig    = 0x03 // EVM_IMA_XATTR_DIGSIG
	xattrEVMPortable  = 0x05 // EVM_XATTR_PORTABLE_DIGSIG
	xattrVerityDigsig = 0x06 // IMA_VERITY_DIGSIG
)

// NewFileEntryInfo is NewFileEntry for a measurement of a file the kernel
// can read: the fields that record the file's owner, mode, xattrs and
// signatures are filled from fi as the kernel fills them.
func NewFileEntryInfo(template string, pcr int, algo Algo, digest []byte, name string, fi *FileInfo) (*Entry, error) {
	if digest == nil {
		digest = []byte{}
	}
	return newFileLike(template, pcr, algo, digest, name, fi)
}

// NewViolationInfo is NewViolation with the violating file's fi: a
// violation names its file, so iuid, igid, imode, the EVM xattrs and a
// portable EVM signature are recorded (Linux v7.2.13:
// ima_api.c:ima_add_violation passes the file; ima_eventsig_init falls
// back to ima_eventevmsig_init without a security.ima value).
func NewViolationInfo(template string, pcr int, algo Algo, name string, fi *FileInfo) (*Entry, error) {
	e, err := newFileLike(template, pcr, algo, nil, name, fi)
	if err != nil {
		return nil, err
	}
	e.Digest = make([]byte, 20)
	return e, nil
}

// evmSig is the "evmsig" field: security.evm when it holds a portable
// signature (Linux v7.2.13: ima_template_lib.c:ima_eventevmsig_init).
func (fi *FileInfo) evmSig() []byte {
	if v := fi.Xattrs["security.evm"]; len(v) > 0 && v[0] == xattrEVMPortable {
		return v
	}
	return []byte{}
}

// evmXattrs returns the xattrnames ('|'-joined, NUL-terminated),
// xattrlengths (u32 each) and xattrvalues fields.
func (fi *FileInfo) evmXattrs() (names, lengths, values []byte) {
	names, lengths, values = []byte{}, []byte{}, []byte{}
	for _, n := range EVMXattrs {
		v, ok := fi.Xattrs[n]
		if !ok {
			continue
		}
		if len(names) > 0 {
			names[len(names)-1] = '|'
		}
		names = append(append(names, n...), 0)
		lengths = binary.LittleEndian.AppendUint32(lengths, uint32(len(v)))
		values = append(values, v...)
	}
	return names, lengths, values
}

// NewViolation builds a violation entry (ToMToU, open_writers): zero file
// digest of algo's size (the kernel's ima_hash algorithm; SHA-1 on old
// kernels) and an all-zero template digest
// (Linux v6.12: ima_api.c:ima_add_violation).
func NewViolation(template string, pcr int, algo Algo, name string) (*Entry, error) {
	return NewViolationInfo(template, pcr, algo, name, nil)
}

// newFileLike fills a file-like entry's fields; digest nil is a
// violation, fi nil an event without a file (boot_aggregate).
func newFileLike(template string, pcr int, algo Algo, digest []byte, name string, fi *FileInfo) (*Entry, error) {
	t, err := LookupTemplate(template)
	if err != nil {
		return nil, err
	}
	violation := digest == nil
	if violation {
		digest = make([]byte, algo.Size())
	}
	fs := make([][]byte, len(t.Fields))
	for i, f := range t.Fields {
		switch f.ID {
		case "d":
			if violation { // Linux v6.12: ima_eventdigest_init_common, IMA_DIGEST_SIZE
				fs[i] = make([]byte, 20)
				continue
			}
			switch {
			case algo == SHA1:
				fs[i] = digest
			case fi != nil && len(fi.SHA1) == 20:
				fs[i] = fi.SHA1
			default:
				return nil, fmt.Errorf("new %s entry: the d field holds a 20-byte sha1 digest, got %s", t.ListName(), algo)
			}
		case "d-ng":
			fs[i] = DigestNG(algo.String(), digest)
		case "d-ngv2":
			fs[i] = DigestNGv2("ima", algo.String(), digest)
		case "n", "n-ng":
			fs[i] = Name(name)
		case "iuid", "igid", "imode", "evmsig", "sig", "xattrnames", "xattrlengths", "xattrvalues":
			fs[i] = fi.field(f.ID, violation)
		default:
			fs[i] = []byte{}
		}
	}
	return NewEntry(template, pcr, fs...)
}

// field fills a field read from the file; without a file it is empty,
// as the kernel leaves it without event_data->file.
func (fi *FileInfo) field(id string, violation bool) []byte {
	if fi == nil || !fi.File {
		return []byte{}
	}
	switch id {
	case "iuid":
		return Uint32(fi.UID)
	case "igid":
		return Uint32(fi.GID)
	case "imode":
		return Uint16(fi.Mode)
	case "evmsig":
		return fi.evmSig()
	case "sig":
		// security.ima as read for the measurement when it is a
		// signature, else the portable EVM one; a violation has no
		// security.ima value (Linux v7.2.13: ima_eventsig_init).
		if v := fi.Xattrs["security.ima"]; !violation && len(v) > 0 && (v[0] == xattrIMADigsig || v[0] == xattrVerityDigsig) {
			return v
		}
		return fi.evmSig()
	}
	n, l, v := fi.evmXattrs()
	switch id {
	case "xattrnames":
		return n
	case "xattrlengths":
		return l
	}
	return v
}

// BootAggregate computes the boot_aggregate digest from PCR values of bank
// a: PCRs 0–7 for SHA-1, 0–9 for any other bank
// (Linux v6.12: ima_crypto.c:ima_calc_boot_aggregate_tfm).
func BootAggregate(a Algo, pcrs [][]byte) ([]byte, error) {
	n := 10
	if a == SHA1 {
		n = 8
	}
	if len(pcrs) < n {
		return nil, fmt.Errorf("boot_aggregate %s: need PCRs 0-%d, have %d", a, n-1, len(pcrs))
	}
	h := a.New()
	for i := 0; i < n; i++ {
		if len(pcrs[i]) != a.Size() {
			return nil, fmt.Errorf("boot_aggregate %s: PCR %d has %d bytes, want %d", a, i, len(pcrs[i]), a.Size())
		}
		h.Write(pcrs[i])
	}
	return h.Sum(nil), nil
}

// BootAggregateBank picks the bank the kernel reads for boot_aggregate: the
// ima_hash algorithm if allocated, else sha256, else sha1
// (Linux v6.12: ima_crypto.c:ima_calc_boot_aggregate).
func BootAggregateBank(banks []Algo, imaHash Algo) (Algo, bool) {
	var best Algo
	for _, b := range banks {
		switch {
		case b == imaHash:
			return b, true
		case b == SHA256:
			best = b
		case b == SHA1 && best == 0:
			best = b
		}
	}
	return best, best != 0
}

// NewBootAggregate builds the "boot_aggregate" entry for bank a from PCR
// values 0–9 of that bank. With pcrs nil (no TPM) the digest is zero, as the
// kernel records it.
func NewBootAggregate(template string, a Algo, pcrs [][]byte) (*Entry, error) {
	d := make([]byte, a.Size())
	if pcrs != nil {
		var err error
		if d, err = BootAggregate(a, pcrs); err != nil {
			return nil, err
		}
	}
	return newFileLike(template, 10, a, d, "boot_aggregate", nil)
}

func appendU32(o binary.ByteOrder, b []byte, v uint32) []byte {
	if o == binary.BigEndian {
		return binary.BigEndian.AppendUint32(b, v)
	}
	return binary.LittleEndian.AppendUint32(b, v)
}
