// Package audit reads the integrity (IMA/EVM) records of the Linux audit
// subsystem out of the logs they end up in: the kernel log (dmesg text with or
// without printk timestamps, /dev/kmsg records), auditd's
// /var/log/audit/audit.log (raw, and `ausearch -i` interpreted) and systemd's
// journal (`journalctl -o json`, or its text output). Lines of several forms
// may be mixed in one input; a record seen twice (kernel and auditd/journald
// copies) is reported once.
//
// A Scanner streams the records; its memory does not grow with the size of the
// log. Alongside the records it gathers the evidence that the log lost
// records (gaps in audit serial numbers, printk rate limiting, audit_lost and
// backlog messages, /dev/kmsg sequence gaps, console drops, journald's
// "Missed N kernel messages"), so that a caller counting records can refuse
// a count-based verdict on a lossy log, and the kernel version when the log
// carries the boot banner or auditd's DAEMON_START record.
//
// # What counts as evidence of loss
//
// The audit serial is one kernel-wide counter (Linux: kernel/audit.c:
// audit_serial) shared by every record type; the records of one syscall
// share one serial, EOE records are never printed, and records excluded by
// an audit filter never get a serial. So in a stream that carries every
// printed record — the kernel log, or auditd's raw log — a missing serial
// means a record of some type that did not reach this log: printk rate
// limiting (kauditd_printk_skb), the audit rate limit, a ring buffer
// overrun, or auditd having taken over the stream. Records are allowed to
// arrive out of order within a window of 65536 serials. A boot banner
// restarts the count at serial 1. Serial gaps are not judged for `ausearch`
// output (usually filtered by type), for journald's short text form (no
// serials), or when Options.NoSerialGaps says the log was filtered. When a
// log also holds records that came over netlink (auditd, journald's audit
// transport), printk rate limiting only touched the kernel-log copies and
// is reported as a note; serial gaps still show records missing from both.
//
// Not every loss is visible: records dropped after the last printed record
// leave no gap, and records dropped at the kernel's backlog limit never get
// a serial (only the "backlog limit exceeded" message, itself rate
// limited, shows them). A clean Loss is therefore necessary, not
// sufficient; logs meant for counting should come from a kernel with
// printk_ratelimit=0 or from NETLINK_AUDIT.
//
// The package imports nothing of imasim.
package audit

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Type is an audit record type (Linux: include/uapi/linux/audit.h AUDIT_*).
// The kernel reserves 1800–1899 for integrity events.
type Type uint16

// Integrity record types.
// Linux v6.14: include/uapi/linux/audit.h.
const (
	// TypeData is AUDIT_INTEGRITY_DATA: data (appraisal, collect) failures.
	TypeData Type = 1800
	// TypeMetadata is AUDIT_INTEGRITY_METADATA: EVM metadata verification.
	TypeMetadata Type = 1801
	// TypeStatus is AUDIT_INTEGRITY_STATUS: e.g. op=policy_update.
	TypeStatus Type = 1802
	// TypeHash is AUDIT_INTEGRITY_HASH (defined, rarely emitted).
	TypeHash Type = 1803
	// TypePCR is AUDIT_INTEGRITY_PCR: PCR invalidation, including the
	// ToMToU/open_writers violations (op=invalid_pcr).
	TypePCR Type = 1804
	// TypeRule is AUDIT_INTEGRITY_RULE: one record per evaluation of a file
	// under an `audit` policy rule (Linux: ima_api.c:ima_audit_measurement).
	TypeRule Type = 1805
	// TypeEVMXattr is AUDIT_INTEGRITY_EVM_XATTR: a new EVM-covered xattr.
	TypeEVMXattr Type = 1806
	// TypePolicyRule is AUDIT_INTEGRITY_POLICY_RULE: one per loaded IMA
	// policy rule (Linux: ima_policy.c:ima_parse_rule).
	TypePolicyRule Type = 1807
	// TypeUserspace is AUDIT_INTEGRITY_USERSPACE, added in v6.14 with
	// AT_EXECVE_CHECK: integrity enforced on behalf of user space.
	TypeUserspace Type = 1808
)

const (
	firstIntegrity = 1800
	lastIntegrity  = 1899
)

var typeNames = map[Type]string{
	TypeData:       "INTEGRITY_DATA",
	TypeMetadata:   "INTEGRITY_METADATA",
	TypeStatus:     "INTEGRITY_STATUS",
	TypeHash:       "INTEGRITY_HASH",
	TypePCR:        "INTEGRITY_PCR",
	TypeRule:       "INTEGRITY_RULE",
	TypeEVMXattr:   "INTEGRITY_EVM_XATTR",
	TypePolicyRule: "INTEGRITY_POLICY_RULE",
	TypeUserspace:  "INTEGRITY_USERSPACE",
}

// String returns the name auditd uses for t, or "UNKNOWN[n]" as auditd
// prints types it does not know.
func (t Type) String() string {
	switch t {
	case TypeRule:
		return "INTEGRITY_RULE"
	case TypePCR:
		return "INTEGRITY_PCR"
	}
	if n, ok := typeNames[t]; ok {
		return n
	}
	return "UNKNOWN[" + strconv.Itoa(int(t)) + "]"
}

// Integrity reports whether t lies in the kernel's integrity range 1800–1899.
func (t Type) Integrity() bool { return t >= firstIntegrity && t <= lastIntegrity }

// typeByName maps an auditd type name (INTEGRITY_RULE, UNKNOWN[1808]) to its
// number; ok is false for names outside the integrity range.
func typeByName(b []byte) (Type, bool) {
	if len(b) > 9 && string(b[:8]) == "UNKNOWN[" && b[len(b)-1] == ']' {
		n, ok := atou(b[8 : len(b)-1])
		if ok && n >= firstIntegrity && n <= lastIntegrity {
			return Type(n), true
		}
		return 0, false
	}
	if len(b) < 10 || string(b[:10]) != "INTEGRITY_" {
		return 0, false
	}
	for t, n := range typeNames {
		if n == string(b) {
			return t, true
		}
	}
	return 0, false
}

// Form is the kind of log line a record came from.
type Form uint8

// Log forms.
const (
	FormUnknown  Form = iota
	FormKernel        // printk text: dmesg, console, `journalctl -k` ("audit: type=1805 audit(…): …")
	FormKmsg          // /dev/kmsg record ("5,1234,5678,-;audit: type=1805 …")
	FormAuditLog      // auditd raw ("type=INTEGRITY_RULE msg=audit(1700000000.123:456): …")
	FormAusearch      // `ausearch -i` interpreted ("msg=audit(11/22/2026 10:00:00.123:456) : …")
	FormJournal       // `journalctl -o json`
)

var formNames = [...]string{"unknown", "kernel", "kmsg", "auditlog", "ausearch", "journal"}

// String returns a short lower-case name of f.
func (f Form) String() string {
	if int(f) < len(formNames) {
		return formNames[f]
	}
	return "form(" + strconv.Itoa(int(f)) + ")"
}

// MarshalText makes Form print as its name in JSON.
func (f Form) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// Encoding says how a field value was written in the log.
type Encoding uint8

// Value encodings.
const (
	// Bare is an unquoted value (numbers, "?", "(null)", kernel %s strings).
	Bare Encoding = iota
	// Quoted is a value in double (or, for user records, single) quotes.
	Quoted
	// Hex is an untrusted string the kernel hex-encoded because it holds a
	// space, quote or control or non-ASCII byte
	// (Linux: kernel/audit.c:audit_log_n_untrustedstring); Value is decoded.
	Hex
	// Interpreted is a value rewritten by `ausearch -i` (names for ids,
	// decoded strings).
	Interpreted
)

var encodingNames = [...]string{"bare", "quoted", "hex", "interpreted"}

// String returns the encoding's name.
func (e Encoding) String() string {
	if int(e) < len(encodingNames) {
		return encodingNames[e]
	}
	return "encoding(" + strconv.Itoa(int(e)) + ")"
}

// MarshalText makes Encoding print as its name in JSON.
func (e Encoding) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// Field is one key/value pair of a record, in log order.
type Field struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	// Op is '=' for ordinary fields; policy rule records (1807) also use
	// '<' and '>' (uid<1000); 0 for a bare token without a value.
	Op       byte     `json:"-"`
	Encoding Encoding `json:"encoding"`
}

// String renders f as the log wrote it: hex-encoded values as upper-case
// hex again, quoted values in quotes, so that parsing String gives f back.
func (f Field) String() string {
	if f.Op == 0 {
		return f.Key
	}
	v := f.Value
	switch f.Encoding {
	case Hex:
		v = strings.ToUpper(hex.EncodeToString([]byte(v)))
	case Quoted:
		q := `"`
		if strings.Contains(v, `"`) {
			q = "'"
		}
		v = q + v + q
	}
	return f.Key + string(f.Op) + v
}

// Record is one integrity audit record.
type Record struct {
	Type Type `json:"type"`
	// Serial is the audit serial number (the n in audit(t:n)); records of
	// one event share it, other record types use the same counter.
	Serial uint64 `json:"serial"`
	// Time is the audit timestamp (UTC). For `ausearch -i` input it is the
	// local wall time ausearch printed, labelled UTC; zero when unparsable.
	Time time.Time `json:"time"`
	// Fields are the record's fields in log order.
	Fields []Field `json:"fields"`
	// Line is the 1-based number of the (first) input line of the record.
	Line int `json:"line"`
	// Form is the kind of log line the record came from.
	Form Form `json:"form"`
	// Truncated is set when the record ended inside a quoted value (printk
	// truncates long lines) or the line exceeded the scanner's limit.
	Truncated bool `json:"truncated,omitempty"`
	// Joined counts the following lines appended to this record because
	// they looked like its continuation (a wrapped or interleaved console
	// line); such a record's last fields may be damaged.
	Joined int `json:"joined,omitempty"`
	// Marker is the text of a marker line (Options.Marker); such a
	// "record" has Type 0 and no fields.
	Marker string `json:"marker,omitempty"`
}

// Get returns the value of the first field named key.
func (r Record) Get(key string) (string, bool) {
	for i := range r.Fields {
		if r.Fields[i].Key == key {
			return r.Fields[i].Value, true
		}
	}
	return "", false
}

// Value returns the value of the first field named key, or "".
func (r Record) Value(key string) string {
	v, _ := r.Get(key)
	return v
}

// Path returns the file the record is about: file= for INTEGRITY_RULE
// (Linux: ima_api.c:ima_audit_measurement), name= for the records of
// integrity_audit_msg (Linux: security/integrity/integrity_audit.c).
func (r Record) Path() string {
	if v, ok := r.Get("file"); ok {
		return v
	}
	return r.Value("name")
}

// Hash returns the hash= value ("sha256:…" since v5.x; bare hex in old
// kernels), or "".
func (r Record) Hash() string { return r.Value("hash") }

// Violation reports whether r is an IMA violation record (1804 with
// cause=open_writers or ToMToU; Linux: ima_api.c:ima_add_violation).
func (r Record) Violation() bool {
	if r.Type != TypePCR {
		return false
	}
	c := r.Value("cause")
	return c == "open_writers" || c == "ToMToU"
}

// String renders r in auditd's raw form (type=NAME msg=audit(t:n): fields).
func (r Record) String() string {
	b := make([]byte, 0, 256)
	b = append(b, "type="...)
	b = append(b, r.Type.String()...)
	b = append(b, " msg=audit("...)
	ms := r.Time.UnixMilli()
	b = strconv.AppendInt(b, ms/1000, 10)
	b = append(b, fmt.Sprintf(".%03d:", ms%1000)...)
	b = strconv.AppendUint(b, r.Serial, 10)
	b = append(b, "):"...)
	for _, f := range r.Fields {
		b = append(b, ' ')
		b = append(b, f.String()...)
	}
	return string(b)
}
