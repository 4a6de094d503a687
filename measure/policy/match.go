package policy

// DefaultPCR is CONFIG_IMA_MEASURE_PCR_IDX, the PCR without pcr=.
const DefaultPCR = 10

// Match applies the rules as ima_match_policy does for a hook that asks
// for every action: per action pair the first matching rule decides, pairs
// accumulate, the last matching pcr= and template= win.
func (p *Policy) Match(a Attrs) Decision {
	return p.MatchActions(a, DoMask)
}

// MatchActions is Match for a hook that asks only for the positive
// actions in want (ima_match_policy's flags argument).
//
// Linux v7.2: security/integrity/ima/ima_policy.c:ima_match_policy.
func (p *Policy) MatchActions(a Attrs, want Action) Decision {
	d := Decision{PCR: DefaultPCR}
	actmask := want | want<<1
	for i := range p.Rules {
		r := &p.Rules[i]
		if r.Action&actmask == 0 {
			continue
		}
		if !r.Matches(a) {
			continue
		}
		d.Rules = append(d.Rules, i)
		d.Flags |= r.Flags & NonActionFlags
		d.Actions |= r.Action & DoMask
		if r.Action&Appraise != 0 {
			d.Subaction |= subaction(r, a.Func)
			d.Actions &^= Hash
			if p.FailSecurely {
				d.Flags |= FailUnverifiableSigs
			}
			if r.Flags&FlagValidateAlgos != 0 {
				d.AllowedAlgos = r.AllowedAlgos
			}
		}
		if r.Action&DoMask != 0 {
			actmask &^= r.Action | r.Action<<1
		} else {
			actmask &^= r.Action | r.Action>>1
		}
		if r.Flags&FlagPCR != 0 {
			d.PCR = r.PCR
		}
		if r.Template != "" {
			d.Template = r.Template
		}
		if actmask == 0 {
			break
		}
	}
	return d
}

// subaction follows ima_policy.c:get_subaction.
func subaction(r *Rule, f Func) Subaction {
	if r.Flags&FlagFunc == 0 {
		return FileAppraise
	}
	switch f {
	case MmapCheck, MmapCheckReqprot:
		return MmapAppraise
	case BprmCheck:
		return BprmAppraise
	case CredsCheck:
		return CredsAppraise
	case FileCheck, PostSetattr:
		return FileAppraise
	}
	return ReadAppraise
}

// Matches reports whether the rule's conditions hold for a, as
// ima_match_rules does. POST_SETATTR ignores func= and mask=; KEY_CHECK
// and CRITICAL_DATA look only at func=, uid= and the keyring or label
// (ima_match_rule_data; gid= is accepted but not checked there). euid=
// also tries the saved and real uid when the task has CAP_SETUID (egid=
// likewise with CAP_SETGID).
//
// Linux v7.2: security/integrity/ima/ima_policy.c:ima_match_rules.
func (r *Rule) Matches(a Attrs) bool {
	fl := r.Flags
	if fl&FlagFunc != 0 && r.Func != a.Func && a.Func != PostSetattr {
		return false
	}
	switch a.Func {
	case KeyCheck, CriticalData:
		return r.Func == a.Func && r.matchData(a)
	}
	if fl&FlagMask != 0 && r.Mask != a.Mask && a.Func != PostSetattr {
		return false
	}
	if fl&FlagInMask != 0 && r.Mask&a.Mask == 0 && a.Func != PostSetattr {
		return false
	}
	if fl&FlagFSMagic != 0 && r.FSMagic != a.FSMagic {
		return false
	}
	if fl&FlagFSName != 0 && r.FSName != a.FSName {
		return false
	}
	if fl&FlagFSSubtype != 0 && (a.FSSubtype == "" || r.FSSubtype != a.FSSubtype) {
		return false
	}
	if fl&FlagFSUUID != 0 && r.FSUUID != a.FSUUID {
		return false
	}
	if fl&FlagUID != 0 && !r.UIDOp.apply(a.UID, r.UID) {
		return false
	}
	if fl&FlagEUID != 0 {
		if a.CapSetUID {
			if !r.UIDOp.apply(a.EUID, r.UID) && !r.UIDOp.apply(a.SUID, r.UID) && !r.UIDOp.apply(a.UID, r.UID) {
				return false
			}
		} else if !r.UIDOp.apply(a.EUID, r.UID) {
			return false
		}
	}
	if fl&FlagGID != 0 && !r.GIDOp.apply(a.GID, r.GID) {
		return false
	}
	if fl&FlagEGID != 0 {
		if a.CapSetGID {
			if !r.GIDOp.apply(a.EGID, r.GID) && !r.GIDOp.apply(a.SGID, r.GID) && !r.GIDOp.apply(a.GID, r.GID) {
				return false
			}
		} else if !r.GIDOp.apply(a.EGID, r.GID) {
			return false
		}
	}
	if fl&FlagFOwner != 0 && !r.FOwnerOp.apply(a.FOwner, r.FOwner) {
		return false
	}
	if fl&FlagFGroup != 0 && !r.FGroupOp.apply(a.FGrp, r.FGroup) {
		return false
	}
	have := [numLSM]string{a.ObjUser, a.ObjRole, a.ObjType, a.SubjUser, a.SubjRole, a.SubjType}
	for i, want := range r.LSM {
		if want != "" && have[i] != want {
			return false
		}
	}
	return true
}

// matchData follows ima_policy.c:ima_match_rule_data.
func (r *Rule) matchData(a Attrs) bool {
	if r.Flags&FlagUID != 0 && !r.UIDOp.apply(a.UID, r.UID) {
		return false
	}
	var list []string
	switch r.Func {
	case KeyCheck:
		if r.Flags&FlagKeyrings == 0 {
			return true
		}
		list = r.Keyrings
	case CriticalData:
		if r.Flags&FlagLabel == 0 {
			return true
		}
		list = r.Labels
	default:
		return false
	}
	if a.FuncData == "" {
		return false
	}
	for _, it := range list {
		if it == a.FuncData {
			return true
		}
	}
	return false
}
