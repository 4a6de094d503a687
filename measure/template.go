package measure

import (
	"fmt"
	"strings"
)

// Show is how a template field renders in the ASCII list, mirroring the
// kernel's enum data_formats
// (Linux v6.12: security/integrity/ima/ima_template_lib.c).
type Show uint8

const (
	ShowDigest   Show = iota // DATA_FMT_DIGEST: hex
	ShowDigestNG             // DATA_FMT_DIGEST_WITH_ALGO(_AND_TYPE): "<prefix>:" NUL digest → prefix:hex
	ShowString               // DATA_FMT_STRING: bytes up to the first NUL
	ShowHex                  // DATA_FMT_HEX: hex
	ShowUint                 // DATA_FMT_UINT: decimal of a 1/2/4/8-byte integer
)

// Field is a template field ID and how it renders
// (Linux v6.12: security/integrity/ima/ima_template.c:supported_fields).
type Field struct {
	ID   string
	Show Show
	// Size is the fixed size of a ShowUint field when written by the
	// kernel (iuid/igid 4, imode 2); 0 otherwise.
	Size int
}

var fields = map[string]Field{
	"d":            {"d", ShowDigest, 0},
	"n":            {"n", ShowString, 0},
	"d-ng":         {"d-ng", ShowDigestNG, 0},
	"d-ngv2":       {"d-ngv2", ShowDigestNG, 0},
	"n-ng":         {"n-ng", ShowString, 0},
	"sig":          {"sig", ShowHex, 0},
	"buf":          {"buf", ShowHex, 0},
	"d-modsig":     {"d-modsig", ShowDigestNG, 0},
	"modsig":       {"modsig", ShowHex, 0},
	"evmsig":       {"evmsig", ShowHex, 0},
	"iuid":         {"iuid", ShowUint, 4},
	"igid":         {"igid", ShowUint, 4},
	"imode":        {"imode", ShowUint, 2},
	"xattrnames":   {"xattrnames", ShowString, 0},
	"xattrlengths": {"xattrlengths", ShowHex, 0},
	"xattrvalues":  {"xattrvalues", ShowHex, 0},
}

// Template is a template descriptor, analogous to the kernel's struct
// ima_template_desc. Name is empty for a custom ima_template_fmt, whose list
// entries carry Fmt as their template name.
type Template struct {
	Name   string
	Fmt    string
	Fields []Field
}

// ListName is the name written in list entries: Name, or Fmt for a custom
// format (Linux v6.12: ima_fs.c:ima_measurements_show).
func (t *Template) ListName() string {
	if t.Name != "" {
		return t.Name
	}
	return t.Fmt
}

// IsIMA reports the legacy "ima" template, whose binary form and hash differ
// from all others.
func (t *Template) IsIMA() bool { return t.Name == "ima" }

// Builtin templates (Linux v6.12: ima_template.c:builtin_templates).
var (
	TemplateIMA       = mustTemplate("ima", "d|n")
	TemplateIMANG     = mustTemplate("ima-ng", "d-ng|n-ng")
	TemplateIMASig    = mustTemplate("ima-sig", "d-ng|n-ng|sig")
	TemplateIMANGv2   = mustTemplate("ima-ngv2", "d-ngv2|n-ng")
	TemplateIMASigv2  = mustTemplate("ima-sigv2", "d-ngv2|n-ng|sig")
	TemplateIMABuf    = mustTemplate("ima-buf", "d-ng|n-ng|buf")
	TemplateIMAModsig = mustTemplate("ima-modsig", "d-ng|n-ng|sig|d-modsig|modsig")
	TemplateEVMSig    = mustTemplate("evm-sig", "d-ng|n-ng|evmsig|xattrnames|xattrlengths|xattrvalues|iuid|igid|imode")
)

var builtins = []*Template{TemplateIMA, TemplateIMANG, TemplateIMASig, TemplateIMANGv2,
	TemplateIMASigv2, TemplateIMABuf, TemplateIMAModsig, TemplateEVMSig}

func mustTemplate(name, fmt string) *Template {
	t, err := parseFmt(fmt)
	if err != nil {
		panic(err)
	}
	t.Name = name
	return t
}

// Limits from the kernel (Linux v6.12: security/integrity/ima/ima.h).
const (
	maxFieldIDLen  = 16  // IMA_TEMPLATE_FIELD_ID_MAX_LEN
	maxFields      = 15  // IMA_TEMPLATE_NUM_FIELDS_MAX
	MaxEventName   = 255 // IMA_EVENT_NAME_LEN_MAX: longest "n" field of the ima template
	MaxTemplateLen = maxFields * (maxFieldIDLen + 1)
)

// parseFmt parses a "|"-separated field list as
// Linux v6.12: ima_template.c:template_desc_init_fields does.
func parseFmt(s string) (*Template, error) {
	ids := strings.Split(s, "|")
	if len(ids) > maxFields {
		return nil, fmt.Errorf("template format %q has %d fields, at most %d", s, len(ids), maxFields)
	}
	t := &Template{Fmt: s, Fields: make([]Field, len(ids))}
	for i, id := range ids {
		if len(id) == 0 || len(id) > maxFieldIDLen {
			return nil, fmt.Errorf("template format %q: invalid field %q", s, id)
		}
		f, ok := fields[id]
		if !ok {
			return nil, fmt.Errorf("template format %q: unknown field %q", s, id)
		}
		t.Fields[i] = f
	}
	return t, nil
}

// LookupTemplate returns the builtin template called name, or parses name as
// a custom ima_template_fmt string ("d-ng|n-ng|iuid"), as the kernel does
// when restoring a list (Linux v6.12: ima_template.c:lookup_template_desc,
// restore_template_fmt). A format equal to a builtin's format, e.g. "d|n",
// is still a custom template: it keeps field lengths in the binary list.
func LookupTemplate(name string) (*Template, error) {
	for _, t := range builtins {
		if t.Name == name {
			return t, nil
		}
	}
	t, err := parseFmt(name)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrUnknownTemplate, name, err)
	}
	return t, nil
}

// templateCache avoids re-parsing custom formats; lookups by []byte do not
// allocate.
type templateCache map[string]*Template

func (c templateCache) lookup(name []byte) (*Template, error) {
	if t, ok := c[string(name)]; ok {
		return t, nil
	}
	t, err := LookupTemplate(string(name))
	if err != nil {
		return nil, err
	}
	if len(c) < 64 {
		c[string(name)] = t
	}
	return t, nil
}
