package cache

import (
	"fmt"
	"strings"

	"github.com/imasim/imasim/cache/vfs"
)

// iint flags (Linux v6.12: security/integrity/ima/ima.h).
const (
	FlagMeasure   = 0x00000001
	FlagMeasured  = 0x00000002
	FlagAppraise  = 0x00000004
	FlagAppraised = 0x00000008
	FlagCollected = 0x00000020
	FlagAudit     = 0x00000040
	FlagAudited   = 0x00000080
	FlagHash      = 0x00000100
	FlagHashed    = 0x00000200
	FlagNewFile   = 0x04000000

	// DoMask is IMA_DO_MASK; DoneMask is IMA_DONE_MASK.
	DoMask   = FlagMeasure | FlagAppraise | FlagAudit | FlagHash
	DoneMask = FlagMeasured | FlagAppraised | FlagAudited | FlagHashed | FlagCollected
)

// flagNames names the iint flags FlagString renders, in its order.
var flagNames = [...]struct {
	bit  uint64
	name string
}{{FlagMeasure, "MEASURE"}, {FlagMeasured, "MEASURED"}, {FlagAppraise, "APPRAISE"},
	{FlagAppraised, "APPRAISED"}, {FlagCollected, "COLLECTED"}, {FlagAudit, "AUDIT"},
	{FlagAudited, "AUDITED"}, {FlagHash, "HASH"}, {FlagHashed, "HASHED"}, {FlagNewFile, "NEW_FILE"}}

// FlagString renders iint flags as IMA_ names ("0" for none), in one
// allocation: causes name flags at nearly every hook call.
func FlagString(f uint64) string {
	var buf [96]byte
	b := buf[:0]
	for _, n := range flagNames {
		if f&n.bit != 0 {
			if len(b) > 0 {
				b = append(b, '|')
			}
			b = append(b, n.name...)
		}
	}
	if len(b) == 0 {
		return "0"
	}
	return string(b)
}

// Inode is what the decisions need of a struct inode.
type Inode interface {
	ID() string
	IsIVersion() bool
	QueryIVersion() uint64 // inode_query_iversion: sets QUERIED
	PeekIVersion() uint64  // inode_peek_iversion
	EqIVersion(uint64) bool
	Queried() bool
	// IVersionStale: the counter may hold a recycled inode's value
	// (never initialised by the filesystem, not bumped since).
	IVersionStale() bool
	DevIno() (dev, ino uint64)
	WriteCount() int // i_writecount
	ReadCount() int  // i_readcount
}

// Stat is what vfs_getattr_nosec reports that IMA looks at.
type Stat struct {
	HasCookie bool // STATX_CHANGE_COOKIE in result_mask
	Cookie    uint64
	Ctime     int64 // ns
}

// File is what the decisions need of a struct file.
type File interface {
	Inode() Inode     // file_inode(file); the overlay inode on overlayfs
	RealInode() Inode // d_real_inode(file_dentry(file))
	// Getattr is vfs_getattr_nosec(&file->f_path, ...) asking for the
	// change cookie and, when ctime is true, STATX_CTIME.
	Getattr(ctime bool) Stat
	Writable() bool     // FMODE_WRITE
	Unverifiable() bool // SB_I_IMA_UNVERIFIABLE_SIGNATURE on file_inode's sb
	// IMAXattrVerifies is xattr_verify in ima_appraise_measurement:
	// security.ima (read through overlay from the real inode) holds a
	// digest equal to the collected one (iint->ima_hash). Signatures never
	// verify (the model has no keys).
	IMAXattrVerifies(collected []byte) bool
	FSName() string // for explanations ("xfs-mg")
}

// IInt is analogous to struct ima_iint_cache (integrity_iint_cache before 6.9).
type IInt struct {
	Flags        uint64
	Version      uint64 // integrity_inode_attributes.version
	Ctime        int64  // integrity_inode_attributes.ctime (ns), only in the seed's v2
	Dev, Ino     uint64 // of the real inode at collect time
	MeasuredPCRs uint32
	MustMeasure  bool // IMA_MUST_MEASURE (6.1) / IMA_MAY_EMIT_TOMTOU (6.12+)
	ChangeAttr   bool // atomic IMA_CHANGE_ATTR (ima_inode_post_setattr)
	ChangeXattr  bool // atomic IMA_CHANGE_XATTR (ima_reset_appraise_flags)
	// AppraiseFailed: the last appraisal did not pass, so IMA_APPRAISED
	// was not cached.
	AppraiseFailed bool
	EmittedOW      bool // IMA_EMITTED_OPENWRITERS (6.12+)
	Digest         []byte

	resetCause string // why DONE flags were last cleared
	keepCause  string // why the last writer kept them
	collected  string // how collect got Version
	// EVM's metadata_inode attributes, cached when appraisal computed the
	// HMAC (Linux v6.12: evm_crypto.c:evm_calc_hmac_or_hash).
	evmSet         bool
	evmVersion     uint64
	evmDev, evmIno uint64
	versionOf      string // inode whose counter Version was read from ("" for a constant)
}

// IMA is the model of one kernel's IMA state: the iint cache under a profile.
type IMA struct {
	P *Profile
	// iints by inode ID, sorted: a search clones the cache at every
	// step and holds one or two of them.
	iints []idIInt
	// Quiet skips building cause strings (for search, where only verdicts
	// matter; found cases are re-run with causes).
	Quiet bool
	// saved holds iints as Save recorded them, when savedOK.
	saved   []idIInt
	savedOK bool
}

// say returns an explanation, built only when causes are wanted: the
// closure keeps quiet runs from formatting, or even boxing, its values.
func (m *IMA) say(text func() string) string {
	if m.Quiet {
		return ""
	}
	return text()
}

type idIInt struct {
	id string
	IInt
}

// find returns the iint cached for inode id, nil when there is none.
// The pointer is valid until the next add or Forget.
func (m *IMA) find(id string) *IInt {
	for k := range m.iints {
		if m.iints[k].id == id {
			return &m.iints[k].IInt
		}
	}
	return nil
}

// add caches a new, empty iint for inode id.
func (m *IMA) add(id string) *IInt {
	k := 0
	for k < len(m.iints) && m.iints[k].id < id {
		k++
	}
	m.iints = append(m.iints, idIInt{})
	copy(m.iints[k+1:], m.iints[k:])
	m.iints[k] = idIInt{id: id}
	return &m.iints[k].IInt
}

// Clone deep-copies the cache.
func (m *IMA) Clone() *IMA { return m.CloneInto(nil) }

// CloneInto is Clone reusing dst's memory (nil: fresh memory).
func (m *IMA) CloneInto(dst *IMA) *IMA {
	if dst == nil {
		dst = &IMA{}
	}
	dst.P, dst.Quiet = m.P, m.Quiet
	dst.savedOK = false
	dst.iints = append(dst.iints[:0], m.iints...)
	return dst
}

// Save records the cache for Restore: a search that tries several
// operations on one state restores it before each instead of cloning it.
func (m *IMA) Save() {
	m.saved, m.savedOK = append(m.saved[:0], m.iints...), true
}

// Restore brings back the cache as the last Save recorded it.
func (m *IMA) Restore() {
	if !m.savedOK {
		panic("cache: Restore without Save")
	}
	m.iints = append(m.iints[:0], m.saved...)
}

// Dump writes out every iint with all its fields, for tests that compare
// two caches (a clone and one restored to the same state).
func (m *IMA) Dump() string { return fmt.Sprintf("%+v", m.iints) }

// Hash folds the cache state into h (for state deduplication).
func (m *IMA) Hash(h *vfs.Hasher) {
	for k := range m.iints { // sorted by ID
		it := &m.iints[k].IInt
		h.S(m.iints[k].id)
		h.U(it.Flags)
		h.U(it.Version)
		h.U(it.Dev)
		h.U(it.Ino)
		h.U(uint64(it.MeasuredPCRs))
		h.Bytes(it.Digest)
		// The flags in one word.
		h.U(bit(it.Digest != nil) | bit(it.MustMeasure)<<1 | bit(it.EmittedOW)<<2 | bit(it.ChangeAttr)<<3 |
			bit(it.ChangeXattr)<<4 | bit(it.AppraiseFailed)<<5 | bit(it.evmSet)<<6)
		h.S(it.versionOf)
		h.U(it.evmVersion)
		h.U(it.evmDev)
		h.U(it.evmIno)
	}
}

func bit(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// New returns an empty cache for profile p.
func New(p *Profile) *IMA { return &IMA{P: p} }

// Find is ima_iint_find. The pointer is valid until the cache next
// gains or loses an iint.
func (m *IMA) Find(i Inode) *IInt { return m.find(i.ID()) }

// IInts lists cached inode IDs, sorted.
func (m *IMA) IInts() []string {
	var ids []string
	for _, it := range m.iints {
		ids = append(ids, it.id)
	}
	return ids
}

// InodeFree drops an inode's iint (inode eviction, Linux: ima_inode_free).
func (m *IMA) InodeFree(i Inode) {
	id := i.ID()
	for k := range m.iints {
		if m.iints[k].id == id {
			m.iints = append(m.iints[:k], m.iints[k+1:]...)
			return
		}
	}
}

// Outcome is what one process_measurement call did and why.
type Outcome struct {
	Evaluated bool // collect ran: the file was (re)hashed
	Appraised bool // appraisal ran (possibly from the cached hash)
	// Retried: appraised again from the cached hash after an appraisal
	// that failed and so was not cached (it is redone at every access by
	// design, whatever else reset the flags).
	Retried bool
	Measure bool // ima_store_measurement ran for a new PCR
	Audit   bool // ima_audit_measurement emitted a record
	First   bool // no earlier evaluation of this iint
	// Indeterminate names kernel state the scenario cannot know that
	// decided this call, and what each value would give; the model went on
	// with the value it assumes.
	Indeterminate string
	Cause         string
	Digest        []byte // the digest IMA holds after the call
	Violation     []string
}

// Hook describes the call: the policy's positive actions (Flag* bits of
// IMA_DO_MASK) and the PCR.
type Hook struct {
	Actions uint64
	PCR     int
	// ViolationCheck: FILE_CHECK or MMAP_CHECK with a measure rule loaded.
	ViolationCheck bool
	// MustMeasure: this policy decision includes measure.
	MustMeasure bool
}

// ProcessMeasurement models process_measurement
// (Linux v6.12: security/integrity/ima/ima_main.c:process_measurement).
// hash is called only when IMA would (re)hash the file.
func (m *IMA) ProcessMeasurement(f File, h Hook, hash func() []byte) Outcome {
	var out Outcome
	inode := f.Inode()
	iint := m.find(inode.ID())
	if h.Actions == 0 && !(h.ViolationCheck && iint != nil) {
		out.Cause = "no policy action"
		return out
	}
	if iint == nil && h.Actions != 0 {
		iint = m.add(inode.ID())
		out.First = true
	}
	// Linux v6.12: the check also needs a measure action or a write open.
	if h.ViolationCheck && (m.P.Violations == ViolationsEvery || h.MustMeasure || f.Writable()) {
		out.Violation = m.violations(f, iint, h)
	}
	if h.Actions == 0 {
		out.Cause = "no policy action"
		return out
	}
	var why []string
	// Linux v6.1.176, v6.12.107, v7.2.13: ima_main.c:process_measurement,
	// test_and_clear_bit(IMA_CHANGE_ATTR): a setattr since the last call
	// drops the appraisal flags (and the non-action rule flags; 6.1 also
	// NEW_FILE, which the model never sets), never MEASURED or AUDITED.
	if iint.ChangeAttr {
		iint.ChangeAttr = false
		if iint.Flags&(FlagAppraise|FlagAppraised) != 0 {
			iint.Flags &^= FlagAppraise | FlagAppraised
			if !m.Quiet {
				iint.resetCause = "IMA_CHANGE_ATTR (setattr since the last appraisal) -> appraisal flags cleared"
			}
		}
	}
	// Same function, test_and_clear_bit(IMA_CHANGE_XATTR): security.ima
	// (or, with an EVM key, an EVM-protected xattr) was set or removed:
	// everything is redone.
	if iint.ChangeXattr {
		iint.ChangeXattr = false
		if iint.Flags&DoneMask != 0 {
			iint.Flags &^= DoneMask
			iint.MeasuredPCRs = 0
			if !m.Quiet {
				iint.resetCause = "IMA_CHANGE_XATTR (security.ima set or removed) -> IMA_DONE_MASK cleared"
			}
		}
	}
	// Linux v6.5: ima_main.c:process_measurement re-evaluates on
	// SB_I_IMA_UNVERIFIABLE_SIGNATURE mounts.
	if m.P.OverlayUnverifiable && f.Unverifiable() && iint.Flags&DoneMask != 0 {
		iint.Flags &^= DoneMask
		iint.MeasuredPCRs = 0
		iint.resetCause = "SB_I_IMA_UNVERIFIABLE_SIGNATURE on overlayfs: re-evaluate every access"
	}
	real := f.RealInode()
	if m.P.Stacked != StackedNone && real.ID() != inode.ID() && h.Actions&DoMask != 0 && iint.Flags&DoneMask != 0 {
		changed, how := m.stackedChanged(f, iint, real)
		// The verdict must not depend on Quiet (explore searches quietly).
		if real.IVersionStale() && iint.versionOf != real.ID() && m.P.Stacked == StackedIVersion &&
			real.IsIVersion() && valueDecides(real, iint) {
			out.Indeterminate = "stale i_version"
			if !m.Quiet {
				// Linux v6.1.176: tmpfs never sets i_version; only the slab
				// constructor (fs/inode.c:inode_init_once) zeroes it, and
				// evicting a tmpfs file bumps it (mm/shmem.c:
				// shmem_evict_inode -> shmem_truncate_range).
				out.Indeterminate = fmt.Sprintf("real %s never had i_version initialised and no tmpfs file was freed earlier in the scenario, so its value is boot history (recycled inode memory): a never-used slab object (0, as assumed; a freshly booted kernel) gives %s, the object of a tmpfs file evicted earlier (i_version >= 1) re-evaluates", real.ID(), map[bool]string{true: "re-evaluation", false: "no re-evaluation"}[changed])
			}
		}
		if changed {
			iint.Flags &^= DoneMask
			iint.MeasuredPCRs = 0
			if !m.Quiet {
				iint.resetCause = "stacked check: " + how + " -> IMA_DONE_MASK cleared"
			}
		} else if !m.Quiet {
			why = append(why, "stacked check: "+how)
		}
		// Linux v6.12: ima_main.c:process_measurement -> evm_metadata_changed
		// (evm_main.c): the metadata inode (d_real(D_REAL_METADATA); the
		// real inode without metacopy) compared by i_version directly.
		if m.P.EVMMetadata && iint.evmSet && iint.Flags&FlagAppraised != 0 {
			if ch, why2 := m.evmChanged(iint, real); ch {
				iint.Flags &^= FlagAppraised
				if !m.Quiet && iint.resetCause == "" {
					iint.resetCause = "EVM: " + why2 + " -> IMA_APPRAISED cleared (re-appraise from the cached hash)"
				}
			}
		}
	}
	// Linux v6.12: ima_main.c:process_measurement: "iint->flags |= action;
	// action &= ~((iint->flags & (IMA_DONE_MASK ^ IMA_MEASURED)) >> 1)".
	iint.Flags |= h.Actions
	action := h.Actions & DoMask
	action &^= (iint.Flags & (DoneMask ^ FlagMeasured)) >> 1
	if action&FlagMeasure != 0 && iint.MeasuredPCRs&(1<<uint(h.PCR)) != 0 {
		action &^= FlagMeasure
	}
	if action == 0 && m.Quiet {
		out.Digest = iint.Digest
		return out
	}
	if action == 0 {
		// Each cause in one concatenation.
		const notStacked = ", nothing to do; not stacked: only the last writer can clear the flags"
		cached := FlagString(iint.Flags & DoneMask)
		var c string
		switch {
		case len(why) > 0:
			c = "cached " + cached + ", nothing to do; " + strings.Join(why, "; ")
		case real.ID() == inode.ID() && iint.keepCause != "":
			c = "cached " + cached + notStacked + "; " + iint.keepCause
		case real.ID() == inode.ID():
			c = "cached " + cached + notStacked
		default:
			c = "cached " + cached + ", nothing to do"
		}
		out.Cause = c
		out.Digest = iint.Digest
		return out
	}
	// ima_collect_measurement (Linux v6.12: ima_api.c).
	if iint.Flags&FlagCollected == 0 {
		iint.Version, iint.collected, iint.versionOf = m.collectVersion(f, real)
		if m.P.Collect == CollectCookieElseCtime {
			// fix v2: ima_collect_measurement stores stat.ctime beside the
			// version (real_inode.ctime) whenever getattr reports it.
			iint.Ctime = f.Getattr(true).Ctime
		}
		iint.Dev, iint.Ino = real.DevIno()
		iint.Digest = hash()
		if iint.Digest == nil {
			// An empty file's content (the quiet engine's truth) is nil;
			// a collected digest is never "none".
			iint.Digest = []byte{}
		}
		iint.Flags |= FlagCollected
		out.Evaluated = true
	}
	if action&FlagMeasure != 0 {
		iint.Flags |= FlagMeasured
		iint.MeasuredPCRs |= 1 << uint(h.PCR)
		out.Measure = true
	}
	if action&FlagAppraise != 0 {
		out.Appraised = true
		// Not from resetCause: verdicts must not depend on Quiet.
		out.Retried = iint.AppraiseFailed && !out.Evaluated
		iint.AppraiseFailed = !f.IMAXattrVerifies(iint.Digest)
	}
	// Linux v6.12: ima_appraise.c:ima_appraise_measurement caches
	// IMA_APPRAISED (ima_cache_flags) only when the status is PASS: a file
	// without security.ima ("missing-hash") or with a wrong one
	// ("invalid-hash") fails (log mode lets it run) and is appraised
	// again at every access.
	if action&FlagAppraise != 0 && !iint.AppraiseFailed {
		// EVM caches the metadata inode's attributes as it verifies
		// security.evm.
		iint.Flags |= FlagAppraised
		iint.evmSet = true
		if real.IsIVersion() {
			iint.evmVersion = real.QueryIVersion()
		} else {
			iint.evmVersion = 0
		}
		iint.evmDev, iint.evmIno = real.DevIno()
	}
	if action&FlagAudit != 0 && iint.Flags&FlagAudited == 0 {
		iint.Flags |= FlagAudited
		out.Audit = true
	}
	switch {
	case m.Quiet:
	case out.First:
		out.Cause = "first evaluation; " + iint.collected
	case out.Retried && iint.resetCause == "":
		out.Cause = "re-appraised: the last appraisal failed (no or a non-matching security.ima), and ima_appraise_measurement caches IMA_APPRAISED only on PASS"
	case iint.resetCause != "" && !out.Evaluated:
		out.Cause = iint.resetCause + "; IMA_COLLECTED kept: no re-hash"
		if out.Retried {
			out.Cause += " (the last appraisal had failed: it is redone anyway)"
		}
	case iint.resetCause != "":
		out.Cause = iint.resetCause + "; re-hash; " + iint.collected
	default:
		out.Cause = "actions not yet done (" + FlagString(action) + "); " + iint.collected
	}
	iint.resetCause = ""
	iint.keepCause = ""
	out.Digest = iint.Digest
	return out
}

// collectVersion is the version part of ima_collect_measurement per profile.
func (m *IMA) collectVersion(f File, real Inode) (uint64, string, string) {
	switch m.P.Collect {
	case CollectQueryFileInode:
		// Linux v6.1.64 (stable backport): ima_api.c:ima_collect_measurement
		// caches inode_query_iversion(file_inode(file)).
		i := f.Inode()
		v := i.QueryIVersion()
		if !i.IsIVersion() {
			return v, m.say(func() string {
				return fmt.Sprintf("collect caches inode_query_iversion(file inode %s) = %d: overlay never bumps it, real inode not consulted", i.ID(), v)
			}), ""
		}
		return v, m.say(func() string { return fmt.Sprintf("collect caches inode_query_iversion(%s) = %d", i.ID(), v) }), i.ID()
	case CollectCookie:
		// Linux v6.12: ima_api.c:ima_collect_measurement, vfs_getattr_nosec(STATX_CHANGE_COOKIE).
		st := f.Getattr(false)
		if st.HasCookie {
			return st.Cookie, m.say(func() string {
				return fmt.Sprintf("collect caches change_cookie %d (%s getattr)", st.Cookie, f.FSName())
			}), real.ID()
		}
		return 0, m.say(func() string { return fmt.Sprintf("collect caches 0: %s getattr reports no change_cookie", f.FSName()) }), ""
	case CollectCookieElseCtime:
		// fix v2 (seed thread, not merged): ima_api.c:ima_collect_measurement
		// asks STATX_CHANGE_COOKIE|STATX_CTIME; version = cookie or 0, and
		// ctime is stored separately (the caller sets IInt.Ctime).
		st := f.Getattr(true)
		if st.HasCookie {
			return st.Cookie, m.say(func() string {
				return fmt.Sprintf("collect caches change_cookie %d (and ctime %d)", st.Cookie, st.Ctime)
			}), real.ID()
		}
		return 0, m.say(func() string {
			return fmt.Sprintf("collect caches version 0 and ctime %d: %s getattr reports no change_cookie", st.Ctime, f.FSName())
		}), real.ID()
	case CollectCookieElsePeek:
		// Linux v7.1: ima_api.c:ima_collect_measurement: cookie, else
		// inode_peek_iversion(real inode).
		st := f.Getattr(false)
		if st.HasCookie {
			return st.Cookie, m.say(func() string { return fmt.Sprintf("collect caches change_cookie %d", st.Cookie) }), real.ID()
		}
		if real.IsIVersion() {
			v := real.PeekIVersion()
			q := "QUERIED clear"
			if real.Queried() {
				q = "QUERIED already set"
			}
			return v, m.say(func() string {
				return fmt.Sprintf("collect: %s getattr reports no change_cookie -> caches inode_peek_iversion(%s) = %d (peek, %s)", f.FSName(), real.ID(), v, q)
			}), real.ID()
		}
		return 0, m.say(func() string {
			return fmt.Sprintf("collect caches 0: no change_cookie and no SB_I_VERSION on %s", real.ID())
		}), ""
	}
	return 0, "collect: unknown mode " + m.P.Collect, ""
}

// evmChanged is evm_metadata_changed: !IS_I_VERSION(meta) ||
// integrity_inode_attrs_changed(&evm attrs, meta) (Linux v6.12).
func (m *IMA) evmChanged(iint *IInt, meta Inode) (bool, string) {
	if !meta.IsIVersion() {
		return true, m.say(func() string { return fmt.Sprintf("!IS_I_VERSION(metadata inode %s)", meta.ID()) })
	}
	dev, ino := meta.DevIno()
	if dev != iint.evmDev || ino != iint.evmIno {
		return true, m.say(func() string {
			return fmt.Sprintf("metadata inode changed (%d/%d != %d/%d)", dev, ino, iint.evmDev, iint.evmIno)
		})
	}
	if !meta.EqIVersion(iint.evmVersion) {
		return true, m.say(func() string {
			return fmt.Sprintf("inode_eq_iversion(metadata inode %s, %d) false (now %d)", meta.ID(), iint.evmVersion, meta.PeekIVersion())
		})
	}
	return false, ""
}

// valueDecides: the stacked check reached the i_version comparison (same
// real inode, SB_I_VERSION), so the counter's value decided.
func valueDecides(real Inode, iint *IInt) bool {
	dev, ino := real.DevIno()
	return dev == iint.Dev && ino == iint.Ino
}

// stackedChanged is the stacked-filesystem condition in process_measurement
// (Linux v6.12: ima_main.c:process_measurement with
// include/linux/integrity.h:integrity_inode_attrs_changed).
func (m *IMA) stackedChanged(f File, iint *IInt, real Inode) (bool, string) {
	if m.P.Stacked == StackedGetattr {
		return m.stackedGetattr(f, iint, real)
	}
	if !real.IsIVersion() {
		return true, m.say(func() string { return fmt.Sprintf("!IS_I_VERSION(real %s)", real.ID()) })
	}
	dev, ino := real.DevIno()
	if dev != iint.Dev || ino != iint.Ino {
		return true, m.say(func() string {
			return fmt.Sprintf("real inode changed: dev/ino %d/%d != cached %d/%d (copy-up)", dev, ino, iint.Dev, iint.Ino)
		})
	}
	if !real.EqIVersion(iint.Version) {
		return true, m.say(func() string {
			return fmt.Sprintf("inode_eq_iversion(real %s, cached %d) false (real i_version %d)", real.ID(), iint.Version, real.PeekIVersion())
		})
	}
	return false, m.say(func() string { return fmt.Sprintf("inode_eq_iversion(real %s, %d) true", real.ID(), iint.Version) })
}

// stackedGetattr is fix v2's stacked check: process_measurement calls
// integrity_inode_attrs_changed(&iint->real_inode, file, real_inode)
// without the !IS_I_VERSION(real_inode) test; it compares dev/ino, then
// getattr's cookie with the cached version, else its ctime with the
// cached ctime. (Its getattr-failure fallback, !IS_I_VERSION ||
// i_version differs, needs a failing getattr, which no modelled
// filesystem has; EVM takes that path with a NULL file, as before.)
func (m *IMA) stackedGetattr(f File, iint *IInt, real Inode) (bool, string) {
	dev, ino := real.DevIno()
	if dev != iint.Dev || ino != iint.Ino {
		return true, m.say(func() string {
			return fmt.Sprintf("real inode changed: dev/ino %d/%d != cached %d/%d (copy-up)", dev, ino, iint.Dev, iint.Ino)
		})
	}
	st := f.Getattr(true)
	if st.HasCookie {
		if st.Cookie != iint.Version {
			return true, m.say(func() string { return fmt.Sprintf("change_cookie %d != cached %d", st.Cookie, iint.Version) })
		}
		return false, m.say(func() string { return fmt.Sprintf("change_cookie %d == cached", st.Cookie) })
	}
	if st.Ctime != iint.Ctime {
		return true, m.say(func() string {
			return fmt.Sprintf("no change_cookie; ctime %d != cached ctime %d", st.Ctime, iint.Ctime)
		})
	}
	return false, m.say(func() string { return fmt.Sprintf("no change_cookie; ctime %d == cached ctime", st.Ctime) })
}

// Truncate models IMA's truncate hooks (Linux v7.2 and v6.12.105+:
// security/integrity/ima/ima_main.c:ima_path_truncate, ima_file_truncate ->
// ima_reset_action_flags). It reports whether the flags were cleared.
func (m *IMA) Truncate(inode Inode) bool {
	if !m.P.TruncateResets {
		return false
	}
	iint := m.find(inode.ID())
	if iint == nil {
		return false
	}
	iint.Flags &^= DoneMask
	iint.MeasuredPCRs = 0
	iint.resetCause = "truncate hook (ima_reset_action_flags) -> IMA_DONE_MASK cleared"
	iint.keepCause = ""
	return true
}

// CheckLastWriter models ima_file_free -> ima_check_last_writer for a file
// being closed (Linux v6.12: ima_main.c:ima_check_last_writer; v7.1:
// ima_detect_file_change). It reports whether the flags were cleared,
// and why; applies is false when the check does not run.
func (m *IMA) CheckLastWriter(f File) (applies, reset bool, cause string) {
	if !f.Writable() {
		return false, false, ""
	}
	inode := f.Inode()
	iint := m.find(inode.ID())
	if iint == nil {
		return false, false, ""
	}
	if inode.WriteCount() != 1 {
		return true, false, m.say(func() string { return fmt.Sprintf("not the last writer (i_writecount %d)", inode.WriteCount()) })
	}
	iint.EmittedOW = false // Linux v6.12: cleared by the last writer
	changed, how := m.writerChanged(f, iint, inode)
	if iint.Flags&FlagNewFile != 0 {
		changed, how = true, "IMA_NEW_FILE"
	}
	if changed {
		iint.Flags &^= DoneMask | FlagNewFile
		iint.MeasuredPCRs = 0
		iint.keepCause = ""
		if !m.Quiet {
			iint.resetCause = "last writer: " + how + " -> IMA_DONE_MASK cleared"
		}
		return true, true, iint.resetCause
	}
	if m.Quiet {
		return true, false, ""
	}
	iint.keepCause = "last writer kept flags: " + how
	return true, false, iint.keepCause
}

func (m *IMA) writerChanged(f File, iint *IInt, inode Inode) (bool, string) {
	switch m.P.LastWriter {
	case LastWriterIVersion:
		// Linux v6.1: !IS_I_VERSION(inode) || !inode_eq_iversion(inode, iint->version).
		if !inode.IsIVersion() {
			return true, m.say(func() string { return fmt.Sprintf("!IS_I_VERSION(%s)", inode.ID()) })
		}
		if !inode.EqIVersion(iint.Version) {
			return true, m.say(func() string {
				return fmt.Sprintf("inode_eq_iversion(%s, %d) false (now %d)", inode.ID(), iint.Version, inode.PeekIVersion())
			})
		}
		return false, m.say(func() string {
			return fmt.Sprintf("inode_eq_iversion(%s, %d) true%s", inode.ID(), iint.Version, notBumped(inode))
		})
	case LastWriterCookie:
		// Linux v6.12: no cookie reported, or cookie != cached.
		st := f.Getattr(false)
		if !st.HasCookie {
			return true, m.say(func() string { return fmt.Sprintf("%s getattr reports no change_cookie -> assume changed", f.FSName()) })
		}
		if st.Cookie != iint.Version {
			return true, m.say(func() string { return fmt.Sprintf("change_cookie %d != cached %d", st.Cookie, iint.Version) })
		}
		return false, m.say(func() string { return fmt.Sprintf("change_cookie %d == cached", st.Cookie) })
	case LastWriterCookieElseCtime:
		st := f.Getattr(true)
		if st.HasCookie {
			if st.Cookie != iint.Version {
				return true, m.say(func() string { return fmt.Sprintf("change_cookie %d != cached %d", st.Cookie, iint.Version) })
			}
			return false, m.say(func() string { return fmt.Sprintf("change_cookie %d == cached", st.Cookie) })
		}
		// fix v2: ima_check_last_writer compares stat.ctime with the
		// cached real_inode.ctime when getattr reports no cookie.
		if st.Ctime != iint.Ctime {
			return true, m.say(func() string {
				return fmt.Sprintf("no change_cookie; ctime %d != cached ctime %d", st.Ctime, iint.Ctime)
			})
		}
		return false, m.say(func() string {
			return fmt.Sprintf("no change_cookie; ctime %d == cached ctime (ctime did not move)", st.Ctime)
		})
	case LastWriterDetect:
		// Linux v7.1: ima_main.c:ima_detect_file_change.
		st := f.Getattr(false)
		if st.HasCookie {
			if st.Cookie != iint.Version {
				return true, m.say(func() string { return fmt.Sprintf("change_cookie %d != cached %d", st.Cookie, iint.Version) })
			}
			return false, m.say(func() string { return fmt.Sprintf("change_cookie %d == cached", st.Cookie) })
		}
		if inode.IsIVersion() {
			if !inode.EqIVersion(iint.Version) {
				return true, m.say(func() string {
					return fmt.Sprintf("no change_cookie; inode_eq_iversion(%s, %d) false (now %d)", inode.ID(), iint.Version, inode.PeekIVersion())
				})
			}
			return false, m.say(func() string {
				return fmt.Sprintf("%s reports no change_cookie; inode_eq_iversion(%s, %d) true%s", f.FSName(), inode.ID(), iint.Version, notBumped(inode))
			})
		}
		return true, m.say(func() string {
			return fmt.Sprintf("no change_cookie and !IS_I_VERSION(%s) -> assume changed", inode.ID())
		})
	}
	return true, "unknown last-writer mode " + m.P.LastWriter
}

func notBumped(i Inode) string {
	if !i.Queried() {
		return ": the cached value was read without setting QUERIED (peek, or a query the filesystem's own bump cleared) and nothing queried it since, so the writes did not bump i_version (it moves only when forced, e.g. XFS core-inode logging at writeback, chmod, truncate, or when QUERIED)"
	}
	return ""
}

// violations models ima_rdwr_violation_check
// (Linux v6.1 and v6.12: security/integrity/ima/ima_main.c).
func (m *IMA) violations(f File, iint *IInt, h Hook) []string {
	inode := f.Inode()
	once := m.P.Violations == ViolationsOnce
	var out []string
	if f.Writable() {
		if inode.ReadCount() > 0 && iint != nil && iint.MustMeasure {
			if once {
				iint.MustMeasure = false // test_and_clear_bit(IMA_MAY_EMIT_TOMTOU)
			}
			out = append(out, "ToMToU")
		}
		return out
	}
	if h.MustMeasure && iint != nil {
		iint.MustMeasure = true
	}
	if inode.WriteCount() > 0 && h.MustMeasure {
		if !once || iint == nil || !iint.EmittedOW {
			if iint != nil && once {
				iint.EmittedOW = true
			}
			out = append(out, "open_writers")
		}
	}
	return out
}

// InodePostSetattr models ima_inode_post_setattr (Linux v6.1.176, v6.12.107,
// v7.2.13: ima_appraise.c), called from notify_change (chmod, chown,
// utimes, truncate) for the inode at the path: with an appraise rule in
// the policy (appraise) it sets IMA_CHANGE_ATTR on the inode's iint.
func (m *IMA) InodePostSetattr(inode Inode, appraise bool) {
	if !appraise {
		return
	}
	if iint := m.find(inode.ID()); iint != nil {
		iint.ChangeAttr = true
	}
}

// ResetAppraiseFlags models ima_reset_appraise_flags, called by
// ima_inode_setxattr and ima_inode_removexattr for security.ima (and for
// EVM-protected xattrs only when EVM has a key: evm_revalidate_status;
// the model has none) (Linux v6.1.176, v6.12.107, v7.2.13:
// ima_appraise.c): with an appraise rule it zeroes measured_pcrs and sets
// IMA_CHANGE_XATTR.
func (m *IMA) ResetAppraiseFlags(inode Inode, appraise bool) {
	if !appraise {
		return
	}
	if iint := m.find(inode.ID()); iint != nil {
		iint.MeasuredPCRs = 0
		iint.ChangeXattr = true
	}
}
