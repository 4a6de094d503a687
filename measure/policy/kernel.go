package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a kernel release, major.minor (stable updates do not change
// the policy language in the trees checked here).
type Version struct{ Major, Minor int }

// Newest is the newest kernel this package models (Debian's 7.2.13).
var Newest = Version{7, 2}

// ParseVersion parses "6.12", "6.12.107" or "7.2.13+deb14-cloud-amd64".
func ParseVersion(s string) (Version, error) {
	parts := strings.SplitN(s, ".", 3)
	if len(parts) < 2 {
		return Version{}, fmt.Errorf("kernel version %q: want MAJOR.MINOR", s)
	}
	if parts[0] == "" || strings.Trim(parts[0], "0123456789") != "" {
		return Version{}, fmt.Errorf("kernel version %q: want MAJOR.MINOR", s)
	}
	maj, err := strconv.Atoi(parts[0])
	if err != nil {
		return Version{}, fmt.Errorf("kernel version %q: %w", s, err)
	}
	minStr := parts[1]
	if i := strings.IndexFunc(minStr, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minStr = minStr[:i]
	}
	mnr, err := strconv.Atoi(minStr)
	if err != nil {
		return Version{}, fmt.Errorf("kernel version %q: %w", s, err)
	}
	return Version{maj, mnr}, nil
}

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Less reports whether v is older than w.
func (v Version) Less(w Version) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	return v.Minor < w.Minor
}

// Kernel selects the kernel the parser and the built-in policies follow:
// its version and the config options that change the language. The zero
// value is the newest modelled kernel with the IMA options of Debian's
// cloud kernels (6.1.176, 6.12.107 configs): no CONFIG_IMA_APPRAISE_MODSIG,
// CONFIG_IMA_MEASURE_ASYMMETRIC_KEYS=y, no CONFIG_IMA_WRITE_POLICY.
type Kernel struct {
	Version Version // zero: Newest

	// Modsig: CONFIG_IMA_APPRAISE_MODSIG is on, so
	// appraise_type=imasig|modsig (and before 6.3 appraise_flag=) is
	// accepted.
	Modsig bool
	// ModsigUnknown: nothing says whether CONFIG_IMA_APPRAISE_MODSIG is
	// on. The modsig options are accepted as with Modsig, with a
	// warning that the kernel needs the option (imasim policy check
	// without --kconfig; the kernel's own built-in secure_boot has the
	// modsig rule since 7.0 whatever the config, and prints it so).
	ModsigUnknown bool
	// NoKeyCheck: CONFIG_IMA_MEASURE_ASYMMETRIC_KEYS is off, so func=KEY_CHECK
	// and keyrings= are rejected.
	NoKeyCheck bool
	// WritePolicy: CONFIG_IMA_WRITE_POLICY, adds the POLICY_CHECK signature
	// rule to appraise_tcb.
	WritePolicy bool
	// AppraiseSignedInit: CONFIG_IMA_APPRAISE_SIGNED_INIT, appraise_tcb's
	// fowner=0 rule requires signatures.
	AppraiseSignedInit bool
}

func (k Kernel) version() Version {
	if k.Version == (Version{}) {
		return Newest
	}
	return k.Version
}

// Era gates: the first release with each change. Each was checked in the
// Debian sources (present or absent in 6.1.176, 6.12.107, 7.2.13); where
// the upstream release is taken from the commit's merge it says so.
var (
	// "ima: Introduce MMAP_CHECK_REQPROT hook" (4958db3245fa, merged for
	// v6.3): absent in 6.1.176, present in 6.12.107.
	sinceReqprot = Version{6, 3}
	// Blacklist check made part of every signature requirement:
	// appraise_flag= ignored, appraise_type= sets IMA_CHECK_BLACKLIST.
	// Absent in 6.1.176, present in 6.12.107; upstream release assumed 6.3.
	sinceBlacklistAlways = Version{6, 3}
	// "ima: ignore suffixed policy rule comments" and "ima: limit the
	// builtin 'tcb' dont_measure tmpfs policy rule" (integrity-v6.14).
	sinceSuffixComment = Version{6, 14}
	sinceTCBTmpfsFile  = Version{6, 14}
	// "ima: add dont_audit action" and "ima: add fs_subtype condition"
	// (integrity-v6.19).
	sinceDontAudit = Version{6, 19}
	sinceFSSubtype = Version{6, 19}
	// IMA_SIGV3_REQUIRED: appraise_type=sigv3 without digest_type=verity,
	// digest_type= after appraise_type=. Absent in 6.12.107, present in
	// 7.2.13; upstream release assumed 7.0.
	sinceSigv3Files = Version{7, 0}
)

func (k Kernel) has(since Version) bool { return !k.version().Less(since) }
