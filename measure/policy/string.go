package policy

import (
	"fmt"
	"strings"
)

// String writes the rule in policy syntax, in the order ima_policy_show
// uses (Linux v7.2: ima_policy.c:ima_policy_show), except that
// digest_type= comes before appraise_type= so that kernels before 7.0
// accept the text too. It does not write appraise_flag= (ignored since
// 6.3), so an older kernel's check_blacklist flag does not round-trip.
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
	if f&VerityRequired != 0 {
		b = append(b, "digest_type=verity")
	}
	if f&DigsigRequired != 0 {
		switch {
		case f&Sigv3Required != 0 || f&VerityRequired != 0:
			b = append(b, "appraise_type=sigv3")
		case f&ModsigAllowed != 0:
			b = append(b, "appraise_type=imasig|modsig")
		default:
			b = append(b, "appraise_type=imasig")
		}
	}
	if f&PermitDirectio != 0 {
		b = append(b, "permit_directio")
	}
	return strings.Join(b, " ")
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
