// Package keylime writes and reads keylime's runtime policy (the JSON
// "runtime-policy" that keylime's verifier checks IMA measurement lists
// against) and checks a measurement list against one as keylime's verifier
// does. It follows keylime's keylime/policy/create_runtime_policy.py
// (creation from a measurement list) and keylime/ima/ima.py
// (RUNTIME_POLICY_SCHEMA, _validate_ima_ng, _process_measurement_list).
package keylime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/imasim/imasim/measure"
)

// Version is the runtime policy format version keylime writes and reads
// (keylime/ima/ima.py: RUNTIME_POLICY_CURRENT_VERSION).
const Version = 1

// GeneratorLegacyAllowList is meta.generator for policies made by
// keylime-policy create runtime (RUNTIME_POLICY_GENERATOR.LegacyAllowList).
const GeneratorLegacyAllowList = 3

// maxGenerator is the largest generator keylime's schema accepts.
const maxGenerator = 3

// Policy is a keylime runtime policy. Map-like members keep the order they
// were read or built in, as keylime's JSON has it.
type Policy struct {
	Meta             Meta
	Release          int
	Digests          Lists // file path -> accepted digests (hex)
	Excludes         []string
	Keyrings         Lists
	IMA              IMA
	IMABuf           Lists
	VerificationKeys string
}

// Meta is the policy's "meta" object.
type Meta struct {
	Version   int
	Generator int
	// Timestamp is str(datetime.now()) at creation; "" when absent.
	Timestamp string
	HasTime   bool
}

// IMA is the policy's "ima" object.
type IMA struct {
	IgnoredKeyrings []string
	LogHashAlg      string // template hash algorithm of the list: sha1 (default) … sha512
}

// Lists is an ordered map from names to digest lists.
type Lists struct {
	Keys   []string
	Values map[string][]string
}

// Get returns the list for k.
func (l *Lists) Get(k string) ([]string, bool) {
	v, ok := l.Values[k]
	return v, ok
}

// Add appends d to k's list, adding k at the end if new.
func (l *Lists) Add(k, d string) {
	if l.Values == nil {
		l.Values = map[string][]string{}
	}
	if _, ok := l.Values[k]; !ok {
		l.Keys = append(l.Keys, k)
	}
	l.Values[k] = append(l.Values[k], d)
}

// Empty is keylime's EMPTY_RUNTIME_POLICY.
func Empty() *Policy {
	return &Policy{Meta: Meta{Version: Version}, IMA: IMA{LogHashAlg: "sha1"}}
}

// FromList makes the policy keylime-policy create runtime
// --ima-measurement-list makes from rd's entries: every ima-ng and ima-sig
// entry's path and file digest, in list order, each path's digests sorted
// and unique. Like keylime it reads the ASCII form of each entry, taking
// the 4th and 5th space-separated fields, and it refuses a list whose
// first entry is not a boot_aggregate with a known algorithm (keylime takes
// the digest algorithm from it and aborts otherwise). now is the creation
// time (meta.timestamp).
func FromList(rd measure.EntryReader, now time.Time) (*Policy, error) {
	p := Empty()
	p.Meta.Generator = GeneratorLegacyAllowList
	p.Meta.Timestamp, p.Meta.HasTime = PythonTime(now), true
	var line []byte
	for n := 0; ; n++ {
		e, err := rd.Next()
		if err == io.EOF {
			if n == 0 {
				return nil, errors.New("empty measurement list: keylime-policy takes the digest algorithm from the first entry (boot_aggregate)")
			}
			break
		}
		if err != nil {
			return nil, err
		}
		line = measure.AppendASCII(line[:0], e, 0)
		if !utf8.Valid(line) {
			return nil, fmt.Errorf("entry %d: not UTF-8 (keylime reads the list as UTF-8 text and would fail)", n)
		}
		pieces := strings.Split(string(line), " ")
		if n == 0 {
			if !bootAggregateLine(pieces) {
				return nil, fmt.Errorf("entry 0 is not a boot_aggregate with a known digest algorithm; keylime-policy refuses such a list")
			}
		}
		if len(pieces) < 5 || (pieces[2] != "ima-sig" && pieces[2] != "ima-ng") {
			continue
		}
		_, hexDigest, ok := strings.Cut(pieces[3], ":")
		if !ok {
			return nil, fmt.Errorf("entry %d: digest %q has no algorithm prefix", n, pieces[3])
		}
		p.Digests.Add(strings.TrimRight(pieces[4], "\n"), strings.SplitN(hexDigest, ":", 2)[0])
	}
	for _, k := range p.Digests.Keys {
		v := slices.Clone(p.Digests.Values[k])
		slices.Sort(v)
		p.Digests.Values[k] = slices.Compact(v)
	}
	return p, nil
}

// bootAggregateLine is keylime's boot_aggregate_parse: an ima-ng/ima-sig/ima
// line named boot_aggregate whose digest has a known algorithm and length.
func bootAggregateLine(pieces []string) bool {
	if len(pieces) < 5 || (pieces[2] != "ima-sig" && pieces[2] != "ima-ng" && pieces[2] != "ima") {
		return false
	}
	if strings.TrimRight(pieces[4], "\n") != "boot_aggregate" {
		return false
	}
	alg, d, ok := strings.Cut(pieces[3], ":")
	if !ok {
		_, ok := measure.AlgoForSize(len(alg) / 2)
		return ok && len(alg)%2 == 0
	}
	a, err := measure.ParseAlgo(alg)
	return err == nil && len(d) == 2*a.Size()
}

// PythonTime renders t as Python's str(datetime.datetime.now()).
func PythonTime(t time.Time) string {
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02 15:04:05")
	}
	return t.Format("2006-01-02 15:04:05.000000")
}

// Marshal writes p exactly as keylime's json.dumps(policy) does: keys in
// keylime's order, ", " and ": " separators, non-ASCII escaped, no newline.
func (p *Policy) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(`{"meta": {"version": `)
	b.WriteString(strconv.Itoa(p.Meta.Version))
	b.WriteString(`, "generator": `)
	b.WriteString(strconv.Itoa(p.Meta.Generator))
	if p.Meta.HasTime {
		b.WriteString(`, "timestamp": `)
		pyString(&b, p.Meta.Timestamp)
	}
	b.WriteString(`}, "release": `)
	b.WriteString(strconv.Itoa(p.Release))
	b.WriteString(`, "digests": `)
	pyLists(&b, &p.Digests)
	b.WriteString(`, "excludes": `)
	pyStrings(&b, p.Excludes)
	b.WriteString(`, "keyrings": `)
	pyLists(&b, &p.Keyrings)
	b.WriteString(`, "ima": {"ignored_keyrings": `)
	pyStrings(&b, p.IMA.IgnoredKeyrings)
	b.WriteString(`, "log_hash_alg": `)
	pyString(&b, p.IMA.LogHashAlg)
	b.WriteString(`, "dm_policy": null}, "ima-buf": `)
	pyLists(&b, &p.IMABuf)
	b.WriteString(`, "verification-keys": `)
	pyString(&b, p.VerificationKeys)
	b.WriteString("}")
	return b.Bytes()
}

func pyLists(b *bytes.Buffer, l *Lists) {
	b.WriteByte('{')
	for i, k := range l.Keys {
		if i > 0 {
			b.WriteString(", ")
		}
		pyString(b, k)
		b.WriteString(": ")
		pyStrings(b, l.Values[k])
	}
	b.WriteByte('}')
}

func pyStrings(b *bytes.Buffer, v []string) {
	b.WriteByte('[')
	for i, s := range v {
		if i > 0 {
			b.WriteString(", ")
		}
		pyString(b, s)
	}
	b.WriteByte(']')
}

// pyString is Python's json string encoding with ensure_ascii=True.
func pyString(b *bytes.Buffer, s string) {
	const hexd = "0123456789abcdef"
	u := func(r rune) {
		b.WriteString(`\u`)
		b.WriteByte(hexd[r>>12&15])
		b.WriteByte(hexd[r>>8&15])
		b.WriteByte(hexd[r>>4&15])
		b.WriteByte(hexd[r&15])
	}
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20:
			u(r)
		case r < 0x7f: // printable ASCII (Python escapes DEL too)
			b.WriteRune(r)
		case r < 0x10000:
			u(r)
		default:
			r -= 0x10000
			u(0xd800 + r>>10)
			u(0xdc00 + r&0x3ff)
		}
	}
	b.WriteByte('"')
}

// ExcludeRegexp compiles the excludes as keylime's verifier does
// (validators.valid_exclude_list: "(" + ")|(".join(excludes) + ")", applied
// with re.match, anchored at the start). Go's RE2 syntax is close to
// Python's for the usual patterns; one that does not compile is an error.
func (p *Policy) ExcludeRegexp() (*regexp.Regexp, error) {
	if len(p.Excludes) == 0 {
		return nil, nil
	}
	re, err := regexp.Compile("^(?:(" + strings.Join(p.Excludes, ")|(") + "))")
	if err != nil {
		return nil, fmt.Errorf("excludes: %w", err)
	}
	return re, nil
}

// jsonPolicy is the wire form used for reading.
type jsonPolicy struct {
	Meta *struct {
		Version   *int    `json:"version"`
		Generator *int    `json:"generator"`
		Timestamp *string `json:"timestamp"`
	} `json:"meta"`
	Release  *int     `json:"release"`
	Digests  *rawMap  `json:"digests"`
	Excludes []string `json:"excludes"`
	Keyrings *rawMap  `json:"keyrings"`
	IMA      *struct {
		IgnoredKeyrings []string        `json:"ignored_keyrings"`
		LogHashAlg      *string         `json:"log_hash_alg"`
		DMPolicy        json.RawMessage `json:"dm_policy"`
	} `json:"ima"`
	IMABuf           *rawMap `json:"ima-buf"`
	VerificationKeys *string `json:"verification-keys"`
}

// rawMap is a JSON object of string arrays, keys in document order.
type rawMap struct{ Lists }

var hexDigest = regexp.MustCompile(`^[0-9a-f]{40,128}$`)

func (m *rawMap) UnmarshalJSON(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return errors.New("want an object of digest lists")
	}
	m.Values = map[string][]string{}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return err
		}
		k := t.(string)
		if _, dup := m.Values[k]; dup {
			return fmt.Errorf("key %q given twice", k)
		}
		var v []string
		if err := d.Decode(&v); err != nil {
			return fmt.Errorf("%q: %w", k, err)
		}
		if len(v) == 0 {
			return fmt.Errorf("%q: empty digest list (keylime's schema wants at least one)", k)
		}
		for _, x := range v {
			if !hexDigest.MatchString(x) {
				return fmt.Errorf("%q: digest %q is not 40-128 lowercase hex digits", k, x)
			}
		}
		m.Keys = append(m.Keys, k)
		m.Values[k] = v
	}
	return nil
}

// MaxSize bounds a policy file read by Read.
const MaxSize = 256 << 20

// Read parses a runtime policy and validates it against keylime's schema
// (RUNTIME_POLICY_SCHEMA): every member present, version 1, known
// generator, digests as 40-128 hex digits, dm_policy null (device-mapper
// policies are not supported here). Unknown members are refused. Errors
// carry the byte offset when the JSON itself is bad.
func Read(r io.Reader) (*Policy, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("policy larger than %d bytes", MaxSize)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var jp jsonPolicy
	if err := d.Decode(&jp); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, fmt.Errorf("byte %d: %w", se.Offset, err)
		case errors.As(err, &te):
			return nil, fmt.Errorf("byte %d: %s: want %s", te.Offset, te.Field, te.Type)
		}
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("byte %d: data after the policy object", d.InputOffset())
	}
	missing := func(what string) error { return fmt.Errorf("%s missing (keylime's schema requires it)", what) }
	switch {
	case jp.Meta == nil:
		return nil, missing("meta")
	case jp.Meta.Version == nil:
		return nil, missing("meta.version")
	case jp.Meta.Generator == nil:
		return nil, missing("meta.generator")
	case jp.Release == nil:
		return nil, missing("release")
	case jp.Digests == nil:
		return nil, missing("digests")
	case jp.Excludes == nil:
		return nil, missing("excludes")
	case jp.Keyrings == nil:
		return nil, missing("keyrings")
	case jp.IMA == nil:
		return nil, missing("ima")
	case jp.IMA.IgnoredKeyrings == nil:
		return nil, missing("ima.ignored_keyrings")
	case jp.IMA.LogHashAlg == nil:
		return nil, missing("ima.log_hash_alg")
	case jp.IMA.DMPolicy == nil:
		return nil, missing("ima.dm_policy")
	case jp.IMABuf == nil:
		return nil, missing("ima-buf")
	case jp.VerificationKeys == nil:
		return nil, missing("verification-keys")
	}
	p := &Policy{
		Meta:             Meta{Version: *jp.Meta.Version, Generator: *jp.Meta.Generator},
		Release:          *jp.Release,
		Digests:          jp.Digests.Lists,
		Excludes:         jp.Excludes,
		Keyrings:         jp.Keyrings.Lists,
		IMA:              IMA{IgnoredKeyrings: jp.IMA.IgnoredKeyrings, LogHashAlg: *jp.IMA.LogHashAlg},
		IMABuf:           jp.IMABuf.Lists,
		VerificationKeys: *jp.VerificationKeys,
	}
	if jp.Meta.Timestamp != nil {
		p.Meta.Timestamp, p.Meta.HasTime = *jp.Meta.Timestamp, true
	}
	if p.Meta.Version != Version {
		return nil, fmt.Errorf("meta.version %d: this reads version %d", p.Meta.Version, Version)
	}
	if p.Meta.Generator < 0 || p.Meta.Generator > maxGenerator {
		return nil, fmt.Errorf("meta.generator %d out of range 0-%d", p.Meta.Generator, maxGenerator)
	}
	if p.Release < 0 {
		return nil, fmt.Errorf("release %d is negative", p.Release)
	}
	switch p.IMA.LogHashAlg {
	case "sha1", "sha256", "sha384", "sha512":
	default:
		return nil, fmt.Errorf("ima.log_hash_alg %q: want sha1|sha256|sha384|sha512", p.IMA.LogHashAlg)
	}
	if string(bytes.TrimSpace(jp.IMA.DMPolicy)) != "null" {
		return nil, errors.New("ima.dm_policy: only null is supported (device-mapper policies are not)")
	}
	if _, err := p.ExcludeRegexp(); err != nil {
		return nil, err
	}
	return p, nil
}
