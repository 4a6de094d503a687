package audit

import "strings"

// parseFields splits a record body into fields (see nextField). body is a
// string the record owns, so values are substrings of it (no copy) unless
// hex-decoded. It reports whether a quoted value was left open (a
// truncated record).
func parseFields(body string, fields []Field) ([]Field, bool) {
	truncated := false
	for i := 0; ; {
		t, next, ok := nextField(body, i)
		if !ok {
			return fields, truncated
		}
		i = next
		f := Field{Key: body[t.ks:t.ke], Op: t.op, Encoding: t.enc}
		if t.op != 0 {
			f.Value = body[t.vs:t.ve]
			if t.enc == Bare && untrustedKey(f.Key) {
				if d, ok := unhex(f.Value); ok {
					f.Value, f.Encoding = d, Hex
				}
			}
		}
		truncated = truncated || t.open
		fields = append(fields, f)
	}
}

// parseInterpreted splits an `ausearch -i` body. Interpreted values are not
// quoted and may hold spaces (decoded names), so a value runs up to the next
// " key=" token.
func parseInterpreted(body string, fields []Field) []Field {
	i := 0
	n := len(body)
	for i < n {
		for i < n && (body[i] == ' ' || body[i] == 0x1d) {
			i++
		}
		if i >= n {
			break
		}
		start := i
		for i < n && body[i] != '=' && body[i] != '<' && body[i] != '>' && body[i] != ' ' {
			i++
		}
		key := body[start:i]
		if i >= n || body[i] == ' ' {
			fields = append(fields, Field{Key: key, Encoding: Interpreted})
			continue
		}
		op := body[i]
		i++
		if i < n && (body[i] == '"' || body[i] == '\'') {
			// A quoted value ends at its closing quote.
			if e := strings.IndexByte(body[i+1:], body[i]); e >= 0 && (i+2+e == n || body[i+2+e] == ' ') {
				fields = append(fields, Field{Key: key, Op: op, Value: body[i+1 : i+1+e], Encoding: Interpreted})
				i += e + 2
				continue
			}
		}
		vs := i
		end := n
		for j := i; j < n; j++ {
			if body[j] == ' ' && startsKey(body[j+1:]) {
				end = j
				break
			}
		}
		v := body[vs:end]
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		fields = append(fields, Field{Key: key, Op: op, Value: v, Encoding: Interpreted})
		i = end
	}
	return fields
}

// startsKey reports whether s begins with an identifier followed by '='
// (or '<', '>' as in policy rule records).
func startsKey(s string) bool {
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9' && i > 0) {
			i++
			continue
		}
		break
	}
	return i > 0 && i < len(s) && (s[i] == '=' || s[i] == '<' || s[i] == '>')
}

// unhex decodes an upper-case hex string as the kernel writes it
// (Linux: kernel/audit.c:audit_log_n_hex). Lower-case or odd-length input
// is not hex-encoded audit data.
func unhex(s string) (string, bool) {
	if !isHex(s) {
		return "", false
	}
	b := make([]byte, len(s)/2)
	for i := range b {
		b[i] = fromHex(s[2*i])<<4 | fromHex(s[2*i+1])
	}
	return string(b), true
}

// isHex reports whether s is non-empty, even-length upper-case hex.
func isHex(s string) bool {
	if len(s) < 2 || len(s)%2 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func fromHex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}
