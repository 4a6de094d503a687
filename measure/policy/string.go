package policy

import (
	"fmt"
	"strings"
)

// String writes the rule in policy syntax, in the order ima_policy_show
// uses (Linux v7.2: ima_policy.c:ima_policy_show), except that the
// signature options are ordered so that the kernel the rule was parsed for
// reads the text back to the same rule (digest_type= before
// appraise_type=sigv3; appraise_flag=check_blacklist before 6.3).
func (r *Rule) String() string {
	var b []string
	b = append(b, r.Action.String())
	f := r.Flags
	if f&FlagFunc != 0 {
		b = append(b, "func="+r.Func.String())
	}
	if f&(FlagMask|FlagInMask) != 0 {
		pre := ""
		if f&FlagInMask != 0 {
			pre = "^"
		}
		for _, mn := range maskNames {
			if r.Mask&mn.m != 0 {
				b = append(b, "mask="+pre+mn.n)
			}
		}
	}
	if f&FlagFSMagic != 0 {
		b = append(b, fmt.Sprintf("fsmagic=0x%x", r.FSMagic))
	}
	if f&FlagFSName != 0 {
		b = append(b, "fsname="+r.FSName)
	}
	if f&FlagFSSubtype != 0 {
		b = append(b, "fs_subtype="+r.FSSubtype)
	}
	if f&FlagKeyrings != 0 {
		b = append(b, "keyrings="+strings.Join(r.Keyrings, "|"))
	}
	if f&FlagLabel != 0 {
		b = append(b, "label="+strings.Join(r.Labels, "|"))
	}
	if f&FlagPCR != 0 {
		b = append(b, fmt.Sprintf("pcr=%d", r.PCR))
	}
	if f&FlagFSUUID != 0 {
		b = append(b, "fsuuid="+FormatUUID(r.FSUUID))
	}
	id := func(key string, op Op, v uint32) { b = append(b, fmt.Sprintf("%s%s%d", key, op, v)) }
	if f&FlagUID != 0 {
		id("uid", r.UIDOp, r.UID)
	}
	if f&FlagEUID != 0 {
		id("euid", r.UIDOp, r.UID)
	}
	if f&FlagGID != 0 {
		id("gid", r.GIDOp, r.GID)
	}
	if f&FlagEGID != 0 {
		id("egid", r.GIDOp, r.GID)
	}
	if f&FlagFOwner != 0 {
		id("fowner", r.FOwnerOp, r.FOwner)
	}
	if f&FlagFGroup != 0 {
		id("fgroup", r.FGroupOp, r.FGroup)
	}
	if f&FlagValidateAlgos != 0 {
		b = append(b, "appraise_algos="+strings.Join(r.AllowedAlgos, ","))
	}
	for i, v := range r.LSM {
		if v != "" {
			b = append(b, lsmKeys[i]+"="+v)
		}
	}
	if r.Template != "" {
		b = append(b, "template="+r.Template)
	}
	b = append(b, r.sigOptions()...)
	if f&PermitDirectio != 0 {
		b = append(b, "permit_directio")
	}
	return strings.Join(b, " ")
}

// sigOptions writes digest_type= and appraise_type= (and before 6.3
// appraise_flag=) so that the rule's kernel reads back the same flags.
func (r *Rule) sigOptions() []string {
	f, era := r.Flags, r.era
	if era == (Version{}) {
		era = Newest
	}
	k := Kernel{Version: era}
	verity := f&VerityRequired != 0
	var out []string
	switch {
	case f&DigsigRequired == 0:
		if verity {
			out = append(out, "digest_type=verity")
		}
	case f&Sigv3Required != 0 || (verity && !k.has(sinceSigv3Files)):
		// Before 7.0 sigv3 means verity, and digest_type= must come first.
		if verity {
			out = append(out, "digest_type=verity")
		}
		out = append(out, "appraise_type=sigv3")
	case f&ModsigAllowed != 0:
		out = append(out, "appraise_type=imasig|modsig")
	default:
		out = append(out, "appraise_type=imasig")
		if verity { // 7.0+: imasig, then digest_type=verity
			out = append(out, "digest_type=verity")
		}
	}
	if f&CheckBlacklist != 0 && !k.has(sinceBlacklistAlways) {
		out = append(out, "appraise_flag=check_blacklist")
	}
	return out
}

// String writes the policy, one rule a line.
func (p *Policy) String() string {
	var b strings.Builder
	for i := range p.Rules {
		b.WriteString(p.Rules[i].String())
		b.WriteByte('\n')
	}
	return b.String()
}
