package cache

import (
	"fmt"
	"strconv"
	"strings"
)

// KernelVersion is major.minor.patch.
type KernelVersion struct{ Major, Minor, Patch int }

// ParseKernelVersion reads "6.12", "6.1.176" or a uname -r string such as
// "6.12.57+deb13-cloud-amd64".
func ParseKernelVersion(s string) (KernelVersion, error) {
	s = strings.TrimSpace(s)
	end := 0
	for end < len(s) && (s[end] == '.' || (s[end] >= '0' && s[end] <= '9')) {
		end++
	}
	parts := strings.Split(strings.Trim(s[:end], "."), ".")
	if len(parts) < 2 {
		return KernelVersion{}, fmt.Errorf("bad kernel version %q (want e.g. 6.12 or 6.1.176)", s)
	}
	var v [3]int
	for i := 0; i < len(parts) && i < 3; i++ {
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return KernelVersion{}, fmt.Errorf("bad kernel version %q", s)
		}
		v[i] = n
	}
	return KernelVersion{v[0], v[1], v[2]}, nil
}

// Less orders versions.
func (a KernelVersion) Less(b KernelVersion) bool {
	if a.Major != b.Major {
		return a.Major < b.Major
	}
	if a.Minor != b.Minor {
		return a.Minor < b.Minor
	}
	return a.Patch < b.Patch
}

func (a KernelVersion) String() string {
	if a.Patch == 0 {
		return fmt.Sprintf("%d.%d", a.Major, a.Minor)
	}
	return fmt.Sprintf("%d.%d.%d", a.Major, a.Minor, a.Patch)
}

// Range is an inclusive kernel version range; a zero Max means open-ended.
// A Max without a patch level covers the whole minor series (7.0 = 7.0.*).
type Range struct {
	Min, Max KernelVersion
	Open     bool
}

// ParseRange reads "6.13 .. 7.0", "7.1 .." or "6.14".
func ParseRange(s string) (Range, error) {
	lo, hi, found := strings.Cut(s, "..")
	min, err := ParseKernelVersion(lo)
	if err != nil {
		return Range{}, err
	}
	if !found {
		return Range{Min: min, Open: true}, nil
	}
	if strings.TrimSpace(hi) == "" {
		return Range{Min: min, Open: true}, nil
	}
	max, err := ParseKernelVersion(hi)
	if err != nil {
		return Range{}, err
	}
	if max.Less(KernelVersion{min.Major, min.Minor, 0}) {
		return Range{}, fmt.Errorf("range %q: end before start", s)
	}
	return Range{Min: min, Max: max}, nil
}

// Contains reports whether v is in the range.
func (r Range) Contains(v KernelVersion) bool {
	if v.Less(r.Min) {
		return false
	}
	if r.Open {
		return true
	}
	if r.Max.Patch == 0 {
		return v.Major < r.Max.Major || (v.Major == r.Max.Major && v.Minor <= r.Max.Minor)
	}
	return !r.Max.Less(v)
}

func (r Range) String() string {
	if r.Open {
		return r.Min.String() + " .."
	}
	if r.Max.Patch == 0 && r.Max.Major == r.Min.Major && r.Max.Minor == r.Min.Minor {
		return r.Min.String() + " .. " + r.Max.String() + ".y"
	}
	return r.Min.String() + " .. " + r.Max.String()
}

// MarshalText renders a range as "6.13 .. 7.0" in JSON.
func (r Range) MarshalText() ([]byte, error) { return []byte(r.String()), nil }
