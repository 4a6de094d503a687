package audit

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// journalEntry holds the fields of a `journalctl -o json` entry this
// package uses. systemd-journald stores audit records received over netlink
// with _TRANSPORT=audit, _AUDIT_TYPE, _AUDIT_ID (the serial),
// _SOURCE_REALTIME_TIMESTAMP (the audit time) and MESSAGE "NAME body"
// (systemd: src/journal/journald-audit.c); kernel log lines come with
// _TRANSPORT=kernel and the printk text as MESSAGE.
type journalEntry struct {
	Message   json.RawMessage `json:"MESSAGE"`
	Transport string          `json:"_TRANSPORT"`
	AuditType string          `json:"_AUDIT_TYPE"`
	AuditID   string          `json:"_AUDIT_ID"`
	SourceRT  string          `json:"_SOURCE_REALTIME_TIMESTAMP"`
}

var journalHints = [][]byte{[]byte("audit"), []byte("Linux version"), []byte("suppressed"), []byte("Missed")}

func (s *Scanner) handleJSON(line []byte, n int) bool {
	interesting := false
	for _, h := range journalHints {
		if bytes.Contains(line, h) {
			interesting = true
			break
		}
	}
	if !interesting {
		// A journal entry, not any JSON object: journalctl -o json always
		// writes MESSAGE or the cursor.
		if (bytes.Contains(line, []byte(`"MESSAGE"`)) || bytes.Contains(line, []byte(`"__CURSOR"`))) && json.Valid(line) {
			s.stats.Recognized++
		}
		s.stats.Skipped++
		return false
	}
	var e journalEntry
	if err := json.Unmarshal(line, &e); err != nil {
		s.stats.Skipped++
		return false
	}
	s.stats.Recognized++
	msg, ok := journalMessage(e.Message)
	if !ok {
		s.stats.Skipped++
		return false
	}
	if e.Transport != "audit" || e.AuditType == "" {
		return s.handleText(msg, n, FormJournal)
	}
	s.journalAudit = true
	num, ok1 := atou([]byte(e.AuditType))
	serial, _ := atou([]byte(e.AuditID))
	if ok1 && s.serialsOn() {
		s.sers.observe(serial, n, &s.loss)
	}
	typ := Type(num)
	if !ok1 || !typ.Integrity() {
		s.stats.OtherAudit++
		s.stats.Skipped++
		return false
	}
	// MESSAGE is "TYPE_NAME body"; the name is dropped.
	body := msg
	if sp := bytes.IndexByte(body, ' '); sp >= 0 {
		body = body[sp+1:]
	} else {
		body = nil
	}
	if s.duplicate(typ, serial, body) {
		s.stats.Duplicates++
		return false
	}
	rec := Record{Type: typ, Serial: serial, Line: n, Form: FormJournal}
	if us, err := strconv.ParseInt(e.SourceRT, 10, 64); err == nil {
		rec.Time = time.UnixMicro(us).UTC()
	}
	s.setBody(body, false)
	s.setRecord(rec, len(s.cur), false)
	s.stats.Records++
	s.byType[typ-firstIntegrity]++
	return true
}

// journalMessage decodes MESSAGE, which journald exports as a JSON string,
// or as an array of byte values when it is not valid UTF-8.
func journalMessage(raw json.RawMessage) ([]byte, bool) {
	if len(raw) == 0 {
		return nil, false
	}
	switch raw[0] {
	case '"':
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return nil, false
		}
		return []byte(str), true
	case '[':
		var bs []int
		if err := json.Unmarshal(raw, &bs); err != nil {
			return nil, false
		}
		out := make([]byte, len(bs))
		for i, v := range bs {
			if v < 0 || v > 255 {
				return nil, false
			}
			out[i] = byte(v)
		}
		return out, true
	}
	return nil, false
}
