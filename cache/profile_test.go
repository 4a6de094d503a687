package cache

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/measure"
)

func TestBuiltinsParseAndCite(t *testing.T) {
	ps := Builtins()
	names := map[string]bool{}
	for _, p := range ps {
		names[p.Name] = true
		for _, k := range []string{"collect", "stacked", "last-writer", "change-cookie", "fs.xfs"} {
			assert.NotEmpty(t, p.Cites[k], "profile %s: switch %s has no kernel citation", p.Name, k)
			assert.Contains(t, p.Cites[k], ":", "profile %s: %s citation should name a file:function", p.Name, k)
		}
	}
	for _, want := range []string{"5.10", "6.1-stable", "6.6", "6.12-early", "6.12", "6.13", "6.18", "fix-v2", "7.1"} {
		assert.True(t, names[want], "built-in profile %s missing", want)
	}
}

func TestProfileFor(t *testing.T) {
	cases := map[string]string{
		"6.1.176":                    "6.1-stable",
		"6.1.60":                     "6.1-interim",
		"6.12.107+deb13-cloud-amd64": "6.12",
		"6.12.104":                   "6.12",
		"6.12.103":                   "6.12-early",
		"6.12.44":                    "6.12-early",
		"6.13.2":                     "6.13",
		"6.17.9":                     "6.13",
		"6.18":                       "6.18",
		"6.18.35":                    "6.18",
		"5.10.262":                   "5.10",
		"6.6.63":                     "6.6",
		"7.2.13+deb14-cloud-amd64":   "7.1",
	}
	for v, want := range cases {
		kv, err := ParseKernelVersion(v)
		require.NoError(t, err, v)
		p, err := ProfileFor(kv)
		require.NoError(t, err, v)
		assert.Equal(t, want, p.Name, "ProfileFor(%s)", v)
	}
	for _, v := range []string{"5.4", "6.8", "6.12.43", "6.6.64", "6.18.36", "7.0.9", "5.10.201"} {
		kv, _ := ParseKernelVersion(v)
		_, err := ProfileFor(kv)
		assert.ErrorIs(t, err, ErrNoProfile, v)
	}
}

func TestRangeSublevels(t *testing.T) {
	cases := []struct {
		r    string
		in   []string
		out  []string
		text string
	}{
		{"6.12.104 .. 6.12", []string{"6.12.104", "6.12.300"}, []string{"6.12.103", "6.13", "6.11.9"}, "6.12.104 .. 6.12.y"},
		{"6.7 .. 6.12.103", []string{"6.7", "6.9.4", "6.12.103"}, []string{"6.12.104", "6.6.99"}, "6.7 .. 6.12.103"},
		{"6.13 .. 7.0", []string{"6.13", "7.0.5"}, []string{"6.12.9", "7.1"}, "6.13 .. 7.0"},
		{"6.12.0 .. 6.12.0", []string{"6.12"}, []string{"6.12.1"}, "6.12 .. 6.12.0"},
		{"7.1 ..", []string{"7.1", "9.0"}, []string{"7.0.99"}, "7.1 .."},
	}
	for _, c := range cases {
		r, err := ParseRange(c.r)
		require.NoError(t, err, c.r)
		for _, v := range c.in {
			kv, _ := ParseKernelVersion(v)
			assert.True(t, r.Contains(kv), "%s should hold %s", c.r, v)
		}
		for _, v := range c.out {
			kv, _ := ParseKernelVersion(v)
			assert.False(t, r.Contains(kv), "%s should not hold %s", c.r, v)
		}
		assert.Equal(t, c.text, r.String())
		back, err := ParseRange(r.String())
		require.NoError(t, err)
		assert.Equal(t, r, back, "round trip of %s", c.r)
	}
}

func TestHasFeatureSublevels(t *testing.T) {
	p := &Profile{Features: map[string]Range{}}
	p.Kernels, _ = ParseRange("6.7 .. 6.12")
	p.Features["x"], _ = ParseRange("6.12.104 ..")
	all, partial := p.HasFeature("x")
	assert.False(t, all)
	assert.True(t, partial, "a feature from 6.12.104 is in part of 6.7 .. 6.12.y")
	p.Kernels, _ = ParseRange("6.7 .. 6.12.103")
	all, partial = p.HasFeature("x")
	assert.False(t, all || partial, "6.12.104 is after 6.12.103")
	p.Kernels, _ = ParseRange("6.12.104 .. 6.12")
	all, partial = p.HasFeature("x")
	assert.True(t, all)
	assert.False(t, partial)
}

func FuzzRangeSublevels(f *testing.F) {
	for _, s := range []string{"6.13 .. 7.0", "7.1 ..", "6.12.104 .. 6.12.y", "6.7 .. 6.12.103", "6.14", "6.12 .. 6.12.0"} {
		f.Add(s, "6.12.104")
	}
	f.Fuzz(func(t *testing.T, s, v string) {
		r, err := ParseRange(s)
		if err != nil {
			return
		}
		back, err := ParseRange(r.String())
		if err != nil || back != r {
			t.Fatalf("%q -> %q -> %+v, %v; want %+v", s, r.String(), back, err, r)
		}
		kv, err := ParseKernelVersion(v)
		if err != nil {
			return
		}
		if r.Contains(kv) != (!kv.Less(r.Min) && (r.Open || !r.top().Less(kv))) {
			t.Fatalf("Contains(%s) inconsistent for %s", kv, r)
		}
		if !r.Covers(r) || !r.Overlaps(r) {
			t.Fatalf("%s does not cover itself", r)
		}
		point := Range{Min: kv, Max: kv}
		if r.Contains(kv) != r.Covers(point) || r.Contains(kv) != r.Overlaps(point) {
			t.Fatalf("%s: Contains/Covers/Overlaps disagree on %s", r, kv)
		}
	})
}

func TestParseProfileErrors(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"no colon", "name x\n", "p:1: want 'key: value'"},
		{"bad switch", "name: x\nkernels: 6.1\ncollect: magic\n", "p:3: collect: unknown value \"magic\""},
		{"dup", "name: x\nname: y\n", "p:2: name given twice"},
		{"unknown key", "name: x\nkernels: 6.1\nfoo: 1\n", "p:3: unknown setting \"foo\""},
		{"no kernels", "name: x\n", "missing kernels"},
		{"bad range", "name: x\nkernels: 7.0 .. 6.1\n", "end before start"},
		{"inherit late", "name: x\ninherit: 6.12\n", "inherit must be the first setting"},
		{"bad bool", "name: x\nkernels: 6.1\nauto: maybe\n", "want true or false"},
		{"unknown hash", "name: x\nkernels: 6.1\nhash: md4\n", "p:3: hash: unknown hash algorithm \"md4\""},
		{"unknown template", "name: x\nkernels: 6.1\ntemplate: ima-xx\n", "p:3: template: unknown template"},
		{"ima sha256", "name: x\nkernels: 6.1\ntemplate: ima\nhash: sha256\n", "p:4: template ima takes only hash sha1 or md5"},
		{"fallback sha1", "name: x\nkernels: 6.1\nfallback-banks: sha384, sha1\n", "p:3: fallback-banks: \"sha1\""},
		{"fallback bogus", "name: x\nkernels: 6.1\nfallback-banks: sha3\n", "p:3: fallback-banks: \"sha3\""},
		{"ima default hash", "name: x\nkernels: 6.1\ntemplate: ima\n", "p:3: template ima takes only hash sha1 or md5"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseProfile(strings.NewReader(c.text), "p", func(n string) (*Profile, error) { return LoadProfile(n) })
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestUserProfileInherits(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "mine.profile")
	require.NoError(t, os.WriteFile(f, []byte("inherit: 7.1\nname: my-patch\nkernels: 7.3 ..\nlast-writer: cookie # my patch: ima_main.c:ima_check_last_writer\n"), 0o644))
	p, err := LoadProfile(f)
	require.NoError(t, err)
	assert.Equal(t, "my-patch", p.Name)
	assert.Equal(t, LastWriterCookie, p.LastWriter)
	assert.Equal(t, CollectCookieElsePeek, p.Collect, "inherited")
	assert.Equal(t, "xfs-mg", p.FSModel("xfs"))
	_, err = LoadProfile("no-such-profile")
	assert.ErrorContains(t, err, "unknown profile")
}

func TestRangeContains(t *testing.T) {
	r, err := ParseRange("6.13 .. 7.0")
	require.NoError(t, err)
	for v, want := range map[string]bool{"6.12.9": false, "6.13": true, "7.0.5": true, "7.1": false} {
		kv, _ := ParseKernelVersion(v)
		assert.Equal(t, want, r.Contains(kv), v)
	}
}

func FuzzParseProfile(f *testing.F) {
	ents, _ := builtinFS.ReadDir("profiles")
	for _, e := range ents {
		b, _ := builtinFS.ReadFile("profiles/" + e.Name())
		f.Add(string(b))
	}
	f.Add("name: x\nkernels: 6.1 ..\n")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseProfile(strings.NewReader(s), "fuzz", nil)
		if err == nil && (p.Name == "" || p.Kernels.Min == (KernelVersion{})) {
			t.Fatalf("accepted a profile without name or kernels: %q", s)
		}
		if err == nil {
			a, aerr := measure.ParseFileAlgo(p.HashAlgo)
			tp, terr := measure.LookupTemplate(p.Template)
			if aerr != nil || terr != nil || (tp.IsIMA() && a != measure.SHA1 && a != measure.MD5) {
				t.Fatalf("accepted template %q with hash %q: %q", p.Template, p.HashAlgo, s)
			}
			for k, c := range p.Commits {
				if _, ok := p.Switch(k); !ok || c.Subject == "" || (c.ID != "" && !isCommitID(c.ID)) {
					t.Fatalf("accepted commit.%s %+v: %q", k, c, s)
				}
			}
		}
	})
}

// evidence: kernel means a capture of a real kernel judged against the
// profile is committed (testdata/vm/*/*/kernel.txt names the profile);
// evidence: source means there is none.
func TestEvidenceMatchesCaptures(t *testing.T) {
	files, err := filepath.Glob("../testdata/vm/*/*/kernel.txt")
	require.NoError(t, err)
	captured := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, l := range strings.Split(string(b), "\n") {
			if n, ok := strings.CutPrefix(l, "profile "); ok {
				captured[strings.TrimSpace(n)] = true
			}
		}
	}
	require.NotEmpty(t, captured)
	for _, p := range Builtins() {
		want := EvidenceSource
		if captured[p.Name] {
			want = EvidenceKernel
		}
		assert.Equal(t, want, p.Evidence, "profile %s: captures of it: %v", p.Name, captured[p.Name])
	}
}

func TestProfileCommits(t *testing.T) {
	p7, err := LoadProfile("7.1")
	require.NoError(t, err)
	assert.Equal(t, "1cf7e834a6fb", p7.Commits["fs.xfs"].ID, "inherited from 6.13 while fs.xfs stays xfs-mg")
	assert.Empty(t, p7.Commits["collect"].ID, "a subject alone: the landed id was not verified")
	assert.NotEmpty(t, p7.Commits["collect"].Subject)
	p12, err := LoadProfile("6.12")
	require.NoError(t, err)
	assert.NotContains(t, p12.Commits, "fs.xfs")
	for _, p := range Builtins() {
		for k, c := range p.Commits {
			assert.NotEmpty(t, c.ReadAt, "profile %s: commit.%s says where it was read", p.Name, k)
			assert.True(t, c.ID == "" || isCommitID(c.ID), "profile %s: commit.%s id %q", p.Name, k, c.ID)
		}
	}

	inherit := func(string) (*Profile, error) { return p7, nil }
	q, err := ParseProfile(strings.NewReader("inherit: 7.1\nname: q\nkernels: 7.3\nfs.xfs: xfs\n"), "q", inherit)
	require.NoError(t, err)
	assert.NotContains(t, q.Commits, "fs.xfs", "the switch changed: the commit is not this profile's")
	assert.Contains(t, q.Commits, "collect", "collect kept its value")
	q, err = ParseProfile(strings.NewReader("inherit: 7.1\nname: q\nkernels: 7.3\nfs.xfs: xfs-mg\n"), "q", inherit)
	require.NoError(t, err)
	assert.Contains(t, q.Commits, "fs.xfs", "set again to the same value")

	for _, bad := range []string{
		"commit.name: 1cf7e834a6fb x",
		"commit.collect: 1cf7e834a6fb",
		"commit.fs.ext4: 1cf7e834a6fb ext4: x",
		"commit.collect: ",
	} {
		_, err := ParseProfile(strings.NewReader("name: b\nkernels: 6.1\nfs.xfs: xfs\n"+bad+"\n"), "b.profile", nil)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "b.profile:4:", bad)
	}
	c, err := parseCommit("ima: subject only", "read: here")
	require.NoError(t, err)
	assert.Equal(t, Commit{Subject: "ima: subject only", ReadAt: "read: here"}, c)
	assert.Equal(t, `"ima: subject only"`, c.String())
}

// A commit value read back from its parts is the same commit; ids are
// hex of a sane length and never swallowed into the subject.
func FuzzParseCommit(f *testing.F) {
	f.Add("1cf7e834a6fb xfs: switch to multigrain timestamps", "read: here")
	f.Add("ima: fallback to using i_version to detect file change", "")
	f.Add("0123456789abcdef0123456789abcdef01234567 s", "x")
	f.Add("1cf7e834a6fb", "")
	f.Fuzz(func(t *testing.T, val, cite string) {
		c, err := parseCommit(val, cite)
		if err != nil {
			return
		}
		if c.Subject == "" || len(c.Subject) > 200 || (c.ID != "" && !isCommitID(c.ID)) {
			t.Fatalf("%q: accepted %+v", val, c)
		}
		again := c.Subject
		if c.ID != "" {
			again = c.ID + " " + c.Subject
		}
		d, err := parseCommit(again, cite)
		if err != nil || d != c {
			t.Fatalf("%q: %+v read back as %+v (%v)", val, c, d, err)
		}
	})
}
