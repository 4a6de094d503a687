package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/imasim/imasim/internal/input"
)

// DefaultMask is the mask each hook passes to process_measurement.
//
// Linux v7.2: security/integrity/ima/ima_main.c (ima_bprm_check,
// ima_file_mmap, ima_creds_check: MAY_EXEC; ima_read_file and
// ima_post_read_file: MAY_READ; ima_file_check: the open's mask;
// process_buffer_measurement: 0).
func DefaultMask(f Func) Mask {
	switch f {
	case BprmCheck, MmapCheck, MmapCheckReqprot, CredsCheck:
		return MayExec
	case KexecCmdline, KeyCheck, CriticalData, PostSetattr, SetxattrCheck:
		return 0
	}
	return MayRead
}

// KernelOf reads a kernel version ("" for Newest) and a
// comma-separated kernel config: modsig or no-modsig
// (CONFIG_IMA_APPRAISE_MODSIG; unstated leaves ModsigUnknown set),
// no-keycheck, write-policy, signed-init.
func KernelOf(version, kconfig string) (Kernel, error) {
	var k Kernel
	if version != "" {
		v, err := ParseVersion(version)
		if err != nil {
			return k, err
		}
		k.Version = v
	}
	// Whether CONFIG_IMA_APPRAISE_MODSIG is on is unknown until stated:
	// the kernel's own secure_boot policy shows the modsig rule (7.0+)
	// whatever the config, so rejecting it would fail that text.
	k.ModsigUnknown = true
	for _, c := range strings.Split(kconfig, ",") {
		switch c = strings.TrimSpace(c); c {
		case "":
		case "modsig":
			k.Modsig, k.ModsigUnknown = true, false
		case "no-modsig":
			k.Modsig, k.ModsigUnknown = false, false
		case "no-keycheck":
			k.NoKeyCheck = true
		case "write-policy":
			k.WritePolicy = true
		case "signed-init":
			k.AppraiseSignedInit = true
		default:
			return k, fmt.Errorf("unknown --kconfig item %q (want modsig, no-modsig, no-keycheck, write-policy, signed-init)", c)
		}
	}
	return k, nil
}

// VersionName is the version k follows, Newest's when unset.
func (k Kernel) VersionName() string { return k.version().String() }

// Load reads a policy file ("-": standard input), or builds a built-in
// one when no such file exists and name is a built-in. Parse errors come
// back as errs; builtin tells which it was.
func Load(ctx context.Context, name string, k Kernel) (p *Policy, errs []*Error, builtin bool, err error) {
	f, err := input.Open(ctx, name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && IsBuiltin(name) {
			p, err := BuiltinKernel(name, k)
			return p, nil, true, err
		}
		return nil, nil, false, fmt.Errorf("reading policy: %w", err)
	}
	defer f.Close()
	p, errs, err = ParseAll(f, name, k)
	return p, errs, false, err
}

// Explanation is what a policy decides for one access: the rules that
// match and their combined decision (imasim policy explain).
type Explanation struct {
	Policy       string        `json:"policy"`
	Builtin      bool          `json:"builtin"`
	Kernel       string        `json:"kernel"`
	Attrs        ExplainAttrs  `json:"attrs"`
	Matching     []ExplainRule `json:"matching"`
	Actions      []string      `json:"actions"`
	Subaction    string        `json:"subaction,omitempty"`
	Flags        []string      `json:"flags"`
	PCR          int           `json:"pcr"`
	Template     string        `json:"template,omitempty"`
	AllowedAlgos []string      `json:"allowed_algos,omitempty"`

	attrs Attrs
	rules int
}

// ExplainRule is one matching rule: its index, line (files only) and text.
type ExplainRule struct {
	Index int    `json:"index"`
	Line  int    `json:"line,omitempty"`
	Text  string `json:"text"`
}

// ExplainAttrs are an access's Attrs as an Explanation shows them.
type ExplainAttrs struct {
	Func      string   `json:"func"`
	Mask      string   `json:"mask"`
	UID       uint32   `json:"uid"`
	EUID      uint32   `json:"euid"`
	SUID      uint32   `json:"suid"`
	GID       uint32   `json:"gid"`
	EGID      uint32   `json:"egid"`
	SGID      uint32   `json:"sgid"`
	Caps      []string `json:"caps"`
	FOwner    uint32   `json:"fowner"`
	FGroup    uint32   `json:"fgroup"`
	FSName    string   `json:"fsname,omitempty"`
	FSMagic   string   `json:"fsmagic"`
	FSSubtype string   `json:"fs_subtype,omitempty"`
	FSUUID    string   `json:"fsuuid,omitempty"`
	Labels    []string `json:"lsm_labels,omitempty"`
	Data      string   `json:"data,omitempty"`
}

func explainAttrs(a Attrs) ExplainAttrs {
	j := ExplainAttrs{
		Func: a.Func.String(), Mask: a.Mask.String(), UID: a.UID, EUID: a.EUID, SUID: a.SUID,
		GID: a.GID, EGID: a.EGID, SGID: a.SGID, Caps: capNames(a), FOwner: a.FOwner, FGroup: a.FGrp,
		FSName: a.FSName, FSMagic: fmt.Sprintf("%#x", a.FSMagic), FSSubtype: a.FSSubtype, Data: a.FuncData,
	}
	if a.FSUUID != ([16]byte{}) {
		j.FSUUID = FormatUUID(a.FSUUID)
	}
	for i, v := range []string{a.ObjUser, a.ObjRole, a.ObjType, a.SubjUser, a.SubjRole, a.SubjType} {
		if v != "" {
			j.Labels = append(j.Labels, []string{"obj_user", "obj_role", "obj_type", "subj_user", "subj_role", "subj_type"}[i]+"="+v)
		}
	}
	return j
}

func capNames(a Attrs) []string {
	out := []string{}
	if a.CapSetUID {
		out = append(out, "setuid")
	}
	if a.CapSetGID {
		out = append(out, "setgid")
	}
	return out
}

// Explain matches a against p, named name (a file or built-in), for
// kernel k.
func Explain(p *Policy, name string, builtin bool, k Kernel, a Attrs) *Explanation {
	d := p.Match(a)
	res := &Explanation{
		Policy: name, Builtin: builtin, Kernel: k.VersionName(), Attrs: explainAttrs(a),
		Matching: []ExplainRule{}, Actions: []string{}, Flags: []string{},
		PCR: d.PCR, Template: d.Template, AllowedAlgos: d.AllowedAlgos,
		attrs: a, rules: len(p.Rules),
	}
	for _, i := range d.Rules {
		r := p.Rules[i]
		res.Matching = append(res.Matching, ExplainRule{i, r.Line, r.Text})
	}
	if d.Actions != 0 {
		res.Actions = strings.Split(d.Actions.String(), "|")
	}
	if d.Subaction != 0 {
		res.Subaction = d.Subaction.String()
	}
	if d.Flags != 0 {
		res.Flags = strings.Split(d.Flags.String(), "|")
	}
	return res
}

// WriteText writes the explanation for a person.
func (r *Explanation) WriteText(w io.Writer) {
	a := r.attrs
	kind := "file"
	if r.Builtin {
		kind = "built-in"
	}
	fmt.Fprintf(w, "policy:   %s (%s, %d rules, Linux %s)\n", r.Policy, kind, r.rules, r.Kernel)
	fsDesc := a.FSName
	if fsDesc == "" {
		fsDesc = "-"
	}
	fmt.Fprintf(w, "access:   func=%s mask=%s uid=%d euid=%d suid=%d gid=%d egid=%d fowner=%d fgroup=%d fs=%s fsmagic=%#x",
		a.Func, a.Mask, a.UID, a.EUID, a.SUID, a.GID, a.EGID, a.FOwner, a.FGrp, fsDesc, a.FSMagic)
	if a.FSSubtype != "" {
		fmt.Fprintf(w, " fs_subtype=%s", a.FSSubtype)
	}
	if c := capNames(a); len(c) > 0 {
		fmt.Fprintf(w, " caps=%s", strings.Join(c, ","))
	}
	for _, l := range r.Attrs.Labels {
		fmt.Fprintf(w, " %s", l)
	}
	if a.FuncData != "" {
		fmt.Fprintf(w, " data=%s", a.FuncData)
	}
	fmt.Fprintln(w)
	if len(r.Matching) == 0 {
		fmt.Fprintln(w, "matching: none")
	} else {
		fmt.Fprintln(w, "matching:")
		for _, m := range r.Matching {
			where := fmt.Sprintf("rule %d", m.Index+1)
			if m.Line > 0 {
				where = fmt.Sprintf("line %d", m.Line)
			}
			fmt.Fprintf(w, "  %-9s %s\n", where+":", m.Text)
		}
	}
	actions := strings.Join(r.Actions, " ")
	if actions == "" {
		actions = "none"
	}
	fmt.Fprintf(w, "actions:  %s\n", actions)
	if r.Subaction != "" {
		fmt.Fprintf(w, "appraise: %s\n", r.Subaction)
	}
	if len(r.Flags) > 0 {
		fmt.Fprintf(w, "flags:    %s\n", strings.Join(r.Flags, " "))
	}
	if len(r.AllowedAlgos) > 0 {
		fmt.Fprintf(w, "algos:    %s\n", strings.Join(r.AllowedAlgos, ","))
	}
	fmt.Fprintf(w, "pcr:      %d\n", r.PCR)
	tmpl := r.Template
	if tmpl == "" {
		tmpl = "(boot default)"
	}
	fmt.Fprintf(w, "template: %s\n", tmpl)
}
