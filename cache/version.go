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
	v, _, err := parseVersion(s)
	return v, err
}

// parseVersion also says how many of major.minor.sublevel were given.
func parseVersion(s string) (KernelVersion, int, error) {
	s = strings.TrimSpace(s)
	end := 0
	for end < len(s) && end < 32 && (s[end] == '.' || (s[end] >= '0' && s[end] <= '9')) {
		end++
	}
	parts := strings.Split(strings.Trim(s[:end], "."), ".")
	if len(parts) < 2 {
		return KernelVersion{}, 0, fmt.Errorf("bad kernel version %q (want e.g. 6.12 or 6.1.176)", clip(s))
	}
	var v [3]int
	n := 0
	for i := 0; i < len(parts) && i < 3; i++ {
		x, err := strconv.Atoi(parts[i])
		if err != nil || x > 1<<20 {
			return KernelVersion{}, 0, fmt.Errorf("bad kernel version %q", clip(s))
		}
		v[i] = x
		n++
	}
	return KernelVersion{v[0], v[1], v[2]}, n, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
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

// Range is an inclusive kernel version range. Ends are sublevel-exact
// ("6.12.105 .. 6.12.y" leaves out 6.12.104); an end written without a
// sublevel covers the whole stable series (".. 7.0" = up to 7.0.y).
type Range struct {
	Min, Max KernelVersion
	Open     bool // no upper end
	// MaxSeries: Max was written without a sublevel: all of Max's series.
	MaxSeries bool
}

// ParseRange reads "6.13 .. 7.0", "7.1 ..", "6.12.105 .. 6.12.y",
// "6.7 .. 6.12.104" or "6.14" (= "6.14 ..").
func ParseRange(s string) (Range, error) {
	lo, hi, found := strings.Cut(s, "..")
	min, _, err := parseVersion(lo)
	if err != nil {
		return Range{}, err
	}
	if !found || strings.TrimSpace(hi) == "" {
		return Range{Min: min, Open: true}, nil
	}
	max, n, err := parseVersion(hi)
	if err != nil {
		return Range{}, err
	}
	r := Range{Min: min, Max: max, MaxSeries: n < 3}
	if r.top().Less(min) {
		return Range{}, fmt.Errorf("range %q: end before start", clip(s))
	}
	return r, nil
}

// top is the highest version in a closed range (a series end counts as
// its highest possible sublevel).
func (r Range) top() KernelVersion {
	if r.MaxSeries {
		return KernelVersion{r.Max.Major, r.Max.Minor, 1<<31 - 1}
	}
	return r.Max
}

// Contains reports whether v is in the range.
func (r Range) Contains(v KernelVersion) bool {
	if v.Less(r.Min) {
		return false
	}
	return r.Open || !r.top().Less(v)
}

// Covers reports whether every version in q is in r.
func (r Range) Covers(q Range) bool {
	if q.Min.Less(r.Min) {
		return false
	}
	if r.Open {
		return true
	}
	return !q.Open && !r.top().Less(q.top())
}

// Overlaps reports whether some version is in both ranges.
func (r Range) Overlaps(q Range) bool {
	return (q.Open || !q.top().Less(r.Min)) && (r.Open || !r.top().Less(q.Min))
}

func (r Range) String() string {
	if r.Open {
		return r.Min.String() + " .."
	}
	if !r.MaxSeries {
		return r.Min.String() + " .. " + r.Max.exact()
	}
	if r.Max.Major == r.Min.Major && r.Max.Minor == r.Min.Minor {
		return r.Min.String() + " .. " + r.Max.String() + ".y"
	}
	return r.Min.String() + " .. " + r.Max.String()
}

// exact prints all three numbers when the sublevel matters.
func (a KernelVersion) exact() string {
	return fmt.Sprintf("%d.%d.%d", a.Major, a.Minor, a.Patch)
}

// MarshalText renders a range as "6.13 .. 7.0" in JSON.
func (r Range) MarshalText() ([]byte, error) { return []byte(r.String()), nil }
