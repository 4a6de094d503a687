package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNoProfile: no built-in profile fits the kernel (exit 32, cannot run
// here); the Detection still names the nearest one.
var ErrNoProfile = errors.New("no built-in profile fits this kernel")

// Detection is what --profile auto picked for a kernel, and why.
type Detection struct {
	Release string `json:"release"` // uname -r
	// Distro: Debian, Ubuntu, RHEL (and its rebuilds), Fedora, SUSE,
	// Android GKI, Amazon Linux, Oracle UEK, Arch, or "" (upstream build).
	Distro string `json:"distro,omitempty"`
	// Upstream is the kernel.org version the kernel is built from;
	// SublevelKnown is false when only major.minor could be read (a
	// Debian "6.1.0-50" release without /proc/version, Ubuntu without
	// /proc/version_signature).
	Upstream      KernelVersion `json:"upstream"`
	SublevelKnown bool          `json:"sublevel_known"`
	// Profile is the pick; nil when none fits, then Nearest is named.
	Profile *Profile `json:"-"`
	Nearest *Profile `json:"-"`
	Reason  string   `json:"reason"`
}

// ProfileName is the picked profile's name, or "".
func (d *Detection) ProfileName() string {
	if d.Profile == nil {
		return ""
	}
	return d.Profile.Name
}

// NearestName is the nearest profile's name, or "".
func (d *Detection) NearestName() string {
	if d.Nearest == nil {
		return ""
	}
	return d.Nearest.Name
}

var (
	reProcRelease = regexp.MustCompile(`Linux version (\S+)`)
	// Debian puts the package version in /proc/version: "Debian 6.1.176-1".
	reDebian = regexp.MustCompile(`Debian (\d+\.\d+(?:\.\d+)?)-`)
	// Ubuntu's /proc/version_signature: "Ubuntu 5.15.0-91.101-generic 5.15.131".
	reUbuntuSig = regexp.MustCompile(`(?m)^Ubuntu \S+ (\d+\.\d+\.\d+)`)
	reBare      = regexp.MustCompile(`^\d+\.\d+(?:\.\d+)?$`)
	reRelease   = regexp.MustCompile(`^(\d+)\.(\d+)(?:\.(\d+))?(.*)$`)
	reRHEL      = regexp.MustCompile(`\.el(\d+)(?:_\d+)?(uek)?\b`)
	reSLE       = regexp.MustCompile(`^-15\d{4}\.`)
	reAndroid   = regexp.MustCompile(`-android(\d+)-`)
	// Debian's ABI releases: 6.1.0-50-cloud-amd64, 5.10.0-35-amd64.
	reDebianABI = regexp.MustCompile(`^-\d+-(?:cloud-|rt-)?(?:amd64|arm64|686|686-pae|armmp|armmp-lpae|ppc64el|powerpc64le|s390x|mips64r2el|loong64|riscv64|rpi|marvell)$`)
	// Ubuntu's: 5.15.0-91-generic, 6.8.0-1017-aws.
	reUbuntuABI = regexp.MustCompile(`^-\d+-(?:generic|lowlatency|aws|azure|gcp|gke|gkeop|oracle|oem|kvm|raspi|ibm|nvidia|realtime|intel-iotg)(?:-64k)?$`)
	// openSUSE Tumbleweed: 6.11.5-1-default (SLE has 150500.55.83).
	reTumbleweed = regexp.MustCompile(`^-\d+-default$`)
)

// debianVersion finds "Debian X.Y.Z-" for the kernel's own series in
// /proc/version (the compiler's "(Debian 12.2.0-14)" comes first).
func debianVersion(version string, v KernelVersion) (KernelVersion, string, bool) {
	for _, dm := range reDebian.FindAllStringSubmatch(version, 8) {
		if dv, err := ParseKernelVersion(dm[1]); err == nil && dv.Major == v.Major && dv.Minor == v.Minor {
			return dv, dm[1], true
		}
	}
	return KernelVersion{}, "", false
}

// HostKernel reads the running kernel's release (uname -r) and version
// text (/proc/version, and Ubuntu's /proc/version_signature when there).
func HostKernel() (release, version string, err error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", "", fmt.Errorf("uname: %w", err)
	}
	release = unix.ByteSliceToString(u.Release[:])
	for _, f := range []string{"/proc/version", "/proc/version_signature"} {
		if b, err := readSmall(f, 4096); err == nil {
			version += strings.TrimSpace(string(b)) + "\n"
		}
	}
	return release, strings.TrimSpace(version), nil
}

func readSmall(name string, max int) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, max)
	n, err := f.Read(b)
	if n == 0 && err != nil {
		return nil, err
	}
	return b[:n], nil
}

// DetectHost is Detect for the running kernel.
func DetectHost() (*Detection, error) {
	rel, ver, err := HostKernel()
	if err != nil {
		return nil, err
	}
	return Detect(rel, ver)
}

// Detect picks the built-in profile for a kernel from its release (uname
// -r) and version text (/proc/version, optionally followed by Ubuntu's
// /proc/version_signature); either may be empty. Errors: a release that
// names no version (input error), or ErrNoProfile with the Detection
// naming the nearest profile.
func Detect(release, version string) (*Detection, error) {
	release = strings.TrimSpace(release)
	if len(release) > 256 || len(version) > 8192 {
		return nil, fmt.Errorf("kernel version text too long")
	}
	version = strings.TrimSpace(version)
	bare := reBare.MatchString(version) // "6.1.176": the upstream version, given
	if release == "" {
		if bare {
			release = version
		} else if m := reProcRelease.FindStringSubmatch(version); m != nil {
			release = m[1]
		}
	}
	d := &Detection{Release: release}
	m := reRelease.FindStringSubmatch(release)
	if m == nil {
		return nil, fmt.Errorf("bad kernel release %q (want e.g. 6.12.57+deb13-cloud-amd64 or 5.14.0-503.el9.x86_64)", clip(release))
	}
	v, err := ParseKernelVersion(release)
	if err != nil {
		return nil, err
	}
	d.Upstream, d.SublevelKnown = v, m[3] != ""
	rest := m[4]
	abi := m[3] == "0" // X.Y.0-N-flavour: Debian's and Ubuntu's ABI names
	var why []string
	// given: the caller knows the upstream version (a kernel image's
	// banner, --kernel-version); it wins over what the release shows.
	given := func() bool {
		if !bare {
			return false
		}
		gv, n, err := parseVersion(version)
		if err != nil || gv.Major != v.Major || gv.Minor != v.Minor {
			return false
		}
		d.Upstream, d.SublevelKnown = gv, n == 3
		why = append(why, "upstream "+version+" (given)")
		return true
	}
	// vendor: a kernel whose version number says little about its code.
	vendor := ""
	switch {
	case strings.Contains(rest, "+deb") || abi && reDebianABI.MatchString(rest) || strings.Contains(version, "debian-kernel@lists.debian.org"):
		d.Distro = "Debian"
		switch dv, ds, ok := debianVersion(version, v); {
		case given():
		case ok:
			d.Upstream, d.SublevelKnown = dv, strings.Count(ds, ".") == 2
			why = append(why, fmt.Sprintf("Debian package %s (from /proc/version)", ds))
		case strings.Contains(rest, "+deb"):
			why = append(why, fmt.Sprintf("Debian release %s carries the upstream version", release))
		default:
			// "6.1.0-50-cloud-amd64": the ABI name; the sublevel is in /proc/version.
			d.SublevelKnown = false
			why = append(why, "Debian ABI release without /proc/version: stable sublevel unknown")
		}
	case strings.Contains(version, "-Ubuntu") || strings.Contains(version, "Ubuntu ") || abi && reUbuntuABI.MatchString(rest):
		d.Distro = "Ubuntu"
		switch um := reUbuntuSig.FindStringSubmatch(version); {
		case given():
		case um != nil:
			if uv, err := ParseKernelVersion(um[1]); err == nil && uv.Major == v.Major && uv.Minor == v.Minor {
				d.Upstream, d.SublevelKnown = uv, true
				why = append(why, fmt.Sprintf("Ubuntu kernel based on %s (/proc/version_signature)", um[1]))
			}
		default:
			d.SublevelKnown = false
			why = append(why, "Ubuntu release without /proc/version_signature: upstream sublevel unknown")
		}
		why = append(why, "Ubuntu carries backports the version does not show")
	case reRHEL.MatchString(rest):
		rm := reRHEL.FindStringSubmatch(rest)
		if rm[2] != "" {
			d.Distro = "Oracle UEK"
			d.SublevelKnown = false // 5.15.0-208.159.3: the LTS sublevel is not in the release
			if !given() {
				why = append(why, fmt.Sprintf("Oracle UEK (el%s) on LTS %d.%d, sublevel not in the release", rm[1], v.Major, v.Minor))
			}
		} else {
			d.Distro = "RHEL"
			vendor = fmt.Sprintf("RHEL %s family kernel (RHEL, CentOS Stream, Alma, Rocky): %s frozen at %d.%d with years of backports", rm[1], release, v.Major, v.Minor)
		}
	case strings.Contains(rest, ".fc"):
		d.Distro = "Fedora"
		why = append(why, "Fedora kernel: upstream stable "+v.String())
	case reTumbleweed.MatchString(rest):
		d.Distro = "SUSE"
		why = append(why, "openSUSE kernel: upstream stable "+v.String())
	case reSLE.MatchString(rest) || strings.HasSuffix(rest, "-default"):
		d.Distro = "SUSE"
		vendor = fmt.Sprintf("SUSE Linux Enterprise kernel %s: frozen at %d.%d with backports", release, v.Major, v.Minor)
	case reAndroid.MatchString(rest):
		d.Distro = "Android GKI"
		why = append(why, fmt.Sprintf("Android common kernel android%s on LTS %s", reAndroid.FindStringSubmatch(rest)[1], v))
	case strings.Contains(rest, ".amzn"):
		d.Distro = "Amazon Linux"
		why = append(why, "Amazon Linux kernel on upstream stable "+v.String())
	case strings.Contains(rest, "-arch") || strings.HasSuffix(rest, "-lts"):
		d.Distro = "Arch"
		why = append(why, "Arch kernel: upstream stable "+v.String())
	default:
		why = append(why, "upstream version "+v.String())
	}
	if vendor != "" {
		d.Nearest = nearestProfile(d.Upstream)
		d.Reason = vendor + "; its version says little about its IMA code, so no built-in is picked by number"
		return d, fmt.Errorf("%w: %s (nearest: %s; derive a profile from its source or pass --profile)", ErrNoProfile, d.Reason, d.NearestName())
	}
	d.Profile, d.Nearest = pickProfile(d.Upstream, d.SublevelKnown)
	if d.Profile == nil {
		ver := d.Upstream.String()
		if !d.SublevelKnown {
			ver = fmt.Sprintf("%d.%d.?", d.Upstream.Major, d.Upstream.Minor)
		}
		d.Reason = strings.Join(why, "; ") + "; no built-in profile covers " + ver
		return d, fmt.Errorf("%w: %s (nearest: %s)", ErrNoProfile, d.Reason, d.NearestName())
	}
	d.Reason = strings.Join(why, "; ") + fmt.Sprintf("; profile %s covers kernels %s", d.Profile.Name, d.Profile.Kernels)
	if d.Profile.Evidence == EvidenceSource {
		d.Reason += " (read from source, not yet run on a real kernel)"
	}
	return d, nil
}

// pickProfile: the auto-pickable built-in whose range holds v (the
// narrowest, i.e. latest start, when several do). With the sublevel
// unknown a profile must hold the whole series, and be the only one
// touching it.
func pickProfile(v KernelVersion, sublevelKnown bool) (pick, nearest *Profile) {
	series := Range{Min: KernelVersion{v.Major, v.Minor, 0}, Max: KernelVersion{v.Major, v.Minor, 0}, MaxSeries: true}
	var touching []*Profile
	for _, p := range Builtins() {
		if !p.Auto {
			continue
		}
		if sublevelKnown {
			if p.Kernels.Contains(v) && (pick == nil || pick.Kernels.Min.Less(p.Kernels.Min)) {
				pick = p
			}
		} else if p.Kernels.Overlaps(series) {
			touching = append(touching, p)
		}
	}
	if !sublevelKnown && len(touching) == 1 && touching[0].Kernels.Covers(series) {
		pick = touching[0]
	}
	if pick != nil {
		return pick, nil
	}
	if len(touching) > 0 {
		return nil, touching[len(touching)-1]
	}
	return nil, nearestProfile(v)
}

// nearestProfile: the auto-pickable built-in whose range is closest to v.
func nearestProfile(v KernelVersion) *Profile {
	key := func(k KernelVersion) int64 {
		return int64(k.Major)*1_000_000 + int64(k.Minor)*10_000 + int64(min(k.Patch, 999))
	}
	var best *Profile
	var bestD int64
	for _, p := range Builtins() {
		if !p.Auto {
			continue
		}
		var d int64
		switch {
		case p.Kernels.Contains(v):
			d = 0
		case v.Less(p.Kernels.Min):
			d = key(p.Kernels.Min) - key(v)
		default:
			d = key(v) - key(p.Kernels.top())
		}
		if best == nil || d <= bestD {
			best, bestD = p, d
		}
	}
	return best
}

// Target is the kernel a profile is resolved for. The zero Target is the
// running kernel (uname -r, /proc/version).
type Target struct {
	Release string // uname -r, or an upstream version
	Version string // /proc/version text, or the upstream X.Y.Z
	// Profile is the built-in a built kernel records it stands for; auto
	// takes it before detecting by version.
	Profile string
}

// Resolve turns a --profile value into a profile: a built-in name, a path
// to a profile file, or "auto" or "" (t.Profile when set, else Detect on
// t's release and version). why says how it was chosen. Files are read
// through ctx, so Ctrl-C gives way on a FIFO.
func Resolve(ctx context.Context, spec string, t Target) (p *Profile, why string, err error) {
	if spec != "" && spec != "auto" {
		p, err := LoadProfileContext(ctx, spec)
		if err != nil {
			return nil, "", err
		}
		return p, "--profile " + spec, nil
	}
	if t.Profile != "" {
		p, err := LoadProfileContext(ctx, t.Profile)
		if err != nil {
			return nil, "", err
		}
		return p, "the build records that it stands for " + t.Profile, nil
	}
	var d *Detection
	if t.Release == "" && t.Version == "" {
		d, err = DetectHost()
	} else {
		d, err = Detect(t.Release, t.Version)
	}
	if err != nil {
		return nil, "", err
	}
	return d.Profile, d.Reason, nil
}

// ResolveAll resolves each name (Resolve). No names: every built-in.
// builtinOnly refuses names that are neither a built-in nor auto: a
// scenario file's profiles: line does not get to make imasim read files.
// why[i] is set for the names that were auto.
func ResolveAll(ctx context.Context, names []string, builtinOnly bool, t Target) (ps []*Profile, why []string, err error) {
	if len(names) == 0 {
		all := Builtins()
		return all, make([]string, len(all)), nil
	}
	for _, n := range names {
		if builtinOnly && n != "auto" && !slices.Contains(BuiltinNames(), n) {
			return nil, nil, fmt.Errorf("profiles: %q is not a built-in profile (a scenario file may name only built-ins: %s)", n, strings.Join(BuiltinNames(), ", "))
		}
		p, w, err := Resolve(ctx, n, t)
		if err != nil {
			if n == "auto" {
				err = fmt.Errorf("--profile auto: %w", err)
			}
			return nil, nil, err
		}
		if n != "auto" {
			w = ""
		}
		ps, why = append(ps, p), append(why, w)
	}
	return ps, why, nil
}
