package policy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Parse reads a policy as the newest modelled kernel would accept it and
// returns the first error as an *Error (the kernel rejects the whole write
// on the first bad rule); name is used in error locations.
func Parse(r io.Reader, name string) (*Policy, error) {
	return ParseKernel(r, name, Kernel{})
}

// ParseKernel is Parse for a chosen kernel.
func ParseKernel(r io.Reader, name string, k Kernel) (*Policy, error) {
	p, errs, err := ParseAll(r, name, k)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return p, nil
}

// ParseAll reads every rule and returns the policy of the valid ones, one
// *Error per rejected rule (the first problem the kernel would hit in that
// line), and a non-nil error only when reading failed. Policy.Warnings
// lists what the kernel accepts but probably not as meant.
//
// Lines are split on '\n' only, as ima_parse_add_rule does: a '\r' stays
// part of the last word.
//
// Input is bounded: a line over MaxLine bytes, a policy over MaxBytes
// bytes or with more than MaxErrors bad rules stops the parse with an
// *Error at that line.
func ParseAll(r io.Reader, name string, k Kernel) (*Policy, []*Error, error) {
	p := &Policy{Name: name}
	var errs []*Error
	br := bufio.NewReaderSize(r, 64<<10)
	total := 0
	for ln := 1; ; ln++ {
		b, err := readLine(br, MaxLine)
		if errors.Is(err, errLongLine) {
			return nil, nil, &Error{File: name, Line: ln, Col: MaxLine + 1, Msg: fmt.Sprintf("line longer than the limit of %d KiB (the kernel takes at most a page per write)", MaxLine>>10)}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("reading policy %s line %d: %w", name, ln, err)
		}
		if len(b) == 0 && err != nil {
			break
		}
		if total += len(b); total > MaxBytes {
			return nil, nil, &Error{File: name, Line: ln, Col: 1, Msg: fmt.Sprintf("policy longer than the limit of %d MiB", MaxBytes>>20)}
		}
		line := strings.TrimSuffix(string(b), "\n")
		rule, skip, perr, warns := parseLine(line, k)
		for _, w := range warns {
			p.Warnings = append(p.Warnings, &Error{File: name, Line: ln, Col: w.col, Msg: w.msg})
		}
		switch {
		case perr != nil:
			if len(errs) == MaxErrors {
				return nil, nil, &Error{File: name, Line: ln, Col: 1, Msg: fmt.Sprintf("more than %d bad rules: not a policy?", MaxErrors)}
			}
			errs = append(errs, &Error{File: name, Line: ln, Col: perr.col, Msg: perr.msg})
		case !skip:
			rule.Line = ln
			p.Rules = append(p.Rules, rule)
		}
		if err != nil {
			break
		}
	}
	return p, errs, nil
}

// Limits on policy input.
const (
	// MaxLine bounds one rule line; ima_write_policy (Linux v6.12,
	// ima_fs.c) takes at most PAGE_SIZE-1 bytes per write.
	MaxLine = 64 << 10
	// MaxBytes bounds a whole policy file.
	MaxBytes = 4 << 20
	// MaxErrors bounds the bad rules reported before giving up.
	MaxErrors = 1000
)

var errLongLine = errors.New("line too long")

// readLine returns the next line with its '\n', at most max bytes of it
// (errLongLine past that, without reading the rest).
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > max+1 || len(line)+len(frag) == max+1 && frag[len(frag)-1] != '\n' {
			return nil, errLongLine
		}
		line = append(line, frag...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return line, err
	}
}

// ParseRule parses a single rule (no newline) for kernel k.
func ParseRule(text string, k Kernel) (Rule, error) {
	rule, skip, perr, _ := parseLine(text, k)
	if perr != nil {
		return Rule{}, &Error{File: "rule", Line: 1, Col: perr.col, Msg: perr.msg}
	}
	if skip {
		return Rule{}, &Error{File: "rule", Line: 1, Col: 1, Msg: "empty rule or comment"}
	}
	return rule, nil
}

// lineErr is a problem at a 1-based column.
type lineErr struct {
	col int
	msg string
}

func errAt(col int, format string, args ...any) *lineErr {
	return &lineErr{col, fmt.Sprintf(format, args...)}
}

// token is one word of a rule and its 1-based column.
type token struct {
	s   string
	col int
}

// splitWords splits on single spaces and tabs as strsep(" \t") does,
// dropping the empty words between separators.
func splitWords(line string, base int) []token {
	var out []token
	start := -1
	for i := 0; i <= len(line); i++ {
		if i == len(line) || line[i] == ' ' || line[i] == '\t' {
			if start >= 0 {
				out = append(out, token{line[start:i], base + start + 1})
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	return out
}

// keyOps lists the name=value words and the operators each accepts
// (Linux v7.2: ima_policy.c policy_tokens).
var keyOps = map[string]string{
	"obj_user": "=", "obj_role": "=", "obj_type": "=",
	"subj_user": "=", "subj_role": "=", "subj_type": "=",
	"func": "=", "mask": "=", "fsmagic": "=", "fsname": "=", "fs_subtype": "=", "fsuuid": "=",
	"uid": "=<>", "euid": "=<>", "gid": "=<>", "egid": "=<>", "fowner": "=<>", "fgroup": "=<>",
	"digest_type": "=", "appraise_type": "=", "appraise_flag": "=", "appraise_algos": "=",
	"pcr": "=", "template": "=", "keyrings": "=", "label": "=",
}

var actionWords = map[string]Action{
	"measure": Measure, "dont_measure": DontMeasure, "appraise": Appraise,
	"dont_appraise": DontAppraise, "audit": Audit, "dont_audit": DontAudit,
	"hash": Hash, "dont_hash": DontHash,
}

// parser holds one rule's state, as ima_parse_rule's entry does, plus
// where each part came from.
type parser struct {
	k     Kernel
	r     Rule
	cols  map[Flag]int // column of the word that set each flag
	acol  int          // column of the action word
	first int          // column of the first word
	lcols [numLSM]int
	// the kernel's "already set" tests
	uidSet, gidSet, fownerSet, fgroupSet bool
	warns                                []lineErr
}

// parseLine parses one line as ima_parse_add_rule and ima_parse_rule do.
// skip is set for blank lines and comments.
func parseLine(line string, k Kernel) (r Rule, skip bool, e *lineErr, warns []lineErr) {
	// Linux v7.2: ima_policy.c:ima_parse_add_rule skips leading " \t" and
	// ignores lines starting with '#' or empty.
	lead := len(line) - len(strings.TrimLeft(line, " \t"))
	rest := line[lead:]
	if rest == "" || rest[0] == '#' {
		return Rule{}, true, nil, nil
	}
	p := &parser{k: k, cols: map[Flag]int{}, first: lead + 1}
	p.r.era = k.version()
	p.r.Text = strings.TrimRight(rest, " \t")
	e = p.words(rest, lead)
	if e != nil && strings.HasSuffix(line, "\r") {
		e.msg += " (the line ends in \\r: the kernel splits rules on \\n only)"
	}
	if e != nil {
		return Rule{}, false, e, p.warns
	}
	return p.r, false, nil, p.warns
}

// words parses the words of a rule and validates it.
func (p *parser) words(rest string, lead int) *lineErr {
	k := p.k
	for _, t := range splitWords(rest, lead) {
		if t.s[0] == '#' {
			if k.has(sinceSuffixComment) {
				break // "ima: ignore suffixed policy rule comments"
			}
			return errAt(t.col, "%q: a comment after a rule needs Linux 6.14 or newer (older kernels reject the rule)", t.s)
		}
		if err := p.word(t); err != nil {
			return err
		}
	}
	return p.validate()
}

func (p *parser) warn(col int, format string, args ...any) {
	p.warns = append(p.warns, lineErr{col, fmt.Sprintf(format, args...)})
}

// word handles one word (Linux v7.2: ima_policy.c:ima_parse_rule switch).
func (p *parser) word(t token) *lineErr {
	w := t.s
	if a, ok := actionWords[w]; ok {
		if a == DontAudit && !p.k.has(sinceDontAudit) {
			return errAt(t.col, "dont_audit needs Linux 6.19 or newer")
		}
		if p.r.Action != 0 {
			return errAt(t.col, "second action %q: the rule already has %q", w, p.r.Action)
		}
		p.r.Action, p.acol = a, t.col
		return nil
	}
	if w == "permit_directio" {
		p.set(PermitDirectio, t.col)
		return nil
	}
	i := strings.IndexAny(w, "=<>")
	if i < 0 {
		if w[0] == '/' && p.r.Action == 0 {
			// Linux v7.2: ima_fs.c:ima_write_policy loads a path only when
			// it starts the write; inside a policy it is a bad rule.
			return errAt(t.col, "%q: a policy file path is only loaded when written alone to the policy file (echo PATH > /sys/kernel/security/ima/policy)", w)
		}
		return errAt(t.col, "unknown word %q (not an action, condition or option)", w)
	}
	key, op, val := w[:i], w[i], w[i+1:]
	ops, ok := keyOps[key]
	if key == "fs_subtype" && !p.k.has(sinceFSSubtype) {
		ok = false
	}
	if !ok || !strings.ContainsRune(ops, rune(op)) {
		if ok {
			return errAt(t.col, "%s takes no %q operator (only %s)", key, string(op), strings.Join(strings.Split(ops, ""), " "))
		}
		if key == "fs_subtype" {
			return errAt(t.col, "fs_subtype= needs Linux 6.19 or newer")
		}
		return errAt(t.col, "unknown condition or option %q", key+string(op))
	}
	if val == "" {
		// match_token: %s needs at least one character.
		return errAt(t.col, "%s%c has no value", key, op)
	}
	switch key {
	case "func":
		return p.fn(t, val)
	case "mask":
		return p.mask(t, val)
	case "fsmagic":
		if p.r.FSMagic != 0 {
			return errAt(t.col, "fsmagic= given twice")
		}
		v, ok := kstrtoul(val, 16)
		if !ok {
			return errAt(t.col, "fsmagic=%s: not a hex number", val)
		}
		p.r.FSMagic = v
		p.set(FlagFSMagic, t.col)
	case "fsname":
		if p.r.Flags&FlagFSName != 0 {
			p.warn(t.col, "fsname= given twice; the kernel keeps the last one")
		}
		p.r.FSName = val
		p.set(FlagFSName, t.col)
	case "fs_subtype":
		if p.r.Flags&FlagFSSubtype != 0 {
			return errAt(t.col, "fs_subtype= given twice")
		}
		p.r.FSSubtype = val
		p.set(FlagFSSubtype, t.col)
	case "fsuuid":
		if p.r.FSUUID != ([16]byte{}) {
			return errAt(t.col, "fsuuid= given twice")
		}
		u, ok := parseUUID(val)
		if !ok {
			return errAt(t.col, "fsuuid=%s: not a UUID (want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", val)
		}
		if len(val) > 36 {
			p.warn(t.col, "fsuuid=%s: the kernel ignores everything after the 36th character", val)
		}
		p.r.FSUUID = u
		p.set(FlagFSUUID, t.col)
	case "keyrings":
		if p.k.NoKeyCheck {
			return errAt(t.col, "keyrings= needs CONFIG_IMA_MEASURE_ASYMMETRIC_KEYS")
		}
		if p.r.Flags&FlagKeyrings != 0 {
			return errAt(t.col, "keyrings= given twice")
		}
		l, err := optList(t, val)
		if err != nil {
			return err
		}
		p.r.Keyrings = l
		p.set(FlagKeyrings, t.col)
	case "label":
		if p.r.Flags&FlagLabel != 0 {
			return errAt(t.col, "label= given twice")
		}
		l, err := optList(t, val)
		if err != nil {
			return err
		}
		p.r.Labels = l
		p.set(FlagLabel, t.col)
	case "uid", "euid", "gid", "egid", "fowner", "fgroup":
		return p.id(t, key, op, val)
	case "obj_user", "obj_role", "obj_type", "subj_user", "subj_role", "subj_type":
		slot := 0
		for i, k := range lsmKeys {
			if k == key {
				slot = i
			}
		}
		if p.r.LSM[slot] != "" {
			return errAt(t.col, "%s= given twice", key)
		}
		p.r.LSM[slot], p.lcols[slot] = val, t.col
		// ima_lsm_rule_init: a label no active LSM knows fails the write
		// that replaces the boot policy; later writes keep a rule that
		// never matches (seen on Debian kernels with AppArmor).
		p.warn(t.col, "%s= needs an active LSM that knows %q (e.g. SELinux); otherwise the kernel rejects the rule on the first policy write", key, val)
	case "digest_type":
		return p.digestType(t, val)
	case "appraise_type":
		return p.appraiseType(t, val)
	case "appraise_flag":
		return p.appraiseFlag(t, val)
	case "appraise_algos":
		if p.r.Flags&FlagValidateAlgos != 0 {
			return errAt(t.col, "appraise_algos= given twice")
		}
		algos, err := parseAlgos(t, val)
		if err != nil {
			return err
		}
		p.r.AllowedAlgos = algos
		p.set(FlagValidateAlgos, t.col)
	case "pcr":
		n, ok := kstrtoint(val)
		if !ok || n < 0 || n >= 64 {
			// INVALID_PCR: measured_pcrs is an unsigned long.
			return errAt(t.col, "pcr=%s: want a PCR number 0..63", val)
		}
		if p.r.Flags&FlagPCR != 0 {
			p.warn(t.col, "pcr= given twice; the kernel keeps the last one")
		}
		p.r.PCR = int(n)
		p.set(FlagPCR, t.col)
	case "template":
		if p.r.Action != Measure {
			return errAt(t.col, "template= is only valid after the measure action")
		}
		name, ok := lookupTemplate(val)
		if !ok {
			return errAt(t.col, "unknown template %q (want one of %s, or a built-in template's format)", val, strings.Join(templateNames(), ", "))
		}
		if p.r.Template != "" {
			return errAt(t.col, "template= given twice")
		}
		p.r.Template = name
	}
	return nil
}

// set records flags and the column of the word that set each first (the
// last for the options the kernel lets a rule repeat).
func (p *parser) set(f Flag, col int) {
	p.r.Flags |= f
	for b := Flag(1); b != 0; b <<= 1 {
		if f&b == 0 {
			continue
		}
		if _, ok := p.cols[b]; !ok || b&(FlagPCR|FlagFSName) != 0 {
			p.cols[b] = col
		}
	}
}

func (p *parser) fn(t token, val string) *lineErr {
	if p.r.Func != FuncNone {
		return errAt(t.col, "func= given twice")
	}
	f, err := ParseFunc(val)
	switch {
	case err != nil || f == PostSetattr:
		return errAt(t.col, "unknown func %q", val)
	case f == MmapCheckReqprot && !p.k.has(sinceReqprot):
		return errAt(t.col, "func=MMAP_CHECK_REQPROT needs Linux 6.3 or newer")
	case f == KeyCheck && p.k.NoKeyCheck:
		return errAt(t.col, "func=KEY_CHECK needs CONFIG_IMA_MEASURE_ASYMMETRIC_KEYS")
	}
	p.r.Func = f
	p.set(FlagFunc, t.col)
	return nil
}

func (p *parser) mask(t token, val string) *lineErr {
	if p.r.Mask != 0 {
		return errAt(t.col, "mask= given twice")
	}
	name, in := strings.CutPrefix(val, "^")
	m, err := ParseMask(name)
	if err != nil || strings.Contains(name, "|") {
		return errAt(t.col, "mask=%s: want one of MAY_EXEC, MAY_WRITE, MAY_READ, MAY_APPEND, optionally prefixed by ^", val)
	}
	p.r.Mask = m
	if in {
		p.set(FlagInMask, t.col)
	} else {
		p.set(FlagMask, t.col)
	}
	return nil
}

// id handles uid, euid, gid, egid, fowner, fgroup with = < >. uid and euid
// share one value in the kernel (entry->uid), as do gid and egid.
func (p *parser) id(t token, key string, opc byte, val string) *lineErr {
	op := map[byte]Op{'=': OpEq, '>': OpGt, '<': OpLt}[opc]
	n, ok := kstrtoul(val, 10)
	bad := !ok || n > 0xffffffff || n == 0xffffffff // (uid_t)lnum != lnum, !uid_valid
	switch key {
	case "uid", "euid":
		if p.uidSet {
			return errAt(t.col, "%s: the rule already has a uid or euid condition (the kernel keeps one for both)", key)
		}
		if bad {
			return errAt(t.col, "%s%c%s: want a decimal id below 4294967295", key, opc, val)
		}
		p.uidSet, p.r.UID, p.r.UIDOp = true, uint32(n), op
		if key == "euid" {
			p.set(FlagEUID, t.col)
		} else {
			p.set(FlagUID, t.col)
		}
	case "gid", "egid":
		if p.gidSet {
			return errAt(t.col, "%s: the rule already has a gid or egid condition (the kernel keeps one for both)", key)
		}
		if bad {
			return errAt(t.col, "%s%c%s: want a decimal id below 4294967295", key, opc, val)
		}
		p.gidSet, p.r.GID, p.r.GIDOp = true, uint32(n), op
		if key == "egid" {
			p.set(FlagEGID, t.col)
		} else {
			p.set(FlagGID, t.col)
		}
	case "fowner":
		if p.fownerSet {
			return errAt(t.col, "fowner given twice")
		}
		if bad {
			return errAt(t.col, "fowner%c%s: want a decimal id below 4294967295", opc, val)
		}
		p.fownerSet, p.r.FOwner, p.r.FOwnerOp = true, uint32(n), op
		p.set(FlagFOwner, t.col)
	case "fgroup":
		if p.fgroupSet {
			return errAt(t.col, "fgroup given twice")
		}
		if bad {
			return errAt(t.col, "fgroup%c%s: want a decimal id below 4294967295", opc, val)
		}
		p.fgroupSet, p.r.FGroup, p.r.FGroupOp = true, uint32(n), op
		p.set(FlagFGroup, t.col)
	}
	return nil
}

func (p *parser) digestType(t token, val string) *lineErr {
	if !p.k.has(sinceSigv3Files) && p.r.Flags&DigsigRequired != 0 {
		return errAt(t.col, "digest_type= must come before appraise_type= on kernels before 7.0")
	}
	if val != "verity" {
		return errAt(t.col, "digest_type=%s: the only digest type is verity", val)
	}
	p.set(VerityRequired, t.col)
	return nil
}

// appraiseType follows Opt_appraise_type in the three eras.
func (p *parser) appraiseType(t token, val string) *lineErr {
	bl := Flag(0)
	if p.k.has(sinceBlacklistAlways) {
		bl = CheckBlacklist
	}
	verity := p.r.Flags&VerityRequired != 0
	switch val {
	case "imasig":
		if verity {
			return errAt(t.col, "appraise_type=imasig conflicts with digest_type=verity (use sigv3)")
		}
		p.set(DigsigRequired|bl, t.col)
	case "sigv3":
		if p.k.has(sinceSigv3Files) {
			p.set(Sigv3Required|DigsigRequired|bl, t.col)
		} else if verity {
			p.set(DigsigRequired|bl, t.col)
		} else {
			return errAt(t.col, "appraise_type=sigv3 needs digest_type=verity before it on kernels before 7.0")
		}
	case "imasig|modsig":
		if !p.k.Modsig && !p.k.ModsigUnknown {
			return errAt(t.col, "appraise_type=imasig|modsig needs CONFIG_IMA_APPRAISE_MODSIG")
		}
		if p.k.ModsigUnknown {
			p.warn(t.col, "appraise_type=imasig|modsig loads only on a kernel with CONFIG_IMA_APPRAISE_MODSIG (Debian's lack it)")
		}
		if verity || p.r.Flags&Sigv3Required != 0 {
			return errAt(t.col, "appraise_type=imasig|modsig conflicts with digest_type=verity or sigv3")
		}
		p.set(DigsigRequired|ModsigAllowed|bl, t.col)
	default:
		return errAt(t.col, "appraise_type=%s: want imasig, imasig|modsig or sigv3", val)
	}
	return nil
}

func (p *parser) appraiseFlag(t token, val string) *lineErr {
	if p.k.has(sinceBlacklistAlways) {
		p.warn(t.col, "appraise_flag= is ignored since Linux 6.3 (the blacklist check is always on)")
		return nil
	}
	if !(p.k.Modsig || p.k.ModsigUnknown) || !strings.Contains(val, "blacklist") {
		return errAt(t.col, "appraise_flag=%s: only check_blacklist, with CONFIG_IMA_APPRAISE_MODSIG", val)
	}
	p.set(CheckBlacklist, t.col)
	return nil
}

// validate follows Linux v7.2: ima_policy.c:ima_validate_rule, pointing at
// the word that breaks it.
func (p *parser) validate() *lineErr {
	r, k := &p.r, p.k
	if r.Action == 0 {
		actions := "measure, dont_measure, appraise, dont_appraise, audit, hash, dont_hash"
		if k.has(sinceDontAudit) {
			actions = "measure, dont_measure, appraise, dont_appraise, audit, dont_audit, hash, dont_hash"
		}
		return errAt(p.first, "rule has no action (%s)", actions)
	}
	if r.Action != Measure && r.Flags&FlagPCR != 0 {
		return errAt(p.cols[FlagPCR], "pcr= is only valid with measure")
	}
	if r.Action != Appraise {
		for _, f := range []Flag{DigsigRequired, ModsigAllowed, CheckBlacklist, FlagValidateAlgos} {
			if r.Flags&f != 0 {
				return errAt(p.cols[f], "%s is only valid with appraise", p.optName(f))
			}
		}
	}
	common := FlagFunc | FlagMask | FlagFSMagic | FlagUID | FlagFOwner | FlagFSUUID |
		FlagInMask | FlagEUID | FlagPCR | FlagFSName | FlagFSSubtype | FlagGID | FlagEGID |
		FlagFGroup | DigsigRequired | PermitDirectio | FlagValidateAlgos | Sigv3Required
	var allowed Flag
	switch r.Func {
	case FuncNone, FileCheck, MmapCheck, MmapCheckReqprot, BprmCheck, CredsCheck, PostSetattr, FirmwareCheck, PolicyCheck:
		allowed = common | VerityRequired
		if k.has(sinceBlacklistAlways) {
			allowed |= CheckBlacklist
		}
	case ModuleCheck, KexecKernelCheck, KexecInitramfsCheck:
		allowed = common | ModsigAllowed | CheckBlacklist
	case KexecCmdline:
		if r.Action&^(Measure|DontMeasure) != 0 {
			return errAt(p.acol, "func=KEXEC_CMDLINE allows only measure and dont_measure")
		}
		allowed = FlagFunc | FlagFSMagic | FlagUID | FlagFOwner | FlagFSUUID | FlagEUID |
			FlagPCR | FlagFSName | FlagFSSubtype | FlagGID | FlagEGID | FlagFGroup
	case KeyCheck, CriticalData:
		if r.Action&^(Measure|DontMeasure) != 0 {
			return errAt(p.acol, "func=%s allows only measure and dont_measure", r.Func)
		}
		allowed = FlagFunc | FlagUID | FlagGID | FlagPCR | FlagKeyrings
		if r.Func == CriticalData {
			allowed = FlagFunc | FlagUID | FlagGID | FlagPCR | FlagLabel
		}
		for i, v := range r.LSM {
			if v != "" {
				return errAt(p.lcols[i], "%s= is not allowed with func=%s", lsmKeys[i], r.Func)
			}
		}
	case SetxattrCheck:
		if r.Action != Appraise {
			return errAt(p.acol, "func=SETXATTR_CHECK allows only appraise")
		}
		if r.Flags&FlagValidateAlgos == 0 {
			return errAt(p.cols[FlagFunc], "func=SETXATTR_CHECK needs appraise_algos=")
		}
		allowed = FlagFunc | FlagValidateAlgos
	}
	if bad := r.Flags &^ allowed; bad != 0 {
		f := lowestFlag(bad)
		what := "a rule without func="
		if r.Func != FuncNone {
			what = "func=" + r.Func.String()
		}
		return errAt(p.cols[f], "%s is not allowed with %s", p.optName(f), what)
	}
	if k.has(sinceBlacklistAlways) {
		if r.Flags&CheckBlacklist != 0 && r.Flags&DigsigRequired == 0 {
			return errAt(p.cols[CheckBlacklist], "the blacklist check needs appraise_type=")
		}
	} else if r.Flags&CheckBlacklist != 0 && r.Flags&ModsigAllowed == 0 {
		return errAt(p.cols[CheckBlacklist], "appraise_flag=check_blacklist needs appraise_type=imasig|modsig before Linux 6.3")
	}
	if r.Action == Appraise && r.Flags&VerityRequired != 0 && r.Flags&DigsigRequired == 0 {
		return errAt(p.cols[VerityRequired], "appraise with digest_type=verity needs appraise_type=sigv3")
	}
	return nil
}

func lowestFlag(f Flag) Flag { return f & -f }

// optName names the policy word that sets flag f.
func (p *parser) optName(f Flag) string {
	switch f {
	case DigsigRequired, ModsigAllowed, Sigv3Required:
		return "appraise_type="
	case CheckBlacklist:
		if p.k.has(sinceBlacklistAlways) {
			return "appraise_type="
		}
		return "appraise_flag="
	case VerityRequired:
		return "digest_type="
	case PermitDirectio:
		return "permit_directio"
	case FlagInMask:
		return "mask=^"
	}
	for _, fn := range flagNames {
		if fn.f == f {
			return fn.n + "="
		}
	}
	return f.String()
}

// kstrtoul follows lib/kstrtox.c for an unsigned long (64-bit): an
// optional '+', for base 16 an optional 0x, at least one digit, an
// optional trailing newline; overflow fails.
func kstrtoul(s string, base uint64) (uint64, bool) {
	s = strings.TrimPrefix(s, "+")
	if base == 16 && len(s) >= 2 && s[0] == '0' && (s[1]|0x20) == 'x' {
		s = s[2:]
	}
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case (c|0x20) >= 'a' && (c|0x20) <= 'f':
			d = uint64((c|0x20)-'a') + 10
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		if v > (^uint64(0)-d)/base {
			return 0, false
		}
		v = v*base + d
	}
	return v, true
}

// kstrtoint follows lib/kstrtox.c:kstrtoint in base 10.
func kstrtoint(s string) (int64, bool) {
	if neg, ok := strings.CutPrefix(s, "-"); ok {
		v, ok := kstrtoul(neg, 10)
		if !ok || v > 1<<31 {
			return 0, false
		}
		return -int64(v), true
	}
	v, ok := kstrtoul(s, 10)
	if !ok || v > 1<<31-1 {
		return 0, false
	}
	return int64(v), true
}

// parseUUID follows lib/uuid.c:uuid_parse: 36 characters with '-' at 8,
// 13, 18, 23 and hex digits elsewhere; characters after them are not
// looked at.
func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	if len(s) < 36 {
		return u, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return u, false
			}
			i++
			continue
		}
		hi, ok1 := hexVal(s[i])
		lo, ok2 := hexVal(s[i+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[j] = hi<<4 | lo
		j++
		i += 2
	}
	return u, true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case (c|0x20) >= 'a' && (c|0x20) <= 'f':
		return (c | 0x20) - 'a' + 10, true
	}
	return 0, false
}

// FormatUUID prints a UUID as the kernel's %pU does.
func FormatUUID(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// ParseUUID parses a filesystem UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).
func ParseUUID(s string) ([16]byte, error) {
	u, ok := parseUUID(s)
	if !ok || len(s) != 36 {
		return u, fmt.Errorf("bad UUID %q", s)
	}
	return u, nil
}

// optList follows ima_alloc_rule_opt_list: '|'-separated, no empty items.
func optList(t token, val string) ([]string, *lineErr) {
	items := strings.Split(val, "|")
	for _, it := range items {
		if it == "" {
			return nil, errAt(t.col, "%q: empty item in a |-separated list", t.s)
		}
	}
	return items, nil
}

// hashAlgos are the kernel's hash_algo_name in enum hash_algo order
// (Linux v7.2: include/uapi/linux/hash_info.h, crypto/hash_info.c).
var hashAlgos = []string{
	"md4", "md5", "sha1", "rmd160", "sha256", "sha384", "sha512", "sha224",
	"rmd128", "rmd256", "rmd320", "wp256", "wp384", "wp512", "tgr128", "tgr160",
	"tgr192", "sm3", "streebog256", "streebog512", "sha3-256", "sha3-384", "sha3-512",
}

// parseAlgos follows ima_parse_appraise_algos; the result is the kernel's
// bitmask as names in enum order. Whether the crypto API has each
// algorithm depends on the kernel config and is not checked.
func parseAlgos(t token, val string) ([]string, *lineErr) {
	var bits uint32
	for _, a := range strings.Split(val, ",") {
		idx := -1
		for i, n := range hashAlgos {
			if n == a {
				idx = i
			}
		}
		if idx < 0 {
			return nil, errAt(t.col, "appraise_algos: unknown hash algorithm %q", a)
		}
		bits |= 1 << idx
	}
	var out []string
	for i, n := range hashAlgos {
		if bits&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out, nil
}

// templates are the built-in template descriptors (Linux v7.2:
// ima_template.c builtin_templates; the same set in 6.1 and 6.12).
// template= matches a name or a format.
var templates = map[string]string{
	"ima":        "d|n",
	"ima-ng":     "d-ng|n-ng",
	"ima-sig":    "d-ng|n-ng|sig",
	"ima-ngv2":   "d-ngv2|n-ng",
	"ima-sigv2":  "d-ngv2|n-ng|sig",
	"ima-buf":    "d-ng|n-ng|buf",
	"ima-modsig": "d-ng|n-ng|sig|d-modsig|modsig",
	"evm-sig":    "d-ng|n-ng|evmsig|xattrnames|xattrlengths|xattrvalues|iuid|igid|imode",
}

// lookupTemplate follows ima_template.c:lookup_template_desc and returns
// the template's name.
func lookupTemplate(s string) (string, bool) {
	if _, ok := templates[s]; ok {
		return s, true
	}
	for _, n := range sortedKeys(templates) {
		if templates[n] == s {
			return n, true
		}
	}
	return "", false
}

func templateNames() []string { return sortedKeys(templates) }

// TemplateFormat returns a built-in template's field format.
func TemplateFormat(name string) (string, bool) {
	f, ok := templates[name]
	return f, ok
}
