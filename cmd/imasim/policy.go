package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

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
	return policy.KernelOf(kf.version, kf.kconfig)
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
		p, errs, _, err := policy.Load(ctx, name, k)
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
			fmt.Fprintf(stdout, "%s: ok, %d rules (Linux %s)\n", name, len(p.Rules), k.VersionName())
		}
	}
	if format == "json" {
		writeJSON(stdout, results)
	}
	return code
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
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
	a.Mask = policy.DefaultMask(a.Func)
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

	p, errs, builtin, err := policy.Load(ctx, pos[0], k)
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
	res := policy.Explain(p, pos[0], builtin, k, a)
	if format == "json" {
		writeJSON(stdout, res)
		return exitOK
	}
	res.WriteText(stdout)
	return exitOK
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
	p, errs, _, err := policy.Load(ctx, pos[0], k)
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
