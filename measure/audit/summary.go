package audit

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Kernel describes the kernel a log came from, as far as the log says.
type Kernel struct {
	// Release is `uname -r` (e.g. "6.12.57+deb13-cloud-amd64", "6.1.0-41-amd64").
	Release string `json:"release"`
	// Upstream is the upstream version the release is built from, when the
	// banner says so (Debian: "… Debian 6.1.158-1 (date)"; Ubuntu:
	// "(Ubuntu 6.8.0-49.49-generic 6.8.12)"), else the release's leading
	// x.y.z. Debian's ABI release names (6.1.0-41) hide the stable version.
	Upstream string `json:"upstream,omitempty"`
	// Banner is the whole "Linux version …" line, when the log had one.
	Banner string `json:"banner,omitempty"`
	// Line is the input line it came from.
	Line int `json:"line"`
}

// Kernel returns what the log says about its kernel (the last boot banner,
// or auditd's DAEMON_START kernel= field); ok is false when it says nothing.
func (s *Scanner) Kernel() (Kernel, bool) {
	if s.kernel == "" {
		return Kernel{}, false
	}
	k := Kernel{Release: s.kernel, Banner: s.banner, Line: s.kernLn}
	k.Upstream = upstreamVersion(s.banner, s.kernel)
	return k, true
}

// upstreamVersion finds the upstream x.y.z in a distribution banner.
func upstreamVersion(banner, release string) string {
	if i := strings.LastIndex(banner, "(Ubuntu "); i >= 0 {
		if j := strings.IndexByte(banner[i:], ')'); j >= 0 {
			f := strings.Fields(banner[i : i+j])
			if v := versionPrefix(f[len(f)-1]); v != "" {
				return v
			}
		}
	}
	if i := strings.LastIndex(banner, " Debian "); i >= 0 {
		f := strings.Fields(banner[i+8:])
		if len(f) > 0 {
			if v := versionPrefix(f[0]); v != "" {
				return v
			}
		}
	}
	return versionPrefix(release)
}

// versionPrefix returns the leading "x.y[.z]" of s, or "".
func versionPrefix(s string) string {
	r, ok := ParseRelease(s)
	if !ok {
		return ""
	}
	if r.Patch < 0 {
		return fmt.Sprintf("%d.%d", r.Major, r.Minor)
	}
	return fmt.Sprintf("%d.%d.%d", r.Major, r.Minor, r.Patch)
}

// Release is a parsed kernel version.
type Release struct {
	Major, Minor int
	// Patch is -1 when the version has only two parts ("7.2-rc1").
	Patch int
	// Extra is what follows the numbers ("+deb13-cloud-amd64", "-rc1").
	Extra string
}

// ParseRelease parses "6.12.57+deb13-cloud-amd64", "6.1.0-41-amd64" or
// "7.2-rc1".
func ParseRelease(s string) (Release, bool) {
	var nums []int
	i := 0
	for len(nums) < 3 {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i || j-i > 6 {
			if len(nums) > 0 {
				i-- // the '.' before this group belongs to Extra
			}
			break
		}
		n, _ := strconv.Atoi(s[i:j])
		nums = append(nums, n)
		i = j
		if i < len(s) && s[i] == '.' && len(nums) < 3 && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
			i++
			continue
		}
		break
	}
	if len(nums) < 2 {
		return Release{}, false
	}
	r := Release{Major: nums[0], Minor: nums[1], Patch: -1, Extra: s[i:]}
	if len(nums) == 3 {
		r.Patch = nums[2]
	}
	return r, true
}

// Tally is a whole-log count of integrity records, for callers that
// compare counts with a model.
type Tally struct {
	// Rules counts INTEGRITY_RULE (1805) records per file= path: the number
	// of (re-)evaluations IMA audited for that file.
	Rules map[string]int `json:"rules"`
	// Violations counts INTEGRITY_PCR violation records per name= path and
	// cause (open_writers, ToMToU).
	Violations map[string]map[string]int `json:"violations"`
	Stats      Stats                     `json:"stats"`
	Loss       Loss                      `json:"loss"`
	Kernel     *Kernel                   `json:"kernel,omitempty"`
}

// Count reads a whole log and tallies its integrity records. Memory grows
// with the number of distinct paths, not with the log. The error is a read
// error; a lossy log is not an error (see Tally.Loss.Lossy).
func Count(r io.Reader, opts Options) (Tally, error) {
	s := NewScannerOptions(r, opts)
	t := Tally{Rules: map[string]int{}, Violations: map[string]map[string]int{}}
	for s.Scan() {
		rec := s.Record()
		switch {
		case rec.Type == TypeRule:
			t.Rules[rec.Path()]++
		case rec.Violation():
			p := rec.Path()
			if t.Violations[p] == nil {
				t.Violations[p] = map[string]int{}
			}
			t.Violations[p][rec.Value("cause")]++
		}
	}
	t.Stats, t.Loss = s.Stats(), s.Loss()
	if k, ok := s.Kernel(); ok {
		t.Kernel = &k
	}
	if err := s.Err(); err != nil {
		return t, fmt.Errorf("counting audit records: %w", err)
	}
	return t, nil
}
