package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/imasim/imasim/internal/input"
	"github.com/imasim/imasim/measure/policy"
)

const policyUsage = `usage: imasim policy check [--kernel VER] [--kconfig LIST] [--json] FILE|-...
       imasim policy explain FILE|BUILTIN --func FUNC [--uid N] [--fs NAME] [flags] [--json]
       imasim policy show FILE|BUILTIN [--kernel VER]
       imasim policy fs

BUILTIN is one or more of tcb, appraise_tcb, secure_boot, critical_data, ima_tcb
joined by '|' (as ima_policy= on the kernel command line; fail_securely allowed).
Run 'imasim policy VERB -h' for a verb's flags.
`

func cmdPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, policyUsage)
		return exitUsage
	}
	switch args[0] {
	case "check":
		return policyCheck(ctx, args[1:], stdout, stderr)
	case "explain":
		return policyExplain(ctx, args[1:], stdout, stderr)
	case "show":
		return policyShow(ctx, args[1:], stdout, stderr)
	case "fs":
		return policyFS(stdout)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, policyUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "imasim policy: unknown verb %q\n%s", args[0], policyUsage)
	return exitUsage
}

// kernelFlags are the --kernel and --kconfig flags shared by the verbs.
type kernelFlags struct{ version, kconfig string }

func addKernel(fs *flag.FlagSet) *kernelFlags {
	k := &kernelFlags{}
	fs.StringVar(&k.version, "kernel", "", "kernel version whose policy language to follow (e.g. 6.1, 6.12.107; default: newest modelled, "+policy.Newest.String()+")")
	fs.StringVar(&k.kconfig, "kconfig", "", "comma-separated kernel config: modsig or no-modsig (CONFIG_IMA_APPRAISE_MODSIG on or off, as in Debian's; unstated: accepted with a warning), no-keycheck, write-policy, signed-init")
	return k
}

func (kf *kernelFlags) get() (policy.Kernel, error) {
	var k policy.Kernel
	if kf.version != "" {
		v, err := policy.ParseVersion(kf.version)
		if err != nil {
			return k, err
		}
		k.Version = v
	}
	// Whether CONFIG_IMA_APPRAISE_MODSIG is on is unknown until stated:
	// the kernel's own secure_boot policy shows the modsig rule (7.0+)
	// whatever the config, so rejecting it would fail that text.
	k.ModsigUnknown = true
	for _, c := range splitList(kf.kconfig) {
		switch c {
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

// loadPolicy reads a policy file ("-": standard input), or builds a built-in one when no such
// file exists and the name is a built-in. Parse errors come back as errs.
func loadPolicy(ctx context.Context, name string, k policy.Kernel) (p *policy.Policy, errs []*policy.Error, builtin bool, err error) {
	f, err := input.Open(ctx, name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && policy.IsBuiltin(name) {
			p, err := policy.BuiltinKernel(name, k)
			return p, nil, true, err
		}
		return nil, nil, false, fmt.Errorf("reading policy: %w", err)
	}
	defer f.Close()
	p, errs, err = policy.ParseAll(f, name, k)
	return p, errs, false, err
}

type jsonPos struct {
	Line int    `json:"line"`
	Col  int    `json:"col"`
	Msg  string `json:"msg"`
}

type checkResult struct {
	File     string    `json:"file"`
	Valid    bool      `json:"valid"`
	Rules    int       `json:"rules"`
	Errors   []jsonPos `json:"errors"`
	Warnings []jsonPos `json:"warnings"`
}

func toPos(es []*policy.Error) []jsonPos {
	out := []jsonPos{}
	for _, e := range es {
		out = append(out, jsonPos{e.Line, e.Col, e.Msg})
	}
	return out
}

// policyCheck: every error as file:line:col: reason on stderr, exit 2 when
// any policy is invalid.
func policyCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("policy check", "policy check [flags] FILE...", stderr)
	kf := addKernel(fs)
	ff := addFormat(fs, "text", "json")
	files, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	format, err := ff.get("text", "json")
	if err != nil {
		fmt.Fprintln(stderr, "imasim policy check:", err)
		return exitUsage
	}
	k, err := kf.get()
	if err != nil {
		fmt.Fprintln(stderr, "imasim policy check:", err)
		return exitUsage
	}
	if len(files) == 0 {
		fs.Usage()
		return exitUsage
	}
	code = exitOK
	var results []checkResult
	for _, name := range files {
		p, errs, _, err := loadPolicy(ctx, name, k)
		var pe *policy.Error
		if errors.As(err, &pe) {
			fmt.Fprintln(stderr, pe) // file:line:col already
			code = exitUsage
			continue
		}
		if err != nil {
			fmt.Fprintf(stderr, "imasim policy check: %s: %v\n", name, err)
			code = exitUsage
			continue
		}
		for _, e := range errs {
			fmt.Fprintln(stderr, e)
		}
		for _, w := range p.Warnings {
			fmt.Fprintf(stderr, "%s:%d:%d: warning: %s\n", w.File, w.Line, w.Col, w.Msg)
		}
		if len(errs) > 0 {
			code = exitUsage
		}
		results = append(results, checkResult{name, len(errs) == 0, len(p.Rules), toPos(errs), toPos(p.Warnings)})
		if format == "text" && len(errs) == 0 {
			fmt.Fprintf(stdout, "%s: ok, %d rules (Linux %s)\n", name, len(p.Rules), kernelName(k))
		}
	}
	if format == "json" {
		writeJSON(stdout, results)
	}
	return code
}

func kernelName(k policy.Kernel) string {
	if k.Version == (policy.Version{}) {
		return policy.Newest.String()
	}
	return k.Version.String()
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// defaultMask is the mask each hook passes to process_measurement.
//
// Linux v7.2: security/integrity/ima/ima_main.c (ima_bprm_check,
// ima_file_mmap, ima_creds_check: MAY_EXEC; ima_read_file and
// ima_post_read_file: MAY_READ; ima_file_check: the open's mask;
// process_buffer_measurement: 0).
func defaultMask(f policy.Func) policy.Mask {
	switch f {
	case policy.BprmCheck, policy.MmapCheck, policy.MmapCheckReqprot, policy.CredsCheck:
		return policy.MayExec
	case policy.KexecCmdline, policy.KeyCheck, policy.CriticalData, policy.PostSetattr, policy.SetxattrCheck:
		return 0
	}
	return policy.MayRead
}

type explainRule struct {
	Index int    `json:"index"`
	Line  int    `json:"line,omitempty"`
	Text  string `json:"text"`
}

// jsonAttrs is policy.Attrs as explain --json prints it.
type jsonAttrs struct {
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

func toJSONAttrs(a policy.Attrs) jsonAttrs {
	j := jsonAttrs{
		Func: a.Func.String(), Mask: a.Mask.String(), UID: a.UID, EUID: a.EUID, SUID: a.SUID,
		GID: a.GID, EGID: a.EGID, SGID: a.SGID, Caps: capNames(a), FOwner: a.FOwner, FGroup: a.FGrp,
		FSName: a.FSName, FSMagic: fmt.Sprintf("%#x", a.FSMagic), FSSubtype: a.FSSubtype, Data: a.FuncData,
	}
	if a.FSUUID != ([16]byte{}) {
		j.FSUUID = policy.FormatUUID(a.FSUUID)
	}
	for i, v := range []string{a.ObjUser, a.ObjRole, a.ObjType, a.SubjUser, a.SubjRole, a.SubjType} {
		if v != "" {
			j.Labels = append(j.Labels, []string{"obj_user", "obj_role", "obj_type", "subj_user", "subj_role", "subj_type"}[i]+"="+v)
		}
	}
	return j
}

func capNames(a policy.Attrs) []string {
	out := []string{}
	if a.CapSetUID {
		out = append(out, "setuid")
	}
	if a.CapSetGID {
		out = append(out, "setgid")
	}
	return out
}

type explainResult struct {
	Policy       string        `json:"policy"`
	Builtin      bool          `json:"builtin"`
	Kernel       string        `json:"kernel"`
	Attrs        jsonAttrs     `json:"attrs"`
	Matching     []explainRule `json:"matching"`
	Actions      []string      `json:"actions"`
	Subaction    string        `json:"subaction,omitempty"`
	Flags        []string      `json:"flags"`
	PCR          int           `json:"pcr"`
	Template     string        `json:"template,omitempty"`
	AllowedAlgos []string      `json:"allowed_algos,omitempty"`
}

// policyExplain shows the rules that match an access and what they decide.
func policyExplain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("policy explain", "policy explain FILE|BUILTIN --func FUNC [flags]", stderr)
	kf := addKernel(fs)
	ff := addFormat(fs, "text", "json")
	var (
		fn, mask, fsName, fsMagic, fsType, fsSub, fsUUID, caps, data string
		uid, euid, suid, gid, egid, sgid, fowner, fgroup             string
		lsm                                                          [6]string
	)
	fs.StringVar(&fn, "func", "", "IMA hook, e.g. BPRM_CHECK, FILE_CHECK, MMAP_CHECK (required)")
	fs.StringVar(&mask, "mask", "", "access mask, MAY_* joined by | (default: what the hook passes)")
	fs.StringVar(&uid, "uid", "0", "task's real uid")
	fs.StringVar(&euid, "euid", "", "task's effective uid (default --uid)")
	fs.StringVar(&suid, "suid", "", "task's saved uid (default --euid)")
	fs.StringVar(&gid, "gid", "0", "task's real gid")
	fs.StringVar(&egid, "egid", "", "task's effective gid (default --gid)")
	fs.StringVar(&sgid, "sgid", "", "task's saved gid (default --egid)")
	fs.StringVar(&caps, "caps", "auto", "task capabilities: auto (setuid,setgid when euid is 0), none, or setuid,setgid")
	fs.StringVar(&fowner, "fowner", "0", "file owner uid")
	fs.StringVar(&fgroup, "fgroup", "0", "file group gid")
	fs.StringVar(&fsName, "fs", "", "filesystem type (xfs, ext4, tmpfs, btrfs, overlay, ...; see imasim policy fs)")
	fs.StringVar(&fsMagic, "fsmagic", "", "superblock magic in hex (overrides --fs)")
	fs.StringVar(&fsType, "fsname", "", "filesystem type name for fsname= (overrides --fs)")
	fs.StringVar(&fsSub, "fs-subtype", "", "superblock subtype (FUSE), for fs_subtype=")
	fs.StringVar(&fsUUID, "fsuuid", "", "filesystem UUID")
	fs.StringVar(&data, "data", "", "keyring (KEY_CHECK) or label (CRITICAL_DATA)")
	for i, n := range []string{"obj-user", "obj-role", "obj-type", "subj-user", "subj-role", "subj-type"} {
		fs.StringVar(&lsm[i], n, "", "LSM label for "+strings.ReplaceAll(n, "-", "_")+"=")
	}
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "imasim policy explain:", err)
		return exitUsage
	}
	format, err := ff.get("text", "json")
	if err != nil {
		return fail(err)
	}
	k, err := kf.get()
	if err != nil {
		return fail(err)
	}
	if len(pos) != 1 {
		return fail(errors.New("want exactly one policy FILE or BUILTIN name"))
	}
	if fn == "" {
		return fail(errors.New("--func is required"))
	}
	var a policy.Attrs
	if a.Func, err = policy.ParseFunc(fn); err != nil {
		return fail(err)
	}
	a.Mask = defaultMask(a.Func)
	if mask != "" {
		if mask == "0" {
			a.Mask = 0
		} else if a.Mask, err = policy.ParseMask(mask); err != nil {
			return fail(err)
		}
	}
	ids := []struct {
		name, val, def string
		dst            *uint32
	}{
		{"uid", uid, "", &a.UID}, {"euid", euid, uid, &a.EUID}, {"suid", suid, "", &a.SUID},
		{"gid", gid, "", &a.GID}, {"egid", egid, gid, &a.EGID}, {"sgid", sgid, "", &a.SGID},
		{"fowner", fowner, "", &a.FOwner}, {"fgroup", fgroup, "", &a.FGrp},
	}
	for i, id := range ids {
		v := id.val
		if v == "" && id.def != "" {
			v = id.def
		}
		if v == "" && (id.name == "suid" || id.name == "sgid") {
			*id.dst = *ids[i-1].dst // saved id defaults to the effective one
			continue
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return fail(fmt.Errorf("--%s %q: want a decimal id", id.name, v))
		}
		*id.dst = uint32(n)
	}
	switch caps {
	case "auto":
		a = a.WithDefaultCaps()
	case "none", "":
	default:
		for _, c := range splitList(caps) {
			switch c {
			case "setuid":
				a.CapSetUID = true
			case "setgid":
				a.CapSetGID = true
			default:
				return fail(fmt.Errorf("--caps: unknown capability %q (want setuid, setgid)", c))
			}
		}
	}
	if fsName != "" {
		f, err := policy.LookupFS(fsName)
		if err != nil {
			return fail(err)
		}
		a.FSName, a.FSMagic = f.Name, f.Magic
	}
	if fsMagic != "" {
		m, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(fsMagic), "0x"), 16, 64)
		if err != nil {
			return fail(fmt.Errorf("--fsmagic %q: want hex", fsMagic))
		}
		a.FSMagic = m
	}
	if fsType != "" {
		a.FSName = fsType
	}
	a.FSSubtype = fsSub
	if fsUUID != "" {
		if a.FSUUID, err = policy.ParseUUID(fsUUID); err != nil {
			return fail(err)
		}
	}
	a.ObjUser, a.ObjRole, a.ObjType, a.SubjUser, a.SubjRole, a.SubjType = lsm[0], lsm[1], lsm[2], lsm[3], lsm[4], lsm[5]
	a.FuncData = data

	p, errs, builtin, err := loadPolicy(ctx, pos[0], k)
	if err != nil {
		return fail(err)
	}
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(stderr, e)
		}
		fmt.Fprintf(stderr, "imasim policy explain: %s: the kernel would reject this policy\n", pos[0])
		return exitUsage
	}
	d := p.Match(a)
	res := explainResult{
		Policy: pos[0], Builtin: builtin, Kernel: kernelName(k), Attrs: toJSONAttrs(a),
		Matching: []explainRule{}, Actions: []string{}, Flags: []string{},
		PCR: d.PCR, Template: d.Template, AllowedAlgos: d.AllowedAlgos,
	}
	for _, i := range d.Rules {
		r := p.Rules[i]
		res.Matching = append(res.Matching, explainRule{i, r.Line, r.Text})
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
	if format == "json" {
		writeJSON(stdout, res)
		return exitOK
	}
	printExplain(stdout, res, a, len(p.Rules))
	return exitOK
}

func printExplain(w io.Writer, r explainResult, a policy.Attrs, nrules int) {
	kind := "file"
	if r.Builtin {
		kind = "built-in"
	}
	fmt.Fprintf(w, "policy:   %s (%s, %d rules, Linux %s)\n", r.Policy, kind, nrules, r.Kernel)
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

// policyShow prints a policy's rules in canonical form.
func policyShow(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("policy show", "policy show FILE|BUILTIN [flags]", stderr)
	kf := addKernel(fs)
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	k, err := kf.get()
	if err != nil || len(pos) != 1 {
		if err == nil {
			err = errors.New("want exactly one policy FILE or BUILTIN name")
		}
		fmt.Fprintln(stderr, "imasim policy show:", err)
		return exitUsage
	}
	p, errs, _, err := loadPolicy(ctx, pos[0], k)
	if err != nil {
		fmt.Fprintln(stderr, "imasim policy show:", err)
		return exitUsage
	}
	for _, e := range errs {
		fmt.Fprintln(stderr, e)
	}
	fmt.Fprint(stdout, p.String())
	if len(errs) > 0 {
		return exitUsage
	}
	return exitOK
}

func policyFS(stdout io.Writer) int {
	for _, n := range policy.FSNames() {
		f, _ := policy.LookupFS(n)
		fmt.Fprintf(stdout, "%-12s 0x%x\n", f.Name, f.Magic)
	}
	return exitOK
}
