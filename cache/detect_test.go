package cache

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Real kernel identities, as uname -r and /proc/version (plus Ubuntu's
// /proc/version_signature) show them. Where each comes from:
//   - Debian: the cloud kernels this project boots (kernels.lock, testdata/vm/*/kernel.txt:
//     6.1.0-50 = 6.1.176-1, 6.12.107+deb13, 6.12.101+deb12 from bookworm-security, 7.2.13+deb14)
//     and the bullseye-security/trixie-backports packages apt lists (linux-image-5.10.0-46-cloud-amd64
//     5.10.262-1, linux-image-6.18.15+deb13-cloud-amd64 6.18.15-1~bpo13+1); /proc/version's
//     shape is Debian's (debian-kernel@lists.debian.org, "Debian X.Y.Z-N", compiler "(Debian ...)").
//   - Ubuntu: linux-image-X.Y.0-N-FLAVOUR packages; /proc/version_signature "Ubuntu A.B.0-N.M-flavour X.Y.Z".
//   - RHEL/CentOS/Alma/Rocky: the GA kernels of RHEL 7.9 (3.10.0-1160), 8.10 (4.18.0-553),
//     9.4 (5.14.0-427.13.1.el9_4), 9.5 (5.14.0-503.11.1.el9_5), 10.0 (6.12.0-55.9.1.el10_0);
//     Oracle UEK 7 (5.15.0-208.159.3.el9uek).
//   - Fedora: kernel-6.5.6-300.fc39, kernel-6.8.5-301.fc40, kernel-6.11.4-301.fc41 (Koji builds).
//   - SUSE: SLES 15 SP4/SP5/SP6 (5.14.21-150400.*, 5.14.21-150500.*, 6.4.0-150600.*), SLES 12 SP5
//     (4.12.14-122.*), Tumbleweed (X.Y.Z-1-default).
//   - Android GKI: release format w.x.y-androidN-K[-suffix], source.android.com
//     docs/core/architecture/kernel/gki-versioning ("5.4.42-android12-0-foo"); android14-6.1 merges
//     LTS 6.1.75 (docs/core/architecture/kernel/android-common).
//   - Amazon Linux 2 and 2023: 5.10.x-N.amzn2, 6.1.x-N.amzn2023; Arch: X.Y.Z-arch1-1, X.Y.Z-1-lts.
var detectCases = []struct {
	release, version string
	distro           string
	upstream         string // "" when the sublevel is unknown (then major.minor in series)
	series           string
	profile          string // picked profile, or "" when none fits
	nearest          string // when none fits
}{
	// Debian
	{"6.1.0-50-cloud-amd64", "Linux version 6.1.0-50-cloud-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-10-02)", "Debian", "6.1.176", "", "6.1-stable", ""},
	{"6.1.0-50-cloud-amd64", "", "Debian", "", "6.1", "", "6.1-stable"},
	{"6.1.0-28-amd64", "Linux version 6.1.0-28-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)", "Debian", "6.1.119", "", "6.1-stable", ""},
	{"6.1.0-13-amd64", "Linux version 6.1.0-13-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29)", "Debian", "6.1.55", "", "6.1-interim", ""},
	{"6.12.107+deb13-cloud-amd64", "Linux version 6.12.107+deb13-cloud-amd64 (debian-kernel@lists.debian.org) (x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0, GNU ld (GNU Binutils for Debian) 2.44) #1 SMP PREEMPT_DYNAMIC Debian 6.12.107-1 (2026-10-20)", "Debian", "6.12.107", "", "6.12", ""},
	{"6.12.101+deb12-cloud-amd64", "", "Debian", "6.12.101", "", "6.12-early", ""},
	{"6.12.38+deb13-amd64", "Linux version 6.12.38+deb13-amd64 (debian-kernel@lists.debian.org) (x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0, GNU ld (GNU Binutils for Debian) 2.44) #1 SMP PREEMPT_DYNAMIC Debian 6.12.38-1 (2025-07-16)", "Debian", "6.12.38", "", "", "6.12-early"},
	{"7.2.13+deb14-cloud-amd64", "", "Debian", "7.2.13", "", "7.1", ""},
	{"5.10.0-46-cloud-amd64", "Linux version 5.10.0-46-cloud-amd64 (debian-kernel@lists.debian.org) (gcc-10 (Debian 10.2.1-6) 10.2.1 20210110, GNU ld (GNU Binutils for Debian) 2.35.2) #1 SMP Debian 5.10.262-1 (2026-07-30)", "Debian", "5.10.262", "", "5.10", ""},
	{"5.10.0-26-amd64", "Linux version 5.10.0-26-amd64 (debian-kernel@lists.debian.org) (gcc-10 (Debian 10.2.1-6) 10.2.1 20210110, GNU ld (GNU Binutils for Debian) 2.35.2) #1 SMP Debian 5.10.197-1 (2023-09-29)", "Debian", "5.10.197", "", "", "5.10"},
	{"6.18.15+deb13-cloud-amd64", "", "Debian", "6.18.15", "", "6.18", ""},
	{"4.19.0-27-amd64", "Linux version 4.19.0-27-amd64 (debian-kernel@lists.debian.org) (gcc version 8.3.0 (Debian 8.3.0-6)) #1 SMP Debian 4.19.316-1 (2024-06-25)", "Debian", "4.19.316", "", "", "5.10"},
	// Ubuntu
	{"5.15.0-91-generic", "Linux version 5.15.0-91-generic (buildd@lcy02-amd64-045) (gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0, GNU ld (GNU Binutils for Ubuntu) 2.38) #101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023\nUbuntu 5.15.0-91.101-generic 5.15.131", "Ubuntu", "5.15.131", "", "", "5.15"},
	{"5.15.0-91-generic", "", "Ubuntu", "", "5.15", "", "5.15"},
	{"6.8.0-45-generic", "Linux version 6.8.0-45-generic (buildd@lcy02-amd64-115) (x86_64-linux-gnu-gcc-13 (Ubuntu 13.2.0-23ubuntu4) 13.2.0, GNU ld (GNU Binutils for Ubuntu) 2.42) #45-Ubuntu SMP PREEMPT_DYNAMIC Fri Aug 30 12:02:04 UTC 2024\nUbuntu 6.8.0-45.45-generic 6.8.12", "Ubuntu", "6.8.12", "", "", "6.6"},
	{"6.8.0-1017-aws", "", "Ubuntu", "", "6.8", "", "6.6"},
	{"5.15.0-1070-azure", "", "Ubuntu", "", "5.15", "", "5.15"},
	{"6.5.0-1025-oem", "", "Ubuntu", "", "6.5", "", "6.6"},
	{"5.4.0-200-generic", "Linux version 5.4.0-200-generic (buildd@lcy02-amd64-010) (gcc version 9.4.0 (Ubuntu 9.4.0-1ubuntu1~20.04.2)) #220-Ubuntu SMP Fri Sep 27 13:19:16 UTC 2024", "Ubuntu", "", "5.4", "", "5.10"},
	{"6.11.0-1004-gcp", "", "Ubuntu", "", "6.11", "", "6.12-early"},
	// RHEL family: never picked by number
	{"5.14.0-503.11.1.el9_5.x86_64", "", "RHEL", "5.14.0", "", "", "5.15"},
	{"5.14.0-427.13.1.el9_4.x86_64", "Linux version 5.14.0-427.13.1.el9_4.x86_64 (mockbuild@x86-64-01.build.eng.rdu2.redhat.com) (gcc (GCC) 11.4.1 20231218 (Red Hat 11.4.1-3), GNU ld version 2.35.2-43.el9) #1 SMP PREEMPT_DYNAMIC Wed Apr 10 10:29:16 EDT 2024", "RHEL", "5.14.0", "", "", "5.15"},
	{"5.14.0-503.el9.x86_64", "", "RHEL", "5.14.0", "", "", "5.15"},
	{"4.18.0-553.el8_10.x86_64", "", "RHEL", "4.18.0", "", "", "5.10"},
	{"3.10.0-1160.119.1.el7.x86_64", "", "RHEL", "3.10.0", "", "", "5.10"},
	{"6.12.0-55.9.1.el10_0.x86_64", "", "RHEL", "6.12.0", "", "", "6.12-early"},
	{"5.15.0-208.159.3.el9uek.x86_64", "", "Oracle UEK", "", "5.15", "", "5.15"},
	// Fedora
	{"6.11.4-301.fc41.x86_64", "", "Fedora", "6.11.4", "", "", "6.12-early"},
	{"6.8.5-301.fc40.x86_64", "", "Fedora", "6.8.5", "", "", "6.6"},
	{"6.5.6-300.fc39.x86_64", "", "Fedora", "6.5.6", "", "", "6.6"},
	{"6.14.0-63.fc42.x86_64", "", "Fedora", "6.14.0", "", "6.13", ""},
	// SUSE
	{"5.14.21-150500.55.83-default", "", "SUSE", "5.14.21", "", "", "5.15"},
	{"5.14.21-150400.24.100-default", "", "SUSE", "5.14.21", "", "", "5.15"},
	{"6.4.0-150600.23.25-default", "", "SUSE", "6.4.0", "", "", "6.6"},
	{"4.12.14-122.219-default", "", "SUSE", "4.12.14", "", "", "5.10"},
	{"6.11.5-1-default", "", "SUSE", "6.11.5", "", "", "6.12-early"},
	{"6.17.7-1-default", "", "SUSE", "6.17.7", "", "6.13", ""},
	// Android GKI
	{"5.4.42-android12-0-foo", "", "Android GKI", "5.4.42", "", "", "5.10"},
	{"5.10.198-android12-9-00085-g226a9632f13d", "", "Android GKI", "5.10.198", "", "", "5.10"},
	{"5.10.205-android13-4-00012-g1f2ac8a3e4c5-ab11362812", "", "Android GKI", "5.10.205", "", "5.10", ""},
	{"6.1.75-android14-11-g8a7d3c3e6b9c-ab11774960", "", "Android GKI", "6.1.75", "", "6.1-stable", ""},
	{"6.6.63-android15-8-gcafe12345678-ab12345678", "", "Android GKI", "6.6.63", "", "6.6", ""},
	// Amazon Linux, Arch, upstream builds
	{"5.10.228-219.884.amzn2.x86_64", "", "Amazon Linux", "5.10.228", "", "5.10", ""},
	{"6.1.115-126.197.amzn2023.x86_64", "", "Amazon Linux", "6.1.115", "", "6.1-stable", ""},
	{"6.11.5-arch1-1", "", "Arch", "6.11.5", "", "", "6.12-early"},
	{"6.6.58-1-lts", "", "Arch", "6.6.58", "", "", "6.6"},
	{"6.18.35", "", "", "6.18.35", "", "6.18", ""},
	{"5.15.160", "", "", "5.15.160", "", "5.15", ""},
	{"7.3.0-rc4", "", "", "7.3.0", "", "7.1", ""},
}

func TestDetectTable(t *testing.T) {
	require.GreaterOrEqual(t, len(detectCases), 40)
	for _, c := range detectCases {
		d, err := Detect(c.release, c.version)
		name := c.release
		if c.version != "" {
			name += " + version"
		}
		if d == nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		assert.Equal(t, c.distro, d.Distro, "%s: distro", name)
		if c.upstream != "" {
			want, _ := ParseKernelVersion(c.upstream)
			assert.Equal(t, want, d.Upstream, "%s: upstream", name)
			assert.True(t, d.SublevelKnown, "%s: sublevel known", name)
		} else {
			assert.False(t, d.SublevelKnown, "%s: sublevel should be unknown", name)
			assert.Equal(t, c.series, fmtSeries(d.Upstream), "%s: series", name)
		}
		assert.Equal(t, c.profile, d.ProfileName(), "%s: profile (%s)", name, d.Reason)
		assert.NotEmpty(t, d.Reason, name)
		if c.profile == "" {
			assert.True(t, errors.Is(err, ErrNoProfile), "%s: want ErrNoProfile, got %v", name, err)
			assert.Equal(t, c.nearest, d.NearestName(), "%s: nearest (%s)", name, d.Reason)
			assert.Contains(t, err.Error(), "nearest: "+c.nearest, name)
		} else {
			assert.NoError(t, err, name)
			assert.True(t, d.Profile.Kernels.Contains(d.Upstream), "%s: picked %s does not hold %s", name, d.Profile.Name, d.Upstream)
			assert.Contains(t, d.Reason, d.Profile.Name, name)
		}
	}
}

func fmtSeries(v KernelVersion) string { return KernelVersion{v.Major, v.Minor, 0}.String() }

// A vendor kernel is never picked by number, even when a profile's range
// would hold its version.
func TestDetectVendorNotByNumber(t *testing.T) {
	d, err := Detect("6.12.0-55.9.1.el10_0.x86_64", "")
	require.ErrorIs(t, err, ErrNoProfile)
	assert.Nil(t, d.Profile)
	assert.Contains(t, d.Reason, "backports")
}

func TestDetectGivenUpstream(t *testing.T) {
	// imasim vm passes the banner's upstream version with a Debian ABI release.
	d, err := Detect("6.1.0-50-cloud-amd64", "6.1.176")
	require.NoError(t, err)
	assert.Equal(t, "6.1-stable", d.ProfileName())
	// A given version of another series does not override the release.
	d, _ = Detect("6.1.0-50-cloud-amd64", "6.12.107")
	assert.False(t, d.SublevelKnown)
	// --kernel-version alone.
	d, err = Detect("", "6.12.107")
	require.NoError(t, err)
	assert.Equal(t, "6.12", d.ProfileName())
}

func TestDetectBadInput(t *testing.T) {
	for _, s := range []string{"", "linux", "six.one", strings.Repeat("6", 300)} {
		_, err := Detect(s, "")
		require.Error(t, err, s)
		assert.False(t, errors.Is(err, ErrNoProfile), "%q is an input error, not a missing profile", s)
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	p, why, err := Resolve(ctx, "6.12", Target{})
	require.NoError(t, err)
	assert.Equal(t, "6.12", p.Name)
	assert.Equal(t, "--profile 6.12", why)
	p, why, err = Resolve(ctx, "auto", Target{Release: "6.1.0-50-cloud-amd64", Version: "6.1.176"})
	require.NoError(t, err)
	assert.Equal(t, "6.1-stable", p.Name)
	assert.Contains(t, why, "6.1-stable")
	_, _, err = Resolve(ctx, "auto", Target{Release: "5.14.0-503.el9.x86_64"})
	assert.ErrorIs(t, err, ErrNoProfile)
	// A build's recorded profile wins over its version, not over a name.
	p, why, err = Resolve(ctx, "", Target{Release: "6.1.0-50-cloud-amd64", Profile: "fix-v2"})
	require.NoError(t, err)
	assert.Equal(t, "fix-v2", p.Name)
	assert.Equal(t, "the build records that it stands for fix-v2", why)
	p, _, err = Resolve(ctx, "6.12", Target{Profile: "fix-v2"})
	require.NoError(t, err)
	assert.Equal(t, "6.12", p.Name)
	_, _, err = Resolve(ctx, "auto", Target{Profile: "nope"})
	assert.ErrorContains(t, err, `unknown profile "nope"`)
}

func TestResolveAll(t *testing.T) {
	ctx := context.Background()
	ps, why, err := ResolveAll(ctx, nil, true, Target{})
	require.NoError(t, err)
	assert.Len(t, ps, len(Builtins()))
	assert.Len(t, why, len(ps))
	ps, why, err = ResolveAll(ctx, []string{"6.12", "auto"}, true, Target{Release: "6.1.0-50-cloud-amd64", Version: "6.1.176"})
	require.NoError(t, err)
	assert.Equal(t, "6.12", ps[0].Name)
	assert.Equal(t, "6.1-stable", ps[1].Name)
	assert.Empty(t, why[0])
	assert.NotEmpty(t, why[1])
	_, _, err = ResolveAll(ctx, []string{"/etc/passwd"}, true, Target{})
	assert.ErrorContains(t, err, `"/etc/passwd" is not a built-in profile`)
	_, _, err = ResolveAll(ctx, []string{"./x.profile"}, false, Target{})
	assert.ErrorContains(t, err, "x.profile")
	_, _, err = ResolveAll(ctx, []string{"auto"}, false, Target{Release: "5.14.0-503.el9.x86_64"})
	assert.ErrorIs(t, err, ErrNoProfile)
	assert.ErrorContains(t, err, "--profile auto: ")
}

func FuzzDetect(f *testing.F) {
	for _, c := range detectCases {
		f.Add(c.release, c.version)
	}
	f.Fuzz(func(t *testing.T, rel, ver string) {
		d, err := Detect(rel, ver)
		if d == nil {
			if err == nil {
				t.Fatal("no detection and no error")
			}
			return
		}
		if d.Profile != nil {
			if err != nil {
				t.Fatalf("picked %s and failed: %v", d.Profile.Name, err)
			}
			if !d.Profile.Kernels.Contains(d.Upstream) {
				t.Fatalf("picked %s (%s) for %s", d.Profile.Name, d.Profile.Kernels, d.Upstream)
			}
			if !d.SublevelKnown && !d.Profile.Kernels.Covers(Range{Min: KernelVersion{d.Upstream.Major, d.Upstream.Minor, 0}, Max: d.Upstream, MaxSeries: true}) {
				t.Fatalf("picked %s for %d.%d.? though it does not hold the whole series", d.Profile.Name, d.Upstream.Major, d.Upstream.Minor)
			}
		} else if !errors.Is(err, ErrNoProfile) || d.Nearest == nil {
			t.Fatalf("no profile: want ErrNoProfile and a nearest, got %v", err)
		}
	})
}
